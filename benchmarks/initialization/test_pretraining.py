"""I3 — unsupervised pretraining helps when labels are scarce: a deep sigmoid network initialized
by greedily trained denoising autoencoders, then fine-tuned on a few labels, beats the same
network from a random init (Erhan, Bengio, Courville, Manzagol, Vincent & Bengio 2010, "Why does
unsupervised pre-training help deep learning?", JMLR).

Claim: with 3 pretrained layers, the fine-tuned test accuracy gain over random init is ≥ 0.03
on average at 50 labels (and at 200 labels in the full tier).

Setting: digits. Pretraining on all 1300 training inputs: three denoising autoencoders
(sigmoid encoder of width 256, linear decoder, masking noise 0.25, binary cross-entropy, Adam,
batch 128), each on the codes of the one below (harness.ops.pretraining). Fine-tuning: the
64-256-256-256-10 sigmoid MLP, encoders as its first three layers (random head), against the same
net from PyTorch's default init, on class-balanced labelled subsets; full-batch Adam 1e-3, 500
steps; both inits train side by side in one batched run.

Measured (cpu, 2 threads, 5 seeds, 50 labels): smoke (25 pretraining epochs ≈ 275 steps per layer
at lr 3e-3, 17.8 s): pretrained 0.867±0.013 against random init 0.788±0.030, gain 0.079±0.023.
At lr 1e-3: 50 epochs gain 0.070±0.031, 35 epochs 0.037±0.023 — too few steps and the gain
fades. Full (140 epochs ≈ 1540 steps per layer at lr 1e-3): gain 0.087±0.024 / 0.079±0.019 /
0.055±0.010 at 50 / 100 / 200 labels (first calibration: +0.100 / +0.089 / +0.067).
A whole full-tier run on held-out seeds (`--seed-offset 10300000`) failed the 200-label claim's
one-sided 95% bound (gain 0.050 ± 0.026 at 5 seeds, bound 0.025). Over 50 held-out full-tier
seeds (10300000, 10500000–10900000, 10 at a time) the gain is 0.115 ± 0.038 at 50 labels (every
seed ≥ 0.052), 0.084 ± 0.027 at 100 and 0.055 ± 0.017 at 200 (0.022–0.091; 4 seeds under 0.03).
Resampled, the 200-label bound misses 0.03 on 13% of 5-seed runs and 0.08% of 10-seed runs (the
5 runs of 10: bounds ≥ 0.041). So the full tier trains at least 10 seeds (~88 s for 10 seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness import Metric
from harness.data import load_dataset
from harness.models import mlp
from harness.ops.continual import class_balanced_sample
from harness.ops.pretraining import pretrain_stack
from harness.seeds import SeedGrid, at_least
from harness.train import TrainConfig, TrainData, init_params, train

HIDDEN = (256, 256, 256)


@dataclass(frozen=True)
class Config:
    labels: tuple = (50,)
    pretrain_epochs: int = 25  # 11 steps per epoch on 1300 inputs at batch 128
    pretrain_lr: float = 3e-3
    finetune_steps: int = 500
    min_seeds: int = 3  # seeds trained at least: the full tier's 95% bound at 200 labels needs 10 (see above)


TIERS = {"smoke": Config(),
         "full": Config(labels=(50, 100, 200), pretrain_epochs=140, pretrain_lr=1e-3, min_seeds=10)}


def finetune_accuracy(stack: list[dict], n_labels: int, cfg: Config, device, seeds: list[int]) -> tuple:
    """Test accuracy per seed after fine-tuning from the pretrained stack and from random init."""
    digits = load_dataset("digits", device)
    factory = lambda: mlp([64, *HIDDEN, 10], activation="sigmoid")
    grid = SeedGrid(("pretrained", "random"), seeds, stride=7000)  # random-init models: seeds 7000 + s
    start = init_params(factory, grid.members, device)
    for i, layer in enumerate(stack):  # Linear layers sit at 0, 2, 4 of the Sequential
        for name in ("weight", "bias"):
            grid.split(start[f"{2 * i}.{name}"])["pretrained"][:] = layer[name]
    rows = [class_balanced_sample(digits.y, n_labels // 10, s) for s in seeds] * 2
    x = torch.stack([digits.x[r] for r in rows])
    y = torch.stack([digits.y[r] for r in rows])
    data = TrainData(x, y, per_seed=frozenset({"x", "y"}))
    training = TrainConfig(epochs=cfg.finetune_steps, batch_size=None, lr=1e-3, eval_every=cfg.finetune_steps)
    result = train(factory, data, grid.members, training, device, start=start)
    acc = grid.split(result.accuracy(digits.x_test, digits.y_test).cpu().numpy())
    return acc["pretrained"], acc["random"]


def run(cfg: Config, device, seeds: list[int]) -> dict:
    digits = load_dataset("digits", device)
    # evaluated once, at the end: no claim reads the autoencoders' curves
    pretraining = TrainConfig(epochs=cfg.pretrain_epochs, batch_size=128, lr=cfg.pretrain_lr,
                              eval_every=cfg.pretrain_epochs)
    stack = pretrain_stack(digits.x, list(HIDDEN), seeds, pretraining, device)
    out = {}
    for n in cfg.labels:
        pretrained, random = finetune_accuracy(stack, n, cfg, device, seeds)
        out[f"pretrained_acc_{n}"], out[f"random_init_acc_{n}"] = pretrained, random
        out[f"gain_{n}"] = pretrained - random
    return out


def test_pretraining_helps_with_few_labels(cfg, device, tier, seeds, claim):
    """Mean gain of the pretrained init ≥ 0.03 at 50 labels (and 200 in the full tier)."""
    seeds = at_least(seeds, cfg.min_seeds)
    result = run(cfg, device, seeds)
    claim.record(result, {k: Metric("higher" if k.startswith(("gain", "pretrained")) else "target", abs_tol=0.03)
                          for k in result}, seeds=seeds)
    for n in cfg.labels:
        if n in (50, 200):
            claim.at_least(f"gain_{n}", 0.03)
    claim.curve("gain_vs_labels", list(cfg.labels), np.stack([result[f"gain_{n}"] for n in cfg.labels], 1),
                xlabel="labelled examples", ylabel="test accuracy gain of pretraining")
