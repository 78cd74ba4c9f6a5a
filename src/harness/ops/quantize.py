"""Uniform symmetric quantization per layer and seed (the int8 baseline next to Han's k-means)."""

from __future__ import annotations

import torch


def quantize_symmetric(w: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """w [S, ...] rounded to the grid scale·{−L..L}, L = 2^(bits−1) − 1, scale = max|w| / L per seed.

    Returns the dequantized values (what the quantized model computes with); each value moves by
    at most scale/2, and zeros (pruned weights) stay zero.
    """
    if not 2 <= bits <= 16:
        raise ValueError(f"bits must be in 2..16, got {bits}")
    levels = 2 ** (bits - 1) - 1
    scale = (w.abs().flatten(1).amax(1) / levels).reshape(-1, *([1] * (w.dim() - 1)))
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero layer stays zero
    return torch.round(w / safe).clamp(-levels, levels) * safe * (scale > 0)
