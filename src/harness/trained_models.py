"""Trained models that several benchmarks share, trained once per session and device.

The adversarial group attacks the same digits classifiers in several files (FGSM, transfer,
fooling images, Lipschitz bounds, unit directions, adversarial training's "before"); training
them once per (recipe, device, seeds) keeps the group's smoke tier within its budget. A recipe is
a name for (dataset, model, training config); results are cached in memory only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from harness.data import load_dataset
from harness.models import cnn2d, mlp
from harness.seeds import check_seed_list
from harness.train import TrainConfig, TrainData, TrainResult, train


@dataclass(frozen=True)
class Recipe:
    dataset: str
    factory: Callable[[], nn.Module]
    config: TrainConfig
    train_rows: tuple[int, int] | None = None  # [start, stop) of the training set, when not all of it


def _evaluated_at_the_end(epochs: int, batch_size: int, lr: float) -> TrainConfig:
    """Adam for `epochs`, evaluated once after the last: no benchmark reads these models' learning
    curves, and a full-set evaluation every epoch cost a third of the training time."""
    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, eval_every=epochs)


# The adversarial group's calibrated setting: digits, Adam 1e-3, batch 64, 30 epochs
# (softmax regression: Adam 1e-2, 100)
RECIPES = {
    "digits-mlp": Recipe("digits", lambda: mlp([64, 300, 100, 10]), _evaluated_at_the_end(30, 64, 1e-3)),
    "digits-deep-mlp": Recipe("digits", lambda: mlp([64, 100, 100, 100, 100, 10]),
                              _evaluated_at_the_end(30, 64, 1e-3)),
    # one conv stage keeps the CNN within the smoke budget (2.5 s for 3 seeds; test acc 0.955–0.962)
    "digits-cnn": Recipe("digits", lambda: cnn2d(channels=(16,)), _evaluated_at_the_end(20, 128, 3e-3)),
    # disjoint halves of the 1300 training digits (transfer between models that share no data)
    "digits-mlp-half-1": Recipe("digits", lambda: mlp([64, 300, 100, 10]), _evaluated_at_the_end(30, 64, 1e-3),
                                train_rows=(0, 650)),
    "digits-mlp-half-2": Recipe("digits", lambda: mlp([64, 300, 100, 10]), _evaluated_at_the_end(30, 64, 1e-3),
                                train_rows=(650, 1300)),
    "digits-softmax": Recipe("digits", lambda: mlp([64, 10]), _evaluated_at_the_end(100, 64, 1e-2)),
}


def trained(recipe: str, device, seeds) -> TrainResult:
    """The recipe trained for these seeds on this device (once per session)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; use one of {', '.join(RECIPES)}")
    return _trained(recipe, str(device), tuple(check_seed_list(seeds)))


@functools.cache
def _trained(recipe: str, device: str, seeds: tuple[int, ...]) -> TrainResult:
    r = RECIPES[recipe]
    data = TrainData.of(load_dataset(r.dataset, device))
    if r.train_rows is not None:
        rows = slice(*r.train_rows)
        data = TrainData(data.x[rows], data.y[rows], data.x_test, data.y_test)
    return train(r.factory, data, list(seeds), r.config, device)
