"""L2 — skip connections make the loss landscape smoother: at equal depth a plain network sits in
a sharper minimum than its residual twin and generalizes worse (Li, Xu, Taylor, Studer &
Goldstein 2018, "Visualizing the loss landscape of neural nets", NeurIPS, Fig. 5–6, measured with
their filter normalization).

The two arms differ only in the skip: same blocks, same LayerNorm, same He init (Li et al. compare
ResNets with and without shortcuts, both with BatchNorm; LayerNorm plays its part here and needs
no batch statistics). Claims (per seed, plain over residual): the top Hessian eigenvalue ratio
≥ 1.5 as a geometric mean over seeds (the mean of its log10 ≥ 0.176; in the full tier its one-sided
95% lower bound); the filter-normalized sharpness ratio > 1 on average (plain sharper); test
accuracy higher for the residual net on average (paired; in the full tier a one-sided paired t
test at p < 0.05); the plain net still fits (train accuracy ≥ 0.93), so the gap is not a failure
to train.

Setting: digits, width 64: input Linear, 8 blocks h ← ReLU(h + f(LN(h))) (plain: ReLU(f(LN(h))))
with f = Linear-ReLU-Linear, final LayerNorm, output Linear (18 layers); He init. Adam 1e-3, batch
64. Sharpness: mean over 5 filter-normalized directions d of L(θ + 0.5·d) − L(θ); λ_max by power
iteration on Hessian-vector products; both on the training set (harness.ops.landscape). A 1-D
filter-normalized slice of each net goes to the report.

Measured (cpu, 1 thread, 10 epochs): over seeds 0–11, λ_max 139–298 plain against 10–59
residual, ratio 3.5–21.5 (median 6.3); filter-normalized sharpness ratio 1.21±0.15 (1.00–1.49);
test accuracy 0.929±0.017 plain, 0.955±0.008 residual, gain 0.025±0.015 (−0.002–0.042); plain
train accuracy 0.935–0.982. Held-out seeds 200000–200004: λ_max ratio 4.8–30, gain 0.016–0.062.
The gain is real but small in a fair comparison: a margin of 0.01 would fail a 3-seed smoke run
about one time in twenty and the full tier's test about half the time, so the claim is its sign.
The first calibration zero-initialized only the residual arm's last layer per block and had no
normalization: its sharpness ratio 23.5±7.1 and test gain 0.029±0.015 were in good part the
init's (with plain He init in both arms that residual net was the sharper one), and the gain
failed its bound on a second machine. At 16 blocks the plain net with LayerNorm no longer trains
(train accuracy 0.41–0.87), so the gap would be a failure to train, not the landscape; 12 blocks
give a gain of 0.06–0.10 but a plain net that no longer fits (train accuracy 0.89–0.93); 10
blocks the same gain as 8 (0.016–0.046). 8 blocks is the depth where both fit. Along
filter-normalized directions the two landscapes differ little at this depth (as Li et al. find
for their 20-layer nets); the curvature at the minimum is what separates them.

The λ_max claim was "ratio ≥ 3 on every seed" until held-out seeds broke it. Re-measured (1 thread)
in the batches a run trains — 3 seeds (smoke) and 5 (full): the value of one seed moves with the
batch it trains in (seed 1700002: 2.7 beside two seeds, 8.7 beside five), as the deep plain net
amplifies float rounding, so only a statistic over seeds is stable. Smoke, 60 seeds (0–23,
200000–5, 300000–5, 400000–5, 500000–5, 1500000–5, 1700000–5): ratio 1.92–39 per seed, median 7.1,
below 3 on 6 of them (seed 4: 2.72 beside seeds 3 and 5), so that claim failed a 3-seed run about
one time in four; plain λ_max 80–471 (716 seen on seed 1500001), residual 6–121. The 3-seed
geometric mean is 3.8–22 over the 20 runs. Full, 50 seeds in 10 runs of 5: ratio 1.18–39 per
seed; geometric means 4.2–12.5, their 95% lower bounds 1.97–6.5. Hence ≥ 1.5 on the geometric
mean (the full tier's lower bound decides) and no per-seed bar: on 2 of 110 seed-runs the ratio
was below 1.8 (1.18, 1.72), so even "plain sharper on every seed" would fail a 5-seed run about
once in a hundred. λ_max and its ratio spread over a factor of 5 and more between seeds, so their
baselines are in log10. On the same runs: test-accuracy gain −0.002–0.083 per seed, 3-seed means
≥ 0.015, full paired t ≥ 3.3 (one-sided p < 0.02); filter-normalized sharpness ratio 0.93–1.52 per seed,
3-seed means ≥ 1.07, full lower bounds 1.02–1.23 (the closest margin of this benchmark); plain
train accuracy 0.925–0.991, 3-seed means ≥ 0.947, full lower bounds ≥ 0.939.
A held-out full-tier run (`--tier full --seed-offset 5900000`) then failed the sharpness claim:
mean 1.151, lower 95% bound 0.998. Over 5 seeds that bound sits at 1.02–1.23, so it falls below 1
about one run in fifteen; the full tier now trains at least 10 seeds for this test (as C3 trains 8
pairs), where the same 50 seeds, taken 10 at a time, give lower bounds ≥ 1.088 for the sharpness
ratio, ≥ 3.7× for the λ_max ratio's geometric mean, ≥ 0.951 for plain train accuracy and ≥ 0.019
for the test-accuracy gain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from harness import Metric
from harness.data import load_dataset
from harness.models import ResidualMLP, build, mlp
from harness.ops.landscape import (
    combine,
    exact_hessian,
    filter_normalized_direction,
    filter_normalized_sharpness,
    loss_of,
    loss_on_plane,
    seed_slice,
    top_eigenvalue,
)
from harness.seeds import at_least, torch_generator
from harness.train import TrainConfig, TrainData, train

SLICE = np.linspace(-1, 1, 21)
PLANE = np.linspace(-1, 1, 11)


@dataclass(frozen=True)
class Config:
    width: int = 64
    blocks: int = 8
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=64, lr=1e-3, eval_every=10))
    directions: int = 5
    power_iters: int = 30
    min_seeds: int = 3  # seeds trained at least: the full tier's 95% bounds need 10 (see below)


TIERS = {"smoke": Config(), "full": Config(power_iters=60, min_seeds=10)}


def network(cfg: Config, residual: bool):
    """The same net with or without its skips: LayerNorm inside every block and before the head."""
    return lambda: ResidualMLP(64, cfg.width, cfg.blocks, 10, skip=residual, layer_norm=True)


def measure(cfg: Config, residual: bool, device, seeds: list[int]) -> dict:
    """Per seed: train/test accuracy, filter-normalized sharpness, λ_max and a 1-D slice."""
    digits = load_dataset("digits", device)
    result = train(network(cfg, residual), TrainData.of(digits), seeds, cfg.train, device, init="he")
    loss = loss_of(result.template, {}, digits.x, digits.y)
    sharpness, lam, slices = [], [], []
    for i, s in enumerate(seeds):
        theta = seed_slice(result.params, i)
        g = torch_generator(s, "eval")
        sharpness.append(filter_normalized_sharpness(loss, theta, g, directions=cfg.directions))
        lam.append(top_eigenvalue(loss, theta, g, iters=cfg.power_iters))
        d = filter_normalized_direction(theta, g)
        with torch.no_grad():
            slices.append([float(loss(combine(theta, (float(a), d)))) for a in SLICE])
        if i == 0:  # one 2-D picture per network is enough for the report
            plane = loss_on_plane(loss, theta, d, filter_normalized_direction(theta, g), PLANE.tolist()).cpu().numpy()
    return {"plane": plane, "train_acc": result.accuracy(digits.x, digits.y).cpu().numpy(),
            "test_acc": result.accuracy(digits.x_test, digits.y_test).cpu().numpy(),
            "sharpness": np.array(sharpness), "lambda_max": np.array(lam), "slice": np.array(slices)}


def run(cfg: Config, device, seeds: list[int]) -> dict:
    plain, residual = measure(cfg, False, device, seeds), measure(cfg, True, device, seeds)
    return {"plain_train_acc": plain["train_acc"], "plain_test_acc": plain["test_acc"],
            "residual_test_acc": residual["test_acc"],
            "test_acc_gain": residual["test_acc"] - plain["test_acc"],
            "plain_sharpness": plain["sharpness"], "residual_sharpness": residual["sharpness"],
            "sharpness_ratio": plain["sharpness"] / residual["sharpness"],
            "log10_plain_lambda_max": np.log10(plain["lambda_max"]),
            "log10_residual_lambda_max": np.log10(residual["lambda_max"]),
            "lambda_max_ratio": plain["lambda_max"] / residual["lambda_max"],
            "log10_lambda_max_ratio": np.log10(plain["lambda_max"] / residual["lambda_max"]),
            "slices": {"plain": plain["slice"], "residual": residual["slice"]},
            "planes": {"plain": plain["plane"], "residual": residual["plane"]}}


METRICS = {
    "plain_train_acc": Metric("higher", abs_tol=0.03),
    "plain_test_acc": Metric("target", abs_tol=0.03),
    "residual_test_acc": Metric("higher", abs_tol=0.02),
    "test_acc_gain": Metric("higher", abs_tol=0.02),
    "sharpness_ratio": Metric("higher", abs_tol=0.1),
    "lambda_max_ratio": Metric("higher", abs_tol=2.0),
    # λ_max spreads over a factor of 5 between seeds (plain 80–716), so its baselines are in log10
    "log10_lambda_max_ratio": Metric("higher", abs_tol=0.1),
    "log10_plain_lambda_max": Metric("target", abs_tol=0.1),
    "log10_residual_lambda_max": Metric("lower", abs_tol=0.1),
}


def test_plain_net_is_sharper_and_generalizes_worse(device, cfg, seeds, claim):
    """λ_max ratio ≥ 1.5 as a geometric mean, sharpness ratio > 1, residual ahead (paired), plain
    train acc ≥ 0.93."""
    seeds = at_least(seeds, cfg.min_seeds)
    result = run(cfg, device, seeds)
    claim.record(result, METRICS, seeds=seeds)
    claim.at_least("log10_lambda_max_ratio", np.log10(1.5))
    claim.above("sharpness_ratio", 1.0)
    claim.greater("residual_test_acc", "plain_test_acc", 0.0, paired=True)
    claim.at_least("plain_train_acc", 0.93)
    for name, curves in result["slices"].items():
        claim.curve(f"{name}_filter_normalized_slice", SLICE.tolist(), curves, label=name,
                    figure="filter_normalized_slice", xlabel="step along a filter-normalized direction",
                    ylabel="training loss")
    coords = [f"{c:.2g}" for c in PLANE.tolist()]
    for name, plane in result["planes"].items():  # first seed; rows and columns: PLANE along d1, d2
        claim.matrix(f"{name}_filter_normalized_plane", plane, rows=coords, columns=coords, log=True,
                     row_label="step along direction 1", column_label="step along direction 2")


def test_power_iteration_time(bench, claim, device, seeds):
    """Times power iteration on Hessian-vector products (digits, a 610-weight MLP at init) and
    checks it against the exact Hessian's largest eigenvalue in magnitude."""
    digits = load_dataset("digits", device)
    model = build(lambda: mlp([64, 8, 10]), seeds[0], device=device)
    params = {k: v.detach() for k, v in model.named_parameters()}
    loss = loss_of(model, {}, digits.x, digits.y)
    estimate = bench(lambda: top_eigenvalue(loss, params, torch_generator(seeds[0], "eval"), iters=200, tol=1e-6))
    exact = float(torch.linalg.eigvalsh(exact_hessian(loss, params)).abs().max())
    claim.record({"power_iteration_rel_error": [abs(estimate - exact) / exact]},
                 {"power_iteration_rel_error": Metric("lower", abs_tol=0.01)}, seeds=seeds[:1])
    claim.below("power_iteration_rel_error", 0.01)
