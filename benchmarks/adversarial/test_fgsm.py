"""A1 — small signed-gradient perturbations flip the predictions of an accurate network, and it
is confidently wrong, while random perturbations of the same size do nothing (Szegedy et al.
2014, "Intriguing properties of neural networks"; Goodfellow, Shlens & Szegedy 2015, "Explaining
and Harnessing Adversarial Examples", §4: FGSM at ε=0.25 gives 89.4% error on a maxout MNIST net).

Claims: FGSM at ε=0.1 (a tenth of the pixel range) raises the test error to ≥ 0.4, ≥ 0.35 above
random ±ε sign noise; at ε=0.2 the error is ≥ 0.9 with mean confidence ≥ 0.8 on the wrong
answers; error grows with ε; PGD (random start, projected steps) is at least as strong as FGSM.

Setting: digits (pixels in [0, 1]), MLP 64-300-100-10 (harness.trained_models "digits-mlp": Adam 1e-3,
batch 64, 30 epochs), the 497 test digits, every seed's model attacked through its own weights.
PGD: 20 steps of ε/4 (40 in the full tier) from a uniform start in the ε-ball.

Measured (cpu, 2 threads, 5 seeds): clean error 0.025±0.003. FGSM error by ε 0.05/0.1/0.15/0.2/
0.25: 0.156, 0.515±0.009, 0.866, 0.986±0.004, 1.000; noise 0.026, 0.038, 0.054, 0.088, 0.136;
confidence on the wrong answers 0.77 → 0.90 (0.896 at ε=0.2). PGD-20 at ε=0.1: 0.578±0.018.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from harness import Metric
from harness.data import load_dataset
from harness.ops.attacks import error_and_confidence, fgsm, fgsm_vs_noise, pgd
from harness.seeds import torch_generator
from harness.trained_models import trained

EPSILONS = (0.05, 0.1, 0.15, 0.2, 0.25)  # L∞ radius, pixel range [0, 1]


@dataclass(frozen=True)
class Config:
    recipe: str = "digits-mlp"
    pgd_eps: float = 0.1
    pgd_steps: int = 20  # of size eps / 4


TIERS = {"smoke": Config(), "full": Config(pgd_steps=40)}


def run(cfg: Config, device, seeds: list[int]) -> dict:
    """Per ε: FGSM error, noise error and confidence on wrong answers; PGD and FGSM at pgd_eps."""
    digits = load_dataset("digits", device)
    result = trained(cfg.recipe, device, seeds)
    model = lambda x: result.forward(x, per_seed=True)
    x, y = digits.x_test.expand(len(seeds), *digits.x_test.shape), digits.y_test
    out = {"clean_error": error_and_confidence(model, x, y)[0].cpu().numpy()}
    out.update({eps: fgsm_vs_noise(model, x, y, eps, seeds) for eps in EPSILONS})
    adv = pgd(model, x, y, cfg.pgd_eps, steps=cfg.pgd_steps, step_size=cfg.pgd_eps / 4,
              generators=[torch_generator(s, "attack") for s in seeds])
    out["pgd_error"] = error_and_confidence(model, adv, y)[0].cpu().numpy()
    return out


@pytest.fixture(scope="module")
def attacked(device, cfg, seeds):
    return run(cfg, device, seeds)


METRICS = {
    "fgsm_error": Metric("higher", abs_tol=0.03),
    "noise_error": Metric("lower", abs_tol=0.02),
    "fgsm_minus_noise": Metric("higher", abs_tol=0.03),
    "wrong_confidence": Metric("target", abs_tol=0.05),
}


@pytest.mark.parametrize("eps", [0.1, 0.2], ids=lambda e: f"eps={e}")
def test_fgsm_flips_predictions(attacked, eps, claim):
    """ε=0.1: error ≥ 0.4 and ≥ 0.35 above noise; ε=0.2: error ≥ 0.9, confidently wrong (≥ 0.8)."""
    claim.record(attacked[eps], METRICS)
    if eps == 0.1:
        claim.at_least("fgsm_error", 0.4)
        claim.at_least("fgsm_minus_noise", 0.35)
    else:
        claim.at_least("fgsm_error", 0.9)
        claim.at_least("wrong_confidence", 0.8)


def test_error_grows_with_eps_and_pgd_is_stronger(attacked, claim, cfg, seeds):
    """FGSM error is non-decreasing in ε for every seed; PGD error ≥ FGSM error − 0.01."""
    curve = np.stack([attacked[eps]["fgsm_error"] for eps in EPSILONS], axis=1)  # [seeds, ε]
    eps = cfg.pgd_eps
    claim.record({"pgd_error": attacked["pgd_error"], "pgd_minus_fgsm": attacked["pgd_error"] - attacked[eps]["fgsm_error"],
                  "clean_error": attacked["clean_error"]},
                 {"pgd_error": Metric("higher", abs_tol=0.03), "pgd_minus_fgsm": Metric("higher", abs_tol=0.03),
                  "clean_error": Metric("lower", abs_tol=0.01)})
    steps = np.diff(curve, axis=1)
    claim.check("monotone_in_eps", bool((steps >= 0).all()), f"smallest step {steps.min():+.3f}", "every step ≥ 0")
    claim.at_least("pgd_minus_fgsm", -0.01)
    noise = np.stack([attacked[e]["noise_error"] for e in EPSILONS], axis=1)
    for name, errors in (("FGSM", curve), ("±ε sign noise", noise)):
        claim.curve(f"error_vs_eps ({name})", EPSILONS, errors, label=name, figure="test error against eps",
                    xlabel="ε (L∞, pixel range 1)", ylabel="test error")


def test_fgsm_time(bench, claim, device, cfg, seeds):
    """Times FGSM on the whole test set, every seed at once (model trained beforehand)."""
    digits = load_dataset("digits", device)
    result = trained(cfg.recipe, device, seeds)
    model = lambda x: result.forward(x, per_seed=True)
    x = digits.x_test.expand(len(seeds), *digits.x_test.shape)
    adv = bench(lambda: fgsm(model, x, digits.y_test, 0.1))
    moved = (adv - x).abs().amax(dim=(1, 2)).cpu().numpy()
    claim.record({"max_perturbation": moved}, {"max_perturbation": Metric("target", abs_tol=1e-6)})
    with claim.guards():
        claim.each_within("max_perturbation", high=0.1 + 1e-6)  # never leaves the ε-ball
