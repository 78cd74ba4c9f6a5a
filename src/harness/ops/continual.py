"""Continual learning: task sequences, the accuracy-matrix metrics, sequential training, and two
of the remedies for forgetting (EWC's Fisher penalty, a replay buffer). HAT is in harness.kits.hat.

`train_sequence` trains tasks one after another, each from the previous task's weights with a
fresh optimizer, and asks a strategy for each task's loss and to take note of what was learned
(EWC stores an anchor and a Fisher, replay stores examples, HAT its masks).

R[..., i, j] is the accuracy on task j after training tasks 0..i (T tasks, leading axes are
seeds). One definition each:
- average accuracy  A = mean_j R[T−1, j]                                  (all tasks at the end)
- forgetting        F = mean_{j<T−1} (max_{j≤l<T−1} R[l, j] − R[T−1, j])  (Chaudhry et al. 2018)
- backward transfer B = mean_{j<T−1} (R[T−1, j] − R[j, j])                (Lopez-Paz & Ranzato 2017)
F and −B differ only where a task's accuracy rose after it was learned (then F counts the drop
from its best, B from where it started).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from harness.data import Dataset, select_classes
from harness.seeds import torch_generator
from harness.stacked import TrainData, TrainResult, cross_entropy_per_seed, is_plain_mlp, stacked_mlp
from harness.train import TrainConfig, train

FISHER_CHUNK = 256  # examples per per-example-gradient pass: bounds memory at S × chunk × parameters


# --- task sequences ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    """One task: its training data and test set (x_test shared [N, ...] or per seed [S, N, ...]),
    and the classes it draws on (for the task-incremental reading of a shared head)."""

    train: TrainData
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[int, ...]

    @property
    def per_seed(self) -> bool:
        return "x" in self.train.per_seed


def split_tasks(ds: Dataset, groups) -> list[Task]:
    """One task per group of classes ({0, 1}, {2, 3}, …), labels kept (class-incremental)."""
    tasks = []
    for classes in groups:
        x, y = select_classes(ds.x, ds.y, classes)
        x_test, y_test = select_classes(ds.x_test, ds.y_test, classes)
        tasks.append(Task(TrainData(x, y, x_test, y_test), x_test, y_test, tuple(classes)))
    return tasks


def permuted_tasks(ds: Dataset, num_tasks: int, seeds, *, transform: Callable | None = None) -> list[Task]:
    """Task 0 is the data as it is, task t > 0 one fixed permutation of the input features per
    seed (drawn from the seed's 'data' stream, so every seed sees its own permutations).
    transform(x, t) may edit each task's inputs after permuting (HAT appends the task id)."""
    transform = transform or (lambda x, t: x)
    D = ds.x[0].numel()
    streams = [torch_generator(s, "data") for s in seeds]
    tasks = []
    for t in range(num_tasks):
        perms = [torch.arange(D) if t == 0 else torch.randperm(D, generator=g) for g in streams]
        x, x_test = (transform(torch.stack([a.reshape(len(a), -1)[:, p.to(a.device)] for p in perms]), t)
                     for a in (ds.x, ds.x_test))
        train_data = TrainData(x, ds.y, x_test, ds.y_test, per_seed=frozenset({"x", "x_test"}))
        tasks.append(Task(train_data, x_test, ds.y_test, tuple(range(int(ds.y.max()) + 1))))
    return tasks


class Strategy(Protocol):
    """How a method learns a sequence: the loss for each task, and what it keeps from each task
    for the tasks that follow."""

    def loss(self, task: int): ...

    def learned(self, task: int, result: TrainResult, data: Task) -> None: ...


class FineTune:
    """Plain sequential training: nothing kept between tasks (the forgetting baseline)."""

    def loss(self, task: int):
        return "cross_entropy"

    def learned(self, task: int, result: TrainResult, data: Task) -> None:
        pass


def train_sequence(factory, tasks: list[Task], seeds, cfg: TrainConfig, device,
                   strategy: Strategy | None = None, first: TrainResult | None = None) -> dict:
    """Train the tasks in order and evaluate every task after each one.

    first: the first task already trained (the "first" of an earlier call with the same factory,
    tasks, seeds and cfg), for methods that begin alike — with plain cross-entropy — and differ
    from the second task on (fine-tuning, replay and EWC do).

    Returns {"R": [S, T, T] accuracy matrix (argmax over all outputs), "R_task": the same with
    the argmax restricted to each task's classes (task-incremental reading)}, on the CPU, and
    "first": the model after the first task.
    """
    strategy = strategy or FineTune()
    if first is not None and strategy.loss(0) != "cross_entropy":
        raise ValueError(f"a shared first task was trained with plain cross-entropy, but this strategy begins "
                         f"with {strategy.loss(0)!r}: train its first task itself (first=None)")
    start, rows, task_rows = None, [], []
    for t, task in enumerate(tasks):
        if t == 0 and first is not None:
            result = first
        else:
            result = train(factory, task.train, seeds, replace(cfg, loss=strategy.loss(t)), device, start=start)
        if t == 0:
            first = result
        if t < len(tasks) - 1:  # nothing follows the last task
            strategy.learned(t, result, task)
        start = result.params
        with torch.no_grad():
            logits = [result.forward(other.x_test, per_seed=other.per_seed) for other in tasks]
        rows.append(torch.stack([(lg.argmax(-1) == o.y_test).float().mean(-1) for lg, o in zip(logits, tasks)], -1))
        task_rows.append(torch.stack([task_accuracy(lg, o.y_test, o.classes) for lg, o in zip(logits, tasks)], -1))
    return {"R": torch.stack(rows, 1).cpu(), "R_task": torch.stack(task_rows, 1).cpu(), "first": first}


def _check_matrix(R: torch.Tensor) -> int:
    if R.dim() < 2 or R.shape[-1] != R.shape[-2] or R.shape[-1] < 2:
        raise ValueError(f"an accuracy matrix is [..., T, T] with T ≥ 2 tasks, got shape {tuple(R.shape)}")
    return R.shape[-1]


def average_accuracy(R: torch.Tensor) -> torch.Tensor:
    """Mean accuracy over all tasks after the last one."""
    _check_matrix(R)
    return R[..., -1, :].mean(-1)


def forgetting(R: torch.Tensor) -> torch.Tensor:
    """Mean over the earlier tasks of the drop from their best accuracy to their final one."""
    T = _check_matrix(R)
    best = torch.stack([R[..., j:T - 1, j].max(-1).values for j in range(T - 1)], dim=-1)
    return (best - R[..., -1, :T - 1]).mean(-1)


def backward_transfer(R: torch.Tensor) -> torch.Tensor:
    """Mean over the earlier tasks of final accuracy minus accuracy right after learning them
    (negative: later tasks hurt earlier ones)."""
    T = _check_matrix(R)
    return (R[..., -1, :T - 1] - R.diagonal(dim1=-2, dim2=-1)[..., :T - 1]).mean(-1)


@torch.no_grad()
def task_accuracy(logits: torch.Tensor, y: torch.Tensor, classes) -> torch.Tensor:
    """Per-seed accuracy [S] when the task, and so its classes, is known at test time (the
    task-incremental reading of a shared head): the argmax runs over `classes` only."""
    allowed = torch.full((logits.shape[-1],), float("-inf"), device=logits.device)
    allowed[list(classes)] = 0.0
    return ((logits + allowed).argmax(-1) == y).float().mean(-1)


# --- EWC ---------------------------------------------------------------------------------------

@torch.no_grad()
def diagonal_fisher(result: TrainResult, x: torch.Tensor, y: torch.Tensor | None = None,
                    per_seed: bool = False) -> dict:
    """Diagonal Fisher information per seed, {name: [S, ...]} like result.params; x is shared
    [N, ...] or per seed [S, N, ...].

    y=None — the Fisher of Kirkpatrick et al.: the expectation of the squared gradient of
    log p(c | x) under the model's own predictive distribution, E_x Σ_c p(c|x) (∂ log p(c|x))².
    y given [N] — the empirical Fisher: the squared gradient at the true label only. The two part
    where the model is confident and right: the empirical one then vanishes with the loss, while
    the true one still weighs every class the model could say.

    A plain MLP (Linear layers and activations on flat inputs) takes an exact shortcut: a Linear
    layer's per-example gradient is δ aᵀ, so the sum of its squares over examples is (δ²)ᵀ(a²), one
    matmul per class instead of a gradient per example (the same values to 3e-7 relative; for an
    MLP 64-256-256-10 on 300 rows × 3 seeds 0.09 s against 5.5 s, 1 thread)."""
    template = result.template
    shortcut = _plain_mlp_fisher(result, x, y, per_seed) if is_plain_mlp(template) else None
    if shortcut is not None:
        return shortcut

    def weighted_log_prob(p, b, xi, ci, wi):  # √p_c · log p_c(x): its squared gradient is p_c (∂ log p_c)²
        return -wi.sqrt() * F.cross_entropy(functional_call(template, (p, b), (xi.unsqueeze(0),)), ci.unsqueeze(0))

    per_example = vmap(grad(weighted_log_prob), in_dims=(None, None, 0, 0, 0))
    per_model = vmap(per_example, in_dims=(0, 0, 0 if per_seed else None, None, 0))
    total = {k: torch.zeros_like(v) for k, v in result.params.items()}
    n = x.shape[1] if per_seed else x.shape[0]
    for start in range(0, n, FISHER_CHUNK):
        sl = slice(start, start + FISHER_CHUNK)
        xs = x[:, sl] if per_seed else x[sl]
        probs = result.forward(xs, per_seed=per_seed).softmax(-1)  # [S, n, C]
        for labels, weights in _fisher_terms(probs, None if y is None else y[sl]):
            with torch.enable_grad():
                grads = per_model(result.params, result.buffers, xs, labels, weights)
            for k, g in grads.items():
                total[k] += (g ** 2).sum(1)
    return {k: v / n for k, v in total.items()}


def _fisher_terms(probs: torch.Tensor, y: torch.Tensor | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(labels [n], weights [S, n]) whose weighted squared log-likelihood gradients sum to the
    Fisher: each class weighted by its predicted probability, or the true labels with weight 1."""
    if y is not None:
        return [(y, torch.ones_like(probs[..., 0]))]
    rows = torch.arange(probs.shape[1], device=probs.device)
    return [(torch.full_like(rows, c), probs[..., c]) for c in range(probs.shape[-1])]


def _plain_mlp_fisher(result: TrainResult, x: torch.Tensor, y: torch.Tensor | None, per_seed: bool) -> dict | None:
    """diagonal_fisher for a plain MLP from each Linear layer's inputs a and output gradients δ:
    Σ_n (δ_n a_nᵀ)² = (δ²)ᵀ(a²). None when a layer sees more than one vector per example (the
    square of a sum over positions does not factor): then the per-example path runs."""
    params = {k: v.detach().requires_grad_() for k, v in result.params.items()}
    total = {k: torch.zeros_like(v) for k, v in params.items()}
    n_seeds = next(iter(params.values())).shape[0]
    n = x.shape[1] if per_seed else x.shape[0]
    for start in range(0, n, FISHER_CHUNK):
        xs = x[:, start:start + FISHER_CHUNK] if per_seed else x[start:start + FISHER_CHUNK].expand(n_seeds, -1, *x.shape[1:])
        linear_io: list = []
        with torch.enable_grad():
            log_probs = stacked_mlp(result.template, params, xs, linear_io).log_softmax(-1)  # [S, n, C]
            if any(inputs.dim() != 3 for _, inputs, _ in linear_io):
                return None
            labels_y = None if y is None else y[start:start + FISHER_CHUNK]
            for labels, weights in _fisher_terms(log_probs.detach().exp(), labels_y):
                picked = log_probs.gather(-1, labels.expand(n_seeds, -1).unsqueeze(-1)).squeeze(-1)
                deltas = torch.autograd.grad((weights.sqrt() * picked).sum(), [out for _, _, out in linear_io],
                                             retain_graph=True)
                for (name, inputs, _), delta in zip(linear_io, deltas, strict=True):
                    total[f"{name}.weight"] += torch.einsum("sno,sni->soi", delta ** 2, inputs.detach() ** 2)
                    if f"{name}.bias" in total:
                        total[f"{name}.bias"] += (delta ** 2).sum(1)
    return {k: v / n for k, v in total.items()}


@dataclass(frozen=True, eq=False)
class EWC:
    """Elastic weight consolidation as a `TrainConfig(loss=...)` (Kirkpatrick et al. 2017):
    cross-entropy + λ/2 · Σ_i P_i (θ_i − c_i)², stacked [S, ...] like the parameters.

    One quadratic holds every earlier task's penalty: Σ_t F_t(θ − θ*_t)² equals P(θ − c)² plus a
    constant, with precision P = Σ_t F_t and centre c = Σ_t F_t θ*_t / P — the same gradient at
    the cost of one task (Huszár 2018, "Note on the quadratic penalties in EWC")."""

    center: dict
    precision: dict
    strength: float  # λ

    def penalty(self, params: dict) -> torch.Tensor:
        """λ/2 Σ P(θ − c)² per seed [S]."""
        total = sum((p * (params[name] - self.center[name]) ** 2).flatten(1).sum(1) for name, p in self.precision.items())
        return 0.5 * self.strength * total

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor, extras: dict) -> torch.Tensor:
        return cross_entropy_per_seed(model(x), y) + self.penalty(extras["params"])


class EWCStrategy:
    """After each task: add its Fisher (on up to `fisher_examples` of its training rows) and its
    weights to the running quadratic. fisher="true" is Kirkpatrick et al.'s (the expectation under
    the model's predictions), "empirical" the squared gradient at the true labels."""

    def __init__(self, strength: float, fisher_examples: int | None = None, fisher: str = "true"):
        if fisher not in ("true", "empirical"):
            raise ValueError(f"fisher is 'true' or 'empirical', got {fisher!r}")
        self.strength, self.fisher_examples, self.fisher = strength, fisher_examples, fisher
        self.precision: dict | None = None
        self.weighted: dict | None = None  # Σ_t F_t θ*_t

    def loss(self, task: int):
        if self.precision is None:
            return "cross_entropy"
        center = {k: torch.where(p > 0, self.weighted[k] / p, 0.0) for k, p in self.precision.items()}
        return EWC(center, self.precision, self.strength)

    def learned(self, task: int, result: TrainResult, data: Task) -> None:
        rows = slice(0, self.fisher_examples)  # the task's rows come in no particular class order
        x = data.train.x[:, rows] if data.per_seed else data.train.x[rows]
        labels = data.train.y[rows] if self.fisher == "empirical" else None
        fisher = diagonal_fisher(result, x, labels, per_seed=data.per_seed)
        weighted = {k: f * result.params[k].detach() for k, f in fisher.items()}
        if self.precision is None:
            self.precision, self.weighted = fisher, weighted
        else:
            self.precision = {k: self.precision[k] + fisher[k] for k in fisher}
            self.weighted = {k: self.weighted[k] + weighted[k] for k in weighted}


# --- replay ------------------------------------------------------------------------------------

def class_balanced_sample(y: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Row indices of `per_class` examples of every class in y, drawn from the seed's 'data'
    stream (a replay buffer's contents)."""
    g = torch_generator(seed, "data")
    picks = []
    for c in y.unique().tolist():
        rows = (y == c).nonzero().squeeze(1).cpu()
        if len(rows) < per_class:
            raise ValueError(f"class {c} has {len(rows)} examples, fewer than the {per_class} to store")
        picks.append(rows[torch.randperm(len(rows), generator=g)[:per_class]])
    return torch.cat(picks).to(y.device)


@dataclass(frozen=True, eq=False)
class Replay:
    """Rehearsal as a `TrainConfig(loss=...)`: (1 − w)·CE(batch) + w·CE(memory), the memory (a few
    stored examples of earlier tasks, [S, M, ...] with labels [S, M]) rehearsed whole every step."""

    memory_x: torch.Tensor
    memory_y: torch.Tensor
    weight: float = 0.5

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor, extras: dict) -> torch.Tensor:
        current = cross_entropy_per_seed(model(x), y)
        return (1 - self.weight) * current + self.weight * cross_entropy_per_seed(model(self.memory_x), self.memory_y)


class ReplayStrategy:
    """After each task: `per_class` of its training examples per class join the memory (each
    seed drawing its own)."""

    def __init__(self, seeds, per_class: int, weight: float = 0.5):
        self.seeds, self.per_class, self.weight = list(seeds), per_class, weight
        self.memory_x: list[torch.Tensor] = []
        self.memory_y: list[torch.Tensor] = []

    def loss(self, task: int):
        if not self.memory_x:
            return "cross_entropy"
        return Replay(torch.cat(self.memory_x, 1), torch.cat(self.memory_y, 1), self.weight)

    def learned(self, task: int, result: TrainResult, data: Task) -> None:
        x, y = data.train.x, data.train.y
        picks = [class_balanced_sample(y, self.per_class, s) for s in self.seeds]
        self.memory_x.append(torch.stack([(x[i] if data.per_seed else x)[p] for i, p in enumerate(picks)]))
        self.memory_y.append(torch.stack([y[p] for p in picks]))
