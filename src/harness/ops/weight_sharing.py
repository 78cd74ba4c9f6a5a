"""Weight sharing by 1-D k-means per layer and seed (Han et al. 2016, "Deep Compression" §3).

The nonzero weights of a layer are clustered into k centroids initialised linearly between their
min and max (Han found linear init best: it keeps the rare large weights); each weight is then
replaced by its centroid, so a layer needs log2(k) bits per weight plus a k-entry codebook.
Pruned weights (exact zeros) stay zero and are not clustered.
"""

from __future__ import annotations

import torch

CONVERGENCE_CHECK_EVERY = 4  # Lloyd iterations between host reads of "has any seed moved?"


def share_weights(w: torch.Tensor, n_clusters: int, max_iter: int = 100) -> torch.Tensor:
    """w [S, ...] with each seed's nonzero weights replaced by their k-means centroid (all seeds
    clustered at once, each on its own weights)."""
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be ≥ 1, got {n_clusters}")
    flat = w.reshape(w.shape[0], -1)
    alive = flat != 0
    centroids, assignment = _kmeans_rows(flat, alive, n_clusters, max_iter)
    return torch.where(alive, centroids.gather(1, assignment), torch.zeros_like(flat)).view_as(w)


def kmeans_1d(values: torch.Tensor, k: int, max_iter: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on a 1-D tensor from a linear init: (centroids [k] sorted, assignment [N])."""
    centroids, assignment = _kmeans_rows(values[None], torch.ones_like(values[None], dtype=torch.bool), k, max_iter)
    return centroids[0], assignment[0]


def _kmeans_rows(values: torch.Tensor, alive: torch.Tensor, k: int, max_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on each row of values [S, N] over its `alive` entries, from centroids spread
    linearly between the row's min and max: (centroids [S, k] sorted, assignment [S, N]).

    In 1-D a cluster is a run of the sorted values: each row is sorted once, an iteration finds
    the k − 1 cuts at the midpoints of the sorted centroids (a value on a midpoint joins the lower
    cluster) and takes the clusters' means from prefix sums (in float64, so a mean is as exact
    as a direct sum), and an empty cluster keeps its centroid. A row whose cuts no longer move is
    converged; further iterations leave it as it is, so all rows run together until every one is
    done (or max_iter) while the host looks only every few iterations."""
    n_rows, dtype = values.shape[0], values.dtype
    ordered, order = torch.where(alive, values, torch.inf).sort(1)
    n_alive = alive.sum(1, keepdim=True)
    zero = torch.zeros(n_rows, 1, dtype=torch.long, device=values.device)
    prefix = torch.cat([zero.double(), torch.where(ordered.isfinite(), ordered, 0).double().cumsum(1)], 1)
    low = torch.where(n_alive > 0, ordered[:, :1], 0)
    high = torch.where(n_alive > 0, ordered.gather(1, (n_alive - 1).clamp(min=0)), 0)
    centroids = low + (high - low) * (torch.arange(k, dtype=dtype, device=values.device) / max(k - 1, 1))
    bounds = None
    for i in range(max_iter):
        cuts = torch.searchsorted(ordered, (centroids[:, 1:] + centroids[:, :-1]) / 2, right=True)
        new = torch.cat([zero, cuts.minimum(n_alive), n_alive], 1)  # cluster j: sorted positions [new[j], new[j+1])
        moved = None if bounds is None else (new != bounds).any()
        bounds = new
        if moved is not None and i % CONVERGENCE_CHECK_EVERY == 0 and not bool(moved):
            break
        sums = prefix.gather(1, bounds[:, 1:]) - prefix.gather(1, bounds[:, :-1])
        counts = bounds[:, 1:] - bounds[:, :-1]
        centroids = torch.where(counts > 0, (sums / counts.clamp(min=1)).to(dtype), centroids)
    positions = torch.arange(values.shape[1], device=values.device).expand(n_rows, -1).contiguous()
    in_sorted_order = torch.searchsorted(bounds[:, 1:-1].contiguous(), positions, right=True)
    return centroids, torch.empty_like(in_sorted_order).scatter_(1, order, in_sorted_order)


def largest_codebook(weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per seed [S]: the most distinct nonzero values any one tensor of {name: [S, ...]} holds —
    what its codebook must store."""
    n_seeds = next(iter(weights.values())).shape[0]
    return torch.tensor([max(len(w[i][w[i] != 0].unique()) for w in weights.values()) for i in range(n_seeds)])
