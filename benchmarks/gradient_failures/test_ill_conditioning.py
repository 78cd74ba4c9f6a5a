"""G3 — ill-conditioning: a linear problem gradient descent cannot solve in time, solved at once
by the right architecture (Shalev-Shwartz, Shamir & Shammah 2017, "Failures of gradient-based
deep learning", ICML, §4: learning the knots of a piecewise-linear curve from its values).

Claims:
- the curve-to-knots map is badly conditioned: cond(W) of the n×n PWL matrix grows like n²
  (log-log slope over n = 25…200 within 1.8–2.2; closed form, no seed);
- at n = 50, a 3-tap convolution on whitened patches (its input's second moments C^{-1/2})
  reaches 1% of the initial loss within 250 steps, while the plain n×n linear map stays above
  30% of it after 2000 steps at either learning rate tried (1e-3 and 1e-2).

Setting: 10 000 random curves per seed with 3 knots (slope changes ~ N(0, 1) at random
positions), inputs the curve values f ∈ R^50, targets the slope changes p (harness.data), MSE,
zero init, Adam, batch 100; losses relative to the zero predictor's, read every 100 steps
(harness.kits.conditioning).

Measured (cpu, 2 threads, 5 seeds): cond(W) = 765 / 2956 / 11602 / 45959, slope 1.970. Plain
map, best relative loss in 2000 steps: 0.759±0.012 at lr 1e-3, 0.910±0.008 at lr 1e-2 (unstable).
Convolution at lr 1e-2: < 1e-4 of the initial loss at the first reading (100 steps), every seed;
at lr 1e-3 it needs 300 steps (0.227, 0.040, 0.005 at 100/200/300). Full tier (3000 plain
steps): the plain map's best is 0.706±0.015 at lr 1e-3 and 0.910±0.008 at lr 1e-2.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from harness import Metric
from harness.data import make_pwl_curves, pwl_matrix
from harness.kits.conditioning import conv_on_whitened_patches, whitened_patches
from harness.stacked import stack_seeds
from harness.stats import slope
from harness.train import TrainConfig, TrainData, train

TAPS = 3  # the inverse of W is a second difference: three taps


@dataclass(frozen=True)
class Config:
    cond_sizes: tuple = (25, 50, 100, 200)
    n: int = 50
    curves: int = 10_000
    knots: int = 3
    plain: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=100, loss="mse"))
    plain_lrs: tuple = (1e-3, 1e-2)
    conv: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3, batch_size=100, lr=1e-2, loss="mse"))


TIERS = {"smoke": Config(), "full": Config(plain=TrainConfig(epochs=30, batch_size=100, loss="mse"))}


def condition_slope(sizes) -> tuple[list[float], float]:
    conds = [float(torch.linalg.cond(pwl_matrix(n))) for n in sizes]
    return conds, slope(np.log(sizes), np.log(conds))


def relative_losses(factory, x, y, seeds, cfg: TrainConfig, device, start=None) -> torch.Tensor:
    """Train-loss curve per seed [S, readings] relative to the zero predictor's loss."""
    result = train(factory, TrainData(x, y, per_seed=frozenset({"x", "y"})), seeds, cfg, device, start=start)
    return result.curves["train_loss"] / (y ** 2).mean((1, 2)).cpu().unsqueeze(1)


def pwl_data(cfg: Config, seeds: list[int], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Each seed's curves f [S, curves, n] and their slope changes p [S, curves, n]."""
    return stack_seeds(make_pwl_curves(cfg.n, cfg.curves, cfg.knots, s, device) for s in seeds)


def run(cfg: Config, device, seeds: list[int]) -> dict:
    """Per seed: the plain map's best relative loss at each lr, and the steps the whitened
    convolution needs to reach 1% of the initial loss (inf if it never does)."""
    f, p = pwl_data(cfg, seeds, device)
    out = {}
    for lr in cfg.plain_lrs:
        zero = {"weight": torch.zeros(len(seeds), cfg.n, cfg.n, device=device)}
        rel = relative_losses(lambda: nn.Linear(cfg.n, cfg.n, bias=False), f, p, seeds, replace(cfg.plain, lr=lr),
                              device, start=zero)
        out[f"plain_best_rel_loss_lr{lr:g}"] = rel.min(1).values.numpy()
    patches = torch.stack([whitened_patches(fs, TAPS) for fs in f])
    zero = {"0.weight": torch.zeros(len(seeds), 1, TAPS, device=device)}
    rel = relative_losses(lambda: conv_on_whitened_patches(TAPS), patches, p, seeds, cfg.conv, device, start=zero)
    steps_per_reading = cfg.curves // cfg.conv.batch_size
    reached = rel <= 0.01
    first = torch.where(reached.any(1), reached.float().argmax(1) + 1, torch.inf)
    out["conv_steps_to_1pct"] = (first * steps_per_reading).numpy()
    out["conv_final_rel_loss"] = rel[:, -1].numpy()
    return out


def test_condition_number_grows_quadratically(claim):
    """log cond(W) against log n: slope within (1.8, 2.2)."""
    cfg = Config()
    conds, fitted = condition_slope(cfg.cond_sizes)
    claim.record({"cond_loglog_slope": [fitted]}, {"cond_loglog_slope": Metric("target", abs_tol=0.01)},
                 config=cfg, seeds=[0])
    with claim.guards():  # the closed form's slope: arithmetic the later claims rest on
        claim.each_within("cond_loglog_slope", 1.8, 2.2)
    claim.curve("condition_number_vs_n", list(cfg.cond_sizes), conds, xlabel="n", ylabel="cond(W)", log="xy")


def test_whitened_convolution_beats_plain_map(device, cfg, seeds, claim):
    """Conv on whitened patches: ≤ 250 steps to 1%; plain n×n map: > 0.3 after all its steps."""
    result = run(cfg, device, seeds)
    # at lr 1e-2 the plain map's training is unstable and its best loss spreads more (36 seeds:
    # 0.823–0.926, 3-seed means 0.860–0.921; seeds 0–11 alone 0.914 ± 0.010)
    specs = {k: Metric("target", abs_tol=0.1 if k.endswith("lr0.01") else 0.05)
             for k in result if k.startswith("plain")}
    specs["conv_steps_to_1pct"] = Metric("lower", abs_tol=100)
    specs["conv_final_rel_loss"] = Metric("lower", abs_tol=1e-3)
    claim.record(result, specs)
    claim.each_within("conv_steps_to_1pct", high=250)
    for lr in cfg.plain_lrs:
        claim.above(f"plain_best_rel_loss_lr{lr:g}", 0.3)


def test_plain_epoch_time(bench, claim, device, seeds):
    """Times one epoch (100 steps) of the plain 50×50 map on 10 000 curves, all seeds."""
    cfg = Config()
    f, p = pwl_data(cfg, seeds, device)
    zero = {"weight": torch.zeros(len(seeds), cfg.n, cfg.n, device=device)}
    one = replace(cfg.plain, epochs=1, lr=1e-3)
    rel = bench(lambda: relative_losses(lambda: nn.Linear(cfg.n, cfg.n, bias=False), f, p, seeds, one, device, start=zero))
    claim.record({"plain_rel_loss_100_steps": rel[:, -1].numpy()},
                 {"plain_rel_loss_100_steps": Metric("target", abs_tol=0.05)}, config=cfg)
    claim.above("plain_rel_loss_100_steps", 0.5)  # a hundred steps barely move it
