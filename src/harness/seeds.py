"""One seeding entry point with named sub-streams.

A run's randomness is split by purpose (init, data, order, labels, attack, ...), so changing
how many numbers one purpose draws never shifts another. Each (seed, stream) pair maps to a
64-bit key through SHA-256: stable across Python processes, platforms and torch versions
(Python's own `hash` is salted per process). Generators live on the CPU so the same seed gives
the same weights and data order on every device; tensors are moved afterwards.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

STREAMS = ("init", "data", "order", "labels", "attack", "noise", "dropout", "eval")


def stream_key(seed: int, stream: str) -> int:
    """The 63-bit integer that seeds `stream` for `seed` (63 bits: torch wants a non-negative int64)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown seed stream {stream!r}; use one of {', '.join(STREAMS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    digest = hashlib.sha256(f"{int(seed)}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def torch_generator(seed: int, stream: str) -> torch.Generator:
    """A fresh CPU torch.Generator for (seed, stream)."""
    return torch.Generator(device="cpu").manual_seed(stream_key(seed, stream))


def numpy_rng(seed: int, stream: str) -> np.random.Generator:
    """A fresh numpy Generator for (seed, stream)."""
    return np.random.default_rng(stream_key(seed, stream))


def check_seed_list(seeds) -> list[int]:
    """Seeds as a list of distinct non-negative ints, or a ValueError saying what is wrong."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("need at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seed list has duplicates: {seeds}; each seed must train a distinct model")
    for s in seeds:
        stream_key(s, "init")  # validates the value
    return seeds


def at_least(seeds, n: int) -> list[int]:
    """`seeds`, continued with the integers after the last one until there are at least n: a claim
    that needs more seeds than the tier's (paired tests over 8 pairs) still starts where --seed-offset says."""
    seeds = check_seed_list(seeds)
    return seeds + list(range(max(seeds) + 1, max(seeds) + 1 + n - len(seeds)))


class SeedGrid:
    """Conditions × seeds trained as one batch: condition i with seed s trains as the member seed
    `start + stride·i + s`, so every model draws its own init and order, and the same (condition,
    seed) always gets the same member whatever else is in the batch.

        grid = SeedGrid(NOISE_LEVELS, seeds, stride=1000)
        result = train(factory, data, grid.members, cfg.train, device)
        per_level = grid.split(result.accuracy(x, y))   # {noise: values of its seeds}

    Two members must never coincide: a seed list wider than the stride is refused.
    """

    def __init__(self, conditions, seeds, *, stride: int, start: int = 0):
        self.conditions, self.seeds = list(conditions), check_seed_list(seeds)
        self.stride, self.start = stride, start
        if max(self.seeds) - min(self.seeds) >= stride:
            raise ValueError(f"seeds {self.seeds} span the grid's stride {stride}: two conditions would share a "
                             f"member seed; use fewer seeds or a larger stride")

    @property
    def members(self) -> list[int]:
        """Member seeds, condition-major: every seed of the first condition, then the next."""
        return [self.start + self.stride * i + s for i in range(len(self.conditions)) for s in self.seeds]

    def split(self, values) -> dict:
        """{condition: its rows} of anything indexed by member along its first axis."""
        if len(values) != len(self.members):
            raise ValueError(f"expected one row per member ({len(self.members)}), got {len(values)}")
        n = len(self.seeds)
        return {c: values[i * n:(i + 1) * n] for i, c in enumerate(self.conditions)}
