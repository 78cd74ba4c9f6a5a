"""Feature transfer by layer (Yosinski et al. 2014, "How transferable are features in deep neural
networks?", NeurIPS): copy the first n layers of a network trained on task A into a network for
task B, then fine-tune them or keep them frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.stacked import cross_entropy_per_seed


def first_layers(params: dict, n: int) -> list[str]:
    """Names of the parameters of the first n Linear layers of an MLP built by harness.models.mlp."""
    layers = sorted({int(k.split(".")[0]) for k in params if k.endswith(".weight")})
    if not 0 <= n <= len(layers):
        raise ValueError(f"the network has {len(layers)} Linear layers, asked for the first {n}")
    keep = set(layers[:n])
    return [k for k in params if int(k.split(".")[0]) in keep]


@dataclass(frozen=True, eq=False)
class PartlyFrozen:
    """Cross-entropy as a `TrainConfig(loss=...)`, with some parameters of some models frozen:
    frozen[name] is [S] (1 freezes that model's copy). Their gradients are zeroed before every
    step, so Adam (no weight decay) never moves them."""

    frozen: dict

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor, extras: dict) -> torch.Tensor:
        return cross_entropy_per_seed(model(x), y)

    def before_step(self, params: dict, progress: float) -> None:
        for name, flags in self.frozen.items():
            grad = params[name].grad
            grad *= (1 - flags).reshape(-1, *([1] * (grad.dim() - 1)))
