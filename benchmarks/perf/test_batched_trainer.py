"""Perf — the harness's own claim: training several seeds at once (over stacked parameters: batched
matmuls for a plain MLP like this one, torch.func vmap for other models) is faster than a per-seed
loop, and computes the same thing.

Setting: 8 seeds of MLP 40-512-512-10 on MNIST-1D, Adam 1e-3, one epoch at batch 128 (smoke: 512
rows, 4 steps; full: 4000 rows × 2 epochs, 63 steps), full-set evaluation at the end; the
sequential side runs the same loop per seed without vmap. The smoke tier used 2000 rows (16
steps), then 1024, until the budget asked for their time: the speed-up and throughput it reports
are timing figures, compared with their baseline and never asserted, and the agreement claim holds
at any size (1024 rows, 1 thread: agreement 0.000, speed-up 0.93–1.09, peak fraction 0.49–0.62,
run 5.0–7.1 s; 512 rows: agreement 0.000, speed-up 1.04–1.14, peak fraction 0.60–0.61, run 3.6 s).

Measured (cpu, 2 threads, smoke, 5 runs with interleaved rounds): batched and sequential agree
exactly (final test accuracy gap 0.000). Speed-up 1.00–1.29× — below the ≥ 1.5× aim and the ≥ 3× target;
like every wall-time figure it is reported and compared, never asserted (a loaded CI machine once
pushed it to 11.7× by slowing the sequential side). Profiling shows forward+backward at ~88 GFLOP/s in both
paths (the 2-core matmul peak; bmm over 8 seeds is no faster than 8 mm's), and Adam's update
(fused: 1.7 ms/step; foreach: 5.4 ms) and the transposed-gradient copy are the same bytes either
way, so batching only removes per-op overhead, which is small at width 512. A GPU, where one
seed's kernels are launch-bound, is where the ≥ 10× target applies. Throughput: 0.37–0.54 of the
matmul peak probe (121–150 GFLOP/s at n=2048), counting training and evaluation matmuls; the 0.5
aim is reached only on the quieter runs. The claim asserted is the equality of the two paths.
With plain MLPs as batched matmuls (no vmap; fresh clone, 1 thread): speed-up 0.99, peak fraction
0.58 of a 66 GFLOP/s probe. The record also notes the fraction against a probe at the trainer's
own shapes (8 × 128 rows through 40-512-512-10, `timing.stacked_matmul_flops`): on a GPU, where
those kernels are launch-bound, the n×n probe overstates what the trainer could reach.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

import numpy as np
import pytest

from harness import Metric
from harness.data import load_dataset
from harness.models import mlp
from harness.timing import matmul_peak_flops, stacked_matmul_flops, time_rounds
from harness.train import TrainConfig, TrainData, train

WIDTHS = (40, 512, 512, 10)
N_SEEDS = 8  # the models trained at once (fixed: the claim is about 8 seeds)


@dataclass(frozen=True)
class Config:
    n_train: int  # MNIST-1D training examples per epoch (of 4000)
    batch_size: int  # examples per step per seed
    epochs: int  # per timed round
    rounds: int  # timed rounds per side (after one warm-up)


TIERS = {"smoke": Config(n_train=512, batch_size=128, epochs=1, rounds=3),
         "full": Config(n_train=4000, batch_size=128, epochs=2, rounds=5)}


def matmul_flops(widths, examples: int, n_models: int, backward: bool) -> float:
    """Matmul FLOPs over `examples`: forward 2·in·out per layer and example, backward twice that."""
    return (6 if backward else 2) * examples * n_models * sum(a * b for a, b in itertools.pairwise(widths))


def run(cfg: Config, device, seeds: list[int]) -> dict:
    """Batched vs sequential wall time of the same training, their agreement, and throughput."""
    data = TrainData.of(load_dataset("mnist1d", device).subset(n_train=cfg.n_train))
    train_cfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=1e-3, eval_every=cfg.epochs)
    fit = {mode: (lambda mode=mode: train(lambda: mlp(WIDTHS), data, seeds, train_cfg, device,
                                          batched=mode == "batched"))
           for mode in ("batched", "sequential")}
    results = {mode: fn() for mode, fn in fit.items()}  # also the warm-up of each side
    times = {mode: [] for mode in fit}
    for _ in range(cfg.rounds):  # interleaved, so drifting load on a shared machine hits both sides
        for mode, fn in fit.items():
            times[mode] += time_rounds(fn, device, rounds=1, warmup=0)
    agreement = (results["batched"].curves["test_acc"][:, -1] - results["sequential"].curves["test_acc"][:, -1]).abs()
    evaluated = data.n_train + data.y_test.shape[0]  # one full-set evaluation after the last epoch
    flops = (matmul_flops(WIDTHS, cfg.epochs * data.n_train, len(seeds), backward=True)
             + matmul_flops(WIDTHS, evaluated, len(seeds), backward=False))
    peak = matmul_peak_flops(device)
    at_shapes = stacked_matmul_flops(device, WIDTHS, len(seeds), cfg.batch_size)
    batched_s = statistics.median(times["batched"])
    return {
        "speedup": np.array([statistics.median(times["sequential"]) / batched_s]),
        "max_test_acc_gap": np.array([agreement.max().item()]),
        "peak_fraction": np.array([flops / batched_s / peak]),
        "peak_gflops": peak / 1e9, "times": times,
        "shape_probe_gflops": at_shapes / 1e9, "shape_probe_fraction": flops / batched_s / at_shapes,
    }


@pytest.fixture(scope="module")
def perf(device, cfg):
    return run(cfg, device, list(range(N_SEEDS)))


def test_batched_matches_sequential(perf, claim):
    """Same seeds → same models: final test accuracy agrees within 1% (float rounding only)."""
    claim.record(perf, {"max_test_acc_gap": Metric("lower", abs_tol=0.01)}, seeds=range(N_SEEDS))
    claim.at_most("max_test_acc_gap", 0.01)


@pytest.mark.timing
def test_batched_speedup(perf, claim):
    """Training 8 seeds batched against one at a time: the speed-up is reported, never asserted
    (no outcome depends on wall time); its baseline check and `harness compare` warn when it falls.
    The aim is ≥ 1.5× anywhere and ≥ 10× on a GPU; on the 2-core CPU it is 1.00–1.29× (see above)."""
    claim.record(perf, {"speedup": Metric("higher", abs_tol=0.3, timing=True)}, seeds=range(N_SEEDS))
    claim.note("rounds_s", perf["times"])


@pytest.mark.timing
def test_step_throughput(perf, claim, cfg, bench, device):
    """Training throughput as a fraction of the measured matmul peak (aim ≥ 0.5; 0.37–0.54 measured
    on the 2-core CPU): reported, and warned about against the baseline, never asserted."""
    claim.record(perf, {"peak_fraction": Metric("higher", abs_tol=0.1, timing=True)}, seeds=range(N_SEEDS))
    claim.note("matmul_peak_gflops", perf["peak_gflops"])
    claim.note("shape_probe_gflops", perf["shape_probe_gflops"])  # the same matmuls at the trainer's shapes
    claim.note("shape_probe_fraction", perf["shape_probe_fraction"])
    data = TrainData.of(load_dataset("mnist1d", device).subset(n_train=cfg.n_train))
    one_epoch = TrainConfig(epochs=1, batch_size=cfg.batch_size, lr=1e-3)
    bench(lambda: train(lambda: mlp(WIDTHS), data, list(range(N_SEEDS)), one_epoch, device))
