"""L6 — linear mode connectivity and instability: two copies of a network trained from the same
weights on different data orders end in solutions separated by a loss barrier when they are
spawned at initialization, and linearly connected (no barrier) when spawned after a little
training (Frankle, Dziugaite, Roy & Carbin 2020, "Linear Mode Connectivity and the Lottery Ticket
Hypothesis", ICML, Fig. 2–3: ResNet-20 and VGG-16 on CIFAR-10 become stable to SGD noise early in
training).

L1 measures the barrier between two different initializations; this one holds the initialization
fixed and varies only the order of the data.

Claims (every barrier the rise of the training loss along the straight line between the two
copies above the mean of its ends, sup_α L((1 − α)θ_a + α·θ_b) − (L(θ_a) + L(θ_b))/2):
- unstable at initialization: copies spawned at step 0 end with a barrier whose geometric mean
  over seeds is ≥ 0.05 (the mean of its log10 ≥ log10 0.05; the full tier judges the one-sided 95%
  bound, over at least 10 seeds). Copies that are stable at init, at lr 0.5, reach a geometric
  mean of ~0.007 (0.003–0.05 per seed), at lr 0.3 ~0.0013;
- stable after some training: copies spawned after 4 of the 10 epochs end with a barrier ≤ 0.01
  on every seed but one (the paper's ResNet-20 was stable after ~3% of its training; this small
  network at its large step after 30–40% of it, but for about one seed in 160);
- the drop: barrier at init − barrier spawned late > 0.05 (paired over seeds).

Setting: digits, MLP 64-100-100-10, plain SGD, batch 32, 10 epochs with the lr falling linearly
from 0.8 to 0. As in the paper the schedule is one: the parent trains its first k epochs, and its
two copies (data orders from different seeds) continue the same schedule from epoch k
(`TrainConfig.schedule_start`), so every solution is converged (final training loss ≤ 0.1 on
all 273 held-out seeds below).
Instability needs the large step: at lr 0.5 copies spawned at init were already connected
(barriers 0.003–0.027 on 8 seeds; 0.003–0.05 on 18 more), and restarting the decay at 0.8 for the copies (instead of
continuing it) left them unstable until ~6 epochs (first calibration). The barrier is measured on
21 points of the line over the whole training set. Full: spawn points 0, 1, 2, 3 and 4 epochs.

Measured (cpu, 20 seeds: 0–9 and 200000–200009): barrier spawned at init 0.296±0.11 and
0.301±0.12 (0.09–0.50; 19 of 20 ≥ 0.17); after 1 epoch 0.01–0.50 (the transition); after 2 epochs
0.006 and 0.015 (≤ 0.072); after 3 ≤ 0.004. The claim first used the 2-epoch spawn; seeds
500000–500002 then gave a mean of 0.055 (one seed's barrier ~0.15): 2 epochs is inside the
transition's tail.

Re-calibrated when held-out seeds 5900000–5900002 gave a mean barrier at init of 0.099 against
the earlier "mean ≥ 0.1" (0.048, 0.068, 0.18), and the full tier, set on seeds 0–4 only, failed
13 of 30 held-out runs of 5 seeds: the barrier at init is skewed (sd 0.2 on a mean of 0.32), so
the one-sided bound of its plain mean fell to −0.04–0.095 on runs with one large seed, and the
3-epoch spawn, still in the transition's tail, left 9 of 150 full seeds above 0.05 (up to 0.35).
On 273 held-out seeds (smoke: 41 runs of 3 from 7000000 and 5900000; full: 150 seeds from
7500000, as 30 runs of 5 and 15 of 10):
- barrier at init 0.033–1.25 per seed (mean 0.32); geometric means of 3 seeds 0.084–0.51, of 10
  seeds 0.20–0.38, with one-sided 95% bounds ≥ 0.13 at 10 seeds (≥ 0.052 at 5: hence the full
  tier's 10 seeds);
- spawned after 3 epochs: ≤ 0.35 (9 of 150 full seeds and 1 of 123 smoke seeds above 0.05);
  after 4 epochs: ≤ 0.0029 on all 150 seeds;
- the drop (init − 4 epochs) has paired p ≤ 0.011 against 0.05 at 10 seeds; 3-seed means ≥ 0.096.
A seed's barriers are the same whether it trains among 5 or 10 seeds.
A whole full-tier run on held-out seeds (`--seed-offset 9900000`) then found a seed whose copies
spawned after 4 epochs end 0.029 apart (the others of its run 5e-5–0.007): the transition's tail
reaches past 4 epochs for about one seed in 160, so the claim allows one seed above 0.01, and that
barrier's baseline band is 0.02 (0.06 on one seed; it was 0.005, and called the seed diverged).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from harness import Metric
from harness.data import load_dataset
from harness.models import mlp
from harness.ops.landscape import loss_along_line, loss_of, seed_slice
from harness.seeds import SeedGrid, at_least
from harness.train import TrainConfig, TrainData, init_params, train


@dataclass(frozen=True)
class Config:
    widths: tuple = (64, 100, 100, 10)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=32, optimizer="sgd", lr=0.8,
                                                                 lr_schedule="linear", eval_every=10))
    spawn_epochs: tuple = (0, 4)
    late: int = 4  # the spawn point the stability claim is about
    points: int = 21
    min_seeds: int = 3  # seeds trained at least: the full tier's 95% bounds need 10 (see above)


TIERS = {"smoke": Config(), "full": Config(spawn_epochs=(0, 1, 2, 3, 4), min_seeds=10)}


def trained_copies(cfg: Config, spawn: int, device, seeds: list[int]):
    """Two copies per seed spawned after `spawn` epochs and trained to the end: the first copies
    of all seeds, then the second copies (a TrainResult of 2·S members)."""
    data, factory = TrainData.of(load_dataset("digits", device)), lambda: mlp(cfg.widths)
    total = cfg.train.epochs
    if spawn == 0:
        parent = init_params(factory, seeds, device)
    else:
        parent = train(factory, data, seeds, dataclasses.replace(cfg.train, epochs=spawn, schedule_epochs=total),
                       device).params
    copies = SeedGrid(["a", "b"], seeds, stride=1_000_000)  # same start, each copy its own data order
    rest = dataclasses.replace(cfg.train, epochs=total - spawn, schedule_start=spawn, schedule_epochs=total)
    return train(factory, data, copies.members, rest, device, start={k: torch.cat([v, v]) for k, v in parent.items()})


def barriers_between(cfg: Config, copies, device) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: the training-loss barrier on the line between its two copies, and the copies'
    final training losses [S, 2]."""
    digits = load_dataset("digits", device)
    loss = loss_of(copies.template, {}, digits.x, digits.y)
    alphas = torch.linspace(0, 1, cfg.points).tolist()
    n = len(copies.seeds) // 2
    lines = torch.stack([loss_along_line(loss, seed_slice(copies.params, i), seed_slice(copies.params, n + i), alphas)
                         for i in range(n)]).cpu().numpy()
    return lines.max(1) - (lines[:, 0] + lines[:, -1]) / 2, lines[:, [0, -1]]


