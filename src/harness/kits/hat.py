"""Hard attention to the task (Serrà et al. 2018, "Overcoming catastrophic forgetting with hard
attention to the task", ICML).

Each task t owns an embedding e_t per hidden layer; the layer's units are multiplied by the gate
σ(s·e_t). During a task's epoch s is annealed from 1/s_max to s_max, so the gates end almost
binary. Once a task is learned, the union of its gates and the earlier ones (the cumulative mask)
is frozen: the gradient of a weight is scaled by 1 − min(mask of its output unit, mask of its
input unit), so later tasks cannot move what earlier tasks use. A usage regularizer keeps each
task's gates sparse on units still free, and the embeddings' gradient is compensated for the
annealing (without it σ'(s·e)·s vanishes while s is small).

The network is a task-conditioned MLP: its inputs carry the task id in their last column
(`with_task_id`), so the trainer and accuracy code see an ordinary model (task-incremental: the
task is known at test time), and each task has its own output head.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from harness.stacked import TrainResult, cross_entropy_per_seed, stacked_linear

EMBEDDING_LIMIT = 6.0  # Serrà's clamp on e: σ(s_max·6) is 1 to float precision, and cosh stays finite
COSH_LIMIT = 50.0


def with_task_id(x: torch.Tensor, task: int) -> torch.Tensor:
    """x [..., N, D] → [..., N, D + 1] with the task id in the last column."""
    return torch.cat([x, torch.full((*x.shape[:-1], 1), float(task), dtype=x.dtype, device=x.device)], dim=-1)


class TaskEmbedding(nn.Module):
    """One row of gate pre-activations per task for a layer's units, N(0, 1) like Serrà's nn.Embedding."""

    def __init__(self, num_tasks: int, units: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_tasks, units))

    def init_from(self, generator: torch.Generator) -> None:
        nn.init.normal_(self.weight, generator=generator)


class HATNet(nn.Module):
    """MLP in_dim → hidden… with a gate per hidden unit and task, and one head per task.
    gated=False gives the same multi-head network without gates (the fine-tuning control)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], num_tasks: int, num_classes: int, *,
                 s_max: float = 400.0, gated: bool = True):
        super().__init__()
        self.s_max, self.gated = s_max, gated
        widths = (in_dim, *hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.embeddings = nn.ModuleList(TaskEmbedding(num_tasks, h) for h in hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden[-1], num_classes) for _ in range(num_tasks))

    def forward(self, x: torch.Tensor, s: float | None = None) -> torch.Tensor:
        task = x[:, -1].long()
        h = x[:, :-1]
        for layer, embedding in zip(self.layers, self.embeddings, strict=True):
            h = torch.relu(layer(h))
            if self.gated:
                h = h * torch.sigmoid((s or self.s_max) * embedding.weight[task])
        # every head on every row, then each row's own: vmap-friendly, and the heads are small
        logits = torch.stack([head(h) for head in self.heads], dim=1)
        return logits[torch.arange(len(task), device=x.device), task]

    def forward_stacked(self, params: dict, x: torch.Tensor, s: float | None = None) -> torch.Tensor:
        """`forward` for every seed at once from stacked params, x [S, B, D + 1] → [S, B, classes]:
        batched matmuls instead of vmap (2–2.8× faster per training step at width 128 on the CPU).
        The trainer and TrainResult use it (harness.stacked.forward_all)."""
        task = x[..., -1].long()  # [S, B]
        h = x[..., :-1]
        for i in range(len(self.layers)):
            h = torch.relu(stacked_linear(h, params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]))
            if self.gated:
                gate = torch.sigmoid((s or self.s_max) * params[f"embeddings.{i}.weight"])  # [S, tasks, units]
                h = h * torch.gather(gate, 1, task.unsqueeze(-1).expand(*task.shape, gate.shape[-1]))
        heads = range(len(self.heads))
        every = stacked_linear(h, torch.cat([params[f"heads.{t}.weight"] for t in heads], 1),
                               torch.cat([params[f"heads.{t}.bias"] for t in heads], 1)).unflatten(-1, (len(heads), -1))
        return torch.gather(every, 2, task[..., None, None].expand(*task.shape, 1, every.shape[-1])).squeeze(2)


