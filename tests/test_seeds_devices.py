"""Seeding streams are stable and independent; device parsing refuses what is absent."""

import numpy as np
import pytest
import torch

from harness import devices
from harness.seeds import check_seed_list, numpy_rng, stream_key, torch_generator


def test_stream_keys_are_fixed_forever():
    # Pinned values: if these change, every stored baseline silently changes meaning.
    assert stream_key(0, "init") == 3330654677893223573
    assert stream_key(1, "order") == 8307011275362835592
    assert torch.randint(1000, (3,), generator=torch_generator(0, "init")).tolist() == [412, 29, 140]
    assert numpy_rng(0, "labels").integers(1000, size=3).tolist() == [940, 738, 192]


def test_streams_and_seeds_are_independent():
    keys = {stream_key(s, st) for s in range(5) for st in ("init", "data", "order", "labels", "attack")}
    assert len(keys) == 25


@pytest.mark.parametrize("bad, message", [(-1, "non-negative"), (1.5, "non-negative integer"), (True, "integer")])
def test_bad_seeds_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        stream_key(bad, "init")


def test_unknown_stream_and_duplicate_seeds():
    with pytest.raises(ValueError, match="unknown seed stream 'weights'"):
        stream_key(0, "weights")
    with pytest.raises(ValueError, match="duplicates"):
        check_seed_list([0, 1, 1])
    assert check_seed_list(np.arange(3)) == [0, 1, 2]


def test_cpu_and_auto_resolve_here():
    assert devices.resolve_device("cpu") == torch.device("cpu")
    assert devices.resolve_device("AUTO").type in ("cpu", "cuda", "mps")
    assert devices.device_class(torch.device("cpu")) == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error; this machine has CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_absent_cuda_is_an_error_with_the_reason(spec):
    with pytest.raises(devices.DeviceUnavailable, match=f"--device {spec} requested but CUDA is unavailable"):
        devices.resolve_device(spec)


def test_unknown_device_names_the_choices():
    with pytest.raises(devices.DeviceUnavailable, match="use cpu, cuda, cuda:N, mps or auto"):
        devices.resolve_device("gpu0")


def test_gpu_names_normalise_to_class_keys():
    assert devices.normalise_name("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert devices.normalise_name("  Tesla V100-SXM2-16GB ") == "tesla-v100-sxm2-16gb"


def test_describe_has_the_comparability_facts():
    facts = devices.describe(torch.device("cpu"))
    assert {"torch", "python", "cpu", "threads", "device_class"} <= facts.keys()
    assert isinstance(facts["torch"], str) and type(facts["torch"]) is str  # plain str: YAML/JSON safe


def test_seed_grid_members_and_split():
    from harness.seeds import SeedGrid

    grid = SeedGrid(("a", "b", "c"), [0, 1], stride=1000, start=5)
    assert grid.members == [5, 6, 1005, 1006, 2005, 2006]
    values = np.arange(6) * 10
    parts = grid.split(values)
    assert list(parts) == ["a", "b", "c"] and parts["b"].tolist() == [20, 30]
    parts["c"][:] = -1  # rows are views: a condition's rows can be written in place
    assert values.tolist() == [0, 10, 20, 30, -1, -1]
    with pytest.raises(ValueError, match="one row per member"):
        grid.split(values[:5])
    with pytest.raises(ValueError, match="span the grid's stride"):
        SeedGrid(("a", "b"), [0, 100], stride=100)
    shifted = SeedGrid(("a", "b"), [100_000, 100_001], stride=100)  # a --seed-offset run: its own members
    assert shifted.members == [100_000, 100_001, 100_100, 100_101]


def test_at_least_continues_from_the_last_seed():
    from harness.seeds import at_least

    assert at_least([0, 1, 2], 8) == list(range(8))
    assert at_least([5000, 5001, 5002], 5) == [5000, 5001, 5002, 5003, 5004]
    assert at_least([0, 1, 2, 3, 4], 3) == [0, 1, 2, 3, 4]


def test_auto_threads_take_half_of_each_workers_share():
    assert devices.thread_count("auto", cores=2) == 1
    assert devices.thread_count("auto", cores=16) == 8
    assert devices.thread_count("auto", cores=16, workers=2) == 4
    assert devices.thread_count("auto", cores=2, workers=2) == 1  # never 0
    assert devices.thread_count("auto", cores=3, workers=4) == 1
    assert devices.thread_count("3", cores=2) == 3  # a number is taken as given
    assert devices.usable_cores() >= 1


def test_xdist_workers_spread_over_the_gpus():
    assert [devices.worker_gpu(i, 4, default=0) for i in range(6)] == [0, 1, 2, 3, 0, 1]
    assert devices.worker_gpu(None, 4, default=2) == 2  # outside xdist: the current device
    assert devices.worker_gpu(3, 0, default=0) == 0


def test_xdist_worker_reads_pytest_xdist_environment(monkeypatch):
    from harness.plugin.session import xdist_worker

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert xdist_worker() == (None, 1)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    assert xdist_worker() == (3, 4)


def test_numerics_are_set_to_ieee_float32_and_read_back_through_the_new_api():
    devices.set_numerics(torch.device("cpu"))
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"  # torch's default leaves convolutions in TF32
    assert devices.numerics().startswith("fp32 matmul ieee, conv ieee;")
    assert devices.describe(torch.device("cpu"))["numerics"] == devices.numerics()


def test_a_bare_cuda_device_gets_its_index(monkeypatch):
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert devices.normalise("cuda") == torch.device("cuda", 1)
    assert devices.normalise("cuda:0") == torch.device("cuda", 0)
    assert devices.normalise("cpu") == torch.device("cpu")


def test_the_shape_probe_times_the_trainers_own_matmuls():
    from harness.timing import stacked_matmul_flops, summarize_rounds

    rate = stacked_matmul_flops(torch.device("cpu"), [8, 16, 4], seeds=2, batch=4, rounds=3)
    assert 0 < rate < 1e14  # FLOP/s of a real measurement, not a count
    # one IQR everywhere: pytest-benchmark's quartiles (its method 3 for an odd count)
    assert summarize_rounds([1.0, 2.0, 3.0, 4.0, 5.0])["iqr"] == 2.5
