"""L5 — the edge of stability: under full-batch gradient descent with step size η the sharpness
(the training loss's top Hessian eigenvalue) rises until it reaches 2/η — where classical
analysis says GD must diverge — and then hovers there, while the loss keeps falling, though no
longer monotonically (Cohen, Kaur, Li, Kolter & Talwalkar 2021, "Gradient Descent on Neural
Networks Typically Occurs at the Edge of Stability", ICLR, Fig. 1: tanh MLPs on a CIFAR-10 subset
with the squared loss).

Claims, for each step size η:
- progressive sharpening: the sharpness at the first measurement is ≤ 0.85 × 2/η on average
  (below the edge's band), and from there to its second-half mean it rises ≥ 1.1× on every seed;
- then the edge: its mean over the second half of training lies within [0.85, 1.15] × 2/η on
  every seed;
- the loss keeps falling, non-monotonically: over the second half it rises at ≥ 2 of the
  measurements (against the one before) on every seed, yet at the end (the mean of the last 5
  measurements, 50 steps) it lies below its value when the sharpness first reached 0.9 × 2/η on
  every seed (NaN, failing, if it never did), and ≤ 0.9 × that value on average.

Setting: digits, the first 128 training images; MLP 64-64-64-10 (tanh), full-batch gradient
descent (no momentum) on the squared error to one-hot targets (mean over examples and classes),
η ∈ {2/3, 1} (2/η = 3 and 2); the sharpness by power iteration on Hessian-vector products
(harness.ops.landscape.top_eigenvalues_per_seed) every 10 steps through the trainer's probe,
warm-started from the previous vector (3 iterations; 20 at the first). Smoke: 600 steps; full:
2000 steps, also η = 1/2 (2/η = 4).

Measured (cpu, 5 seeds each, 600 steps): sharpness at the start 0.44–0.48 × 2/η (η = 2/3) and
0.65–0.70 (η = 1); its second-half mean 1.00–1.04 and 1.03–1.05 × 2/η (seeds 0–4), 1.02–1.02 and
1.03–1.04 (seeds 200000–200004); the loss rose at 7–12 and 12–16 of the 30 second-half
measurements and ended at 0.67–0.82 and 0.49–0.73 of its value at the edge's onset (12 seeds
0–11 at η = 2/3: 0.67–0.96, mean 0.78). Full
(1500 steps, η = 1/2 too): second-half mean 1.005–1.045 × 2/η at all three step sizes. With
η = 0.2 (2/η = 10) the sharpness stops short of the edge and the claims fail
(`tests/test_claims_need_their_phenomenon.py`).

Re-calibrated after held-out seeds broke two claims (1 thread; smoke in runs of 3 seeds, 60 seeds:
0–23, 200000–5, 300000–5, 400000–5, 500000–5, 1500000–5, 1700000–5; full in runs of 5, 50 seeds).
"Starts ≤ 0.8 × 2/η on every seed" failed at η = 1 on seeds 12 (0.807) and 1700001 (0.867): the
start spreads 0.57–0.87 there, since at η = 1 the edge (2) is close to the sharpness at init. The
mean start stays ≤ 0.74 over the 20 smoke runs (full, η = 1: upper 95% bounds ≤ 0.80), and the
rise per seed is 1.21–1.82× at η = 1, 1.76–2.74× at η = 2/3 (full: ≥ 1.18, ≥ 1.75, ≥ 2.3 at
η = 1/2); hence ≤ 0.85 on average and a rise ≥ 1.1× on every seed. "Ends below its value at the
onset" read one final measurement, which can sit on one of the loss's spikes at the edge: smoke,
η = 2/3, up to 0.961 per seed and 0.851 as a 3-seed mean (bounds 1 and 0.9); full at 1500 steps,
η = 1/2, where the edge is reached only at step 380–680, 0.992 on seed 500003 and an upper 95%
bound of 0.897 (bound 0.9). The mean of the last 5 measurements and 2000 full-tier steps give:
smoke 0.674–0.918 per seed at η = 2/3 (3-seed means ≤ 0.846), 0.40–0.70 at η = 1; full
0.49–0.67 at η = 1/2 (upper bounds ≤ 0.65), ≤ 0.47 at η = 2/3, ≤ 0.25 at η = 1. Every other
figure on these seeds: second-half mean 1.004–1.051 × 2/η per seed, the loss rose at 6–17 of the
30 smoke (38–55 of the 100 full) second-half measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from harness import Metric
from harness.data import load_dataset
from harness.models import mlp
from harness.ops.landscape import top_eigenvalues_per_seed
from harness.seeds import torch_generator
from harness.stacked import forward_all
from harness.stats import value_at_first
from harness.train import TrainConfig, TrainData, per_seed_loss, train


@dataclass(frozen=True)
class Config:
    n_train: int = 128
    widths: tuple = (64, 64, 64, 10)
    step_sizes: tuple = (2 / 3, 1.0)
    steps: int = 600
    eval_every: int = 10
    power_iters: int = 3  # per measurement, warm-started; the first takes 20

    def train_config(self, lr: float, steps: int | None = None) -> TrainConfig:
        return TrainConfig(epochs=steps or self.steps, batch_size=None, optimizer="sgd", lr=lr, loss="mse",
                           eval_every=self.eval_every)


TIERS = {"smoke": Config(), "full": Config(step_sizes=(0.5, 2 / 3, 1.0), steps=2000)}
FINAL_WINDOW = 5  # measurements (50 steps) averaged for the loss at the end: the loss spikes at the edge


def subset(cfg: Config, device) -> TrainData:
    digits = load_dataset("digits", device)
    return TrainData(digits.x[:cfg.n_train], F.one_hot(digits.y[:cfg.n_train], digits.num_classes).float())


class SharpnessProbe:
    """A trainer probe: every seed's top Hessian eigenvalue of the training loss, by power
    iteration warm-started from the last call's vectors."""

    def __init__(self, cfg: Config, data: TrainData, seeds: list[int]):
        self.cfg, self.data, self.seeds = cfg, data, seeds
        self.vectors = None

    def __call__(self, model) -> dict[str, torch.Tensor]:
        targets = self.data.y.expand(len(self.seeds), *self.data.y.shape)
        outputs = lambda params: forward_all(model.template, params, model.buffers, self.data.x, False, {})
        loss_sum = lambda params: per_seed_loss(outputs(params), targets, "mse").sum()
        iters = self.cfg.power_iters
        if self.vectors is None:
            g = torch_generator(self.seeds[0], "eval")
            self.vectors = {k: torch.randn(v.shape, generator=g).to(v) for k, v in model.params.items()}
            iters = 20
        sharpness, self.vectors = top_eigenvalues_per_seed(loss_sum, model.params, self.vectors, iters)
        return {"sharpness": sharpness}


