"""Planted faults: what the suite can see. Each fault is the kind of change a new library, driver
or device really brings, planted into the science core for one pytest session
(`pytest --plant-fault KIND`); `harness faults` runs the suite once clean and once per fault and
reports which tests go red. A fault nobody catches is a blind spot of the suite.

- `init` — layers start at half their scale (a changed default initialisation, a fan-in/fan-out
  mix-up).
- `optimizer` — Adam forgets its first moment and SGD its momentum (a fused kernel that drops β1).
- `data` — every tenth training label is shifted by one class (an off-by-one in a preprocessing
  step that touches a slice of the data).
- `numerics` — every linear layer multiplies in bfloat16 (a backend that lowers matmul precision by
  default, as TF32 does on GPUs), whether it runs through F.linear or the trainer's batched
  matmuls for plain MLPs.

Planting replaces module attributes that the core looks up at call time, and is undone with
`remove`; benchmarks see the fault because the plugin plants it before it collects them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F

from harness import data, devices, models, stacked, train

HALF_SCALE = 0.5  # init fault: every initialised weight × 0.5
LABEL_STRIDE = 10  # data fault: every 10th training label moves to the next class


def _init_at_half_scale(original: Callable) -> Callable:
    @functools.wraps(original)
    def init_layer(layer, *args, **kwargs):
        original(layer, *args, **kwargs)
        with torch.no_grad():
            layer.weight.mul_(HALF_SCALE)
    return init_layer


def _optimizer_without_momentum(original: Callable) -> Callable:
    @functools.wraps(original)
    def make(params, cfg):
        opt = original(params, cfg)
        for group in opt.param_groups:
            if "betas" in group:
                group["betas"] = (0.0, group["betas"][1])
            if "momentum" in group:
                group["momentum"] = 0.0
        return opt
    return make


def _labels_off_by_one(builders: dict) -> dict:
    def shifted(build: Callable) -> Callable:
        def make():
            ds = build()
            y = ds.y.clone()
            y[::LABEL_STRIDE] = (y[::LABEL_STRIDE] + 1) % ds.num_classes
            return dataclasses.replace(ds, y=y)
        return make
    return {name: shifted(build) for name, build in builders.items()}


def _linear_in_bfloat16(original: Callable) -> Callable:
    @functools.wraps(original)
    def linear(x, weight, bias=None):
        out = original(x.bfloat16(), weight.bfloat16(), None if bias is None else bias.bfloat16())
        return out.to(x.dtype)
    return linear


# kind → [(object, attribute, how to wrap the attribute's value), ...]
FAULTS: dict[str, list[tuple[object, str, Callable]]] = {
    "init": [(models, "_init_layer", _init_at_half_scale)],
    "optimizer": [(train, "_optimizer", _optimizer_without_momentum)],
    "data": [(data, "_BUILDERS", _labels_off_by_one)],
    "numerics": [(F, "linear", _linear_in_bfloat16), (stacked, "stacked_linear", _linear_in_bfloat16)],
}


def plant(kind: str) -> Callable[[], None]:
    """Plant one fault; returns the function that removes it."""
    if kind not in FAULTS:
        raise ValueError(f"unknown fault {kind!r}; plant one of {', '.join(FAULTS)}")
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in FAULTS[kind]]
    for owner, name, wrap in FAULTS[kind]:
        setattr(owner, name, wrap(getattr(owner, name)))
    data._cached.cache_clear()  # datasets built before the fault must not leak past it (or into it)

    def remove() -> None:
        for owner, name, original in originals:
            setattr(owner, name, original)
        data._cached.cache_clear()
    return remove


def side_by_side(jobs: int | None, runs: int) -> tuple[int, int]:
    """(runs at once, torch threads each) for `harness faults`: `jobs` of the `runs` at a time
    (default one per usable core), each with its share of the cores as `--threads auto` gives an
    xdist worker."""
    cores = devices.usable_cores()
    jobs = min(jobs or cores, runs)
    return jobs, devices.thread_count("auto", cores, jobs)
