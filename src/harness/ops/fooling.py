"""Fooling images: inputs far from any data that a network classifies with near-certainty
(Nguyen, Yosinski & Clune 2015, "Deep Neural Networks are Easily Fooled"; Goodfellow et al. 2015
§5 "rubbish class examples").

Two searches, both batched over seeds and targets. Gradient: signed-gradient ascent on
log softmax[target] from uniform noise, clipped to the pixel box. Evolution: a (1+λ) strategy that
mutates a random tenth of the pixels and keeps the best child when it raises the target's
probability — the gradient-free search Nguyen et al. use (their direct encoding, simplified).
"""

from __future__ import annotations

import torch

from harness.ops.attacks import Model, normal_like, uniform_like

MUTATED_FRACTION = 0.1  # of the pixels, per child
STOP_CHECK_EVERY = 8  # gradient steps between host reads of 'every image is done' on an accelerator


def _target_log_probs(model: Model, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax[target] [S, K] for images x [S, K, D] with one target each (targets [K])."""
    return model(x).log_softmax(-1).gather(-1, targets.expand(x.shape[0], -1).unsqueeze(-1)).squeeze(-1)


def gradient_fooling(model: Model, targets: torch.Tensor, x0: torch.Tensor, *, step: float, max_steps: int,
                     thresholds: tuple[float, ...], check_every: int | None = None
                     ) -> tuple[torch.Tensor, dict[float, torch.Tensor]]:
    """Ascend from x0 [S, K, D] until every image's target probability passes the last threshold
    or max_steps. Returns the images and, per threshold, the step [S, K] at which each first got
    there (max_steps + 1 when it never did). check_every: steps between host reads of the stop
    (default: every step on the CPU, STOP_CHECK_EVERY on an accelerator); the result is the same."""
    x = x0.clone()
    reached = {t: torch.full(x.shape[:2], max_steps + 1, device=x.device) for t in thresholds}
    # The stop is decided on the device: once every image is past the last threshold the images
    # stay as they are, and the host reads that flag only every few steps (each read waits for
    # the device's queue), so the result is the one a check at every step gives. On the CPU a
    # read costs nothing and saves the extra steps.
    check_every = check_every or (1 if x.device.type == "cpu" else STOP_CHECK_EVERY)
    finished = torch.zeros((), dtype=torch.bool, device=x.device)
    for i in range(max_steps + 1):
        x.requires_grad_(True)
        log_p = _target_log_probs(model, x, targets)
        p = log_p.detach().exp()
        for t, at in reached.items():
            reached[t] = torch.where((p >= t) & (at > max_steps), i, at)
        finished = finished | (p >= max(thresholds)).all()
        if i == max_steps or (i % check_every == 0 and bool(finished)):
            break
        (grad,) = torch.autograd.grad(log_p.sum(), x)
        x = torch.where(finished, x.detach(), (x.detach() + step * grad.sign()).clamp(0, 1))
    return x.detach(), reached


@torch.no_grad()
def evolved_fooling(model: Model, targets: torch.Tensor, x0: torch.Tensor, *, generations: int, children: int,
                    sigma: float, generators: list[torch.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
    """(1+λ) evolution from x0 [S, K, D]: each generation, `children` mutants per image (a tenth of
    the pixels moved by N(0, σ²), clipped); the best replaces its parent if it is better.
    Returns the images and their target probabilities [S, K]."""
    S, K, D = x0.shape
    x, best = x0.clone(), _target_log_probs(model, x0, targets)
    flat_targets = targets.repeat_interleave(children)
    for _ in range(generations):
        shape = x.new_empty(S, K * children, D)
        mutate = uniform_like(shape, generators) < MUTATED_FRACTION
        kids = (x.repeat_interleave(children, dim=1) + mutate * sigma * normal_like(shape, generators)).clamp(0, 1)
        score = _target_log_probs(model, kids, flat_targets).view(S, K, children)
        top, which = score.max(-1)
        better = top > best
        chosen = kids.view(S, K, children, D).gather(2, which[..., None, None].expand(S, K, 1, D)).squeeze(2)
        x = torch.where(better[..., None], chosen, x)
        best = torch.maximum(best, top)
    return x, best.exp()


def nearest_distance(points: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """L2 distance from each point [..., N, D] to its nearest reference row [M, D] → [..., N]."""
    return torch.cdist(points.reshape(-1, points.shape[-1]), reference).min(-1).values.view(points.shape[:-1])
