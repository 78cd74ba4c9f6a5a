"""A4 — linear models are fooled too: adversarial examples come from linearity in high
dimensions, not from depth (Goodfellow, Shlens & Szegedy 2015, §3–4: a perturbation of ε·sign(w)
moves wᵀx by ε·‖w‖₁, which grows with the dimension; shallow softmax regression on MNIST has 99.9%
error under FGSM at ε=0.25).

Claim: softmax regression on digits, as accurate as the MLP, has FGSM error ≥ 0.45 at ε=0.1 and
≥ 0.9 at ε=0.25, far above random ±ε sign noise.

Setting: digits, softmax regression 64→10 (harness.trained_models "digits-softmax": Adam 1e-2, batch 64,
100 epochs), FGSM on the 497 test digits. For a linear model FGSM is the closed form
x + ε·sign(w_wrong − w_true) summed over the softmax's weights (tests/test_ops_attacks.py).

Measured (cpu, 2 threads, 5 seeds): clean error 0.021±0.001; FGSM error 0.623±0.011 at ε=0.1
(noise 0.035), 1.000 at ε=0.25 (noise 0.155); at ε=0.1 the MLP of A1 is at 0.515: the linear
model is no more robust.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness import Metric
from harness.data import load_dataset
from harness.ops.attacks import fgsm_vs_noise
from harness.trained_models import trained

BOUNDS = {0.1: 0.45, 0.25: 0.9}  # ε → the least FGSM error claimed


@dataclass(frozen=True)
class Config:
    recipe: str = "digits-softmax"


TIERS = {"smoke": Config(), "full": Config()}  # the full tier differs by its seed count only


@pytest.mark.parametrize("eps", list(BOUNDS), ids=lambda e: f"eps={e}")
def test_softmax_regression_is_fooled(eps, claim, device, cfg, seeds):
    """FGSM error ≥ the bound, and ≥ 0.35 above sign noise of the same size."""
    digits = load_dataset("digits", device)
    result = trained(cfg.recipe, device, seeds)
    x = digits.x_test.expand(len(seeds), *digits.x_test.shape)
    values = fgsm_vs_noise(lambda v: result.forward(v, per_seed=True), x, digits.y_test, eps, seeds)
    claim.record(values, {"fgsm_error": Metric("higher", abs_tol=0.03), "noise_error": Metric("lower", abs_tol=0.02),
                          "fgsm_minus_noise": Metric("higher", abs_tol=0.03)})
    claim.at_least("fgsm_error", BOUNDS[eps])
    claim.at_least("fgsm_minus_noise", 0.35)
