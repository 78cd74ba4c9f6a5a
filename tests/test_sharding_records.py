"""--shard's split (disjoint, complete, balanced, deterministic) and merging shard records."""

import random

import pytest
from fake_records import phenomenon_record, run_record, write

from harness.plugin import sharding
from harness.results import runs


def suite(n_files=7, per_file=(1, 5), seed=0):
    rng = random.Random(seed)
    return [f"benchmarks/g/test_f{f}.py::test_t{t}" for f in range(n_files) for t in range(rng.randint(*per_file))]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9])
def test_shards_are_disjoint_and_complete(n):
    ids = suite()
    shards = sharding.split(ids, n)
    flat = [t for shard in shards for t in shard]
    assert sorted(flat) == sorted(ids) and len(flat) == len(set(flat))
    assert len(shards) == n


def test_a_file_stays_in_one_shard_and_the_split_ignores_collection_order():
    ids = suite(n_files=12, seed=3)
    shards = sharding.split(ids, 3)
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    again = sharding.split(shuffled, 3)
    assert [sorted(s) for s in shards] == [sorted(s) for s in again]
    for shard in shards:
        files = {sharding.file_of(t) for t in shard}
        assert all(sharding.file_of(t) in files for t in ids if any(t.startswith(f + "::") for f in files))
        assert not any(sharding.file_of(t) in files for other in shards if other is not shard for t in other)


def test_durations_balance_the_shards():
    ids = ["a.py::t1", "b.py::t1", "c.py::t1", "d.py::t1"]
    durations = {"a.py::t1": 100.0, "b.py::t1": 40.0, "c.py::t1": 35.0, "d.py::t1": 30.0}
    heavy, rest = sharding.split(ids, 2, durations)
    assert heavy == ["a.py::t1"] and sorted(rest) == ["b.py::t1", "c.py::t1", "d.py::t1"]
    # without durations every test weighs the same: two files each
    assert [len(s) for s in sharding.split(ids, 2)] == [2, 2]


def test_unknown_tests_weigh_the_median_of_known_ones():
    ids = ["a.py::t", "b.py::t", "c.py::t"]
    shards = sharding.split(ids, 2, {"a.py::t": 10.0, "b.py::t": 1.0})  # c weighs 5.5
    assert shards == [["a.py::t"], ["b.py::t", "c.py::t"]]


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2"])
def test_bad_shard_is_a_value_error_with_the_form(text):
    with pytest.raises(ValueError, match="I/N"):
        sharding.parse_shard(text)


def test_shard_records_merge_into_one_run(tmp_path):
    a = run_record([phenomenon_record("b/test_a.py::test_a", [0.9, 0.9, 0.9])], run_id="n1", shard="1/2")
    b = run_record([phenomenon_record("b/test_b.py::test_b", [0.8, 0.8, 0.8], outcome="failed")],
                   run_id="n1", shard="2/2", created="2026-11-23T01:05:00Z")
    lone = run_record([phenomenon_record("b/test_a.py::test_a", [0.9] * 3)], created="2026-11-22T01:00:00Z")
    write(tmp_path / "x", "a.json", a)
    write(tmp_path / "y", "b.json", b)
    write(tmp_path, "lone.json", lone)
    (tmp_path / "benchmark.json").write_text('{"benchmarks": []}')  # other artifacts are skipped
    found = runs.runs(runs.load_run_records([tmp_path]))
    assert len(found) == 2 and found[0].run_id is None
    merged = found[1]
    assert [t.nodeid for t in merged.tests] == ["b/test_a.py::test_a", "b/test_b.py::test_b"]
    assert merged.counts == {"passed": 1, "failed": 1, "xfailed": 0}
    assert merged.shards == ["1/2", "2/2"] and merged.created == "2026-11-23T01:00:00Z"
    assert set(merged.durations) == {"b/test_a.py::test_a", "b/test_b.py::test_b"}


def test_overlapping_shards_or_mixed_commits_refuse_to_merge():
    t = phenomenon_record("b/test_a.py::test_a", [0.9] * 3)
    with pytest.raises(ValueError, match="in two shards"):
        runs.merge([run_record([t], run_id="n", shard="1/2"), run_record([t], run_id="n", shard="2/2")])
    with pytest.raises(ValueError, match="different runs"):
        runs.merge([run_record([t], run_id="n"), run_record([t], run_id="n", commit="def5678")])


def test_durations_come_from_the_newest_record(tmp_path):
    old = run_record([phenomenon_record("b/test_a.py::test_a", [1.0] * 3)], created="2026-11-01T00:00:00Z")
    new = run_record([phenomenon_record("b/test_a.py::test_a", [1.0] * 3)], created="2026-11-02T00:00:00Z",
                     durations={"b/test_a.py::test_a": 7.5})
    write(tmp_path, "new.json", new)
    write(tmp_path, "old.json", old)
    assert sharding.durations_from(tmp_path) == {"b/test_a.py::test_a": 7.5}


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        runs.load_run_records([tmp_path / "nope.json"])
