"""A6 — single hidden units are no more meaningful than random directions in their layer
(Szegedy et al. 2014, "Intriguing properties of neural networks", §3: the inputs that most
activate a unit and those that most project onto a random direction look equally coherent).

Claim: in the last hidden layer of the digits MLP, the top-k test inputs of a single unit and of
a Gaussian random direction have label purity within 0.1 of each other, and both are ≥ 0.3 purer
than random k-subsets of the test set. Control: random directions with non-negative weights
(sums of units, which ReLU features all push the same way) are less pure than Gaussian ones.

Setting: harness.trained_models "digits-mlp" (64-300-100-10); post-ReLU activations of its 100-unit layer
on the 497 test digits; units with ≥ 20 positive test activations; 100 Gaussian directions per
seed (its 'noise' stream); purity as in harness.ops.directions; chance from 1000 random subsets.

Measured (cpu, 2 threads, 5 seeds), k = 8 / 10 / 20: units 0.756 / 0.739 / 0.678, Gaussian
directions 0.802 / 0.786 / 0.729 (gap 0.04–0.08 per seed), non-negative directions 0.584 /
0.548 / 0.444, random subsets 0.302 / 0.275 / 0.220. Live units 69–83 of 100.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from harness import Metric
from harness.data import load_dataset
from harness.ops.directions import random_subset_purity, top_k_purity
from harness.seeds import torch_generator
from harness.trained_models import trained


@dataclass(frozen=True)
class Config:
    recipe: str = "digits-mlp"
    min_active: int = 20  # test inputs on which a unit must be positive to count as alive
    subsets: int = 1000  # random k-subsets for the chance level


TIERS = {"smoke": Config(), "full": Config()}  # the full tier differs by its seed count only


@pytest.fixture(scope="module")
def features(device, cfg, seeds):
    digits = load_dataset("digits", device)
    return trained(cfg.recipe, device, seeds).without_head().forward(digits.x_test).detach()


@pytest.mark.parametrize("k", [8, 10, 20], ids=lambda k: f"k={k}")
def test_units_are_no_purer_than_random_directions(features, k, claim, device, cfg, seeds):
    """|purity(random) − purity(units)| < 0.1; both ≥ chance + 0.3; non-negative directions less pure."""
    labels = load_dataset("digits", device).y_test
    width = features.shape[-1]
    alive = (features > 0).sum(1) >= cfg.min_active  # [S, units]
    unit_purity = top_k_purity(features, labels, k)
    directions = torch.stack([torch.randn(width, width, generator=torch_generator(s, "noise")) for s in seeds]).to(features)
    values = {
        "unit_purity": np.array([float(unit_purity[i][alive[i]].mean()) for i in range(len(seeds))]),
        "gaussian_purity": top_k_purity(features @ directions, labels, k).mean(1).cpu().numpy(),
        "nonnegative_purity": top_k_purity(features @ directions.abs(), labels, k).mean(1).cpu().numpy(),
        "alive_units": alive.sum(1).float().cpu().numpy(),
    }
    values["purity_gap"] = values["gaussian_purity"] - values["unit_purity"]
    chance = float(random_subset_purity(labels, k, cfg.subsets, torch_generator(0, "noise")).mean())
    claim.record(values, {"unit_purity": Metric("target", abs_tol=0.05), "gaussian_purity": Metric("target", abs_tol=0.05),
                          "nonnegative_purity": Metric("target", abs_tol=0.05), "alive_units": Metric("target", abs_tol=15),
                          "purity_gap": Metric("target", abs_tol=0.05)})
    claim.above("purity_gap", -0.1)
    claim.below("purity_gap", 0.1)
    claim.at_least("unit_purity", chance + 0.3)
    claim.at_least("gaussian_purity", chance + 0.3)
    claim.greater("gaussian_purity", "nonnegative_purity", paired=True)
    claim.note("random_subset_purity", chance)
