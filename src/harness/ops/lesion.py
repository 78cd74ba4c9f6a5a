"""Lesion studies (Veit, Wilber & Belongie 2016, "Residual networks behave like ensembles of
relatively shallow networks", NeurIPS): delete blocks of a trained network at test time — a
deleted block passes its input through (h → h) — and see what is left of its accuracy.
Models take the set of deleted blocks as `lesioned=` (harness.models.ResidualMLP / ResidualCNN).
"""

from __future__ import annotations

import torch

from harness.stacked import TrainResult


@torch.no_grad()
def lesioned_accuracy(result: TrainResult, x: torch.Tensor, y: torch.Tensor, deleted) -> torch.Tensor:
    """Per-seed accuracy [S] with the blocks in `deleted` skipped."""
    return (result.forward(x, lesioned=frozenset(deleted)).argmax(-1) == y).float().mean(-1)


def single_block_accuracies(result: TrainResult, x: torch.Tensor, y: torch.Tensor, depth: int) -> torch.Tensor:
    """[S, depth]: accuracy with block i deleted, for each i."""
    return torch.stack([lesioned_accuracy(result, x, y, {i}) for i in range(depth)], dim=1)


def random_lesions(result: TrainResult, x: torch.Tensor, y: torch.Tensor, depth: int, k: int, draws: int,
                   generator: torch.Generator) -> torch.Tensor:
    """[S]: mean accuracy over `draws` random sets of k deleted blocks (the same sets for every seed).
    A set drawn again is evaluated once (k = 0 or depth draws one set `draws` times)."""
    sets = [frozenset(torch.randperm(depth, generator=generator)[:k].tolist()) for _ in range(draws)]
    measured = {s: lesioned_accuracy(result, x, y, s) for s in set(sets)}
    return torch.stack([measured[s] for s in sets]).mean(0)
