"""Min-norm least squares on random ReLU features: the closed-form model behind double descent
(Belkin et al. 2019). With p features and n training rows the fit interpolates once p ≥ n; at
p ≈ n the feature matrix is nearly singular, the min-norm solution's norm explodes and so does
its test error, which falls again as p grows past n.
"""

from __future__ import annotations

import torch


def random_relu_features(x: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """The first-layer weights [d, count] of a random ReLU feature map, N(0, 1/d) entries; the
    features of x are relu(x @ W). Drawn on the CPU from `generator` so that every device sees the
    same map, then moved to x's device."""
    d = x.shape[-1]
    return (torch.randn(d, count, generator=generator) / d ** 0.5).to(x)


def min_norm_sweep(x: torch.Tensor, targets: torch.Tensor, x_test: torch.Tensor, weights: torch.Tensor,
                   counts) -> tuple[torch.Tensor, torch.Tensor]:
    """For each feature count p in `counts`: the min-norm least-squares fit of `targets` [n, C] on
    the first p features, and its predictions on the training and the test rows.

    Returns (train predictions [len(counts), n, C], test predictions [len(counts), m, C]). The
    pseudo-inverse is computed in float64: at p ≈ n the features' smallest singular values fall
    below float32's resolution and the interpolating solution would be rounding noise."""
    features, test_features = (torch.relu(rows @ weights[:, :max(counts)]).double() for rows in (x, x_test))
    train_out, test_out = [], []
    for p in counts:  # a feature is one column: the first p of the widest map are the map of p
        coef = torch.linalg.pinv(features[:, :p]) @ targets.double()
        train_out.append((features[:, :p] @ coef).to(x.dtype))
        test_out.append((test_features[:, :p] @ coef).to(x.dtype))
    return torch.stack(train_out), torch.stack(test_out)
