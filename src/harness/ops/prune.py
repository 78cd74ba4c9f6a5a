"""Magnitude pruning of seed-stacked weights with torch.nn.utils.prune (Han et al. 2015).

Each seed is pruned on its own: its weights are lent to throw-away modules, pruned with
`prune.global_unstructured` (one threshold across all layers) or `prune.l1_unstructured` (the same
fraction in every layer), and the resulting `weight_mask` buffers are stacked back to [S, ...].
Pruning again on top of earlier masks removes only still-alive weights, as iterative magnitude
pruning (Frankle & Carbin 2019) needs. The masks then go to `train(..., masks=...)`, which keeps
pruned weights at exactly zero while the rest fine-tune.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

SCOPES = ("global", "layer")


def weight_names(params: dict[str, torch.Tensor]) -> list[str]:
    """The prunable tensors of a stacked model: weight matrices and kernels, not biases or norms."""
    return [name for name, p in params.items() if name.endswith("weight") and p.dim() > 2]


def magnitude_masks(weights: dict[str, torch.Tensor], sparsity: float, *, scope: str = "global",
                    masks: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """0/1 masks [S, ...] that prune the smallest-|w| weights of each seed to `sparsity`.

    sparsity is the fraction of all weights (global) or of each layer's weights (layer) that end
    up pruned, counting those `masks` had already pruned: exactly round(sparsity·n) of n.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown pruning scope {scope!r}; use one of {', '.join(SCOPES)}")
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    n_seeds = {w.shape[0] for w in weights.values()}
    if len(n_seeds) != 1:
        raise ValueError(f"weights stack different numbers of seeds: { {k: v.shape[0] for k, v in weights.items()} }")
    per_seed = [_prune_one({k: w[i] for k, w in weights.items()},
                           {k: m[i] for k, m in masks.items()} if masks else {}, sparsity, scope)
                for i in range(n_seeds.pop())]
    return {name: torch.stack([m[name] for m in per_seed]) for name in weights}


def _prune_one(weights: dict, masks: dict, sparsity: float, scope: str) -> dict[str, torch.Tensor]:
    holders = {}
    for name, w in weights.items():
        holder = nn.Module()
        holder.weight = nn.Parameter(w.detach().clone(), requires_grad=False)
        prune.custom_from_mask(holder, "weight", masks.get(name, torch.ones_like(w)))
        holders[name] = holder
    # torch.nn.utils.prune reads an integer amount as "this many more of the still-alive weights"
    if scope == "global":
        n = sum(w.numel() for w in weights.values())
        already = sum(int((h.weight_mask == 0).sum()) for h in holders.values())
        prune.global_unstructured([(h, "weight") for h in holders.values()], prune.L1Unstructured,
                                  amount=_more_to_prune(sparsity, n, already))
    else:
        for h in holders.values():
            already = int((h.weight_mask == 0).sum())
            prune.l1_unstructured(h, "weight", amount=_more_to_prune(sparsity, h.weight.numel(), already))
    return {name: h.weight_mask.detach().clone() for name, h in holders.items()}


def _more_to_prune(sparsity: float, n: int, already: int) -> int:
    target = round(sparsity * n)
    if target < already:
        raise ValueError(f"asked for sparsity {sparsity} ({target} of {n} pruned) but the masks already "
                         f"prune {already}; pruning only removes weights")
    return target - already


def sparsity(masks: dict[str, torch.Tensor]) -> torch.Tensor:
    """Fraction of pruned weights per seed [S], over all masked tensors together."""
    zeros = sum((m == 0).flatten(1).sum(1) for m in masks.values())
    total = sum(m[0].numel() for m in masks.values())
    return zeros.double() / total


def apply_masks(params: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """params with the masked weights zeroed (pruning without fine-tuning); other tensors as given."""
    return {name: p * masks[name] if name in masks else p for name, p in params.items()}
