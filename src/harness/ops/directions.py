"""Do single units mean more than random directions? (Szegedy et al. 2014, §3.)

Rank the inputs by a direction's score (a unit's activation, or the projection of the layer's
activations on a random vector) and look at the top k: their *purity* is the share of them that
carry the most common label among them. Szegedy et al. found the top inputs of random
directions as semantically coherent as those of single units: no privileged basis.
"""

from __future__ import annotations

import torch


def top_k_purity(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Purity of each direction's top-k inputs: scores [S, N, U] (inputs × directions), labels
    [N] in 0..C−1 → [S, U], the largest share of one label among the k highest-scoring inputs."""
    top = scores.topk(k, dim=1).indices  # [S, k, U]
    counts = torch.nn.functional.one_hot(labels[top], int(labels.max()) + 1).sum(1)  # [S, U, C]
    return counts.max(-1).values.float() / k


def random_subset_purity(labels: torch.Tensor, k: int, draws: int, generator: torch.Generator) -> torch.Tensor:
    """The chance level: purity of `draws` random k-subsets of the inputs → [draws]."""
    scores = torch.rand(1, labels.shape[0], draws, generator=generator).to(labels.device)
    return top_k_purity(scores, labels, k)[0]
