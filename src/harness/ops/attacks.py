"""Adversarial perturbations of seed-stacked inputs, and adversarial training as a trainer loss.

`model` is any function from inputs [S, N, ...] (one batch per seed) to logits [S, N, C], e.g.
`lambda x: result.forward(x, per_seed=True)`: every seed is attacked through its own weights at
once. Inputs live in a box [lo, hi] (pixels in [0, 1]); every attack returns points inside both
the ε-ball (L∞) around x and the box. Each seed's loss depends only on its own slice, so the
gradient of the summed loss is every example's own input gradient.

FGSM (Goodfellow, Shlens & Szegedy 2015): x + ε·sign(∇ₓ CE). PGD (Madry et al. 2018): a uniform
random start in the ball, then `steps` signed-gradient steps of `step_size`, each projected back
onto the ball and the box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from harness import devices
from harness.seeds import torch_generator
from harness.stacked import cross_entropy_per_seed

Model = Callable[[torch.Tensor], torch.Tensor]


def input_gradient(model: Model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∇ₓ of each example's cross-entropy, for x [S, N, ...] and labels [S, N] or shared [N]."""
    x = x.detach().requires_grad_(True)
    loss = cross_entropy_per_seed(model(x), y).sum() * x.shape[1]  # a sum over examples: each its own gradient
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, box=(0.0, 1.0)) -> torch.Tensor:
    """One signed-gradient step of size eps, clipped to the box."""
    return (x + eps * input_gradient(model, x, y).sign()).clamp(*box).detach()


def pgd(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int, step_size: float,
        generators: list[torch.Generator] | None = None, box=(0.0, 1.0)) -> torch.Tensor:
    """Projected gradient ascent on the loss from a random start (L∞ ball of radius eps); the
    start is drawn from each seed's generator, or from torch's RNG when none are given."""
    adv = (x + eps * (2 * uniform_like(x, generators) - 1)).clamp(*box)
    for _ in range(steps):
        adv = adv + step_size * input_gradient(model, adv, y).sign()
        adv = torch.minimum(torch.maximum(adv, x - eps), x + eps).clamp(*box)
    return adv.detach()


def sign_noise(x: torch.Tensor, eps: float, generators: list[torch.Generator], box=(0.0, 1.0)) -> torch.Tensor:
    """The control: random ±eps per coordinate (FGSM's norm, no gradient), clipped to the box."""
    signs = torch.where(uniform_like(x, generators) < 0.5, -1.0, 1.0)
    return (x + eps * signs).clamp(*box)


def uniform_like(x: torch.Tensor, generators: list[torch.Generator] | None) -> torch.Tensor:
    """U[0, 1) shaped like x [S, ...]: seed i's slice from generators[i], or all from torch's RNG
    when generators is None."""
    if generators is None:
        return torch.rand(x.shape, device=x.device)
    return _per_seed(torch.rand, x, generators)


def normal_like(x: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """N(0, 1) shaped like x [S, ...], seed i's slice from generators[i]."""
    return _per_seed(torch.randn, x, generators)


def _per_seed(draw, x: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """Seed i's slice drawn from generators[i] on the CPU, so the values do not depend on the device
    (copied over without waiting for the device's queue)."""
    if len(generators) != x.shape[0]:
        raise ValueError(f"{len(generators)} generators for {x.shape[0]} seeds")
    return devices.from_host(torch.stack([draw(x.shape[1:], generator=g) for g in generators]), x.device)


@torch.no_grad()
def error_and_confidence(model: Model, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per seed: error rate [S], and mean max-softmax on the misclassified inputs [S] (NaN if none)."""
    probs = model(x).softmax(-1)
    confidence, pred = probs.max(-1)
    wrong = pred != y
    error = wrong.float().mean(1)
    wrong_confidence = (confidence * wrong).sum(1) / wrong.sum(1)
    return error, wrong_confidence


def fgsm_vs_noise(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, seeds: list[int]) -> dict:
    """Per seed (numpy): FGSM error, error under ±eps sign noise (each seed's 'noise' stream), their
    difference, and the mean confidence on FGSM's wrong answers."""
    error, confidence = error_and_confidence(model, fgsm(model, x, y, eps), y)
    noise_error, _ = error_and_confidence(model, sign_noise(x, eps, [torch_generator(s, "noise") for s in seeds]), y)
    out = {"fgsm_error": error, "noise_error": noise_error, "fgsm_minus_noise": error - noise_error,
           "wrong_confidence": confidence}
    return {k: v.cpu().numpy() for k, v in out.items()}


@dataclass(frozen=True)
class AdversarialTraining:
    """Goodfellow's adversarial objective as a `TrainConfig(loss=...)`: (1 − w)·CE(x) + w·CE(x_adv),
    with x_adv from FGSM (steps=0) or PGD (steps > 0, random start from torch's RNG, which the
    trainer seeds) against the model being trained, recomputed every step."""

    eps: float
    steps: int = 0  # 0: FGSM; otherwise PGD with this many steps
    step_size: float | None = None  # PGD step; default eps / 2.5
    weight: float = 0.5

    def __call__(self, model: Model, x: torch.Tensor, y: torch.Tensor, extras: dict) -> torch.Tensor:
        if self.steps == 0:
            adv = fgsm(model, x, y, self.eps)
        else:
            adv = pgd(model, x, y, self.eps, steps=self.steps, step_size=self.step_size or self.eps / 2.5)
        return (1 - self.weight) * cross_entropy_per_seed(model(x), y) + self.weight * cross_entropy_per_seed(model(adv), y)