def trajectory(cfg: Config, lr: float, device, seeds: list[int], steps: int | None = None) -> dict[str, np.ndarray]:
    """Sharpness and training loss [S, evaluations] of full-batch GD at step size lr."""
    data = subset(cfg, device)
    result = train(lambda: mlp(cfg.widths, activation="tanh"), data, seeds, cfg.train_config(lr, steps), device,
                   probe=SharpnessProbe(cfg, data, seeds))
    return {"sharpness": result.curves["sharpness"].numpy(), "loss": result.curves["train_loss"].numpy()}


def run(cfg: Config, device, seeds: list[int]) -> dict:
    """Per seed and step size: the sharpness at the start and over the second half against 2/η,
    the loss's rises and its fall over the second half; the curves."""
    out: dict = {"steps": None}
    for lr in cfg.step_sizes:
        tag, edge = f"eta{lr:.2f}", 2 / lr
        curves = trajectory(cfg, lr, device, seeds)
        late = slice(curves["loss"].shape[1] // 2, None)
        loss = curves["loss"][:, late]
        loss_at_onset = value_at_first(curves["loss"], curves["sharpness"] >= 0.9 * edge)  # NaN: never near
        start, late_mean = curves["sharpness"][:, 0], curves["sharpness"][:, late].mean(1)
        out.update({f"start_over_edge_{tag}": start / edge,
                    f"late_over_edge_{tag}": late_mean / edge,
                    f"sharpening_{tag}": late_mean / start,
                    f"late_loss_rises_{tag}": (np.diff(loss, axis=1) > 0).sum(1).astype(float),
                    f"loss_after_edge_{tag}": curves["loss"][:, -FINAL_WINDOW:].mean(1) / loss_at_onset,
                    f"sharpness_{tag}": curves["sharpness"], f"loss_{tag}": curves["loss"]})
        out["steps"] = (np.arange(curves["loss"].shape[1]) + 1) * cfg.eval_every
    return out


def judge(claim, cfg: Config) -> None:
    for lr in cfg.step_sizes:
        tag = f"eta{lr:.2f}"
        claim.at_most(f"start_over_edge_{tag}", 0.85)
        claim.each_within(f"sharpening_{tag}", low=1.1)
        claim.each_within(f"late_over_edge_{tag}", low=0.85, high=1.15)
        claim.each_within(f"late_loss_rises_{tag}", low=2)
        claim.each_within(f"loss_after_edge_{tag}", high=1.0)
        claim.at_most(f"loss_after_edge_{tag}", 0.9)


def test_sharpness_rises_to_two_over_eta_and_hovers(device, cfg, seeds, claim):
    """Sharpness starts ≤ 0.85·2/η on average and rises ≥ 1.1× on every seed, to a second-half mean
    within [0.85, 1.15]·2/η; the loss rises ≥ 2 times there yet ends below its value at the edge's
    onset (≤ 0.9× on average)."""
    result = run(cfg, device, seeds)
    specs = {}
    for lr in cfg.step_sizes:
        tag = f"eta{lr:.2f}"
        specs.update({f"start_over_edge_{tag}": Metric("target", abs_tol=0.1),
                      f"late_over_edge_{tag}": Metric("target", abs_tol=0.08),
                      f"sharpening_{tag}": Metric("target", abs_tol=0.2),
                      f"late_loss_rises_{tag}": Metric("target", abs_tol=5),
                      f"loss_after_edge_{tag}": Metric("lower", abs_tol=0.1)})
    claim.record(result, specs)
    judge(claim, cfg)
    for lr in cfg.step_sizes:
        tag = f"eta{lr:.2f}"
        claim.curve(f"sharpness_{tag}", result["steps"], result[f"sharpness_{tag}"] * lr / 2, xlabel="full-batch step",
                    ylabel="sharpness × η/2 (1: the edge)", label=f"η = {lr:.2f}", figure="sharpness_over_edge")
        claim.curve(f"loss_{tag}", result["steps"], result[f"loss_{tag}"], xlabel="full-batch step",
                    ylabel="training loss", label=f"η = {lr:.2f}", figure="training_loss", log="y")


def test_edge_of_stability_time(bench, claim, device, cfg):
    """Times 50 steps of one seed at the largest step size, sharpness measured every 10."""
    curves = bench(lambda: trajectory(cfg, max(cfg.step_sizes), device, [0], steps=50))
    claim.record({"sharpness_50": curves["sharpness"][:, -1]}, {"sharpness_50": Metric("target", abs_tol=0.3)},
                 seeds=[0])
    claim.above("sharpness_50", 0.0)  # a curvature, measured: the power iteration ran
