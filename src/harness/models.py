"""Model definitions: MLP, 1-D/2-D CNNs, residual MLP and CNN with switchable skips, autoencoder —
and seeded initialisation.

Models are built on the meta device and then initialised from the seed's 'init' stream on the
CPU, so a seed gives the same weights on every device and no global RNG is touched.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from harness.seeds import torch_generator
from harness.stacked import stacked_layer

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "identity": nn.Identity}
INITS = ("default", "xavier", "he", "normal", "uniform")


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(widths: Sequence[int], activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """Linear layers widths[0] → … → widths[-1] with `activation` (and dropout) between them."""
    if len(widths) < 2 or any(int(w) < 1 for w in widths):
        raise ValueError(f"an MLP needs ≥ 2 positive widths (input … output), got {list(widths)}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(_activation(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def cnn1d(length: int = 40, channels: int = 32, num_classes: int = 10, dropout: float = 0.0) -> nn.Sequential:
    """Three Conv1d (k=5; stride 1, 2, 2) with ReLU, then dropout and a linear head (memorization M4).
    Input [N, length]; for MNIST-1D (length 40) the flattened features are 32·10 = 320."""
    return nn.Sequential(
        nn.Unflatten(1, (1, length)),
        nn.Conv1d(1, channels, 5, padding=2), nn.ReLU(),
        nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.ReLU(),
        nn.Flatten(), nn.Dropout(dropout),
        nn.Linear(channels * _conv_out(_conv_out(length, 2), 2), num_classes),
    )


def cnn2d(image_size: int = 8, in_channels: int = 1, channels: Sequence[int] = (16, 32),
          num_classes: int = 10) -> nn.Sequential:
    """Conv2d 3×3 (padding 1) + ReLU + 2×2 max-pool per entry of `channels`, then a linear head.
    Accepts flat inputs [N, in_channels·image_size²] (like digits) or images [N, C, H, W]."""
    layers: list[nn.Module] = [_FlatToImage(in_channels, image_size)]
    size, c_in = image_size, in_channels
    for c_out in channels:
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        size, c_in = size // 2, c_out
    if size < 1:
        raise ValueError(f"{len(channels)} pooling stages shrink a {image_size}px image to nothing")
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * size * size, num_classes))


def _conv_out(length: int, stride: int, kernel: int = 5, padding: int = 2) -> int:
    return (length + 2 * padding - kernel) // stride + 1


class _FlatToImage(nn.Module):
    def __init__(self, channels: int, size: int):
        super().__init__()
        self.shape = (channels, size, size)

    def forward(self, x):
        return x if x.dim() == 4 else x.reshape(x.shape[0], *self.shape)


class _ResidualStack(nn.Module):
    """inp → blocks → norm → out, each block returning act(h + f(h)) with skip, act(f(h)) without.

    `post_activation` picks act = ReLU (ResNet-style blocks, Li et al.'s L2 setting) or the
    identity (a pre-norm residual stream, Veit's lesion study R1). A lesioned block returns h.
    """

    def __init__(self, inp: nn.Module, blocks: list[nn.Module], norm: nn.Module, out: nn.Module, *,
                 skip: bool, post_activation: bool, zero_init_last: bool):
        super().__init__()
        self.inp, self.blocks, self.norm, self.out = inp, nn.ModuleList(blocks), norm, out
        self.skip, self.post_activation, self.zero_init_last = skip, post_activation, zero_init_last

    def forward(self, x, lesioned: frozenset[int] = frozenset()):
        return self._through(lambda module, prefix, h: module(h), x, lesioned)

    def _through(self, apply, x, lesioned: frozenset[int]):
        """The network with each part applied as apply(module, its parameters' prefix, input)."""
        h = apply(self.inp, "inp.", x)
        for i, block in enumerate(self.blocks):
            if i in lesioned:
                continue
            f = apply(block, f"blocks.{i}.", h)
            h = f + h if self.skip else f
            if self.post_activation:
                h = torch.relu(h)
        return apply(self.out, "out.", apply(self.norm, "norm.", h))

    def after_init(self) -> None:
        """Zero each block's last layer so the residual net starts as its skip path (Goyal et al.)."""
        if self.zero_init_last:
            for block in self.blocks:
                nn.init.zeros_(block[-1].weight)
                nn.init.zeros_(block[-1].bias)


class ResidualMLP(_ResidualStack):
    """Input Linear → `depth` blocks W2·ReLU(W1·[LN](h)) → (LayerNorm) → output Linear."""

    def __init__(self, in_dim: int, width: int, depth: int, out_dim: int, *, skip: bool = True,
                 layer_norm: bool = False, post_activation: bool = True, zero_init_last: bool = False):
        blocks = [nn.Sequential(nn.LayerNorm(width) if layer_norm else nn.Identity(), nn.Linear(width, width),
                                nn.ReLU(), nn.Linear(width, width)) for _ in range(depth)]
        super().__init__(nn.Linear(in_dim, width), blocks, nn.LayerNorm(width) if layer_norm else nn.Identity(),
                         nn.Linear(width, out_dim), skip=skip, post_activation=post_activation,
                         zero_init_last=zero_init_last)

    def forward_stacked(self, params: dict, x: torch.Tensor, lesioned: frozenset[int] = frozenset()) -> torch.Tensor:
        """`forward` for every seed at once from stacked params (x [S, B, in]): batched matmuls
        instead of vmap, which the trainer and TrainResult then skip (harness.stacked.forward_all)."""
        return self._through(lambda module, prefix, h: stacked_layer(module, params, prefix, h), x, lesioned)


class ResidualCNN(_ResidualStack):
    """3×3 conv stem → `depth` blocks conv-ReLU-conv (same width and size) → global average pool →
    linear head. Accepts flat inputs [N, C·S²] (like digits) or images [N, C, S, S]."""

    def __init__(self, image_size: int = 8, in_channels: int = 1, channels: int = 16, depth: int = 4,
                 num_classes: int = 10, *, skip: bool = True, zero_init_last: bool = False):
        blocks = [nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                nn.Conv2d(channels, channels, 3, padding=1)) for _ in range(depth)]
        stem = nn.Sequential(_FlatToImage(in_channels, image_size), nn.Conv2d(in_channels, channels, 3, padding=1))
        head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
        super().__init__(stem, blocks, nn.Identity(), head, skip=skip, post_activation=True,
                         zero_init_last=zero_init_last)


class Autoencoder(nn.Module):
    """One-hidden-layer autoencoder: encoder Linear + activation, linear decoder."""

    def __init__(self, in_dim: int, hidden: int, activation: str = "sigmoid"):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_dim, hidden), _activation(activation))
        self.decoder = nn.Linear(hidden, in_dim)

    def forward(self, x):
        return self.decoder(self.encoder(x))


