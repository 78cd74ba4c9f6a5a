"""Knowledge distillation loss (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a
Neural Network", §2).

The student matches the teacher's softened distribution softmax(v/T) with its own softmax(z/T),
mixed with ordinary cross-entropy on the hard labels:

    loss = α · T² · CE(softmax(v/T), softmax(z/T)) + (1 − α) · CE(onehot(y), softmax(z))

The soft term's gradient with respect to z shrinks as 1/T² (for large T it tends to
(z − v)/(C·T²) with zero-mean logits over C classes), so it is multiplied by T² to keep the two
terms' relative weight unchanged when T changes. With one-hot soft targets and T = 1 the soft
term is plain cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Distillation:
    """A loss for `TrainConfig(loss=...)`: needs the teacher's logits in TrainData.teacher_logits."""

    temperature: float
    alpha: float  # weight of the soft-target term; 1 − alpha goes to the hard labels

    def __post_init__(self):
        if self.temperature <= 0 or not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"need temperature > 0 and alpha in [0, 1], got {self}")

    def __call__(self, model, x: torch.Tensor, y: torch.Tensor, extras: dict) -> torch.Tensor:
        """Per-seed mean loss [S] of the model on a batch x [S, B, ...] (the trainer's interface)."""
        if "teacher_logits" not in extras:
            raise ValueError("Distillation needs the teacher's logits: pass TrainData(teacher_logits=...)")
        return self.per_row(model(x), y, extras["teacher_logits"]).mean(-1)

    def per_row(self, logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """Loss per row [...] for student logits [..., C], labels [...], teacher logits [..., C]."""
        soft = soft_cross_entropy(logits, (teacher_logits / self.temperature).softmax(-1), self.temperature)
        hard = F.cross_entropy(logits.flatten(0, -2), labels.flatten(), reduction="none").view(labels.shape)
        return self.alpha * soft + (1 - self.alpha) * hard


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """T² · CE(target_probs, softmax(logits/T)) per row."""
    return -(target_probs * (logits / temperature).log_softmax(-1)).sum(-1) * temperature ** 2
