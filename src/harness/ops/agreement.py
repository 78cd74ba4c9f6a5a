"""How differently equally accurate models answer: pairwise disagreement of predicted classes."""

from __future__ import annotations

import torch


def disagreement_matrix(predictions: torch.Tensor) -> torch.Tensor:
    """[S, S]: fraction of examples where models i and j predict different classes, from
    predicted classes [S, N]."""
    return (predictions.unsqueeze(1) != predictions.unsqueeze(0)).float().mean(-1)


def mean_disagreement(predictions: torch.Tensor) -> torch.Tensor:
    """[S]: each model's mean disagreement with every other model (needs S ≥ 2)."""
    S = predictions.shape[0]
    if S < 2:
        raise ValueError("disagreement needs at least two models")
    return disagreement_matrix(predictions).sum(1) / (S - 1)


def pair_disagreement(predictions: torch.Tensor) -> torch.Tensor:
    """[S // 2]: disagreement within the disjoint pairs of models (0, 1), (2, 3), … — independent
    samples, unlike mean_disagreement, whose values share models and so are correlated."""
    S = predictions.shape[0]
    if S < 2:
        raise ValueError("disagreement needs at least two models")
    pairs = predictions[: S - S % 2].view(S // 2, 2, -1)
    return (pairs[:, 0] != pairs[:, 1]).float().mean(-1)
