"""Spectral norms and local gains: the Lipschitz bound of Szegedy et al. (2014, §4.3, Table 5).

For a network of linear layers and 1-Lipschitz activations (ReLU), ‖f(x + r) − f(x)‖₂ ≤
(Π_l ‖W_l‖₂)·‖r‖₂, where ‖W‖₂ is the largest singular value. The bound is loose for deep nets
and exact for one linear layer. The empirical side is the local gain ‖f(x + δv) − f(x)‖ / δ along
a direction v: random, or the Jacobian's top right-singular vector at x (the worst direction,
found by power iteration on JᵀJ with jvp/vjp, so no Jacobian is formed).
"""

from __future__ import annotations

import torch
from torch.func import jvp, vjp

from harness.ops.attacks import Model


def spectral_norm(w: torch.Tensor) -> torch.Tensor:
    """Largest singular value of each matrix in w [S, m, n] → [S], exactly (an SVD of a dense layer's
    weights is cheap). Power iteration, used before, stalls when the top two singular values are
    close: it under-estimated softmax regression's norm by 0.2% on a seed, so the bound fell below
    the gain it bounds."""
    return torch.linalg.matrix_norm(w, ord=2)


def lipschitz_bound(params: dict[str, torch.Tensor], names: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Π of the layers' spectral norms per seed [S], and the per-layer norms (Szegedy's Table 5)."""
    per_layer = {name: spectral_norm(params[name].flatten(2)) for name in names}
    return torch.stack(list(per_layer.values())).prod(0), per_layer


def worst_direction(model: Model, x: torch.Tensor, iters: int = 50,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Unit vectors [S, N, D]: each input's top right-singular vector of the Jacobian of the logits."""
    x = x.contiguous()  # forward-mode AD refuses expanded (shared-memory) inputs
    v = torch.randn(x.shape, generator=generator).to(x)
    _, pullback = vjp(model, x)  # Jᵀ at x, built once
    for _ in range(iters):
        _, jv = jvp(model, (x,), (v,))
        (v,) = pullback(jv)
        v = v / v.norm(dim=-1, keepdim=True).clamp(min=1e-30)
    return v.detach()


@torch.no_grad()
def local_gain(model: Model, x: torch.Tensor, directions: torch.Tensor, delta: float) -> torch.Tensor:
    """‖f(x + δ·v) − f(x)‖₂ / δ per input [S, N] for unit directions v [S, N, D] (no clipping)."""
    return (model(x + delta * directions) - model(x)).norm(dim=-1) / delta
