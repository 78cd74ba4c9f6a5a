"""C3 — a student learns more from a teacher's soft targets than from hard labels, even about a
class it never sees (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
Network", §3: MNIST with digit 3 omitted from the transfer set — 98.6% of the 3s right after a
bias fix).

Claims: (a) on a small transfer set (300 digits) a student trained on the teacher's soft targets
(T=4, α=0.9) beats the same student on hard labels, paired seed by seed (one-sided paired t-test,
≥ 8 pairs); (b) a student whose transfer set has no 3s, trained at T=20, recognises more than half
of the test 3s, while the hard-label student recognises < 5%; with its 3-bias set so that a tenth
of the unlabeled test inputs are called 3 (the class prior; Hinton's bias fix) it recognises
≥ 90% of them on every seed (the hard-label student, fixed alike, about a third).

Setting: digits; teacher MLP 64-300-100-10 on all 1300 training digits (Adam 1e-3, batch 64,
30 epochs); students of the same shape, Adam 1e-3, batch 64: (a) the first 300 training digits,
60 epochs; (b) the 1170 training digits that are not 3s, 30 epochs. Student s pairs with teacher s;
soft and hard students share init and data order.

Measured (cpu, 2 threads, smoke): (a) 10 pairs: hard 0.947±0.005, soft 0.960±0.005, gain
0.014±0.009, soft wins 8/10, paired p = 0.0007. (b) 5 seeds: accuracy on 3s 0.89±0.03 (all
digits 0.960), 0.96±0.01 after the bias fix (bias raised by 0.3–1.2); hard-label student 0.000.

(b)'s last claim was "the bias fix recovers more" (paired) until a held-out run
(`--seed-offset 2700000`) failed it: a student that already calls ≥ 10% of the inputs 3 has its
bias lowered by the fix and can lose a 3 or two. Re-measured (1 thread, 60 seeds in runs of 3:
0–23, 200000–5, 300000–5, 400000–5, 500000–5, 1500000–5, 2700000–5): 3s recognised 0.84–1.00
as trained, 0.94–0.98 after the fix; the fix's gain −0.04–0.12 per seed, ≤ 0 on 9 of 60 seeds
and on average in 2 of the 20 runs; the student calls 8.5–10.5% of the inputs 3 before the fix.
So the claim is Hinton's figure itself, the share of 3s recognised after the fix (≥ 0.9 on every
seed; 98.6% in the paper), which the hard-label student, fixed alike, misses by far (0.30–0.34,
seeds 0–2).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import torch

from harness import Metric
from harness.data import load_dataset
from harness.models import mlp
from harness.ops.distill import Distillation
from harness.seeds import at_least
from harness.train import TrainConfig, TrainData, train

OMITTED = 3  # the digit the omitted-class student never sees (Hinton's choice)
PRIOR = 0.1  # ten balanced classes: the share of test inputs the bias fix assigns to the omitted one


@dataclass(frozen=True)
class Config:
    widths: tuple = (64, 300, 100, 10)  # teacher and students alike
    min_pairs: int = 8  # (a) trains max(--seeds, this) pairs: the paired test needs them
    transfer_size: int = 300  # (a) training digits the student sees
    soft: Distillation = field(default_factory=lambda: Distillation(temperature=4.0, alpha=0.9))
    omitted_soft: Distillation = field(default_factory=lambda: Distillation(temperature=20.0, alpha=0.9))
    # evaluated once, at the end: the claims read only the final models
    teacher: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, batch_size=64, eval_every=30))
    small_student: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=60, batch_size=64, eval_every=60))
    omitted_student: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, batch_size=64, eval_every=30))


TIERS = {"smoke": Config(), "full": Config(min_pairs=20)}


def student_seeds(seeds: list[int]) -> list[int]:
    return [1000 + s for s in seeds]  # not the teacher's init


def train_pair(cfg: Config, data: TrainData, loss: Distillation, epochs: TrainConfig, seeds, device):
    """The same students (init, order) on hard labels and on the teacher's soft targets."""
    factory = lambda: mlp(cfg.widths)
    hard = train(factory, data, student_seeds(seeds), epochs, device)
    soft = train(factory, data, student_seeds(seeds), replace(epochs, loss=loss), device)
    return hard, soft


@pytest.fixture(scope="module")
def teachers(device, cfg, seeds):
    pairs = at_least(seeds, cfg.min_pairs)
    digits = load_dataset("digits", device)
    return pairs, train(lambda: mlp(cfg.widths), TrainData.of(digits), pairs, cfg.teacher, device)


