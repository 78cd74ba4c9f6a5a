"""D2 — spectral bias: a network fitting a sum of sinusoids learns the low frequencies first and
the high ones later (Rahaman et al. 2019, "On the Spectral Bias of Neural Networks", ICML, Fig. 1:
a ReLU MLP fitting equal-amplitude sines at frequencies 5–50; its residual's Fourier amplitude
falls in order of frequency).

Claims:
- per seed, the step at which each frequency is learned (its residual amplitude first falls
  below 0.1 of the target's 1.0; a frequency not learned within the budget counts as learned
  after it) rises with frequency: Spearman rank correlation ≥ 0.7 on average and ≥ 0.5 on every
  seed;
- the highest frequency takes ≥ 2× the steps of the lowest (geometric mean over seeds);
- at least half of the frequencies are learned within the budget on average (a net that learns
  nothing fails every claim).

Setting: f(x) = Σ_{k=1..5} sin(2π·k·x + φ_k) on 64 grid points over [0, 1), the phases φ_k
uniform per seed, fed to the network as 2x − 1; MLP 1-256-256-256-1 (ReLU), full-batch Adam lr
1e-3 on the squared error; the residual's amplitudes (harness.ops.fourier) every 10 steps through
the trainer's probe. Smoke: 1500 steps; full: frequencies 1–7 on 128 points, 3000 steps. A
narrower net (width 128) on inputs in [0, 1) left some seeds' high frequencies stuck at
amplitudes 0.2–0.5 for 2000 steps (first calibration, 4 of 15 seeds): the claim needs every
frequency learned, so the setting gives the net the capacity to learn them all.

Measured (cpu, 5 seeds each): steps to learn frequency 1 … 5: 20–90, 70–290, 150–460, 170–530,
200–590 (seeds 0–4; Spearman 0.97–1.00, highest/lowest 6.4–23.5) and 10–60 … 230–470 (seeds
200000–200004; Spearman 0.90–1.00, 6.2–47). Full (frequencies 1–7): frequency 1 at 20–80 steps,
7 at 370–920, Spearman 0.93–1.00.
The smoke budget was 1000 steps until held-out seed 300005 learned frequency 5 only at step 1130
(its amplitude 0.15 at 500 steps, 0.12 at 1000, 0.035 at 1500): a 3-seed run holding it went red
on "every frequency learned". Over 60 seeds (0–11, 200000–200005, 300000–300005, 400000–400011,
500000–500011, 600000–600011) frequency 5 is learned at 210–800 steps on all others and at 1130 on
that one; Spearman ≥ 0.87, highest/lowest ≥ 2.8 per seed (≥ 3.5 outside seeds 0–11). 1500 steps
leave that seed a third more than it needed; the curves in the report run to 1500.

Held-out runs since broke two claims: at `--seed-offset 3700000` seed 3700002 never learned
frequencies 4 and 5 in 1500 steps (f1–f3 at 30, 90, 170), and at 3300000 seed 3300001 learned f4
(100 steps) before f3 (140): Spearman 0.7. Re-measured with a frequency not learned counted as
learned after the budget (1 thread; smoke: 60 seeds in runs of 3, 0–23, 200000–5, 300000–5,
2300000–5, 2700000–5, 3300000–5, 3700000–5; full: 50 seeds in runs of 5): smoke Spearman 0.70 on
one seed, ≥ 0.87 on the others, 3-seed means ≥ 0.867; highest/lowest 1.8–50× per seed (the
lowest frequency's step, 10–110, is read every 10 steps, so the ratio is noisy), 3-seed geometric
means ≥ 2.83 — "≥ 3× on the mean" failed 1 run in 20; frequencies learned: all on 59 seeds, 3 of 5
on one. Full: Spearman ≥ 0.786 per seed, lower 95% bounds of 5-seed means ≥ 0.80; highest/lowest
geometric means' lower bounds ≥ 5.5×; two seeds left 2 and 4 of the 7 frequencies unlearned at
3000 steps, so the share learned has lower bounds ≥ 0.64. Hence Spearman ≥ 0.7 on average and
≥ 0.5 per seed, ≥ 2× on the geometric mean, at least half the frequencies learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from harness import Metric
from harness.models import mlp
from harness.ops.fourier import amplitudes, periodic_grid, sum_of_sines
from harness.seeds import torch_generator
from harness.stats import first_reached, spearman
from harness.train import TrainConfig, TrainData, train


@dataclass(frozen=True)
class Config:
    frequencies: tuple = (1, 2, 3, 4, 5)
    points: int = 64
    widths: tuple = (1, 256, 256, 256, 1)
    steps: int = 1000
    lr: float = 1e-3
    eval_every: int = 10
    learned_below: float = 0.1  # residual amplitude, of the target's 1.0

    def train_config(self, steps: int | None = None) -> TrainConfig:
        return TrainConfig(epochs=steps or self.steps, batch_size=None, lr=self.lr, loss="mse",
                           eval_every=self.eval_every)


TIERS = {"smoke": Config(steps=1500), "full": Config(frequencies=(1, 2, 3, 4, 5, 6, 7), points=128, steps=3000)}


def targets(cfg: Config, device, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The network's inputs [N, 1] (the grid over [0, 1) mapped to [−1, 1): ReLU kinks at init
    fall on both sides of 0, and a grid of only positive inputs left some seeds' high frequencies
    stuck above the threshold) and each seed's sum of unit sines with its own phases [S, N]."""
    x = periodic_grid(cfg.points)
    rows = []
    for s in seeds:
        phases = torch.rand(len(cfg.frequencies), generator=torch_generator(s, "data")) * 2 * math.pi
        rows.append(sum_of_sines(x, cfg.frequencies, [1.0] * len(cfg.frequencies), phases.tolist()))
    return (2 * x - 1).unsqueeze(1).to(device), torch.stack(rows).to(device)


