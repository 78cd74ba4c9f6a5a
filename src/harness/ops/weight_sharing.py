"""Weight sharing by 1-D k-means per layer and seed (Han et al. 2016, "Deep Compression" §3).

The nonzero weights of a layer are clustered into k centroids initialised linearly between their
min and max (Han found linear init best: it keeps the rare large weights); each weight is then
replaced by its centroid, so a layer needs log2(k) bits per weight plus a k-entry codebook.
Pruned weights (exact zeros) stay zero and are not clustered.
"""

from __future__ import annotations

import torch


def share_weights(w: torch.Tensor, n_clusters: int, max_iter: int = 100) -> torch.Tensor:
    """w [S, ...] with each seed's nonzero weights replaced by their k-means centroid."""
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be ≥ 1, got {n_clusters}")
    out = torch.zeros_like(w)
    for i in range(w.shape[0]):
        alive = w[i] != 0
        values = w[i][alive]
        if values.numel():
            centroids, assignment = kmeans_1d(values, n_clusters, max_iter)
            out[i][alive] = centroids[assignment]
    return out


def kmeans_1d(values: torch.Tensor, k: int, max_iter: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on a 1-D tensor from a linear init: (centroids [k] sorted, assignment [N]).

    In 1-D the nearest centroid is found by bucketing against the midpoints of sorted centroids;
    an empty cluster keeps its centroid. Stops when no assignment changes.
    """
    centroids = torch.linspace(float(values.min()), float(values.max()), k, dtype=values.dtype,
                               device=values.device)
    assignment = None
    for _ in range(max_iter):
        new = torch.bucketize(values, (centroids[1:] + centroids[:-1]) / 2)
        if assignment is not None and torch.equal(new, assignment):
            break
        assignment = new
        sums = torch.zeros_like(centroids).index_add_(0, assignment, values)
        counts = torch.zeros_like(centroids).index_add_(0, assignment, torch.ones_like(values))
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return centroids, assignment


def largest_codebook(weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per seed [S]: the most distinct nonzero values any one tensor of {name: [S, ...]} holds —
    what its codebook must store."""
    n_seeds = next(iter(weights.values())).shape[0]
    return torch.tensor([max(len(w[i][w[i] != 0].unique()) for w in weights.values()) for i in range(n_seeds)])