def barriers(cfg: Config, spawn: int, device, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: the barrier between two copies spawned after `spawn` epochs, and their final losses."""
    return barriers_between(cfg, trained_copies(cfg, spawn, device, seeds), device)


def run(cfg: Config, device, seeds: list[int]) -> dict:
    """Per seed: the barrier at every spawn point (and its log10); the largest final training loss of a copy."""
    out, finals = {}, []
    for spawn in cfg.spawn_epochs:
        out[f"barrier_spawn{spawn}"], final = barriers(cfg, spawn, device, seeds)
        out[f"log10_barrier_spawn{spawn}"] = np.log10(out[f"barrier_spawn{spawn}"])
        finals.append(final.max(1))
    out["barrier_at_init"], out["barrier_spawned_late"] = out["barrier_spawn0"], out[f"barrier_spawn{cfg.late}"]
    out["log10_barrier_at_init"] = out["log10_barrier_spawn0"]
    out["final_loss_max"] = np.max(finals, axis=0)
    out["spawn_curve"] = np.stack([out[f"barrier_spawn{k}"] for k in cfg.spawn_epochs], axis=1)
    return out


def judge(claim) -> None:
    claim.at_least("log10_barrier_at_init", np.log10(0.05))
    claim.each_within("barrier_spawned_late", high=0.01, but=1)
    claim.greater("barrier_at_init", "barrier_spawned_late", margin=0.05, paired=True)


def test_copies_are_unstable_at_init_and_connected_after_a_little_training(device, cfg, seeds, claim):
    """Barrier spawned at init ≥ 0.05 as a geometric mean, ≤ 0.01 on every seed but one spawned
    after 4 of 10 epochs; the drop > 0.05."""
    seeds = at_least(seeds, cfg.min_seeds)
    result = run(cfg, device, seeds)
    # between the ends a seed is either still unstable or already stable (after 2 epochs 0.0004–0.9
    # over 150 seeds), so those points' baselines are in log10 and judge a factor of ~3 in the mean
    specs = {f"log10_barrier_spawn{k}": Metric("target", abs_tol=0.5) for k in cfg.spawn_epochs if 0 < k < cfg.late}
    specs.update({"barrier_at_init": Metric("higher", abs_tol=0.15),
                  # the barrier at init spreads over a factor of 40 between seeds: its baseline is in log10
                  "log10_barrier_at_init": Metric("higher", abs_tol=0.3),
                  # 5e-5–3e-3 between seeds, and 0.029 on about one in 160: the claim judges the tail
                  "barrier_spawned_late": Metric("lower", abs_tol=0.02),
                  "final_loss_max": Metric("lower", abs_tol=0.05)})
    claim.record(result, specs, seeds=seeds)
    judge(claim)
    claim.curve("barrier_vs_spawn", list(cfg.spawn_epochs), result["spawn_curve"],
                xlabel="epoch at which the two copies are spawned", ylabel="loss barrier between the copies")


def test_linear_mode_connectivity_time(bench, claim, device, cfg):
    """Times the barrier measurement of one pair spawned at init: the training loss at 21 points
    of the line between the two trained copies."""
    copies = trained_copies(cfg, 0, device, [0])
    barrier, _ = bench(lambda: barriers_between(cfg, copies, device))
    claim.record({"barrier_at_init": barrier}, {"barrier_at_init": Metric("higher", abs_tol=0.15)}, seeds=[0])
    claim.above("barrier_at_init", 0.05)
