"""The loss surface around trained weights: Hessian-vector products, the top Hessian eigenvalue,
exact Hessians of tiny networks, filter-normalized directions, lines and planes through weight
space, and Keskar's ε-sharpness.

Everything takes one model's weights as a dict {name: tensor} and a loss function of such a dict
(`loss_of(template, buffers, x, y)` builds one for cross-entropy on fixed data), so it works on a
single seed's slice of a TrainResult.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value

Params = dict[str, torch.Tensor]
LossFn = Callable[[Params], torch.Tensor]


def loss_of(template, buffers: Params, x: torch.Tensor, y: torch.Tensor) -> LossFn:
    """θ ↦ mean cross-entropy of the model `template` with weights θ on (x, y)."""
    return lambda params: F.cross_entropy(functional_call(template, (params, buffers), (x,)), y)


def seed_slice(stack: Params, i: int) -> Params:
    """Seed i's weights from stacked [S, ...] tensors."""
    return {k: v[i].detach() for k, v in stack.items()}


def _dot(a: Params, b: Params) -> torch.Tensor:
    return sum((a[k] * b[k]).sum() for k in a)


def _scaled(a: Params, scale) -> Params:
    return {k: v * scale for k, v in a.items()}


def combine(base: Params, *terms: tuple[float, Params]) -> Params:
    """base + Σ coefficient·direction."""
    out = dict(base)
    for coefficient, direction in terms:
        out = {k: out[k] + coefficient * direction[k] for k in out}
    return out


def hvp(loss_fn: LossFn, params: Params, vector: Params) -> Params:
    """Hessian-vector product H·v at params, no Hessian formed: the gradient of ⟨∇L, v⟩
    (reverse over reverse). On the 2-core CPU it took 50 ms against forward-over-reverse's 80 ms
    (torch.func jvp of grad) for L2's 18-layer net on 1300 rows, equal to 3e-7 relative."""
    with torch.enable_grad():  # callers may sit under no_grad
        leaves = {k: p.detach().requires_grad_(True) for k, p in params.items()}
        gradients = _grad(loss_fn(leaves), leaves, create_graph=True)
        along = sum((g * vector[k]).sum() for k, g in gradients.items())
        return _grad(along, leaves)


def _grad(output: torch.Tensor, leaves: Params, create_graph: bool = False) -> Params:
    """d output / d leaves, zero for a leaf the output does not depend on (an unused head)."""
    parts = torch.autograd.grad(output, list(leaves.values()), create_graph=create_graph, allow_unused=True)
    return {k: torch.zeros_like(p) if g is None else g for (k, p), g in zip(leaves.items(), parts, strict=True)}


def top_eigenvalue(loss_fn: LossFn, params: Params, generator: torch.Generator, iters: int = 30,
                   tol: float = 1e-3) -> float:
    """λ_max of the Hessian by power iteration on H·v, from a random start (the eigenvalue of
    largest magnitude: at a trained minimum, the sharpest positive curvature)."""
    v = {k: torch.randn(p.shape, generator=generator).to(p) for k, p in params.items()}
    v = _scaled(v, 1 / _dot(v, v).sqrt())
    estimate = 0.0
    for _ in range(iters):
        hv = hvp(loss_fn, params, v)
        new = float(_dot(v, hv))
        v = _scaled(hv, 1 / _dot(hv, hv).sqrt())
        if abs(new - estimate) <= tol * abs(new):
            return new
        estimate = new
    return estimate


def top_eigenvalues_per_seed(loss_sum: LossFn, params: Params, start: Params,
                             iters: int) -> tuple[torch.Tensor, Params]:
    """λ_max of every seed's Hessian at once, by `iters` steps of power iteration from `start`.

    `params` are stacked {name: [S, ...]} and `loss_sum` is the sum of the seeds' own losses, so
    its Hessian is block diagonal and one H·v gives every seed's H_s·v_s. Returns (λ [S], the last
    unit vectors): pass those back as `start` at the next call, and a few iterations track a
    top eigenvalue that moves slowly during training (a warm start)."""
    per_seed = lambda a, b: sum((a[k] * b[k]).flatten(1).sum(1) for k in a)
    shape = lambda t, like: t.reshape(-1, *([1] * (like.dim() - 1)))
    v = {k: t / shape(per_seed(start, start).sqrt(), t) for k, t in start.items()}
    estimate = torch.zeros(next(iter(params.values())).shape[0], device=next(iter(params.values())).device)
    for _ in range(iters):
        hv = hvp(loss_sum, params, v)
        estimate = per_seed(v, hv)
        norm = per_seed(hv, hv).sqrt()
        v = {k: t / shape(norm, t) for k, t in hv.items()}
    return estimate.detach(), {k: t.detach() for k, t in v.items()}


