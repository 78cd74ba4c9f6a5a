"""Honest timing: synchronise the device, warm up, time one representative unit through
pytest-benchmark, and probe the matmul peak that throughput is reported against."""

from __future__ import annotations

import statistics
import time

import torch
from pytest_benchmark.stats import Stats

from harness.devices import synchronize


def synced(fn, device: torch.device):
    """fn followed by a device synchronisation, so a host timer sees finished work.

    Each timed round ends synchronised, so the next one starts with an empty queue: together this
    is what a syncing timer would measure, and it works with pytest-benchmark's own timer.
    """
    def unit(*args, **kwargs):
        result = fn(*args, **kwargs)
        synchronize(device)
        return result
    return unit


def summarize_rounds(rounds: list[float]) -> dict:
    """median, inter-quartile range and the raw rounds (seconds), as stored in records. The
    quartiles are pytest-benchmark's, so its table and ours show the same IQR for the same rounds."""
    stats = Stats()
    for seconds in rounds:
        stats.update(seconds)
    return {"median": stats.median, "iqr": stats.iqr, "rounds": list(rounds)}


def benchmark_rounds(benchmark) -> list[float] | None:
    """The timed rounds pytest-benchmark collected, or None when timing is disabled."""
    stats = getattr(benchmark, "stats", None)
    if stats is None or getattr(benchmark, "disabled", False):
        return None
    return list(stats.stats.data)


def time_rounds(fn, device: torch.device, rounds: int, warmup: int = 1) -> list[float]:
    """Seconds per call of fn over `rounds` synchronised calls after `warmup` untimed ones.

    For measurements inside a benchmark's own computation (e.g. a speed-up ratio, both sides
    timed in the same run); the test's representative unit goes through pytest-benchmark.
    """
    unit = synced(fn, device)
    for _ in range(warmup):
        unit()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        unit()
        times.append(time.perf_counter() - start)
    return times


def matmul_peak_flops(device: torch.device, n: int | None = None, dtype=torch.float32, rounds: int = 5) -> float:
    """Measured FLOP/s of an n×n matmul (median of rounds): the ceiling throughput is judged by.

    n defaults to 2048 on the CPU (the rate plateaus there: 72→123 GFLOP/s from n=256 to 2048 on
    the 2-core CI machine) and 8192 on a GPU (large enough to fill an H100).
    """
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = statistics.median(time_rounds(lambda: a @ b, device, rounds, warmup=2))
    return 2 * n**3 / seconds


def stacked_matmul_flops(device: torch.device, widths, seeds: int, batch: int, rounds: int = 5) -> float:
    """Measured FLOP/s of one forward pass of a plain MLP's matmuls at the trainer's own shapes
    (`seeds` stacked models, `batch` rows, layers `widths`), as the batched trainer issues them.
    The fair ceiling for its throughput where small kernels are launch-bound (a GPU), which an
    n×n probe overstates."""
    layers = list(zip(widths[:-1], widths[1:], strict=True))
    inputs = [torch.randn(seeds, batch, a, device=device) for a, _ in layers]
    weights = [torch.randn(seeds, a, b, device=device) for a, b in layers]
    flops = 2 * seeds * batch * sum(a * b for a, b in layers)

    def forward():
        for x, w in zip(inputs, weights, strict=True):
            torch.bmm(x, w)
    return flops / statistics.median(time_rounds(forward, device, rounds, warmup=2))
