"""Ill-conditioning and its fix by architecture (Shalev-Shwartz, Shamir & Shammah 2017, §4).

Learning the slope changes p of a piecewise-linear curve from its values f = W p is a linear
problem whose matrix W (harness.data.pwl_matrix) has a condition number growing like n², so
gradient descent on a plain n×n linear map crawls. W's inverse is local — p_i = f_i − 2f_{i−1} +
f_{i−2} — so a 3-tap convolution can express it, and whitening the convolution's input patches
makes that small problem well conditioned: a few hundred steps instead of never.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def patches(f: torch.Tensor, width: int) -> torch.Tensor:
    """Causal windows of f [..., n] → [..., n, width]: window i holds f_{i−width+1..i}, zeros before the start."""
    return F.pad(f, (width - 1, 0)).unfold(-1, width, 1)


def patch_whitener(f: torch.Tensor, width: int) -> torch.Tensor:
    """C^{-1/2} for C the second-moment matrix of f's patches [width, width] (float64 eigh)."""
    windows = patches(f, width).reshape(-1, width).double()
    C = windows.T @ windows / len(windows)
    values, vectors = torch.linalg.eigh(C)
    return (vectors @ torch.diag(values.rsqrt()) @ vectors.T).float()


def whitened_patches(f: torch.Tensor, width: int) -> torch.Tensor:
    """f's causal patches [..., n, width] times C^{-1/2}: the input a whitened `width`-tap
    convolution sees, so that the convolution is one Linear(width, 1) applied at every position."""
    return patches(f, width) @ patch_whitener(f, width)


def conv_on_whitened_patches(width: int) -> nn.Sequential:
    """The model for whitened_patches inputs [B, n, width] → [B, n]: one shared filter."""
    return nn.Sequential(nn.Linear(width, 1, bias=False), nn.Flatten(1))
