"""Learning through a step function (Shalev-Shwartz, Shamir & Shammah 2017, §5, "flat
activations"): the target is y = floor(w*·x + b*) and the model floor(w·x + b). The true
gradient through floor is 0 almost everywhere, so training by backpropagation cannot move;
two ways around it learn:
- a smooth surrogate of floor (a sum of steep sigmoids) trained by backpropagation;
- the "forward-only" update w ← w − η(floor(w·x + b) − y)·x, i.e. a straight-through estimator
  that uses floor going forward and the identity going back.
"""

from __future__ import annotations

import torch
from torch import nn

MODES = ("exact", "smooth", "straight_through")


def smooth_floor(z: torch.Tensor, lo: int, hi: int, sharpness: float = 10.0) -> torch.Tensor:
    """lo − 1 + Σ_{k=lo..hi} σ(sharpness·(z − k)): floor(z) on [lo − 1, hi + 1) up to the sigmoids' blur."""
    steps = torch.arange(lo, hi + 1, dtype=z.dtype, device=z.device)
    return lo - 1 + torch.sigmoid(sharpness * (z.unsqueeze(-1) - steps)).sum(-1)


def straight_through_floor(z: torch.Tensor) -> torch.Tensor:
    """floor(z) forward, identity backward."""
    return z + (torch.floor(z) - z).detach()


class FloorLinear(nn.Module):
    """x [B, D] → floor(w·x + b) [B, 1], with the floor's gradient as `mode` says: exact (zero),
    smooth (the surrogate over the integers lo..hi replaces floor) or straight_through."""

    def __init__(self, in_dim: int, mode: str, lo: int = -20, hi: int = 20):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown floor mode {mode!r}; use one of {', '.join(MODES)}")
        self.mode, self.lo, self.hi = mode, lo, hi
        self.linear = nn.Linear(in_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        if self.mode == "smooth":
            return smooth_floor(z, self.lo, self.hi)
        if self.mode == "straight_through":
            return straight_through_floor(z)
        return torch.floor(z)
