"""Zhang et al. 2017, Theorem 1: a depth-2 ReLU network with 2n + d weights can represent any
labels on any n distinct points in R^d — finite-sample expressivity in closed form.

Project the points on a direction a with distinct projections z_i = a·x_i, sort them, put one
ReLU threshold b_j just below each z_(j) (interleaved: b_1 < z_(1) < b_2 < z_(2) < …). The matrix
A_ij = max(z_(i) − b_j, 0) is then lower triangular with a positive diagonal, so the output
weights w = A⁻¹y exist and c(x) = Σ_j w_j max(a·x − b_j, 0) fits every label exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DIRECTIONS_TRIED = 64


@dataclass(frozen=True)
class TwoLayerFit:
    direction: torch.Tensor  # a [d]
    thresholds: torch.Tensor  # b [n]
    weights: torch.Tensor  # w [n]

    @property
    def parameter_count(self) -> int:
        return self.direction.numel() + self.thresholds.numel() + self.weights.numel()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x @ self.direction).unsqueeze(-1) - self.thresholds) @ self.weights


def fit_any_labels(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> TwoLayerFit:
    """The Theorem-1 network fitting labels y [n] on points x [n, d] (float64 throughout)."""
    x, y = x.double(), y.double()
    # w grows like 1/gap², and the fit's rounding error with it: of a few random directions,
    # keep the one whose closest pair of projections is farthest apart (relative to their spread)
    candidates = torch.randn(DIRECTIONS_TRIED, x.shape[1], generator=generator, dtype=torch.float64)
    projected = (x @ candidates.T).sort(dim=0).values
    spread = projected[-1] - projected[0]
    a = candidates[(projected.diff(dim=0).min(0).values / spread).argmax()]
    z = x @ a
    order = z.argsort()
    zs = z[order]
    if (zs.diff() <= 0).any():
        raise ValueError("the projections are not distinct: the points repeat (or a is unlucky)")
    # each threshold halfway below its point (the first one as far below as the first gap)
    gaps = torch.cat([zs[1:2] - zs[:1], zs.diff()])
    b = zs - gaps / 2
    A = torch.relu(zs.unsqueeze(1) - b.unsqueeze(0))  # lower triangular, diagonal gaps/2 > 0
    w = torch.linalg.solve_triangular(A, y[order].unsqueeze(1), upper=False).squeeze(1)
    return TwoLayerFit(a, b, w)
