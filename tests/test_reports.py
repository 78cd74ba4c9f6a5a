"""`harness report` (Markdown, HTML, PNGs, trends, github-action-benchmark JSON) and `harness
compare` and `baselines update --from` on folders of shard records."""

import dataclasses
import json

import pytest
import yaml
from fake_records import phenomenon_record, run_record, write

from harness import cli
from harness.reporting import figures, site, terminal
from harness.results.runs import load_run_record
from harness.results.schema import Curve, Matrix, Verdict

pytest.importorskip("matplotlib")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CURVE = Curve(x=[1, 2, 3, 4], y=[[0.2, 0.5, 0.7, 0.8], [0.3, 0.5, 0.6, None]], xlabel="epoch", ylabel="acc",
              figure="acc_by_epoch")
MATRIX = Matrix(values=[[[0.98, 0.1], [0.0, 0.97]], [[0.96, 0.2], [0.02, 0.99]]],  # per seed: after task i, on j
                row_label="after task", column_label="accuracy on task")


def nightly(tmp_path, n_runs=3):
    """n_runs nights of a two-file suite, each night split in two shards; the last night regresses."""
    folder = tmp_path / "artifacts"
    for night in range(n_runs):
        acc = [0.90, 0.91, 0.92] if night < n_runs - 1 else [0.70, 0.71, 0.72]
        a = phenomenon_record("b/test_curve.py::test_curve", acc, curves={"acc_by_epoch": CURVE},
                              matrices={"accuracy_matrix": MATRIX})
        b = phenomenon_record("b/test_loss.py::test_loss", [0.10 + 0.01 * night] * 3, direction="lower",
                              rounds=(0.5, 0.52, 0.51))
        for shard, test in (("1/2", a), ("2/2", b)):
            record = run_record([test], commit=f"c0mm1t{night}", created=f"2026-11-2{night}T02:00:00Z",
                                run_id=f"nightly-{night}", shard=shard)
            write(folder / f"night{night}-shard{shard[0]}", "run.json", record)
    return folder


def test_report_merges_shards_and_draws_curves_matrices_and_trends(tmp_path, capsys):
    out = tmp_path / "report"
    assert cli.main(["report", str(nightly(tmp_path)), "--out", str(out)]) == 0
    html = (out / "index.html").read_text()
    markdown = (out / "report.md").read_text()
    merged = json.loads((out / "record-cpu-smoke.json").read_text())
    assert [t["nodeid"] for t in merged["tests"]] == ["b/test_curve.py::test_curve", "b/test_loss.py::test_loss"]
    assert merged["git"]["commit"] == "c0mm1t2" and merged["shards"] == ["1/2", "2/2"]
    images = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert images == sorted([
        "plots/cpu-smoke/memorization_curve_curve--acc_by_epoch.png",
        "plots/cpu-smoke/memorization_curve_curve--accuracy_matrix.png",
        "plots/cpu-smoke/memorization_curve_curve--metrics.png",
        "plots/cpu-smoke/memorization_loss_loss--metrics.png",
        "plots/cpu-smoke/trends/memorization_curve_curve.png",
        "plots/cpu-smoke/trends/memorization_loss_loss.png",
        "plots/cpu-smoke/trends/time--memorization.png",
    ])
    for image in images:
        data = (out / image).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000  # a drawn figure, not an empty canvas
        assert f"src='{image}'" in html and f"]({image})" in markdown
    assert "Trends across 3 runs" in html and "Trends across 3 runs" in markdown
    assert "<table>" in html and "memorization/curve::curve" in html and "### Timing" in markdown
    assert "report.md" in capsys.readouterr().out


def test_report_of_one_run_has_no_trends(tmp_path):
    folder = tmp_path / "runs"
    write(folder, "r.json", run_record([phenomenon_record("b/test_a.py::test_a", [0.9] * 3)]))
    site.write_report([load_run_record(folder / "r.json")], tmp_path / "out")
    assert not (tmp_path / "out" / "plots" / "cpu-smoke" / "trends").exists()
    assert "Trends" not in (tmp_path / "out" / "index.html").read_text()