def exact_hessian(loss_fn: LossFn, params: Params) -> torch.Tensor:
    """The full [P, P] Hessian over all parameters flattened in dict order (tiny networks only)."""
    names = list(params)
    shapes = [params[k].shape for k in names]
    sizes = [params[k].numel() for k in names]

    def flat_loss(theta: torch.Tensor) -> torch.Tensor:
        parts = theta.split(sizes)
        return loss_fn({k: p.reshape(s) for k, p, s in zip(names, parts, shapes, strict=True)})

    theta = torch.cat([params[k].reshape(-1) for k in names])
    return torch.func.hessian(flat_loss)(theta)


def filter_normalized_direction(params: Params, generator: torch.Generator) -> Params:
    """A Gaussian direction with each filter (row of a weight: one output unit's incoming
    weights, or one conv filter) rescaled to the norm of the same filter in params; biases and
    other 1-D parameters get 0 (Li et al. 2018, "Visualizing the loss landscape of neural nets")."""
    out = {}
    for k, p in params.items():
        if p.dim() < 2:
            out[k] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=generator).to(p)
        rows = lambda t: t.reshape(t.shape[0], -1).norm(dim=1).reshape(-1, *([1] * (t.dim() - 1)))
        out[k] = d * rows(p) / rows(d).clamp_min(1e-12)
    return out


@torch.no_grad()
def loss_along_line(loss_fn: LossFn, start: Params, end: Params, alphas) -> torch.Tensor:
    """L((1 − α)·start + α·end) for each α."""
    return torch.stack([loss_fn({k: (1 - a) * start[k] + a * end[k] for k in start}) for a in alphas])


@torch.no_grad()
def loss_on_plane(loss_fn: LossFn, center: Params, d1: Params, d2: Params, coords) -> torch.Tensor:
    """L(center + a·d1 + b·d2) on the grid coords × coords: [len(coords), len(coords)]."""
    return torch.stack([torch.stack([loss_fn(combine(center, (a, d1), (b, d2))) for b in coords]) for a in coords])


@torch.no_grad()
def filter_normalized_sharpness(loss_fn: LossFn, params: Params, generator: torch.Generator, *,
                                directions: int = 5, step: float = 0.5) -> float:
    """Mean over random filter-normalized directions d of L(θ + step·d) − L(θ)."""
    base = loss_fn(params)
    rises = [loss_fn(combine(params, (step, filter_normalized_direction(params, generator)))) - base
             for _ in range(directions)]
    return float(torch.stack(rises).mean())


def epsilon_sharpness(loss_fn: LossFn, params: Params, *, eps: float = 1e-3, steps: int = 20) -> float:
    """Keskar et al. 2017: 100·(max L(θ + δ) − L(θ)) / (1 + L(θ)) over the box
    |δ_i| ≤ ε·(|θ_i| + 1), the max approximated by `steps` of projected sign ascent."""
    box = {k: eps * (p.abs() + 1) for k, p in params.items()}
    delta = {k: torch.zeros_like(p) for k, p in params.items()}
    # each step's gradient pass also gives the loss where the previous step ended (the first: L(θ)),
    # so only the last point needs a pass of its own
    seen = []
    for _ in range(steps):
        g, loss = grad_and_value(lambda d: loss_fn(combine(params, (1.0, d))))(delta)
        seen.append(loss.detach())
        delta = {k: torch.clamp(delta[k] + box[k] / 4 * g[k].sign(), -box[k], box[k]) for k in delta}
    with torch.no_grad():
        seen.append(loss_fn(combine(params, (1.0, delta))))
    base, best = float(seen[0]), float(torch.stack(seen).max())
    return 100 * (best - base) / (1 + base)
