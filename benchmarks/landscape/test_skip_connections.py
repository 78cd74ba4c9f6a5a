"""L2 — skip connections make the loss landscape smooth: at equal depth a plain network sits in
a much sharper minimum than its residual twin and generalizes worse (Li, Xu, Taylor, Studer &
Goldstein 2018, "Visualizing the loss landscape of neural nets", NeurIPS, Fig. 5–6, measured with
their filter normalization).

Claims (per seed, plain over residual): filter-normalized sharpness ratio ≥ 8; median ratio of
the top Hessian eigenvalue ≥ 3; test accuracy higher for the residual net by ≥ 0.015 on
average; the plain net still fits (train accuracy ≥ 0.93), so the gap is not a failure to train.

Setting: digits, width 64: input Linear, 8 blocks [Linear-ReLU-Linear], output Linear (18
layers), no normalization. Plain h ← ReLU(f(h)); residual h ← ReLU(h + f(h)) with each block's
last Linear zero-initialized (with plain He init the residual net is the sharper one); He init
otherwise. Adam 1e-3, batch 64. Sharpness: mean over 5 filter-normalized directions d of
L(θ + 0.5·d) − L(θ); λ_max by power iteration on Hessian-vector products; both on the training
set (harness.ops.landscape). A 1-D filter-normalized slice of each net goes to the report.

Measured (cpu, 2 threads, 5 seeds, 10 epochs, 10.8 s): sharpness ratio 23.5±7.1 (first calibration:
22±5); λ_max 190±123 plain against 43.8±9.0 residual, ratio 4.8±4.1 with median ≥ 3 (first calibration:
median 11.7, min 3.6 — the ratio swings with the plain net's λ_max); test accuracy 0.939±0.015
plain, 0.968±0.013 residual, gain 0.029±0.015; plain train accuracy 0.980±0.006.
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
from harness.seeds import torch_generator
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


TIERS = {"smoke": Config(), "full": Config(power_iters=60)}


def network(cfg: Config, residual: bool):
    return lambda: ResidualMLP(64, cfg.width, cfg.blocks, 10, skip=residual, zero_init_last=residual)


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
            "plain_lambda_max": plain["lambda_max"], "residual_lambda_max": residual["lambda_max"],
            "lambda_max_ratio": plain["lambda_max"] / residual["lambda_max"],
            "slices": {"plain": plain["slice"], "residual": residual["slice"]},
            "planes": {"plain": plain["plane"], "residual": residual["plane"]}}


METRICS = {
    "plain_train_acc": Metric("higher", abs_tol=0.03),
    "plain_test_acc": Metric("target", abs_tol=0.03),
    "residual_test_acc": Metric("higher", abs_tol=0.02),
    "test_acc_gain": Metric("higher", abs_tol=0.02),
    "sharpness_ratio": Metric("higher", abs_tol=5.0),
    "lambda_max_ratio": Metric("higher", abs_tol=5.0),
    "plain_lambda_max": Metric("target", abs_tol=20.0),
    "residual_lambda_max": Metric("lower", abs_tol=5.0),
}


def test_plain_net_is_sharper_and_generalizes_worse(device, cfg, seeds, claim):
    """Sharpness ratio ≥ 8 per seed, median λ_max ratio ≥ 3, accuracy gain ≥ 0.015, plain train acc ≥ 0.93."""
    result = run(cfg, device, seeds)
    claim.record(result, METRICS)
    claim.each_within("sharpness_ratio", low=8)
    median = float(np.median(result["lambda_max_ratio"]))
    claim.check("median lambda_max_ratio ≥ 3", median >= 3, f"median {median:.3g}", "≥ 3")
    claim.at_least("test_acc_gain", 0.015)
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
