"""I2 — what a network sees early shapes it more than what it sees late: changing the data only
in the first 10% of training moves the final function far more than changing it in the last
10% (Erhan et al. 2010, "Why does unsupervised pre-training help deep learning?", JMLR §8 —
"early examples have a disproportionate influence"; the critical early phase of Achille et al. 2019).

Claim: with a fixed initialization and data sequence, resampling the examples of only the first
10% of steps (K perturbations) gives a variance of the final test outputs ≥ 5 × that of
resampling only the last 10% as a geometric mean over base seeds (the mean of log10 of the ratio
≥ 0.7; typical seeds give 100–400×), and a larger one (ratio > 1) on every base seed but one — with
momentum SGD at a constant lr (both tiers), and with the lr decaying linearly to 0 (full tier). The constant lr is the reading that
counts: a decaying lr shrinks the late window's steps by itself, so there the effect is partly the
schedule's. Plain SGD with decay is recorded, not asserted: without momentum the early window
barely matters more than the late one here (1.8×).

Setting: digits, MLP 64-128-128-10, batch 32, T = 1000 steps, K = 8; SGD momentum 0.9, lr 0.1
decayed linearly to 0. Each base seed fixes the init and a row sequence (concatenated
permutations of the training set); perturbation k redraws the rows of one window from its own
stream. Every base seed's models train in the same batched runs with explicit orders
(train(order=...)); the K late-perturbed models share their first 90% of steps, which are trained
once and forked with their momentum (train(start_optimizer=...)): 3 base seeds 14.6 → 9.7 s, the
same models up to float rounding (seeds 0–1 equal to 3 decimals in every setting, seed 2's
var_late 0.0172 → 0.0181 at constant lr; 12 seeds and held-out 200000, 700000 green). Variance:
over the K models, of each test logit, averaged over test examples and classes.

Measured (cpu, 2 threads, 5 base seeds, 17.8 s per setting): linear decay var_early
1.733±0.091 against var_late 0.0020±0.0007, ratio 985±359 (first calibration: 75–932 per base
seed); constant lr var_early 3.86±0.54 against var_late 0.0123±0.0033, ratio 321±61 (257–404:
momentum keeps the effect without the schedule's help; over 12 smoke seeds 258±86, 120–404);
plain SGD with decay 1.8±0.3.
The claim was "≥ 10× on every base seed" until held-out seeds 200000–200007 gave ratios 32, 210,
250, 282, 3, 2, 133, 157: on seeds 200004 and 200005 the late window moves the final function
almost as much as the early one (var_late 1.6 and 1.9 against 0.01 elsewhere) — at a constant lr
of 0.1 with momentum 0.9 the end of training is not settled on about one seed in ten, so a claim
on every seed would turn a 3-seed run red about one time in four by chance. Early still beats late
on every one of the 20 seeds (≥ 1.8×). The geometric mean over three seeds is ≥ 8.9× on every run
of three consecutive seeds among them (the worst: 200004–200006, two unsettled seeds), and 2.3×
only if all three were unsettled; plain SGD, where the early window barely matters, gives 1.8×.
Hence the bar of 5× on the geometric mean, half the first per-seed bar. At lr 0.05 the effect
shrinks to 1–13× (20 seeds), so the lr stays. The smoke baseline is stored over seeds 0–23, which
hold one unsettled seed (21: 2×) — over 0–11 it held none, and the baseline check then called the
held-out unsettled seeds diverged.
A held-out run at `--seed-offset 4700000` then found a base seed on which the late window moved the
function more than the early one (seed 4700002: var_late 3.1, ratio below 1), the first in ~30
seeds: the per-seed claim is now "on every base seed but one" (as L3's accuracy claim), and the
variances, which spread over orders of magnitude, are stored in log10 (the baseline check had
called var_late 3.1 diverged against seeds 0–23's 0.11 ± 0.44, and in log10, against a re-recorded
0–23 that held no unsettled seed, still did: its bands for what var_late drives now allow three
decades on one seed).
Held-out runs at `--seed-offset` 8100000 and 8300000 then failed the baseline's mean: two of three
seeds low (log10 ratio 0.38, 1.91, 0.91; 2.53, 0.02, 1.42) moved the 3-seed mean 1.0–1.3 decades
from the stored 2.34 ± 0.20. Over 63 held-out seeds (8100000–8100059, 8300000–8300002, in runs of
3) the unsettled mode is commoner than on seeds 0–47: 10 seeds below 10× (3 of them below 1×,
down to 0.67×) against 1 of 48; 3-seed means of the log10 ratio 0.98–2.41 (so the claims held on
all 21 runs). A marginal seed's value also moves with the seeds trained beside it (8100014: 2.38
among 24, 0.85 among 3). The smoke baseline is now stored over seeds 0–47, and what var_late
drives has a band of 1.6 decades on the mean: with one seed in 6–10 unsettled, two in a run of 3
move the mean by up to ~1.5, so for these metrics the baseline flags about what the 5× claim
flags, and the claims are what guard the effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from harness import Metric
from harness.data import load_dataset
from harness.models import mlp
from harness.seeds import torch_generator
from harness.train import TrainConfig, TrainData, init_params, optimizer_state_of_seeds, train

WINDOW = 0.1  # the fraction of steps whose examples are redrawn
SETTINGS = {  # name: training; the first is the one the claim is about
    "momentum_decay": TrainConfig(epochs=1, batch_size=32, optimizer="sgd", lr=0.1, momentum=0.9, lr_schedule="linear",
                                  eval_every=1),
    "momentum_constant_lr": TrainConfig(epochs=1, batch_size=32, optimizer="sgd", lr=0.1, momentum=0.9, eval_every=1),
    "plain_sgd_decay": TrainConfig(epochs=1, batch_size=32, optimizer="sgd", lr=0.1, lr_schedule="linear", eval_every=1),
}


@dataclass(frozen=True)
class Config:
    steps: int = 1000
    perturbations: int = 8
    settings: tuple = ("momentum_decay", "momentum_constant_lr", "plain_sgd_decay")
    widths: tuple = field(default=(64, 128, 128, 10))

    def __post_init__(self):
        if self.steps % round(1 / WINDOW):
            raise ValueError(f"steps must be a multiple of {round(1 / WINDOW)} (training runs window by window)")


TIERS = {"smoke": Config(settings=("momentum_constant_lr",)), "full": Config()}
ASSERTED = ("momentum_constant_lr", "momentum_decay")  # each ≥ 10× where the tier runs it


def orders(base: int, cfg: Config, n: int, batch: int) -> torch.Tensor:
    """[2K, L] row sequences: K with the first window redrawn, then K with the last one redrawn."""
    L = cfg.steps * batch
    g = torch_generator(base, "order")
    sequence = torch.cat([torch.randperm(n, generator=g) for _ in range(L // n + 1)])[:L]
    window = int(WINDOW * cfg.steps) * batch
    out = []
    for where in (slice(0, window), slice(L - window, L)):
        for k in range(cfg.perturbations):
            redrawn = sequence.clone()
            redrawn[where] = torch.randint(n, (window,), generator=torch_generator(base * 100 + k, "noise"))
            out.append(redrawn)
    return torch.stack(out)


def output_variances(bases: list[int], setting: str, cfg: Config, device) -> np.ndarray:
    """Per base seed [B, 2]: the variance of the final test logits over its K early-perturbed
    models, and over its K late-perturbed ones. Training runs window by window (one epoch per
    window, each with its own rows). The late-perturbed models of a base seed walk the same rows
    until the last window, so until then they are one model, the trunk, trained beside the K
    early-perturbed ones; for the last window the trunk forks into K copies (weights and momentum)
    and all 2K train on. Each model takes exactly the steps it would alone, at 0.6× the work."""
    digits = load_dataset("digits", device)
    windows = round(1 / WINDOW)
    training = replace(SETTINGS[setting], epochs=windows - 1, schedule_epochs=windows, eval_every=windows)
    K, B = cfg.perturbations, len(bases)
    # [B, 2K, windows, rows per window]: K sequences with the first window redrawn, then K with the last
    sequences = torch.stack([orders(b, cfg, len(digits.y), training.batch_size) for b in bases]).to(device)
    sequences = sequences.reshape(B, 2 * K, windows, -1)
    early, late = sequences[:, :K], sequences[:, K:]
    factory, data = lambda: mlp(cfg.widths), TrainData.of(digits)
    init = init_params(factory, bases, device)

    with_trunk = torch.cat([early[:, :, :-1], late[:, :1, :-1]], dim=1).flatten(0, 1)  # [B·(K+1), windows − 1, rows]
    ids = [b * 1000 + m for b in bases for m in range(K + 1)]  # distinct ids; init and order are given
    first = train(factory, data, ids, training, device, order=with_trunk,
                  start={k: v.repeat_interleave(K + 1, dim=0) for k, v in init.items()})

    # per base seed: its K early models go on as they are, its trunk (position K) becomes K copies
    pick = torch.tensor([b * (K + 1) + (m if m < K else K) for b in range(B) for m in range(2 * K)], device=device)
    last = torch.cat([early[:, :, -1:], late[:, :, -1:]], dim=1).flatten(0, 1)  # [B·2K, 1, rows]
    members = [b * 1000 + m for b in bases for m in range(2 * K)]
    result = train(factory, data, members, replace(training, epochs=1, schedule_start=windows - 1), device,
                   order=last, start={k: v[pick] for k, v in first.params.items()},
                   start_optimizer=optimizer_state_of_seeds(first.optimizer_state, pick))
    with torch.no_grad():
        logits = result.forward(digits.x_test).reshape(B, 2, K, *digits.x_test.shape[:1], -1)
    return logits.var(2).mean((-2, -1)).cpu().numpy()  # [B, (early, late)]


def run(cfg: Config, device, seeds: list[int]) -> dict:
    out = {}
    for setting in cfg.settings:
        pairs = output_variances(seeds, setting, cfg, device)
        # the variances spread over orders of magnitude (var_late 0.01 on most seeds, 1–3 on an
        # unsettled one), so they are stored in log10
        out[f"{setting}_log10_var_early"] = np.log10(pairs[:, 0])
        out[f"{setting}_log10_var_late"] = np.log10(pairs[:, 1])
        out[f"{setting}_early_over_late"] = pairs[:, 0] / pairs[:, 1]
        out[f"{setting}_log10_early_over_late"] = np.log10(pairs[:, 0] / pairs[:, 1])
    return out


def test_early_examples_matter_more(device, cfg, seeds, claim):
    """Momentum SGD, constant lr (and, in the full tier, linear decay): var_early ≥ 5 × var_late as a
    geometric mean over base seeds, and var_early > var_late on every base seed but one."""
    result = run(cfg, device, seeds)
    # one base seed in 6–30 ends unsettled (var_late 100× the others'): a second mode that the
    # stored seeds may not hold, so the bands of what var_late drives allow 1.6 decades on a mean
    # (two unsettled seeds of three) and 4.8 on one seed; the claims are what guard the effect
    unsettled = lambda k: "var_late" in k or "early_over_late" in k
    specs = {k: Metric("target", abs_tol=(1.6 if unsettled(k) else 0.5) if "log10" in k else 5.0) for k in result}
    for setting in set(ASSERTED) & set(cfg.settings):
        specs[f"{setting}_early_over_late"] = Metric("higher", abs_tol=20.0)
        specs[f"{setting}_log10_early_over_late"] = Metric("higher", abs_tol=1.6)
    claim.record(result, specs)
    for setting in ASSERTED:
        if setting in cfg.settings:
            claim.at_least(f"{setting}_log10_early_over_late", 0.7)
            claim.each_above(f"{setting}_log10_early_over_late", 0.0, but=1)  # var_early > var_late
