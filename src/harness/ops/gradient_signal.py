"""How much a gradient says about its target: the two estimators behind Shalev-Shwartz, Shamir &
Shammah (2017), "Failures of gradient-based deep learning".

- Variance across targets (their §2, parity): for a family of targets h, how much does the
  population gradient ∇_w E_x[½(f_w(x) − h(x))²] depend on which h it is? If it barely does, the
  gradient carries almost no information about the target. Here the expectation over x is exact
  (the caller passes every input), so the only randomness is the choice of target.
- Signal-to-noise ratio per example (their §3, end-to-end vs decomposition): ‖E g‖² / E‖g − E g‖²
  for the per-example gradient g. With per-example gradients too many to hold, it is estimated from
  C chunk-mean gradients ḡ_c of m examples each: ‖E g‖² by the U-statistic
  Σ_{c≠c'} ḡ_c·ḡ_c' / (C(C−1)) (unbiased: the chunks are independent), and the per-example noise
  by m times the sample variance of the chunk means.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap

JACOBIAN_CHUNK = 2048  # examples per Jacobian block: [chunk, parameters] floats at a time


def flat(grads: dict[str, torch.Tensor], lead: int = 1) -> torch.Tensor:
    """{name: [K, ...]} → [K, P]: one flat gradient vector per leading index."""
    return torch.cat([g.reshape(*g.shape[:lead], -1) for g in grads.values()], dim=-1)


def target_gradients(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Population gradients of the squared loss ½·mean_x (f(x) − h_k(x))² for each target column
    h_k of targets [N, K], at the model's current weights: [K, P]. Computed as Jᵀ(f − h)/N from
    the per-example Jacobian J, a chunk of examples at a time (J for 2^15 inputs would not fit)."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def output(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).reshape(())

    jacobian = vmap(jacrev(output), in_dims=(None, 0))
    total = 0.0
    for xc, hc in zip(x.split(JACOBIAN_CHUNK), targets.split(JACOBIAN_CHUNK), strict=True):
        with torch.no_grad():
            out = functional_call(model, params, (xc,)).reshape(-1, 1)
        total = total + flat(jacobian(params, xc)).T @ (out - hc)  # [P, K]
    return (total / x.shape[0]).T


def variance_across_targets(grads: torch.Tensor) -> float:
    """mean_k ‖g_k − mean_k g_k‖² of gradients [K, P] (the spread of the gradient over targets)."""
    return float(((grads - grads.mean(0)) ** 2).sum(1).mean())


def snr_from_chunks(chunk_means: torch.Tensor, chunk_size: int) -> float:
    """Per-example gradient SNR ‖E g‖² / E‖g − E g‖² from C ≥ 2 chunk-mean gradients [C, P] of
    `chunk_size` independent examples each (see the module docstring)."""
    C = chunk_means.shape[0]
    if C < 2:
        raise ValueError(f"the SNR estimate needs at least 2 chunks, got {C}")
    g = chunk_means.double()
    total = g.sum(0)
    signal = (total @ total - (g * g).sum()) / (C * (C - 1))
    noise = chunk_size * ((g - g.mean(0)) ** 2).sum() / (C - 1)
    return float(signal / noise)


def chunk_mean_gradients(model: nn.Module, loss_per_row, chunks) -> torch.Tensor:
    """Mean gradient of loss_per_row(model(x), y) over each chunk (x, y) of `chunks`: [C, P]."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    mean_loss = lambda p, x, y: loss_per_row(functional_call(model, p, (x,)), y).mean()
    return torch.stack([flat(grad(mean_loss)(params, x, y), lead=0) for x, y in chunks])