def gates(params: dict, task: int, s: float) -> list[torch.Tensor]:
    """Each hidden layer's gates σ(s·e_task) for every seed, [S, units] per layer."""
    layers = sum(1 for k in params if k.startswith("embeddings."))
    return [torch.sigmoid(s * params[f"embeddings.{i}.weight"][:, task]) for i in range(layers)]


def cumulative_masks(result: TrainResult, task: int, previous: list[torch.Tensor] | None) -> list[torch.Tensor]:
    """The units tasks 0..task use: elementwise max of the earlier mask and this task's gates at s_max."""
    current = gates(result.params, task, result.template.s_max)
    if previous is None:
        return current
    return [torch.maximum(p, c) for p, c in zip(previous, current, strict=True)]


@dataclass(frozen=True, eq=False)
class HATLoss:
    """Task `task`'s training objective as a `TrainConfig(loss=...)`: cross-entropy at the annealed
    gate scale + c · usage regularizer, with `before_step` freezing what earlier tasks use.
    previous: the cumulative masks after the earlier tasks ([S, units] per layer), None for the first."""

    task: int
    s_max: float = 400.0
    usage_weight: float = 0.75  # Serrà's c
    previous: tuple[torch.Tensor, ...] | None = None

    def scale(self, progress: float) -> float:
        """s at this point of the epoch: 1/s_max at the first batch, s_max at the last."""
        return 1 / self.s_max + (self.s_max - 1 / self.s_max) * progress

    def usage(self, params: dict, s: float) -> torch.Tensor:
        """Fraction of the still-free units this task's gates open, per seed [S]."""
        current = gates(params, self.task, s)
        free = [1 - p for p in self.previous] if self.previous else [torch.ones_like(a) for a in current]
        used = sum((a * f).sum(1) for a, f in zip(current, free, strict=True))
        return used / sum(f.sum(1) for f in free)

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor, extras: dict) -> torch.Tensor:
        s = self.scale(extras["progress"])
        loss = cross_entropy_per_seed(model(x, s=s), y)
        return loss + self.usage_weight * self.usage(extras["params"], s)

    def before_step(self, params: dict, progress: float) -> None:
        if self.previous:
            self._freeze_used_weights(params)
        s = self.scale(progress)
        for name in (k for k in params if k.startswith("embeddings.")):
            e = params[name]
            if e.grad is not None:
                # undo the 1/s the annealing puts on σ(s·e)'s gradient, as if s were s_max throughout
                e.grad *= (self.s_max / s) * (torch.cosh(torch.clamp(s * e, -COSH_LIMIT, COSH_LIMIT)) + 1) / (torch.cosh(e) + 1)
            e.clamp_(-EMBEDDING_LIMIT, EMBEDDING_LIMIT)

    def _freeze_used_weights(self, params: dict) -> None:
        """Scale each hidden layer's weight and bias gradients by 1 − (mask of the connection)."""
        for i, out_mask in enumerate(self.previous):
            weight, bias = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
            connection = out_mask.unsqueeze(2)  # [S, out, 1]
            if i > 0:  # the input of layer 0 (the data) is not gated
                connection = torch.minimum(connection, self.previous[i - 1].unsqueeze(1))
            weight.grad *= 1 - connection
            bias.grad *= 1 - out_mask


class HATStrategy:
    """HAT over a task sequence (harness.ops.continual.train_sequence): after each task the
    cumulative masks grow by the task's gates."""

    def __init__(self, s_max: float = 400.0, usage_weight: float = 0.75):
        self.s_max, self.usage_weight = s_max, usage_weight
        self.masks: list[torch.Tensor] | None = None

    def loss(self, task: int) -> HATLoss:
        return HATLoss(task, self.s_max, self.usage_weight, tuple(self.masks) if self.masks else None)

    def learned(self, task: int, result: TrainResult, data) -> None:
        self.masks = cumulative_masks(result, task, self.masks)