# --- initialisation ----------------------------------------------------------------------------

NORMS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase)  # deterministic reset_parameters()


def init_(model: nn.Module, generator: torch.Generator, scheme: str = "default", *,
          std: float | None = None, zero_bias: bool = False) -> nn.Module:
    """Initialise every Linear/Conv of `model` in place from `generator`; norms get (1, 0).

    default: PyTorch's own (U(±1/√fan_in) for weights and biases); xavier: Glorot uniform;
    he: Kaiming normal (fan_in, ReLU gain); normal: N(0, std²); uniform: U(±1/√fan_in) ("standard").
    Biases are U(±1/√fan_in) under `default`, zero otherwise or when zero_bias.
    """
    if scheme not in INITS:
        raise ValueError(f"unknown init scheme {scheme!r}; use one of {', '.join(INITS)}")
    if (scheme == "normal") != (std is not None):
        raise ValueError("give std exactly when scheme='normal'")
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            _init_layer(module, generator, scheme, std, zero_bias)
        elif hasattr(module, "init_from"):  # a layer of our own that knows its init (harness.kits.hat)
            module.init_from(generator)
        elif isinstance(module, NORMS):  # weights 1, biases 0, running statistics (BatchNorm's) reset
            module.reset_parameters()
        elif any(True for _ in module.parameters(recurse=False)):
            raise ValueError(f"init_ does not know how to initialise {type(module).__name__}: give it an "
                             f"init_from(generator) method that fills its parameters from the generator (every "
                             f"seed's model is initialised through it), or build it from Linear, Conv and norm layers")
    if hasattr(model, "after_init"):
        model.after_init()
    return model


def _init_layer(layer, g, scheme, std, zero_bias) -> None:
    fan_in = layer.weight[0].numel()
    bound = 1 / math.sqrt(fan_in)
    w = layer.weight
    if scheme in ("default", "uniform"):
        nn.init.uniform_(w, -bound, bound, generator=g)
    elif scheme == "xavier":
        nn.init.xavier_uniform_(w, generator=g)
    elif scheme == "he":
        nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)
    else:
        nn.init.normal_(w, 0.0, std, generator=g)
    if layer.bias is not None:
        if scheme == "default" and not zero_bias:
            nn.init.uniform_(layer.bias, -bound, bound, generator=g)
        else:
            nn.init.zeros_(layer.bias)


def build(factory: Callable[[], nn.Module], seed: int, init: str = "default", device="cpu", **init_kwargs) -> nn.Module:
    """factory() built on the meta device, initialised from seed's 'init' stream, moved to device."""
    with torch.device("meta"):
        model = factory()
    model = model.to_empty(device="cpu")
    init_(model, torch_generator(seed, "init"), init, **init_kwargs)
    return model.to(device)
