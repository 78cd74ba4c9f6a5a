"""L4 — saddle points slow learning: a deep linear network started near zero sits on the plateau
around the saddle at the origin before its loss drops, and depth, not the small init alone,
makes the plateau (Saxe, McClelland & Ganguli 2014, "Exact solutions to the nonlinear dynamics of
learning in deep linear neural networks", ICLR; Dauphin et al. 2014 on saddles in general).

Claim: with t½ the first gradient step at which the loss is below half its initial value,
t½(ε = 0.03)/t½(ε = 0.3) ≥ 6 for a depth-3 linear net, ≤ 4 for depth 2 (init N(0, ε²/fan_in)).

Setting: x ∈ R¹⁰ ~ N(0, I), n = 200, y = A x with A ~ N(0, 1/10) per seed, bias-free linear layers
of width 16, full-batch gradient descent lr 0.05 on the MSE. Both init scales of a depth train in
one batched run (the trainer's per-seed starts); t½ is read every 10 steps.

Measured (cpu, 5 seeds): depth 3: t½ = 2392±136 steps at ε = 0.03 against 186±17 at ε = 0.3,
ratio 12.9±1.1 (first calibration: 11.8–13.3); depth 2: 238±24 against 88±8, ratio 2.71±0.19.
The secondary claim of Dauphin et al. (index of critical points against their loss, Dauphin 2014)
is not implemented: it proved fragile in the first calibration, and the plateau already shows the saddle.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from harness import Metric
from harness.seeds import SeedGrid, torch_generator
from harness.train import TrainConfig, TrainData, init_params, train

SMALL, LARGE = 0.03, 0.3


def deep_linear(depth: int, width: int = 16, dim: int = 10):
    dims = [dim] + [width] * (depth - 1) + [dim]
    return lambda: nn.Sequential(*(nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(dims)))


@dataclass(frozen=True)
class Config:
    n: int = 200
    # Steps per depth, enough for every seed to halve its loss: at depth 3 and ε = 0.03, t½ reached
    # 2850 of the 3000 steps the smoke tier once had, and one seed in the 200000 seed set never got there.
    steps: dict = field(default_factory=lambda: {2: 600, 3: 5000})
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, batch_size=None, optimizer="sgd", lr=0.05,
                                                                 loss="mse", eval_every=10))


TIERS = {"smoke": Config(), "full": Config(steps={2: 1000, 3: 5000})}


def half_times(depth: int, cfg: Config, device, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """t½ per seed at the small and at the large init scale (inf if never reached)."""
    grid = SeedGrid((SMALL, LARGE), seeds, stride=100)  # the large-init copies train as seeds 100 + s
    models = grid.members
    xs, ys = [], []
    for s in seeds * 2:  # both scales learn the same task
        g = torch_generator(s, "data")
        x = torch.randn(cfg.n, 10, generator=g)
        xs.append(x)
        ys.append(x @ (torch.randn(10, 10, generator=g) / math.sqrt(10)).T)
    factory = deep_linear(depth)
    # He init is N(0, 2/fan_in): scaling by ε/√2 gives N(0, ε²/fan_in)
    scale = torch.tensor([init for init in grid.conditions for _ in seeds], device=device) / math.sqrt(2)
    start = {k: v * scale.view(-1, 1, 1) for k, v in init_params(factory, models, device, init="he").items()}
    data = TrainData(torch.stack(xs).to(device), torch.stack(ys).to(device), per_seed=frozenset({"x", "y"}))
    result = train(factory, data, models, replace(cfg.train, epochs=cfg.steps[depth]), device, start=start)
    below = result.curves["train_loss"] < 0.5 * _initial_loss(start, data).unsqueeze(1)
    # full batch: one step per epoch, a reading every eval_every steps (t½ to that resolution)
    t_half = torch.where(below.any(1), (below.float().argmax(1) + 1.0) * cfg.train.eval_every, torch.inf)
    by_scale = grid.split(t_half)
    return by_scale[SMALL], by_scale[LARGE]


def _initial_loss(start: dict, data: TrainData) -> torch.Tensor:
    """MSE per model at its starting weights (a product of the layer matrices)."""
    out = data.x
    for i in range(len(start)):
        out = out @ start[f"{i}.weight"].transpose(1, 2)
    return ((out - data.y) ** 2).flatten(1).mean(1).cpu()


def run(cfg: Config, device, seeds: list[int]) -> dict:
    """Per seed and depth: t½ at both init scales and their ratio."""
    out = {}
    for depth in (2, 3):
        small, large = half_times(depth, cfg, device, seeds)
        out[f"t_half_small_depth{depth}"], out[f"t_half_large_depth{depth}"] = small.numpy(), large.numpy()
        out[f"plateau_ratio_depth{depth}"] = (small / large).numpy()
    return out


def test_depth_makes_the_plateau_at_small_init(device, cfg, seeds, claim):
    """t½(0.03)/t½(0.3) ≥ 6 at depth 3, ≤ 4 at depth 2."""
    result = run(cfg, device, seeds)
    specs = {k: Metric("target", abs_tol=5 if k.startswith("t_half") else 1.0) for k in result}
    claim.record(result, specs)
    claim.each_within("plateau_ratio_depth3", low=6)
    claim.each_within("plateau_ratio_depth2", high=4)
