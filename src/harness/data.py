"""Offline datasets as tensors on the device, built once per session, and their transforms.

Nothing is downloaded. MNIST-1D is generated from its seed (`make_dataset`, never
`get_dataset`) and cached on disk because generation takes ~3 s; the UCI digits ship with the
package; the synthetic sets are drawn from named seed streams. Real MNIST, Fashion-MNIST and
CIFAR-10 are read only from local files under $HARNESS_DATA_DIR (see `local_files.py`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness import devices
from harness.seeds import numpy_rng, torch_generator


@dataclass(frozen=True)
class Dataset:
    """A supervised train/test split as float32 inputs and int64 labels on one device."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    def __post_init__(self):
        for split, (x, y) in {"train": (self.x, self.y), "test": (self.x_test, self.y_test)}.items():
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"{self.name} {split}: {x.shape[0]} inputs but {y.shape[0]} labels")
        if self.x.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(f"{self.name}: train inputs {tuple(self.x.shape[1:])} and test inputs "
                             f"{tuple(self.x_test.shape[1:])} differ in shape")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def to(self, device) -> Dataset:
        return Dataset(self.name, *(t.to(device) for t in (self.x, self.y, self.x_test, self.y_test)),
                       self.num_classes)

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first n examples of each split (the splits are already shuffled)."""
        for n, have, split in ((n_train, len(self.y), "train"), (n_test, len(self.y_test), "test")):
            if n is not None and not 0 < n <= have:
                raise ValueError(f"{self.name}: asked for {n} {split} examples, have {have}")
        return Dataset(self.name, self.x[:n_train], self.y[:n_train], self.x_test[:n_test],
                       self.y_test[:n_test], self.num_classes)


# --- named datasets, cached per (name, device) -------------------------------------------------

def load_dataset(name: str, device="cpu") -> Dataset:
    """A named offline dataset on `device`: 'mnist1d' or 'digits'."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(sorted(_BUILDERS))}")
    return _cached(name, str(devices.normalise(device)))


@functools.cache
def _cached(name: str, device: str) -> Dataset:
    return _BUILDERS[name]().to(device)


def make_mnist1d() -> Dataset:
    """MNIST-1D as published (4000 train / 1000 test, 40 samples, 10 classes), generated offline.

    Cached on disk per mnist1d release: generation takes ~3 s and importing mnist1d (matplotlib)
    another ~1.5 s, which a warm cache skips.
    """
    raw = _disk_cached(f"mnist1d-{importlib.metadata.version('mnist1d')}", _generate_mnist1d)
    return Dataset("mnist1d", torch.tensor(raw["x"], dtype=torch.float32), torch.tensor(raw["y"], dtype=torch.int64),
                   torch.tensor(raw["x_test"], dtype=torch.float32),
                   torch.tensor(raw["y_test"], dtype=torch.int64), 10)


def _generate_mnist1d() -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())  # the published defaults of this mnist1d release
    return {k: data[k] for k in ("x", "y", "x_test", "y_test")}


def make_digits() -> Dataset:
    """UCI optical digits (scikit-learn's `load_digits`, shipped in harness/datasets/digits.npz, CC BY
    4.0): 8×8 images flattened, scaled to [0, 1] by /16, shuffled with RandomState(0); the last 497
    are the test split (1300 train)."""
    with (resources.files("harness") / "datasets" / "digits.npz").open("rb") as f, np.load(f) as stored:
        x, y = stored["x"].astype(np.float64), stored["y"].astype(np.int64)
    order = np.random.RandomState(0).permutation(len(y))
    x, y = x[order] / 16.0, y[order]
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)
    return Dataset("digits", x[:1300], y[:1300], x[1300:], y[1300:], 10)


_BUILDERS = {"mnist1d": make_mnist1d, "digits": make_digits}


def cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_CACHE_DIR", Path.home() / ".cache" / "harness"))


def _disk_cached(key: str, build) -> dict:
    """Arrays from cache_dir()/key.npz, built and stored on a miss (a corrupt file is rebuilt)."""
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path) as stored:
                return {k: stored[k] for k in stored.files}
        except (OSError, ValueError):
            path.unlink()  # truncated by an interrupted write: rebuild below
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays


