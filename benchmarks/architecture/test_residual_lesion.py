"""R1 — residual networks behave like ensembles: deleting one block of a trained residual network
barely changes its accuracy (the first block is bounded on its own, see below), deleting
one layer of a plain network destroys it, and deleting k residual blocks degrades smoothly
(Veit, Wilber & Belongie 2016, "Residual networks behave like ensembles of relatively shallow
networks", NeurIPS, Fig. 3–5).

Claims: residual median single-block drop < 0.04, largest drop over blocks 2..n < 0.2 and over
all blocks < 0.4; plain median single-block drop > 0.4; residual accuracy with half its blocks
deleted ≥ 0.45 on average while the plain net with one block deleted is ≤ 0.25 on average.

Why block 0 has a looser bound: it is not a downsampling block like those Veit et al. set apart
(this net has none, every block keeps width 64). It is the first nonlinearity applied to the input
Linear's embedding of the pixels, and every later block was trained on its output; measured, it
alone carries a large drop (0.23±0.09 against ≤ 0.06 for each later block), so the claims bound it
separately (< 0.4) rather than excuse it.

Setting: digits, width 64: input Linear, 10 pre-LayerNorm blocks (residual: h ← h + W2·ReLU(W1·LN(h));
plain: h ← ReLU(W2·ReLU(W1·LN(h)))), final LayerNorm, output Linear; PyTorch default init, Adam
1e-3, batch 64. A deleted block is skipped (harness.ops.lesion); k-deleted accuracies average 20
random sets of k blocks.

Measured (cpu, 2 threads, 5 seeds, 15 epochs): accuracy 0.974±0.009 residual, 0.879±0.041 plain;
residual single-block drop median 0.004±0.003, max 0.230±0.086 (block 0), max over blocks 2..n
0.060±0.033; plain median drop 0.788±0.056, accuracy with one block deleted 0.092±0.022; residual
accuracy with 5 of 10 blocks deleted 0.724±0.043 (first calibration: 0.76). 14 s for 3 seeds.
Full tier (30 epochs, 5 seeds): accuracy 0.986±0.003 and 0.921±0.022; residual median drop
0.002±0.002, max 0.213±0.088, beyond block 1 0.047±0.011; plain median drop 0.820±0.027; half
deleted 0.766±0.038; plain with one deleted 0.098±0.016.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness import Metric
from harness.data import load_dataset
from harness.models import ResidualMLP
from harness.ops.lesion import lesioned_accuracy, random_lesions, single_block_accuracies
from harness.seeds import torch_generator
from harness.train import TrainConfig, TrainData, train


@dataclass(frozen=True)
class Config:
    width: int = 64
    depth: int = 10
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=15, batch_size=64, lr=1e-3, eval_every=15))
    draws: int = 20


TIERS = {"smoke": Config(), "full": Config(train=TrainConfig(epochs=30, batch_size=64, lr=1e-3, eval_every=30))}


def network(cfg: Config, residual: bool):
    return lambda: ResidualMLP(64, cfg.width, cfg.depth, 10, skip=residual, layer_norm=True,
                               post_activation=not residual)


def run(cfg: Config, device, seeds: list[int]) -> dict:
    """Per seed and network: accuracy, single-block drops (median, max, max beyond block 1) and
    the accuracy with k random blocks deleted for k = 0..depth."""
    digits = load_dataset("digits", device)
    out, curves = {}, {}
    for name, residual in (("residual", True), ("plain", False)):
        result = train(network(cfg, residual), TrainData.of(digits), seeds, cfg.train, device)
        full = lesioned_accuracy(result, digits.x_test, digits.y_test, ()).cpu()
        drops = (full.unsqueeze(1) - single_block_accuracies(result, digits.x_test, digits.y_test, cfg.depth).cpu())
        out[f"{name}_acc"] = full.numpy()
        out[f"{name}_median_drop"] = drops.median(1).values.numpy()
        out[f"{name}_max_drop"] = drops.max(1).values.numpy()
        out[f"{name}_max_drop_after_first"] = drops[:, 1:].max(1).values.numpy()
        out[f"{name}_acc_one_deleted"] = (full.unsqueeze(1) - drops).mean(1).numpy()
        g = torch_generator(seeds[0], "eval")
        curves[name] = np.stack([random_lesions(result, digits.x_test, digits.y_test, cfg.depth, k, cfg.draws, g).cpu()
                                 .numpy() for k in range(cfg.depth + 1)], axis=1)
        out[f"{name}_acc_half_deleted"] = curves[name][:, cfg.depth // 2]
    out["curves"] = curves
    return out


METRICS = {
    "residual_acc": Metric("higher", abs_tol=0.02),
    # the deep plain net trains poorly on some seeds: 0.451–0.966 over 60 smoke seeds, 3-seed means
    # 0.674–0.929, against 0.882 ± 0.045 on seeds 0–11 (a held-out run was called a regression);
    # what it loses by a deletion follows it, so both get a band that the lowest 3-seed mean fits in
    "plain_acc": Metric("higher", abs_tol=0.25),
    "residual_median_drop": Metric("lower", abs_tol=0.02),
    "residual_max_drop": Metric("lower", abs_tol=0.1),
    "residual_max_drop_after_first": Metric("lower", abs_tol=0.05),
    "plain_median_drop": Metric("target", abs_tol=0.25),
    "residual_acc_half_deleted": Metric("higher", abs_tol=0.1),
    "plain_acc_one_deleted": Metric("target", abs_tol=0.1),
}


def test_deleting_blocks_spares_residual_nets_only(device, cfg, seeds, claim):
    """Residual: median drop < 0.04, max < 0.2 beyond block 1, < 0.4 overall, half deleted ≥ 0.45;
    plain: median drop > 0.4, one deleted ≤ 0.25."""
    result = run(cfg, device, seeds)
    claim.record(result, METRICS)
    claim.below("residual_median_drop", 0.04)
    claim.below("residual_max_drop_after_first", 0.2)
    claim.below("residual_max_drop", 0.4)
    claim.above("plain_median_drop", 0.4)
    claim.at_least("residual_acc_half_deleted", 0.45)
    claim.at_most("plain_acc_one_deleted", 0.25)
    for name, curve in result["curves"].items():
        claim.curve(f"{name}_accuracy_vs_blocks_deleted", list(range(cfg.depth + 1)), curve, label=name,
                    figure="accuracy_vs_blocks_deleted", xlabel="blocks deleted (random sets)",
                    ylabel="test accuracy")
