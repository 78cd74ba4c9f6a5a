"""Greedy layer-wise unsupervised pretraining with denoising autoencoders (Vincent et al. 2008;
Erhan et al. 2010, "Why does unsupervised pre-training help deep learning?", JMLR): each layer is
trained to reconstruct its clean input from a corrupted copy, on the codes of the layer below,
and the stack of encoders then initializes a classifier.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from harness.models import Autoencoder
from harness.train import TrainConfig, TrainData, train


@dataclass(frozen=True)
class Denoising:
    """Masking-noise reconstruction as a `TrainConfig(loss=...)`: each input value is zeroed with
    probability `mask` (torch's RNG, which the trainer seeds), and the decoder's logits are scored
    by binary cross-entropy against the clean input in [0, 1] (the batch's y)."""

    mask: float = 0.25
    evaluated_as = None  # reconstructions, not class scores

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor, extras: dict) -> torch.Tensor:
        keep = (torch.rand_like(x) >= self.mask).to(x.dtype)
        return F.binary_cross_entropy_with_logits(model(x * keep), y, reduction="none").flatten(1).mean(1)


def pretrain_stack(x: torch.Tensor, widths: list[int], seeds: list[int], cfg: TrainConfig, device,
                   mask: float = 0.25) -> list[dict]:
    """Train one denoising autoencoder per layer, greedily (each on the sigmoid codes of the one
    below, per seed); returns each layer's encoder weights {"weight", "bias"} stacked [S, ...]."""
    layers, inputs = [], x.expand(len(seeds), *x.shape)
    for i, width in enumerate(widths):
        data = TrainData(inputs, inputs, per_seed=frozenset({"x", "y"}))
        ae = train(functools.partial(Autoencoder, inputs.shape[-1], width), data, [1000 * i + s for s in seeds],
                   replace(cfg, loss=Denoising(mask)), device)
        layers.append({"weight": ae.params["encoder.0.weight"], "bias": ae.params["encoder.0.bias"]})
        with torch.no_grad():
            inputs = torch.sigmoid(inputs @ layers[-1]["weight"].transpose(1, 2) + layers[-1]["bias"].unsqueeze(1))
    return layers
