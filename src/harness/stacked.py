"""Seeds stacked along a leading axis: the data they train on and the models they become.

TrainData holds inputs and labels shared by all seeds or given per seed; TrainResult holds the
stacked weights and curves a training run returns, and evaluates every seed at once with
`vmap(functional_call)`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

OPTIONAL_FIELDS = ("teacher_logits",)  # rows handed to loss objects, not used by the trainer itself
FIELDS = ("x", "y", "x_test", "y_test", *OPTIONAL_FIELDS)
EVAL_CHUNK = 8192  # examples per evaluation forward: bounds memory at S × chunk × width


@dataclass(frozen=True)
class TrainData:
    """Inputs and labels for training. Each tensor is shared by all seeds ([N, ...]) or, when
    per_seed is set, has a leading seed axis ([S, N, ...]) — e.g. each seed's own random labels.
    teacher_logits [N, C] go to a loss that wants them (distillation), row for row with y."""

    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    teacher_logits: torch.Tensor | None = None
    per_seed: frozenset = frozenset()  # names among FIELDS

    def __post_init__(self):
        unknown = set(self.per_seed) - set(FIELDS)
        if unknown:
            raise ValueError(f"per_seed names unknown fields {sorted(unknown)}")
        for xn, yn in (("x", "y"), ("x_test", "y_test")):
            x, y = getattr(self, xn), getattr(self, yn)
            if (x is None) != (y is None):
                raise ValueError(f"give both {xn} and {yn}, or neither")
            if x is None:
                continue
            nx = x.shape[1] if xn in self.per_seed else x.shape[0]
            ny = y.shape[1] if yn in self.per_seed else y.shape[0]
            if nx != ny:
                raise ValueError(f"{xn} has {nx} examples but {yn} has {ny}")
        if self.teacher_logits is not None:
            n_teacher = self.teacher_logits.shape[1 if "teacher_logits" in self.per_seed else 0]
            if n_teacher != self.n_train:
                raise ValueError(f"teacher_logits has {n_teacher} rows but y has {self.n_train}")
        stacks = {name: getattr(self, name).shape[0] for name in self.per_seed}
        if len(set(stacks.values())) > 1:
            raise ValueError(f"per-seed fields disagree on the number of seeds: {stacks}")

    def check(self, n_seeds: int, device: torch.device) -> None:
        """Refuse data on another device, or per-seed stacks for another number of seeds."""
        for name in FIELDS:
            t = getattr(self, name)
            if t is not None and t.device != device:
                raise ValueError(f"{name} is on {t.device} but training runs on {device}; "
                                 f"move the data first (Dataset.to(device) or load_dataset(name, device))")
            if name in self.per_seed and t.shape[0] != n_seeds:
                raise ValueError(f"{name} stacks {t.shape[0]} seeds but {n_seeds} seeds are trained")

    @classmethod
    def of(cls, dataset, **per_seed_overrides) -> TrainData:
        """From a Dataset, replacing any field by (or adding teacher_logits as) a per-seed stack ([S, N, ...])."""
        fields = {"x": dataset.x, "y": dataset.y, "x_test": dataset.x_test, "y_test": dataset.y_test}
        fields.update(per_seed_overrides)
        return cls(**fields, per_seed=frozenset(per_seed_overrides))

    def rows(self, name: str, idx: torch.Tensor) -> torch.Tensor:
        """field[name] at per-seed row indices idx [S, B] → [S, B, ...]."""
        t = getattr(self, name)
        if name in self.per_seed and t.is_contiguous():
            # one index_select over the seeds' rows laid end to end: 2× faster than t[seed, idx]
            # (a view of a slice would be copied whole by the reshape: see `contiguous`)
            n_seeds, n = t.shape[:2]
            flat = idx + torch.arange(n_seeds, device=idx.device).unsqueeze(1) * n
            picked = t.reshape(n_seeds * n, *t.shape[2:]).index_select(0, flat.reshape(-1))
            return picked.reshape(*idx.shape, *t.shape[2:])
        if name in self.per_seed:
            return t[torch.arange(idx.shape[0], device=idx.device).unsqueeze(1), idx]
        return t[idx]

    def contiguous(self) -> TrainData:
        """The same data with every per-seed field contiguous (a slice such as x[:, :n] is not),
        so that `rows` takes its fast path; a field that already is stays as it is, uncopied."""
        return replace(self, **{name: getattr(self, name).contiguous() for name in self.per_seed})

    def seed(self, i: int) -> TrainData:
        """The data one seed sees, as a 1-seed TrainData (for the per-seed reference path)."""
        pick = {n: getattr(self, n)[i:i + 1] for n in self.per_seed}
        return replace(self, **pick)

    @property
    def n_train(self) -> int:
        return self.y.shape[1] if "y" in self.per_seed else self.y.shape[0]


@dataclass
class TrainResult:
    """Stacked final parameters ([S, ...] each) and per-seed curves ([S, evaluations], NaN after
    a seed stopped). `forward` evaluates all seeds at once."""

    template: nn.Module  # on the meta device: the structure for functional_call
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    curves: dict[str, torch.Tensor]
    epochs_run: torch.Tensor  # [S] epochs each seed trained before it stopped
    steps_run: torch.Tensor  # [S] optimizer steps likewise
    reached_target: torch.Tensor  # [S] bool: stop_at_train_acc was reached
    seeds: list[int] = field(default_factory=list)
    # {parameter name: {key: [S, ...] tensor, or a shared value such as Adam's step count}} as the
    # optimizer ended; None after a run with an early stop. train(start_optimizer=...) continues it.
    optimizer_state: dict | None = None

    def forward(self, x: torch.Tensor, per_seed: bool = False, **kwargs) -> torch.Tensor:
        """Outputs of every seed: x shared [N, ...] or per seed [S, N, ...] → [S, N, out]."""
        return forward_all(self.template, self.params, self.buffers, x, per_seed, kwargs)

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, per_seed: bool = False) -> torch.Tensor:
        """Per-seed accuracy [S] on (x, y); y may be shared [N] or per seed [S, N]."""
        pred = torch.cat([self.forward(xc, per_seed).argmax(-1)
                          for xc in x.split(EVAL_CHUNK, dim=1 if per_seed else 0)], dim=1)
        return (pred == y).float().mean(-1)

    def without_head(self, modules: int = 1) -> TrainResult:
        """The same seeds minus the last `modules` modules of a Sequential: forward gives features
        (e.g. the post-ReLU last hidden layer of an MLP with modules=1)."""
        template = self.template[:-modules]
        names = {n for n, _ in template.named_parameters()} | {n for n, _ in template.named_buffers()}
        kept = lambda stack: None if stack is None else {k: v for k, v in stack.items() if k in names}
        return replace(self, template=template, params=kept(self.params), buffers=kept(self.buffers),
                       optimizer_state=kept(self.optimizer_state))

    def model(self, i: int) -> nn.Module:
        """Seed i as an ordinary nn.Module (a copy) for ops that want one."""
        device = next(iter(self.params.values())).device
        module = copy.deepcopy(self.template).to_empty(device=device)
        module.load_state_dict({k: v[i] for k, v in {**self.params, **self.buffers}.items()})
        return module


def stack_seeds(parts) -> tuple[torch.Tensor, ...]:
    """One tuple of tensors per seed, e.g. [(x, y), (x, y), …] → (x [S, ...], y [S, ...]): the
    per-seed fields of a TrainData."""
    return tuple(torch.stack(field) for field in zip(*parts, strict=True))


# Elementwise layers without parameters or randomness: a stack of Linear layers between them is
# computed with batched matmuls directly (`stacked_mlp`), the same math as vmap without its
# per-op dispatch: on the 2-core CPU an MLP 64-256-256-10 step (3 seeds, batch 32) took 3.1 ms
# forward + backward through vmap and 2.0 ms this way.
ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.LeakyReLU, nn.ELU, nn.Softplus, nn.Identity)


def forward_all(template, params, buffers, x, per_seed: bool, kwargs) -> torch.Tensor:
    """The model of every seed on its inputs (x [S, B, ...] per seed, or [B, ...] shared) → [S, B, C].

    Plain MLPs, and models that define `forward_stacked(params, x, **kwargs)` (x [S, B, ...] → the
    outputs of every seed, from the stacked params, without buffers), skip vmap's per-op dispatch;
    any other model runs under vmap."""
    stacked = getattr(template, "forward_stacked", None)
    if stacked is not None or (not kwargs and is_plain_mlp(template)):
        every = x if per_seed else x.expand(next(iter(params.values())).shape[0], *x.shape)
        if stacked is not None:
            return stacked(params, every, **kwargs)
        return stacked_mlp(template, params, every)
    def one(p, b, xi):
        return functional_call(template, (p, b), (xi,), kwargs)
    # "different": each seed draws its own dropout mask (deterministic models draw nothing)
    try:
        return vmap(one, in_dims=(0, 0, 0 if per_seed else None), randomness="different")(params, buffers, x)
    except RuntimeError as err:
        if "vmap" not in str(err) and "Batching rule" not in str(err):
            raise
        raise RuntimeError(f"{type(template).__name__} cannot run batched over seeds under torch.func.vmap "
                           f"({str(err).splitlines()[0]}); a forward that branches on a tensor's value "
                           f"(`if x.max() > 1:`) or reads one with .item() is the usual cause: train it "
                           f"with train(..., batched=False)") from err


def is_plain_mlp(template) -> bool:
    """An nn.Sequential of Linear layers, elementwise activations and flattening only."""
    plain = getattr(template, "_harness_plain_mlp", None)
    if plain is None:
        plain = isinstance(template, nn.Sequential) and all(
            isinstance(m, (nn.Linear, nn.Flatten, *ELEMENTWISE)) and (not isinstance(m, nn.Flatten) or m.start_dim == 1)
            for m in template)
        template._harness_plain_mlp = plain
    return plain


def stacked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear for every seed at once: x [S, ..., in], weight [S, out, in], bias [S, out] → [S, ..., out]."""
    rows = x.reshape(x.shape[0], -1, x.shape[-1])
    transposed = weight.transpose(1, 2)
    out = torch.bmm(rows, transposed) if bias is None else torch.baddbmm(bias.unsqueeze(1), rows, transposed)
    return out.reshape(*x.shape[:-1], weight.shape[1])


