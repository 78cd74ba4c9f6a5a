"""M3 — random labels slow fitting down by a small constant factor only (Zhang et al. 2017,
"Understanding deep learning requires rethinking generalization", ICLR, §2.2: "the slowdown is
a small constant factor" relative to true labels, Fig. 1a).

Claims: on digits, steps(random labels)/steps(true labels) is within [2, 8] on every seed; on
MNIST-1D (full tier) the effect is weak — the mean ratio over seeds is within [1.05, 3] only.

Setting: MLP in-w-w-10, Adam 1e-3, batch 128, trained until train accuracy 1.0 (checked every
epoch); true and random labels train side by side in one batched run
(harness.ops.randomization). Digits: 1300 training images (11 steps per epoch).

Measured (cpu, 2 threads, 5 seeds): smoke (800 digits, lr 3e-3, read every 2 epochs, 18.6 s):
steps 129±6 (true) against 381±21 (random), slowdown 2.97±0.27 (2.50–3.22). At all 1300 digits
and lr 1e-3 (the full tier): 365±41 against 1250±23, slowdown 3.46±0.41 (first calibration: 3.1–4.3).
Narrower nets need more steps, not fewer (w = 128 did not fit random labels in 300 epochs).
MNIST-1D (full, 4000 rows): 1011±18 against 1216±32 steps, slowdown 1.203±0.052
(first calibration: 1.18±0.06).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from harness import Metric
from harness.data import load_dataset
from harness.models import mlp
from harness.ops.randomization import fit_conditions
from harness.train import TrainConfig


@dataclass(frozen=True)
class Config:
    width: int = 512
    n_train: int | None = None  # digits rows used (None: all 1300)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=300, batch_size=128, lr=3e-3,
                                                                    stop_at_train_acc=1.0, eval_every=2,
                                                                    test_curves=False))


TIERS = {"smoke": Config(n_train=800),
         "full": Config(train=TrainConfig(epochs=300, batch_size=128, lr=1e-3, stop_at_train_acc=1.0,
                                          test_curves=False))}


def slowdown(dataset: str, cfg: Config, device, seeds: list[int]) -> dict:
    ds = load_dataset(dataset, device).subset(n_train=cfg.n_train if dataset == "digits" else None)
    width_in = ds.x[0].numel()
    fits = fit_conditions(lambda: mlp([width_in, cfg.width, cfg.width, 10]), ds, ("true_labels", "random_labels"),
                          seeds, cfg.train, device)
    true, random = fits["true_labels"]["steps_to_fit"], fits["random_labels"]["steps_to_fit"]
    return {"steps_true": true, "steps_random": random, "slowdown": random / true}


SPECS = {"steps_true": Metric("target", abs_tol=30), "steps_random": Metric("target", abs_tol=60),
         "slowdown": Metric("target", abs_tol=0.5)}


def test_slowdown_is_a_small_constant_on_digits(device, cfg, seeds, claim):
    """Every seed: 2 ≤ steps(random)/steps(true) ≤ 8."""
    claim.record(slowdown("digits", cfg, device, seeds), SPECS)
    claim.each_within("slowdown", 2, 8)


@pytest.mark.full_only
def test_slowdown_is_weak_on_mnist1d(device, cfg, seeds, claim):
    """Mean over seeds of steps(random)/steps(true) within [1.05, 3]."""
    claim.record(slowdown("mnist1d", cfg, device, seeds), SPECS)
    claim.at_least("slowdown", 1.05)
    claim.at_most("slowdown", 3)