def test_github_action_benchmark_json_sorts_by_direction(tmp_path):
    out = tmp_path / "report"
    tests = [phenomenon_record("b/test_up.py::test_up", [0.9] * 3),
             phenomenon_record("b/test_down.py::test_down", [0.1] * 3, direction="lower"),
             phenomenon_record("b/test_at.py::test_at", [0.1] * 3, direction="target")]
    site.write_report([run_record(tests)], out)
    bigger = json.loads((out / "github-action-benchmark-bigger.json").read_text())
    smaller = json.loads((out / "github-action-benchmark-smaller.json").read_text())
    assert [e["name"] for e in bigger] == ["memorization/up::up acc [cpu]"]
    assert sorted(e["name"] for e in smaller) == ["memorization/at::at time [cpu]", "memorization/down::down acc [cpu]",
                                                  "memorization/down::down time [cpu]", "memorization/up::up time [cpu]"]
    assert all({"name", "unit", "value"} <= set(e) for e in bigger + smaller)


def test_curves_share_a_figure_only_when_they_name_it(tmp_path):
    """Curves over the same x are separate figures unless the benchmark names one figure for them;
    labels, not names, go to the legend. Nothing is inferred from a label string."""
    pruned = Curve(x=[0.5, 0.9], y=[[0.9, 0.8]], xlabel="sparsity", ylabel="acc", figure="acc_vs_sparsity",
                   label="pruned")
    tuned = Curve(x=[0.5, 0.9], y=[[0.9, 0.88]], xlabel="sparsity", ylabel="acc", figure="acc_vs_sparsity",
                  label="fine-tuned")
    alone = Curve(x=[0.5, 0.9], y=[[0.1, 0.2]], xlabel="sparsity", ylabel="drop", figure="drop")
    test = phenomenon_record("b/test_a.py::test_a", [0.9] * 3,
                             curves={"pruned": pruned, "tuned": tuned, "drop": alone})
    site.write_report([run_record([test])], tmp_path / "out")
    drawn = sorted(p.name for p in (tmp_path / "out" / "plots" / "cpu-smoke").glob("*.png"))
    assert drawn == ["memorization_a_a--acc_vs_sparsity.png", "memorization_a_a--drop.png",
                     "memorization_a_a--metrics.png"]


@pytest.mark.parametrize(("values", "shape"), [
    (MATRIX.values, (2, 2)),  # seeds × rows × columns: the mean over seeds
    ([[1, 2, 3], [4, 5, 6]], (2, 3)),
    ([[1.0, None], [None, 2.0]], (2, 2)),  # a non-finite cell was stored as null
])
def test_matrices_average_over_seeds(values, shape):
    array = figures.mean_over_seeds(values)
    assert array.shape == shape


def test_a_matrix_without_finite_values_is_not_drawn():
    assert figures.mean_over_seeds([[None, None], [None, None]]) is None


def test_compare_accepts_a_folder_of_one_runs_shards(tmp_path, capsys):
    folder = nightly(tmp_path)
    first, last = folder / "night0-shard1", folder / "night2-shard1"
    assert cli.main(["compare", str(folder / "night0-shard1"), str(folder / "night1-shard1")]) == 0
    assert cli.main(["compare", str(first), str(last)]) == 1
    assert "REGRESSED" in capsys.readouterr().out
    assert cli.main(["compare", str(folder), str(last)]) == 2
    assert "holds 3 runs" in capsys.readouterr().err


def test_report_without_records_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "no run records" in capsys.readouterr().err


