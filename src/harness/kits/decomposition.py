"""End-to-end learning against decomposition (Shalev-Shwartz, Shamir & Shammah 2017, §3): the
label of a tuple of k images is the parity of k per-image sub-labels. One shared net scores each
image, a small head combines the scores. Trained end to end on the tuple label alone the
gradient carries no usable signal once k ≥ 3; adding a hinge loss on every image's score
against its sub-label (the decomposition) makes the problem easy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from harness.models import mlp


class TupleParityNet(nn.Module):
    """Inputs [B, k·D] (k images side by side) → [B, 1 + k]: the head's tuple score, then the k
    per-image scores s_i of the shared scorer D-64-32-1. Head: σ(s) → 100 ReLU → 1."""

    def __init__(self, k: int, in_dim: int = 64, scorer: tuple = (64, 32), head: int = 100):
        super().__init__()
        self.k = k
        self.scorer = mlp([in_dim, *scorer, 1])
        self.head = mlp([k, head, 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.scorer(x.reshape(len(x) * self.k, -1)).reshape(len(x), self.k)
        return torch.cat([self.head(torch.sigmoid(scores)), scores], dim=1)


def hinge(margin: torch.Tensor) -> torch.Tensor:
    return torch.clamp(1 - margin, min=0)


@dataclass(frozen=True, eq=False)
class ParityHinge:
    """hinge(tuple score · label) + w · Σ_i hinge(s_i · sub-label_i) as a `TrainConfig(loss=...)`.
    decomposition: the weight w per trained model [S] — 0 trains end to end, 1 adds the
    decomposition — so both objectives train side by side in one batched run."""

    decomposition: torch.Tensor
    evaluated_as = None  # outputs are scores against ±1 targets: accuracy is measured by the caller

    def per_row(self, out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """[S, B] loss of outputs [S, B, 1 + k] against ±1 targets [S, B, 1 + k] (or [B, 1 + k])."""
        per_image = hinge(out[..., 1:] * targets[..., 1:]).sum(-1)
        return hinge(out[..., 0] * targets[..., 0]) + self.decomposition.unsqueeze(-1) * per_image

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor, extras: dict) -> torch.Tensor:
        return self.per_row(model(x), y).mean(-1)


@torch.no_grad()
def tuple_accuracy(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-model accuracy [S] of the tuple score's sign against the tuple label."""
    return ((out[..., 0] > 0).float() * 2 - 1 == targets[..., 0]).float().mean(-1)