def stacked_mlp(template, params: dict, x: torch.Tensor, linear_io: list | None = None) -> torch.Tensor:
    """The plain MLP on stacked params; `linear_io`, when given, receives (layer name, input,
    output) of every Linear layer (per-example gradient sums need them: harness.ops.continual)."""
    h = x
    for name, module in template.named_children():
        out = stacked_layer(module, params, f"{name}.", h)
        if linear_io is not None and isinstance(module, nn.Linear):
            linear_io.append((name, h, out))
        h = out
    return h


def stacked_layer(module: nn.Module, params: dict, prefix: str, h: torch.Tensor) -> torch.Tensor:
    """One layer (or an nn.Sequential of them) for every seed at once, its weights read from the
    stacked params under `prefix` ("blocks.3."): Linear, LayerNorm over the last axis, flattening
    and elementwise activations (what a model's `forward_stacked` is built from)."""
    if isinstance(module, nn.Linear):
        return stacked_linear(h, params[prefix + "weight"], params.get(prefix + "bias"))
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            h = stacked_layer(child, params, f"{prefix}{name}.", h)
        return h
    if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) == 1:
        out = F.layer_norm(h, module.normalized_shape, eps=module.eps)
        per_seed = lambda t: t.view(t.shape[0], *[1] * (h.dim() - 2), t.shape[-1])  # [S, W] against h [S, ..., W]
        if module.weight is not None:
            out = out * per_seed(params[prefix + "weight"])
        if module.bias is not None:
            out = out + per_seed(params[prefix + "bias"])
        return out
    if isinstance(module, nn.Flatten) and module.start_dim == 1:
        return h.flatten(2, module.end_dim if module.end_dim < 0 else module.end_dim + 1)
    if isinstance(module, ELEMENTWISE):
        return module(h)
    raise TypeError(f"{type(module).__name__} has no stacked form; run the model under vmap (no forward_stacked)")


def cross_entropy_per_seed(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per seed [S] of logits [S, B, C] against labels [S, B] (or shared [B])."""
    S, B, C = logits.shape
    return F.cross_entropy(logits.reshape(S * B, C), y.expand(S, B).reshape(S * B), reduction="none").view(S, B).mean(1)
