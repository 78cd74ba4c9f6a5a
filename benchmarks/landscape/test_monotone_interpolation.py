"""L1 — the straight line from initialization to the trained solution goes downhill all the way,
while the line between two independently trained solutions crosses a barrier (Goodfellow,
Vinyals & Saxe 2015, "Qualitatively characterizing neural network optimization problems", ICLR).

Claims:
- along θ(α) = (1 − α)·θ₀ + α·θ₁, α = 0, 0.05, …, 1, the training loss never rises by more than
  1% of L(θ₀) from one point to the next (every seed);
- between the trained solutions of seeds s and s + 1 the loss rises ≥ 0.2 above both ends.

Setting: digits, MLP 64-100-100-10, SGD momentum 0.9, lr 0.05, batch 64, 10 epochs; the loss
on the whole training set (harness.ops.landscape.loss_along_line).

Measured (cpu, 2 threads, 5 seeds, 0.6 s for 3 seeds): the loss never rises along init→solution
(largest step −0.003±0.001 of L(θ₀): strictly downhill), final training loss 0.106±0.048; barrier
between neighbouring seeds' solutions 0.631±0.109 (first calibration: 0.560±0.022).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from harness import Metric
from harness.data import load_dataset
from harness.models import mlp
from harness.ops.landscape import loss_along_line, loss_of, seed_slice
from harness.train import TrainConfig, TrainData, init_params, train


@dataclass(frozen=True)
class Config:
    widths: tuple = (64, 100, 100, 10)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=64, optimizer="sgd", lr=0.05,
                                                                 momentum=0.9, eval_every=10))
    points: int = 21


TIERS = {"smoke": Config(), "full": Config(points=41)}


def run(cfg: Config, device, seeds: list[int]) -> dict:
    """Per seed: the largest rise between neighbouring points on the init→solution line (as a
    fraction of L(θ₀)), and the barrier on the line to the next seed's solution."""
    digits = load_dataset("digits", device)
    factory = lambda: mlp(cfg.widths)
    theta0 = init_params(factory, seeds, device)
    result = train(factory, TrainData.of(digits), seeds, cfg.train, device)
    loss = loss_of(result.template, {}, digits.x, digits.y)
    alphas = torch.linspace(0, 1, cfg.points).tolist()
    lines = torch.stack([loss_along_line(loss, seed_slice(theta0, i), seed_slice(result.params, i), alphas)
                         for i in range(len(seeds))]).cpu()
    rise = (lines.diff(dim=1).max(1).values / lines[:, 0]).numpy()
    barriers = []
    for i in range(len(seeds)):
        j = (i + 1) % len(seeds)
        between = loss_along_line(loss, seed_slice(result.params, i), seed_slice(result.params, j), alphas).cpu()
        barriers.append(float(between.max() - between[[0, -1]].max()))
    return {"max_rise_fraction": rise, "barrier": np.array(barriers), "alphas": alphas, "lines": lines.numpy(),
            "final_loss": lines[:, -1].numpy()}


def test_loss_falls_monotonically_from_init_and_solutions_are_separated(device, cfg, seeds, claim):
    """Every step along init→solution rises by ≤ 1% of L(θ₀); every pair of solutions has a barrier ≥ 0.2."""
    result = run(cfg, device, seeds)
    claim.record(result, {"max_rise_fraction": Metric("lower", abs_tol=0.005), "barrier": Metric("target", abs_tol=0.1),
                          "final_loss": Metric("lower", abs_tol=0.03)})
    claim.each_within("max_rise_fraction", high=0.01)
    claim.each_within("barrier", low=0.2)
    claim.curve("loss_from_init_to_solution", result["alphas"], result["lines"],
                xlabel="α (0: initialization, 1: trained)", ylabel="training loss")