# --- transforms: each returns new tensors, drawn from the given seed's named stream ------------

def noisy_labels(y: torch.Tensor, fraction: float, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Redraw exactly round(fraction·N) labels uniformly (Zhang et al.'s corruption).

    Returns (labels, redrawn mask). A redrawn label may equal the true one by chance (1/C), so
    fraction=1.0 means fully random labels, not adversarially wrong ones.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"label-noise fraction must be in [0, 1], got {fraction}")
    g = torch_generator(seed, "labels")
    n = y.shape[0]
    redrawn = torch.zeros(n, dtype=torch.bool)
    redrawn[torch.randperm(n, generator=g)[: round(fraction * n)]] = True
    fresh = torch.randint(num_classes, (n,), generator=g)
    labels = torch.where(redrawn, fresh, y.cpu())
    return labels.to(y.device), redrawn.to(y.device)


def shuffled_pixels(x: torch.Tensor, x_test: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One fixed permutation of the features applied to every example, train and test."""
    perm = torch.randperm(x[0].numel(), generator=torch_generator(seed, "data")).to(x.device)
    return _permute_features(x, perm), _permute_features(x_test, perm)


def random_pixels(x: torch.Tensor, seed: int) -> torch.Tensor:
    """A different feature permutation for every example (destroys all spatial structure)."""
    g = torch_generator(seed, "data")
    flat = x.reshape(x.shape[0], -1)
    perms = torch.argsort(torch.rand(flat.shape, generator=g), dim=1).to(x.device)
    return torch.gather(flat, 1, perms).reshape(x.shape)


def gaussian_like(x: torch.Tensor, n: int, seed: int, stream: str = "data") -> torch.Tensor:
    """n Gaussian inputs of x's shape with x's scalar mean and std (fresh noise per call/stream)."""
    g = torch_generator(seed, stream)
    noise = torch.randn((n, *x.shape[1:]), generator=g)
    return (noise * x.std().cpu() + x.mean().cpu()).to(x.device)


def _permute_features(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)[:, perm].reshape(x.shape)


def select_classes(x: torch.Tensor, y: torch.Tensor, classes) -> tuple[torch.Tensor, torch.Tensor]:
    """Examples whose label is in `classes` (labels kept as they are: class-incremental reading)."""
    classes = torch.as_tensor(list(classes), device=y.device)
    keep = torch.isin(y, classes)
    if not keep.any():
        raise ValueError(f"no example has a label in {classes.tolist()}")
    return x[keep], y[keep]


# --- synthetic problems ------------------------------------------------------------------------

def make_parity(d: int, n: int, seed: int, subset_size: int | None = None, device="cpu"):
    """x ∈ {±1}^d uniform, y = parity (0/1) of a fixed random subset of size subset_size (default d/2).

    Returns (x float32 [n, d], y int64 [n], subset indices). The subset is drawn from the
    'data' stream, the inputs from 'noise', so resampling inputs keeps the same target function.
    """
    subset_size = d // 2 if subset_size is None else subset_size
    if not 0 < subset_size <= d:
        raise ValueError(f"parity subset size must be in 1..{d}, got {subset_size}")
    subset = torch.randperm(d, generator=torch_generator(seed, "data"))[:subset_size].sort().values
    x = torch.randint(2, (n, d), generator=torch_generator(seed, "noise")).float() * 2 - 1
    y = (x[:, subset] < 0).sum(dim=1) % 2
    return x.to(device), y.to(device), subset


def hypercube(d: int, device="cpu") -> torch.Tensor:
    """All 2^d points of {±1}^d, [2^d, d] float32 (an exact expectation over parity inputs)."""
    if not 0 < d <= 24:
        raise ValueError(f"the hypercube is enumerated whole: use 1 ≤ d ≤ 24, got {d}")
    codes = torch.arange(2 ** d, device=device).unsqueeze(1)
    bits = (codes >> torch.arange(d, device=device)) & 1
    return bits.float() * 2 - 1


def make_digit_tuples(x: torch.Tensor, y: torch.Tensor, k: int, n: int, seed: int, stream: str = "data"):
    """n tuples of k images drawn with replacement (Shalev-Shwartz G2): inputs [n, k·D] (the k
    images side by side) and targets [n, 1 + k] of ±1: column 0 the parity of the k sub-labels
    (+1 for an even count of digits ≥ 5), columns 1..k each image's sub-label (digit ≥ 5)."""
    idx = torch.randint(len(y), (n, k), generator=torch_generator(seed, stream)).to(y.device)
    sub = (y[idx] >= 5).float() * 2 - 1
    return x[idx].reshape(n, -1), torch.cat([sub.prod(1, keepdim=True), sub], dim=1)


def make_step_targets(n: int, d: int, seed: int, weight_norm: float = 3.0, stream: str = "noise", device="cpu"):
    """x ~ N(0, I_d), y = floor(w*·x + b*) with ‖w*‖ = weight_norm, b* ~ U(0, 1) (Shalev-Shwartz G4).

    The teacher (w*, b*) comes from the 'data' stream, so fresh batches (other `stream`s) share it.
    Returns (x [n, d], y [n], w*, b*).
    """
    g = torch_generator(seed, "data")
    w = torch.randn(d, generator=g, dtype=torch.float64)
    w = w / w.norm() * weight_norm
    b = torch.rand((), generator=g, dtype=torch.float64)
    x = torch.randn((n, d), generator=torch_generator(seed, stream), dtype=torch.float64)
    y = torch.floor(x @ w + b)
    return x.float().to(device), y.float().to(device), w.float(), b.float()


def make_modular_addition(p: int, train_fraction: float, seed: int, device="cpu"):
    """The table of a + b mod p as a classification problem (Power et al. 2022): each input the
    one-hot codes of a and b side by side [2p], the label (a + b) mod p. A random
    `train_fraction` of the p² pairs (the 'data' stream) is the training set, the rest the test.

    Returns (x_train, y_train, x_test, y_test)."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction}")
    a, b = torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)
    x = torch.cat([F.one_hot(a, p), F.one_hot(b, p)], dim=1).float()
    y = (a + b) % p
    order = torch.randperm(p * p, generator=torch_generator(seed, "data"))
    n_train = round(train_fraction * p * p)
    train, test = order[:n_train], order[n_train:]
    return x[train].to(device), y[train].to(device), x[test].to(device), y[test].to(device)


def pwl_matrix(n: int) -> torch.Tensor:
    """W[i, j] = max(0, i − j + 1), float64: curve values at 1..n from slope changes at 1..n.

    A piecewise-linear curve with slope change p_j at knot j has f(i) = Σ_j p_j·max(0, i − j + 1),
    so f = W p; W's condition number grows like n² (Shalev-Shwartz et al. 2017, G3).
    """
    i = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    return torch.clamp(i - i.T + 1, min=0)


def make_pwl_curves(n: int, num_curves: int, knots: int, seed: int, device="cpu"):
    """Random PWL curves: `knots` slope changes ~ N(0, 1) at random positions; returns (f, p)
    with f = p Wᵀ sampled at n points (inputs) and p the slope-change vector (targets)."""
    if not 0 < knots <= n:
        raise ValueError(f"knots must be in 1..{n}, got {knots}")
    g = torch_generator(seed, "data")
    positions = torch.argsort(torch.rand((num_curves, n), generator=g), dim=1)[:, :knots]
    p = torch.zeros((num_curves, n), dtype=torch.float64)
    p.scatter_(1, positions, torch.randn((num_curves, knots), generator=g, dtype=torch.float64))
    f = p @ pwl_matrix(n).T
    return f.float().to(device), p.float().to(device)


def seeded_split(n: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a random train/test split of n examples with n_test held out."""
    if not 0 < n_test < n:
        raise ValueError(f"test split must hold 1..{n - 1} of {n} examples, got {n_test}")
    order = numpy_rng(seed, "data").permutation(n)
    return order[n_test:], order[:n_test]
