"""Spectral norms and local gains: the Lipschitz bound of Szegedy et al. (2014, §4.3, Table 5).

For a network of linear layers and 1-Lipschitz activations (ReLU), ‖f(x + r) − f(x)‖₂ ≤
(Π_l ‖W_l‖₂)·‖r‖₂, where ‖W‖₂ is the largest singular value. The bound is loose for deep nets
and exact for one linear layer. The empirical side is the local gain ‖f(x + δv) − f(x)‖ / δ along
a direction v: random, or the Jacobian's top right-singular vector at x (the worst direction,
found by power iteration on JᵀJ with jvp/vjp, so no Jacobian is formed).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.func import jacrev, jvp, vjp

from harness.ops.attacks import Model

MAX_OPERATOR_COLUMNS = 8192  # conv_operator_norm forms the operator's matrix: inputs up to this size


def spectral_norm(w: torch.Tensor) -> torch.Tensor:
    """Largest singular value of each matrix in w [S, m, n] → [S], exactly (an SVD of a dense layer's
    weights is cheap). Power iteration, used before, stalls when the top two singular values are
    close: it under-estimated softmax regression's norm by 0.2% on a seed, so the bound fell below
    the gain it bounds."""
    return torch.linalg.matrix_norm(w, ord=2)


def conv_operator_norm(weight: torch.Tensor, input_shape: tuple[int, int, int], *, stride: int = 1,
                       padding: int = 0) -> torch.Tensor:
    """Largest singular value of the linear map x ↦ conv2d(x, weight) on inputs of shape (C, H, W),
    for one kernel [out, in, k, k] or stacked kernels [S, out, in, k, k] → [] or [S].

    A convolution's operator norm depends on the input size, stride and padding, and is not the
    norm of its kernel flattened to a matrix (that drops the sliding: each weight acts at every
    position). The operator's matrix is formed exactly (its Jacobian), which is cheap for inputs up
    to MAX_OPERATOR_COLUMNS values."""
    columns = math.prod(input_shape)
    if columns > MAX_OPERATOR_COLUMNS:
        raise ValueError(f"conv_operator_norm forms the operator's matrix: input {input_shape} has {columns} values, "
                         f"more than {MAX_OPERATOR_COLUMNS}; use a smaller input or a power iteration")
    if weight.dim() == 5:
        return torch.stack([conv_operator_norm(w, input_shape, stride=stride, padding=padding) for w in weight])
    x = torch.zeros(input_shape, dtype=weight.dtype, device=weight.device)
    operator = jacrev(lambda v: F.conv2d(v.unsqueeze(0), weight, stride=stride, padding=padding))(x)
    return torch.linalg.matrix_norm(operator.reshape(-1, columns), ord=2)


def lipschitz_bound(params: dict[str, torch.Tensor], names: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Π of the dense layers' spectral norms per seed [S], and the per-layer norms (Szegedy's Table 5).
    Convolution kernels are refused: their operator norm needs the input shape (conv_operator_norm)."""
    convs = [name for name in names if params[name].dim() != 3]
    if convs:
        raise ValueError(f"lipschitz_bound takes dense layers [S, out, in]; {convs} are not: for a convolution "
                         "use conv_operator_norm(weight, input_shape, stride=..., padding=...)")
    per_layer = {name: spectral_norm(params[name]) for name in names}
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