def test_baselines_update_from_a_folder_of_shards_writes_every_shard(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CI", raising=False)
    folder = nightly(tmp_path, n_runs=1)
    store = tmp_path / "baselines"
    assert cli.main(["baselines", "update", "--from", str(folder), "--dir", str(store)]) == 0
    entries = yaml.safe_load((store / "cpu" / "memorization.yaml").read_text())["entries"]
    assert sorted(entries) == ["test_curve.py::test_curve[smoke]", "test_loss.py::test_loss[smoke]"]
    assert "(new)" in capsys.readouterr().out


def test_a_report_into_a_used_folder_removes_only_what_reports_wrote(tmp_path):
    out = tmp_path / "out"
    mine = out / "plots" / "my-notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("kept")
    first = phenomenon_record("b/test_a.py::test_a", [0.9] * 3, curves={"acc_by_epoch": CURVE})
    site.write_report([run_record([first])], out)
    old_figure = out / "plots" / "cpu-smoke" / "memorization_a_a--acc_by_epoch.png"
    assert old_figure.exists()
    site.write_report([run_record([phenomenon_record("b/test_a.py::test_a", [0.9] * 3)])], out)
    assert not old_figure.exists()  # no longer drawn: removed
    assert mine.read_text() == "kept"  # not written by a report: left alone


def test_report_of_a_results_folder_after_plots(tmp_path, capsys):
    """`pytest --plots` writes a report folder beside the record, holding a merged copy of it;
    `harness report .harness/runs` must read the run once, not as two shards of one run."""
    runs_dir = tmp_path / "runs"
    record = run_record([phenomenon_record("b/test_curve.py::test_curve", [0.9, 0.91, 0.92])])
    path = write(runs_dir, "20261130T000000Z-abc-cpu.json", record)
    site.write_report([load_run_record(path)], path.with_suffix(""))
    assert cli.main(["report", str(runs_dir), "--out", str(tmp_path / "out")]) == 0
    assert "1 run record(s)" in capsys.readouterr().out
    # the report folder, named itself, is still readable (a kept CI artifact)
    assert cli.main(["report", str(path.with_suffix("")), "--out", str(tmp_path / "out2")]) == 0


def regressed_run():
    """Two phenomena; the second regressed against its baseline (its verdict carries the band)."""
    kept = phenomenon_record("b/test_kept.py::test_kept", [0.9, 0.91, 0.92])
    lost = phenomenon_record("b/test_lost.py::test_lost", [0.6, 0.61, 0.62], outcome="failed",
                             curves={"one_point": Curve(x=[3], y=[[0.5]], xlabel="k", ylabel="snr", figure="one_point")})
    sentence = "memorization/lost::lost acc fell from 0.910 to 0.610, mean tolerance 0.030"
    lost = dataclasses.replace(lost, verdicts=[Verdict("baseline", "acc", False, sentence, "acc", [0.88, None])],
                               about="L0 — a lost phenomenon (A. Author 2026)")
    return run_record([kept, lost]), sentence


def test_what_broke_comes_first_with_its_sentence_and_figure(tmp_path):
    record, sentence = regressed_run()
    page = site.write_report([record], tmp_path / "out")
    html = page.read_text()
    assert html.index("What broke (1)") < html.index("By group") < html.index("Phenomena")
    assert sentence in html and "href='#t-memorization_lost_lost'" in html and "id='t-memorization_lost_lost'" in html
    assert "plots/cpu-smoke/memorization_lost_lost--failed.png" in html.split("By group")[0]
    assert "L0 — a lost phenomenon (A. Author 2026)" in html
    # a single point is no curve: it is not drawn
    assert not list((tmp_path / "out" / "plots").rglob("*one_point*"))
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert markdown.index("### What broke") < markdown.index("### By group") < markdown.index("### Every check")
    assert sentence in markdown.split("### By group")[0]


def test_an_expected_failure_is_not_broken():
    record, _ = regressed_run()
    expected = dataclasses.replace(record, tests=[dataclasses.replace(t, outcome="xfailed") if t.outcome == "failed"
                                                  else t for t in record.tests])
    assert terminal.broken(record.tests) and not terminal.broken(expected.tests)


def test_nothing_broke_says_so(tmp_path):
    page = site.write_report([run_record([phenomenon_record("b/test_a.py::test_a", [0.9] * 3)])], tmp_path / "out")
    assert "Nothing broke" in page.read_text() and "What broke" not in page.read_text()


def test_group_rows_count_outcomes_warnings_and_time():
    record, _ = regressed_run()
    assert terminal.group_rows(record) == [["memorization", "2", "1", "1", "0", "0", "4 s"]]


def test_the_job_summary_fits_githubs_limit():
    record = run_record([phenomenon_record(f"b/test_{i:03d}.py::test_{i:03d}", [0.9] * 3) for i in range(300)])
    whole = terminal.markdown_summary(record)
    cut = terminal.markdown_summary(record, limit=len(whole.encode()) // 3)
    assert len(cut.encode()) <= len(whole.encode()) // 3
    assert "more rows left out to fit GitHub's job-summary limit" in cut and "### By group" in cut
