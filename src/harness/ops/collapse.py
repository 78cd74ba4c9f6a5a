"""Neural collapse metrics of last-layer features (Papyan, Han & Donoho 2020): how far the
features of each class have shrunk to their class mean (NC1) and how close the class means are to
a simplex equiangular tight frame (NC2). Everything is batched over seeds: features [S, N, D],
labels [N] shared or [S, N], every class present."""

from __future__ import annotations

import torch


def class_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-seed class means [S, C, D]."""
    labels = labels.expand(features.shape[:2])
    onehot = torch.nn.functional.one_hot(labels, num_classes).to(features.dtype)  # [S, N, C]
    counts = onehot.sum(1)
    if bool((counts == 0).any()):
        raise ValueError("every class needs at least one example for its mean")
    return onehot.transpose(1, 2) @ features / counts.unsqueeze(-1)


def within_class_variability(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """NC1 = tr(Σ_W Σ_B⁺)/C per seed [S]: the within-class covariance measured in the metric of
    the between-class covariance (Papyan et al. 2020, Fig. 6). It falls toward 0 as features
    collapse onto their class means. Computed in float64: Σ_B has rank C − 1 and its
    pseudo-inverse needs the precision."""
    features = features.double()
    means = class_means(features, labels, num_classes)  # [S, C, D]
    centred = features - means.gather(1, labels.expand(features.shape[:2]).unsqueeze(-1).expand_as(features))
    within = centred.transpose(1, 2) @ centred / features.shape[1]  # [S, D, D]
    between_dev = means - means.mean(1, keepdim=True)
    between = between_dev.transpose(1, 2) @ between_dev / num_classes
    return torch.einsum("sij,sji->s", within, torch.linalg.pinv(between, hermitian=True)).float() / num_classes


def simplex_deviation(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, torch.Tensor]:
    """How far the globally centred class means are from a simplex ETF, per seed [S]:
    `equinorm` the coefficient of variation of their norms (0 for an ETF), `equiangle` the mean
    |cos(μ_c, μ_c') + 1/(C − 1)| over pairs c ≠ c' (0 for an ETF, whose cosines are all −1/(C − 1))."""
    means = class_means(features.double(), labels, num_classes)
    centred = means - means.mean(1, keepdim=True)
    norms = centred.norm(dim=-1)  # [S, C]
    unit = centred / norms.unsqueeze(-1)
    cosines = unit @ unit.transpose(1, 2)
    off = ~torch.eye(num_classes, dtype=torch.bool, device=features.device)
    deviation = (cosines[:, off] + 1 / (num_classes - 1)).abs().mean(1)
    return {"equinorm": (norms.std(1) / norms.mean(1)).float(), "equiangle": deviation.float()}
