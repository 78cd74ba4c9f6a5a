"""F2 — forgetting can be prevented, each remedy in the setting it is built for, and one of
them (EWC) does not help where the head is shared across classes.

Sources: Serrà et al. 2018, "Overcoming catastrophic forgetting with hard attention to the task"
(HAT, ICML); Kirkpatrick et al. 2017, "Overcoming catastrophic forgetting in neural networks"
(EWC, PNAS); rehearsal as in Robins 1995 and Rolnick et al. 2019; the scenarios and EWC's failure
in class-incremental learning from van de Ven & Tolias 2019, "Three scenarios for continual learning".

Claims (each against plain fine-tuning of the same network in the same setting):
- HAT, task-incremental permuted digits (one head per task): forgetting ≤ 0.02, while plain
  fine-tuning forgets ≥ 0.1 (HAT lower by > 0.05, paired), and (full tier, 10 seeds) task A ends
  > 0.05 more accurate under HAT (paired).
- Replay of 20 stored examples per class, class-incremental split digits: average accuracy > 0.8,
  > 0.5 above plain fine-tuning.
- EWC, domain-incremental permuted digits (shared head): average accuracy > 0.08 above plain.
- EWC, class-incremental split digits: average accuracy stays < 0.3 — the penalty cannot keep old
  classes' outputs alive when the new task's loss never asks for them — although EWC is working:
  read task-incrementally (the argmax over each task's own classes) its average accuracy is
  > 0.1 above plain fine-tuning's (paired). The second half tells a working EWC from a no-op,
  which the first cannot: with EWC switched off the class-incremental figure is the same ~0.18.

Setting: digits (1300 train / 497 test), MLP 64-256-256 ReLU (HAT and its control in the smoke
tier: 64-128-128), batch 32, a fresh optimizer per task. Permuted: 4 tasks, the identity and 3 fixed pixel permutations per seed. Split: 5 tasks
{0,1}, …, {8,9}. HAT: gates σ(s·e) on both hidden layers, s annealed 1/400 → 400 over every
epoch, usage regularizer c = 0.75, SGD lr 0.1, 10 epochs per task; its control is the same
multi-head network without gates. Replay and EWC: Adam 1e-3; split tasks 10 epochs, permuted 5;
EWC λ = 300 with the diagonal Fisher of each task on its training set — Kirkpatrick et al.'s,
the expectation of the squared gradient under the model's own predictive distribution
(`fisher="empirical"` squares the gradient at the true label instead). Fine-tuning, replay and
EWC all begin with plain cross-entropy, so each task sequence's first task is trained once and
shared (`train_sequence(first=...)`): the five runs 17.0 → 12.9 s for 3 seeds, every matrix
bit-identical.

Measured (cpu, 2 threads, 5 seeds):
- HAT (15 epochs, lr 0.1): forgetting 0.000 every seed, avg accuracy 0.936±0.011; plain forgetting
  0.186±0.069 (0.099–0.290); task A final 0.928±0.022 vs 0.763±0.074, gap 0.164±0.079
  (0.074–0.276). At 30 epochs, lr 0.05: plain forgetting 0.197±0.068, gap 0.206±0.089.
  The first calibration's plain ≥ 0.248 and gap > 0.25 were measured on per-seed 70/30 splits; on our fixed
  split seed 3's plain network forgets only 0.06–0.11, so the thresholds are 0.1 and 0.05 here.
- Replay: avg accuracy 0.909±0.015 (0.889–0.925) vs plain 0.181±0.004; forgetting 0.079 vs 0.994.
- EWC domain-incremental (empirical Fisher, as first calibrated): avg accuracy 0.724±0.039 vs
  plain 0.552±0.071, gain 0.172±0.048 (0.123–0.247).
- EWC class-incremental (empirical Fisher): avg accuracy 0.187±0.001 at λ = 1e3 (0.257±0.033 at
  λ = 1e5).
- True Fisher (1 thread, smoke settings), λ chosen on seeds 0–4 from {1e2, 3e2, 1e3, 3e3, 1e4}:
  domain-incremental gain 0.156 / 0.175 / 0.137 / 0.083 / 0.02 — λ = 300. At λ = 300, seeds 0–4:
  domain gain 0.129–0.254 (mean 0.175); class-incremental 0.185–0.241; task-incremental gain over
  plain fine-tuning 0.232–0.336. Held-out seeds 200000–200004: domain gain 0.04–0.224 (mean
  0.157); class-incremental 0.185–0.191; task-incremental gain 0.171–0.386 (mean 0.30). With the
  empirical Fisher at λ = 1e3 the task-incremental reading is 0.948±0.025 (plain 0.675±0.041):
  both Fishers keep the old weights. EWC switched off (λ = 0) is plain fine-tuning: gain 0, the
  claim fails (tests/test_claims_need_their_phenomenon.py).
- HAT, smoke setting (10 epochs, lr 0.1): HAT forgetting 0.000, avg accuracy 0.912±0.007, task A
  0.902±0.017; plain forgetting 0.169±0.068 (0.085–0.255), task A 0.756±0.077; gap 0.146±0.077
  (0.042–0.220). With batch 64 the gap is not reliable (−0.04 on seed 3): the smoke keeps batch 32.
- HAT, smoke at width 128 (1 thread; the wider net cost 22 of the file's 36 s): seeds 0–5, 6–11
  and held-out 200000–200005, 18 seeds: HAT forgetting 0.000 on every seed, avg accuracy
  0.865–0.883 by set; plain forgetting 0.129–0.324 (mean 0.214; at width 256, seeds 0–5:
  0.085–0.255, mean 0.172); task A gap −0.05–0.33 (mean 0.169, two seeds below 0: 6 and 200001;
  at width 256 seeds 0–5: 0.042–0.36, mean 0.182). The narrower net forgets more when it is not
  protected, so the claims hold with the same margins; HAT with 8 epochs instead of 10 left seed 3's
  gap at 0.004 (mean 0.148), so the smoke keeps 10 epochs. HAT and control together: 18.8 s
  against 32.0 s for 6 seeds. Replay and EWC stay at width 256: at 128 (seeds 0–5, λ = 300) EWC's
  domain-incremental gain fell to −0.03–0.20 (mean 0.053, against 0.127–0.249 at 256) and replay's
  average accuracy to 0.77–0.88.
- Full tier (5 seeds; HAT 15 epochs, width 256, Fisher on all rows): HAT forgetting 0.000, avg 0.935±0.011;
  plain forgetting 0.186±0.069; task A gap paired p < 0.05; replay 0.909±0.015. True Fisher,
  λ = 300: EWC domain 0.726±0.046 vs 0.552±0.071 (gain 0.175); class-incremental 0.198±0.024,
  read task-incrementally 0.970±0.006 against plain 0.675±0.041.
- Both tiers estimate the Fisher on every training row of a task. The smoke tier once used 128
  rows because the true Fisher cost one gradient per example and class (7.6 s for 512 rows and 3
  seeds); computed in closed form for this plain MLP it takes 0.09 s for 300 rows, and the gain
  was the same either way (seeds 0–4, λ = 300: domain gain 0.177 with 128 rows, 0.174 with all
  1300). Smoke on all rows, 12 seeds: EWC domain avg accuracy 0.719±0.046 vs plain 0.557±0.050;
  class-incremental read task-incrementally 0.964±0.016 vs 0.684±0.080. Held-out seeds
  200000–200004: 0.727 vs 0.567 and 0.950 vs 0.650; all five tests pass.
- A held-out full run (`--seed-offset 9500000`) failed the domain-incremental claim: gain 0.129,
  paired p = 0.075 at 5 seeds. Over 85 held-out seeds (9500000–9500004, 9600000–9600079; the
  permuted settings are the same in both tiers) the gain is 0.160 ± 0.053 (0.046–0.284): 3 of 17
  runs of 5 miss p < 0.05 (max p 0.115), none of 8 runs of 10 (max p 0.008). So the full tier
  trains the domain-incremental pair on at least 10 seeds (+~4 s). In the smoke tier, judged on
  the mean, 3-seed means are 0.088–0.21 over 28 runs.
- Another held-out full run (`--seed-offset 11500000`) failed the class-incremental claim's second
  half: task-incremental gain 0.221, paired p = 0.090 against the margin of 0.15. Over 90 held-out
  seeds (11500000–11500009, 11600000–11600079; the split settings are the same in both tiers) the
  gain is 0.243 ± 0.084 (0.023–0.41; 11 seeds under 0.15), below the 0.30 of the 10 seeds the
  margin was set on. Resampled, a margin of 0.15 fails 3.2% of 3-seed means and 37% of paired
  tests at 5 seeds (7% at 10). The margin is now 0.1, about 40% of the measured gain and far
  from EWC switched off (gain 0): 0.27% of 3-seed means and 0.07% of paired tests at 10 seeds fall
  short. The full tier trains both EWC pairs on at least 10 seeds.
- The same seed set then turned the smoke tier's HAT claim red: task A's paired gap −0.013 on
  seeds 11500000–11500002 against > 0.05. Over 60 held-out smoke seeds (11500000–11500002,
  12200000–12200056) HAT forgets 0.000 on every seed and its control 0.089–0.36 (3-seed means
  ≥ 0.165), but the task-A gap is 0.161 ± 0.113 (−0.056–0.48): 3-seed means −0.013–0.245, and
  resampled, 3.3% of them fall short of 0.05. More seeds do not mend it in the smoke tier: from 5
  seeds on the comparison is a paired t-test, and at 6 seeds (0.059, p = 0.42; 0.126, p = 0.09 on
  two held-out sets) the spread defeats it, and even the sign fails on that first set (−0.013).
  So the smoke tier records the gap and does not assert it (HAT's claims there are the
  forgetting ones, which held on all 60 seeds), and the full tier asserts it on at least 10 seeds
  of HAT and its control (margin 0.05, paired; set by this reasoning, not by a held-out
  full-tier measurement; 21 s for the test).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from harness import Metric
from harness.data import load_dataset
from harness.kits.hat import HATNet, HATStrategy, with_task_id
from harness.models import mlp
from harness.ops.continual import (
    EWCStrategy,
    FineTune,
    ReplayStrategy,
    average_accuracy,
    forgetting,
    permuted_tasks,
    split_tasks,
    train_sequence,
)
from harness.seeds import at_least
from harness.train import TrainConfig, train

SPLIT = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
PERMUTED_TASKS = 4


@dataclass(frozen=True)
class Config:
    hidden: tuple = (256, 256)
    hat_hidden: tuple = (128, 128)  # HAT and its control (smoke; the full tier keeps 256)
    hat: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=32, optimizer="sgd", lr=0.1,
                                                                 eval_every=10))
    split: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=10, batch_size=32, lr=1e-3, eval_every=10))
    permuted: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=5, batch_size=32, lr=1e-3, eval_every=5))
    replay_per_class: int = 20
    ewc_strength: float = 300.0
    fisher_examples: int | None = None  # rows per task the Fisher is estimated on (None: all)
    fisher: str = "true"  # Kirkpatrick et al.'s; "empirical" squares the gradient at the true label
    ewc_min_seeds: int = 3  # seeds of each EWC test and its control at least: the full tier's paired tests need 10
    hat_min_seeds: int = 3  # ... and of HAT and its control
    task_a_gap_claimed: bool = False  # the task-A gap spreads 0.16 ± 0.11 between seeds: 3 cannot show it (see above)


TIERS = {"smoke": Config(),
         "full": Config(hat_hidden=(256, 256), ewc_min_seeds=10, hat_min_seeds=10, task_a_gap_claimed=True,
                        hat=TrainConfig(epochs=15, batch_size=32, optimizer="sgd", lr=0.1, eval_every=15))}


METHODS = ("hat", "hat_control", "split_plain", "split_replay", "split_ewc", "permuted_plain", "permuted_ewc")


def run(cfg: Config, device, seeds: list[int], names=METHODS, firsts: dict | None = None) -> dict:
    """Per method and setting: average accuracy, forgetting and task A's final accuracy per seed.
    firsts: the first task of each MLP setting once trained (plain, replay and EWC all begin with
    plain cross-entropy and part from the second task on), kept by the caller across calls with
    the same cfg and seeds."""
    firsts = {} if firsts is None else firsts
    digits = load_dataset("digits", device)
    heads = lambda gated: lambda: HATNet(64, cfg.hat_hidden, PERMUTED_TASKS, 10, gated=gated)
    with_ids = lambda: permuted_tasks(digits, PERMUTED_TASKS, seeds, transform=with_task_id)
    permuted = lambda: permuted_tasks(digits, PERMUTED_TASKS, seeds)
    split = lambda: split_tasks(digits, SPLIT)
    ewc = lambda: EWCStrategy(cfg.ewc_strength, cfg.fisher_examples, cfg.fisher)
    settings = {  # name: (tasks, strategy, training, network)
        "hat": (with_ids, HATStrategy, cfg.hat, heads(True)),
        "hat_control": (with_ids, FineTune, cfg.hat, heads(False)),
        "split_plain": (split, FineTune, cfg.split, None),
        "split_replay": (split, lambda: ReplayStrategy(seeds, cfg.replay_per_class), cfg.split, None),
        "split_ewc": (split, ewc, cfg.split, None),
        "permuted_plain": (permuted, FineTune, cfg.permuted, None),
        "permuted_ewc": (permuted, ewc, cfg.permuted, None),
    }
    out = {}
    for name in names:
        tasks, strategy, training, network = settings[name]
        shared = network is None  # the MLP settings, one first task per kind of task sequence
        network = network or (lambda: mlp([64, *cfg.hidden, 10]))
        kind = name.split("_")[0]
        matrices = train_sequence(network, tasks(), seeds, training, device, strategy(),
                                  first=firsts.get(kind) if shared else None)
        if shared:
            firsts[kind] = matrices["first"]
        R = matrices["R"]
        out[name] = {"avg_acc": average_accuracy(R).numpy(), "forgetting": forgetting(R).numpy(),
                     "avg_acc_task_il": average_accuracy(matrices["R_task"]).numpy(),
                     "acc_first_task": R[:, -1, 0].numpy(), "accuracy_matrix": R.mean(0)}
    return out


@pytest.fixture(scope="module")
def outcome(device, cfg, seeds):
    """outcome(name): one method's results, run on first use and shared by the tests that compare with it."""
    cache, firsts = {}, {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = run(cfg, device, seeds, names=(name,), firsts=firsts)[name]
        return cache[name]
    return get


def _record(claim, outcome, method: str, control: str, metrics=("avg_acc", "forgetting"), seeds=None) -> None:
    """The method's metrics must not get worse; the control's are compared as targets (both ways).
    outcome(name): the method's results; seeds: theirs, where they are not the tier's."""
    values, specs = {}, {}
    for name, judged in ((method, True), (control, False)):
        for metric in metrics:
            values[f"{name}_{metric}"] = outcome(name)[metric]
            better = ("lower" if metric == "forgetting" else "higher") if judged else "target"
            specs[f"{name}_{metric}"] = Metric(better, abs_tol=0.05)
        claim.matrix(f"{name}_accuracy_matrix", outcome(name)["accuracy_matrix"], row_label="after training on task",
                     column_label="accuracy on task")
    claim.record(values, specs, seeds=seeds)


def method_and_control(outcome, cfg, device, seeds, names: tuple, min_seeds: int) -> tuple:
    """The seeds and results of a method and its control: the module's shared runs, unless the
    paired test wants more seeds than the tier's (then the pair trains on its own)."""
    more = at_least(seeds, min_seeds)
    if more == list(seeds):
        return seeds, outcome
    return more, run(cfg, device, more, names=names).__getitem__


def test_hat_prevents_forgetting(outcome, claim, device, cfg, seeds):
    """HAT forgetting ≤ 0.02 where fine-tuning forgets ≥ 0.1; task A kept better (paired; full tier)."""
    seeds, results = method_and_control(outcome, cfg, device, seeds, ("hat", "hat_control"), cfg.hat_min_seeds)
    _record(claim, results, "hat", "hat_control", ("avg_acc", "forgetting", "acc_first_task"), seeds=seeds)
    claim.at_most("hat_forgetting", 0.02)
    claim.at_least("hat_control_forgetting", 0.1)
    claim.greater("hat_control_forgetting", "hat_forgetting", 0.05, paired=True)
    if cfg.task_a_gap_claimed:
        claim.greater("hat_acc_first_task", "hat_control_acc_first_task", 0.05, paired=True)


def test_replay_rescues_class_incremental(outcome, claim):
    """20 stored examples per class: average accuracy > 0.8 and > 0.5 above fine-tuning."""
    _record(claim, outcome, "split_replay", "split_plain")
    claim.above("split_replay_avg_acc", 0.8)
    claim.greater("split_replay_avg_acc", "split_plain_avg_acc", 0.5, paired=True)


def test_ewc_helps_domain_incremental(outcome, claim, device, cfg, seeds):
    """Permuted digits, shared head: EWC's average accuracy > 0.08 above fine-tuning (paired)."""
    seeds, results = method_and_control(outcome, cfg, device, seeds, ("permuted_plain", "permuted_ewc"),
                                        cfg.ewc_min_seeds)
    _record(claim, results, "permuted_ewc", "permuted_plain", seeds=seeds)
    claim.greater("permuted_ewc_avg_acc", "permuted_plain_avg_acc", 0.08, paired=True)


def test_ewc_does_not_fix_class_incremental(outcome, claim, device, cfg, seeds):
    """Split digits, shared head: EWC's average accuracy stays < 0.3 (fine-tuning: ~0.18), while
    its task-incremental reading is > 0.1 above fine-tuning's (EWC is on and keeps the old weights)."""
    seeds, results = method_and_control(outcome, cfg, device, seeds, ("split_plain", "split_ewc"), cfg.ewc_min_seeds)
    _record(claim, results, "split_ewc", "split_plain", ("avg_acc", "forgetting", "avg_acc_task_il"), seeds=seeds)
    judge_ewc_class_incremental(claim)


def judge_ewc_class_incremental(claim) -> None:
    """F2's class-incremental claims on a recorded run (also applied to EWC switched off, where they must fail)."""
    claim.below("split_ewc_avg_acc", 0.3)
    claim.greater("split_ewc_avg_acc_task_il", "split_plain_avg_acc_task_il", 0.1, paired=True)


def test_hat_epoch_time(bench, claim, device, seeds):
    """Times one HAT epoch on a second permuted task (gates annealed, earlier units frozen), after
    3 epochs on the first; the first task's accuracy must not move."""
    cfg = TIERS["smoke"]
    tasks = permuted_tasks(load_dataset("digits", device), 2, seeds, transform=with_task_id)
    factory = lambda: HATNet(64, cfg.hat_hidden, 2, 10)
    strategy = HATStrategy()
    first = train(factory, tasks[0].train, seeds, replace(cfg.hat, epochs=3, loss=strategy.loss(0)), device)
    strategy.learned(0, first, tasks[0])
    one = replace(cfg.hat, epochs=1, loss=strategy.loss(1))
    second = bench(lambda: train(factory, tasks[1].train, seeds, one, device, start=first.params))
    before = first.accuracy(tasks[0].x_test, tasks[0].y_test, per_seed=True)
    after = second.accuracy(tasks[0].x_test, tasks[0].y_test, per_seed=True)
    claim.record({"first_task_change": (after - before).cpu().numpy()},
                 {"first_task_change": Metric("target", abs_tol=0.01)}, config=cfg)
    claim.each_within("first_task_change", -0.01, 0.01)