def test_soft_targets_beat_hard_labels(teachers, claim, device, cfg):
    """(a) On 300 digits, distilled students beat hard-label students, paired by seed."""
    (pairs, teacher) = teachers
    digits = load_dataset("digits", device)
    small = digits.subset(n_train=cfg.transfer_size)
    data = TrainData.of(small, teacher_logits=teacher.forward(small.x).detach())
    hard, soft = train_pair(cfg, data, cfg.soft, cfg.small_student, pairs, device)
    values = {"teacher_acc": teacher.accuracy(digits.x_test, digits.y_test),
              "hard_acc": hard.accuracy(digits.x_test, digits.y_test),
              "soft_acc": soft.accuracy(digits.x_test, digits.y_test)}
    values = {k: v.cpu().numpy() for k, v in values.items()}
    values["soft_gain"] = values["soft_acc"] - values["hard_acc"]
    claim.record(values, {"teacher_acc": Metric("higher", abs_tol=0.01), "hard_acc": Metric("higher", abs_tol=0.01),
                          "soft_acc": Metric("higher", abs_tol=0.01), "soft_gain": Metric("higher", abs_tol=0.01)},
                 config=cfg, seeds=pairs)
    claim.greater("soft_acc", "hard_acc", paired=True)


def omitted_class_accuracy(logits: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """Per seed: accuracy on the omitted class and on all, as trained and after the bias fix.

    The fix raises the omitted class's logit by the one shift that makes it the prediction for a
    PRIOR share of the inputs; it uses no labels."""
    others = logits.clone()
    others[..., OMITTED] = -torch.inf
    margin = logits[..., OMITTED] - others.max(-1).values  # > 0 where the omitted class wins
    shift = -torch.quantile(margin, 1 - PRIOR, dim=1, keepdim=True)
    fixed = torch.where(margin + shift > 0, OMITTED, others.argmax(-1))
    is_omitted = y == OMITTED
    acc = lambda pred, rows: (pred[:, rows] == y[rows]).float().mean(1).cpu().numpy()
    pred = logits.argmax(-1)
    return {"omitted_acc": acc(pred, is_omitted), "overall_acc": acc(pred, slice(None)),
            "omitted_acc_bias_fixed": acc(fixed, is_omitted), "bias_shift": shift.squeeze(1).cpu().numpy()}


def test_omitted_class_is_learned_from_soft_targets(teachers, claim, device, cfg, seeds):
    """(b) Never shown a 3, the distilled student still recognises most 3s, and ≥ 90% after the
    bias fix; the hard one none."""
    (_, teacher) = teachers
    digits = load_dataset("digits", device)
    keep = digits.y != OMITTED
    logits = teacher.forward(digits.x[keep]).detach()[: len(seeds)]
    data = TrainData(digits.x[keep], digits.y[keep], teacher_logits=logits, per_seed=frozenset({"teacher_logits"}))
    hard, soft = train_pair(cfg, data, cfg.omitted_soft, cfg.omitted_student, seeds, device)
    values = omitted_class_accuracy(soft.forward(digits.x_test).detach(), digits.y_test)
    hard_values = omitted_class_accuracy(hard.forward(digits.x_test).detach(), digits.y_test)
    values["hard_omitted_acc"] = hard_values["omitted_acc"]
    values["hard_omitted_acc_bias_fixed"] = hard_values["omitted_acc_bias_fixed"]
    claim.record(values, {"omitted_acc": Metric("higher", abs_tol=0.05), "overall_acc": Metric("higher", abs_tol=0.01),
                          "omitted_acc_bias_fixed": Metric("higher", abs_tol=0.05),
                          "bias_shift": Metric("target", abs_tol=0.5),
                          "hard_omitted_acc": Metric("lower", abs_tol=0.02),
                          "hard_omitted_acc_bias_fixed": Metric("target", abs_tol=0.1)})
    claim.above("omitted_acc", 0.5)
    claim.below("hard_omitted_acc", 0.05)
    claim.each_within("omitted_acc_bias_fixed", low=0.9)


def test_distillation_epoch_time(bench, claim, teachers, device, cfg):
    """Times one epoch of distillation (T=4) on the 300-digit transfer set, all pairs at once."""
    (pairs, teacher) = teachers
    small = load_dataset("digits", device).subset(n_train=cfg.transfer_size)
    data = TrainData.of(small, teacher_logits=teacher.forward(small.x).detach())
    one_epoch = replace(cfg.small_student, epochs=1, loss=cfg.soft)
    result = bench(lambda: train(lambda: mlp(cfg.widths), data, student_seeds(pairs), one_epoch, device))
    claim.record({"first_epoch_train_acc": result.curves["train_acc"][:, 0]},
                 {"first_epoch_train_acc": Metric("target", abs_tol=0.1)}, seeds=pairs)
    claim.above("first_epoch_train_acc", PRIOR)  # the soft targets teach something in one epoch