def residual_probe(cfg: Config, x: torch.Tensor, y: torch.Tensor):
    """A trainer probe: the amplitude of each target frequency left in each seed's residual."""
    def probe(model) -> dict[str, torch.Tensor]:
        left = amplitudes(y - model.forward(x).squeeze(-1), cfg.frequencies)
        return {f"amplitude_{k}": left[:, i] for i, k in enumerate(cfg.frequencies)}
    return probe


def run(cfg: Config, device, seeds: list[int]) -> dict:
    """Per seed: the step each frequency is learned at (a frequency not learned within the budget
    counts as learned one evaluation after it: later than all the others), the share learned, the
    rank correlation of those steps with frequency, and highest/lowest; the amplitude curves."""
    x, y = targets(cfg, device, seeds)
    result = train(lambda: mlp(cfg.widths), TrainData(x, y.unsqueeze(-1), per_seed=frozenset({"y"})),
                   seeds, cfg.train_config(), device, probe=residual_probe(cfg, x, y))
    left = np.stack([result.curves[f"amplitude_{k}"].numpy() for k in cfg.frequencies], axis=-1)  # [S, T, K]
    learned = (first_reached(left <= cfg.learned_below) + 1) * cfg.eval_every  # [S, K], NaN: not learned
    steps = np.where(np.isnan(learned), cfg.steps + cfg.eval_every, learned)
    # steps spread over a factor of 20 between seeds and frequencies, so they are stored in log10
    out = {f"log10_steps_f{k}": np.log10(steps[:, i]) for i, k in enumerate(cfg.frequencies)}
    out.update({"learned_share": np.isfinite(learned).mean(1),
                "rank_correlation": np.array([spearman(cfg.frequencies, row) for row in steps]),
                "log10_highest_over_lowest": np.log10(steps[:, -1] / steps[:, 0]),
                "evaluated_steps": (np.arange(left.shape[1]) + 1) * cfg.eval_every, "amplitudes": left})
    return out


def judge(claim) -> None:
    claim.at_least("rank_correlation", 0.7)
    claim.each_within("rank_correlation", low=0.5)
    claim.at_least("log10_highest_over_lowest", np.log10(2))
    claim.at_least("learned_share", 0.5)


def test_low_frequencies_are_learned_first(device, cfg, seeds, claim):
    """Spearman(frequency, step learned) ≥ 0.7 on average and ≥ 0.5 on every seed; the highest takes
    ≥ 2× the lowest's steps (geometric mean); ≥ half of the frequencies learned within the budget."""
    result = run(cfg, device, seeds)
    specs = {f"log10_steps_f{k}": Metric("target", abs_tol=0.15) for k in cfg.frequencies}
    # both are 1 on most seeds and drop by a step now and then (one swapped pair: Spearman 0.9, one
    # frequency not learned: 0.8 of them learned), so their baselines allow a step on one seed or two
    specs.update({"rank_correlation": Metric("higher", abs_tol=0.2), "learned_share": Metric("higher", abs_tol=0.2),
                  "log10_highest_over_lowest": Metric("target", abs_tol=0.15)})
    claim.record(result, specs)
    judge(claim)
    for i, k in enumerate(cfg.frequencies):
        claim.curve(f"residual_f{k}", result["evaluated_steps"], result["amplitudes"][:, :, i],
                    xlabel="full-batch step",
                    ylabel="residual amplitude", label=f"frequency {k}", figure="residual_by_frequency", log="y")


def test_spectral_bias_time(bench, claim, device, cfg):
    """Times 100 full-batch steps of one seed with the probe."""
    x, y = targets(cfg, device, [0])
    data = TrainData(x, y.unsqueeze(-1), per_seed=frozenset({"y"}))
    result = bench(lambda: train(lambda: mlp(cfg.widths), data, [0], cfg.train_config(steps=100), device,
                                 probe=residual_probe(cfg, x, y)))
    lowest = result.curves[f"amplitude_{cfg.frequencies[0]}"][:, -1].numpy()
    claim.record({"lowest_left_100": lowest}, {"lowest_left_100": Metric("lower", abs_tol=0.1)}, seeds=[0])
    claim.below("lowest_left_100", 1.0)  # the lowest frequency is already being fitted after 100 steps
