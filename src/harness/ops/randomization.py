"""Zhang et al.'s randomization tests as data: for one seed, the training and test sets of a
condition — true labels, random labels, shuffled pixels (one permutation for all images),
random pixels (one permutation per image), Gaussian inputs — and a batched run that trains every
(condition, seed) pair at once and reports the steps each took to fit its training set.
"""

from __future__ import annotations

import torch

from harness.data import Dataset, gaussian_like, noisy_labels, random_pixels, shuffled_pixels
from harness.seeds import SeedGrid
from harness.stacked import stack_seeds
from harness.train import TrainConfig, TrainData, train

CONDITIONS = ("true_labels", "random_labels", "shuffled_pixels", "random_pixels", "gaussian")


def condition_data(ds: Dataset, condition: str, seed: int) -> tuple[torch.Tensor, ...]:
    """(x, y, x_test, y_test) of one condition for one seed; test sets get the same treatment
    (random labels keep the true test labels: generalization is measured against the truth)."""
    if condition == "true_labels":
        return ds.x, ds.y, ds.x_test, ds.y_test
    if condition == "random_labels":
        return ds.x, noisy_labels(ds.y, 1.0, ds.num_classes, seed)[0], ds.x_test, ds.y_test
    if condition == "shuffled_pixels":
        x, x_test = shuffled_pixels(ds.x, ds.x_test, seed)
        return x, ds.y, x_test, ds.y_test
    if condition == "random_pixels":
        return random_pixels(ds.x, seed), ds.y, random_pixels(ds.x_test, seed + 10_000), ds.y_test
    if condition == "gaussian":
        return gaussian_like(ds.x, len(ds.x), seed), ds.y, gaussian_like(ds.x, len(ds.x_test), seed, "eval"), ds.y_test
    raise ValueError(f"unknown condition {condition!r}; use one of {', '.join(CONDITIONS)}")


def fit_conditions(factory, ds: Dataset, conditions, seeds: list[int], cfg: TrainConfig, device) -> dict:
    """Train one model per (condition, seed) in one batched run until it fits (cfg should set
    stop_at_train_acc). Per condition, per seed: steps to fit (inf if never), train and test accuracy."""
    x, y, x_test, y_test = stack_seeds(condition_data(ds, c, s) for c in conditions for s in seeds)
    grid = SeedGrid(conditions, seeds, stride=1000)
    data = TrainData(x, y, x_test, y_test, per_seed=frozenset({"x", "y", "x_test", "y_test"}))
    result = train(factory, data, grid.members, cfg, device)
    steps = grid.split(torch.where(result.reached_target, result.steps_run.double(), torch.inf).numpy())
    train_acc = grid.split(result.accuracy(x, y, per_seed=True).cpu().numpy())
    test_acc = grid.split(result.accuracy(x_test, y_test, per_seed=True).cpu().numpy())
    return {c: {"steps_to_fit": steps[c], "train_acc": train_acc[c], "test_acc": test_acc[c]} for c in conditions}
