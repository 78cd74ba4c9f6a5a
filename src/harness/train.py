"""One training loop for the whole suite, batched over seeds with torch.func.

Every seed's parameters are stacked along a leading axis (`stack_module_state`) and the model is
evaluated with `vmap(functional_call)`, so S seeds cost one set of batched kernels instead of S
sets of small ones. Adam and SGD (with momentum and coupled weight decay) are elementwise, so a
torch.optim optimizer over the stacked tensors updates every seed exactly as its own optimizer
would. `batched=False` runs the same loop one seed at a time without vmap: the reference path for
models vmap cannot take, and the proof (tests/test_train.py) that batching changes nothing.

Your own components: `TrainConfig(optimizer=...)` takes, besides "adam" and "sgd", any callable
`(params, lr=...) -> torch.optim.Optimizer` — a torch optimizer class, or `functools.partial(MyOpt,
betas=...)` with its options. Batched, one such optimizer updates all seeds' stacked tensors, which
is each seed's own update only when the optimizer acts elementwise (RMSprop, Adagrad, sign methods
such as Lion); one that takes norms or statistics over a whole tensor (LARS/LAMB trust ratios,
Adafactor's factored moments, Shampoo, gradient-norm clipping) would mix the seeds: train it with
`batched=False`. A model of your own trains batched when `torch.func.vmap(functional_call)` can run
it: Linear, Conv and norm layers (BatchNorm's running statistics are stacked per seed like the
weights) and any composition of them. A forward that branches on a tensor's value or calls .item()
cannot be batched: it is refused with that reason, and `batched=False` trains it. A model that
defines `forward_stacked(params, x, **kwargs)` (all seeds from the stacked weights) skips vmap
(harness.stacked.forward_all), as plain MLPs do. Layers the
initialiser does not know need an `init_from(generator)` method (`harness.models.init_`). A loss of
your own is a `LossObject`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol, TypedDict, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state

from harness import devices
from harness.models import build
from harness.seeds import check_seed_list, stream_key, torch_generator
from harness.stacked import (
    EVAL_CHUNK,
    OPTIONAL_FIELDS,
    TrainData,
    TrainResult,
    cross_entropy_per_seed,
    forward_all,
)

__all__ = ["EditsGradients", "LossExtras", "LossObject", "OptimizerFactory", "Probe", "ReportsAs", "TrainConfig",
           "TrainData", "TrainResult", "init_params", "optimizer_state_of_seeds", "per_seed_loss", "train"]

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "linear")
LOSSES = ("cross_entropy", "mse")


class LossExtras(TypedDict, total=False):
    """What a loss object receives besides the batch, every step."""
    params: dict[str, torch.Tensor]  # the stacked parameters {name: [S, ...]} (penalties such as EWC's)
    progress: float  # how far the step is through its epoch: 0 at the first batch, 1 at the last
    teacher_logits: torch.Tensor  # the batch rows of TrainData.teacher_logits, when the data has them


class LossObject(Protocol):
    """What `TrainConfig(loss=...)` accepts besides a loss name: called every step as
    loss(model, x, y, extras) → per-seed loss [S]. `model` maps inputs [S, B, ...] to outputs
    [S, B, C] and takes the model's keyword arguments (a HAT gate scale); it may also be attacked
    (adversarial training). A loss object may also be `EditsGradients` and `ReportsAs`."""

    def __call__(self, model: Callable, x: torch.Tensor, y: torch.Tensor, extras: LossExtras) -> torch.Tensor: ...


@runtime_checkable
class EditsGradients(Protocol):
    """A loss object with before_step(params, progress), called after backward and before the
    optimizer step under no_grad, to edit the stacked `.grad`s (and project parameters) in place:
    HAT freezes the units earlier tasks use and keeps its gate embeddings in range."""

    def before_step(self, params: dict[str, torch.Tensor], progress: float) -> None: ...


@runtime_checkable
class ReportsAs(Protocol):
    """A loss object saying what the per-epoch curves report: "cross_entropy" (the default for a
    loss object: distillation and adversarial training approximate it), "mse", or None when its
    outputs are no class scores (then there are no curves)."""

    evaluated_as: Literal["cross_entropy", "mse"] | None


OptimizerFactory = Callable[..., torch.optim.Optimizer]  # called as factory(params, lr=cfg.lr)


class Probe(Protocol):
    """What `train(..., probe=...)` calls at every evaluation (every `eval_every` epochs and after
    the last): probe(model) → {name: per-seed values [S]}, each stored as a curve beside the loss
    and accuracy. `model` is a TrainResult of the weights at that moment (its `forward`,
    `without_head` and `accuracy` work; it is in eval mode), so a probe measures what training does
    over time: a Hessian's top eigenvalue, the function's Fourier residual, the geometry of the
    features. A probe may keep state between calls (a warm-started power iteration)."""

    def __call__(self, model: TrainResult) -> dict[str, torch.Tensor]: ...


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int | None = 128  # None: full batch (one step per epoch)
    optimizer: str | OptimizerFactory = "adam"  # or your own: a torch optimizer class, a partial with options
    lr: float = 1e-3
    momentum: float = 0.0  # these two configure "adam" and "sgd"; give your own optimizer its options
    weight_decay: float = 0.0  # coupled L2, as torch.optim's weight_decay
    lr_schedule: str = "constant"  # linear: decays to 0 at the last step of the schedule
    # A run that is one part of a longer schedule (a parent trained k epochs, then copies of it
    # trained on): the schedule spans schedule_epochs (default: this run's epochs) and this run
    # starts schedule_start epochs into it, so the linear decay continues where the first part stopped.
    schedule_epochs: int | None = None
    schedule_start: int = 0
    loss: str | Callable = "cross_entropy"  # or a loss object (LossObject below), e.g. Distillation
    stop_at_train_acc: float | None = None  # a seed stops (and is frozen) once it reaches this
    stop_at_train_loss: float | None = None  # … or once its full-train loss is at most this
    eval_every: int = 1  # epochs between full-set evaluations (curves, early stop)
    # False: evaluations read the training set only, where no claim reads a test curve (the
    # final model's test accuracy is then measured once, by the caller)
    test_curves: bool = True

    def __post_init__(self):
        named = [("lr_schedule", self.lr_schedule, SCHEDULES)]
        if isinstance(self.optimizer, str):
            named.append(("optimizer", self.optimizer, OPTIMIZERS))
        elif not callable(self.optimizer):
            raise TypeError(f"optimizer must be one of {', '.join(OPTIMIZERS)} or a callable (params, lr=...) "
                            f"returning a torch.optim.Optimizer (a class, or functools.partial with its options), "
                            f"got {self.optimizer!r}")
        elif self.momentum or self.weight_decay:
            raise ValueError("momentum and weight_decay configure the named optimizers; pass them to your own "
                             "optimizer as its options, e.g. functools.partial(MyOptimizer, weight_decay=1e-4)")
        if isinstance(self.loss, str):
            named.append(("loss", self.loss, LOSSES))
        elif not callable(self.loss):
            raise TypeError(f"loss must be one of {', '.join(LOSSES)} or a callable loss object, got {self.loss!r}")
        for name, value, allowed in named:
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; use one of {', '.join(allowed)}")
        if self.epochs < 1 or self.eval_every < 1 or (self.batch_size is not None and self.batch_size < 1):
            raise ValueError(f"epochs, eval_every and batch_size must be ≥ 1: {self}")
        if self.schedule_start < 0 or self.schedule_start + self.epochs > self.schedule_span:
            raise ValueError(f"this run's epochs {self.schedule_start}..{self.schedule_start + self.epochs} must lie "
                             f"within the schedule's {self.schedule_span} epochs (schedule_start, schedule_epochs)")

    @property
    def schedule_span(self) -> int:
        """Epochs the learning-rate schedule spans."""
        return self.schedule_epochs if self.schedule_epochs is not None else self.schedule_start + self.epochs


def train(factory: Callable[[], nn.Module], data: TrainData, seeds, cfg: TrainConfig, device,
          *, init: str = "default", init_kwargs: dict | None = None, start: dict | None = None,
          masks: dict | None = None, order: torch.Tensor | None = None, batched: bool = True,
          probe: Probe | None = None, start_optimizer: dict | None = None) -> TrainResult:
    """Train one model per seed: init from the seed's 'init' stream, data order from 'order'.

    start: stacked weights {name: [S, ...]} to begin from instead of a fresh init (fine-tuning,
    a second task, rewinding to an earlier state). masks: {name: [S, ...]} of 0/1 for some
    parameters; masked weights start at zero and are zeroed after every step, so no optimizer
    state (Adam's momentum) revives them — pruning and lottery tickets. order: [S, L] row indices
    each seed walks, batch by batch, in every epoch instead of a fresh shuffle (an experiment that
    controls which examples come when; L may exceed the training set), or [S, epochs, L]: each
    epoch its own rows. start_optimizer: the optimizer state to begin from (a previous run's
    `TrainResult.optimizer_state`, with the same optimizer settings), so that a run continues
    another exactly — momentum and Adam's moments included — or forks copies of it
    (`optimizer_state_of_seeds(state, rows)` with rows that repeat a seed, like the weights in
    `start`). batched=True trains all
    seeds together (vmap); batched=False runs the same loop per seed without vmap. Both give the
    same result up to float rounding. probe: measured at every evaluation, its values become curves
    (Probe above).
    """
    seeds = check_seed_list(seeds)
    device = devices.normalise(device)
    data.check(len(seeds), device)
    start = _checked_stack("start", start, len(seeds), device)
    masks = _checked_stack("masks", masks, len(seeds), device)
    start_optimizer = _checked_optimizer_state(start_optimizer, len(seeds), device)
    if order is not None and (order.dim() not in (2, 3) or order.shape[0] != len(seeds) or order.device != device
                              or (order.dim() == 3 and order.shape[1] != cfg.epochs)
                              or order.min() < 0 or order.max() >= data.n_train):
        raise ValueError(f"order must be [seeds={len(seeds)}, L] or [seeds, epochs={cfg.epochs}, L] row indices "
                         f"below {data.n_train} on {device}, got shape {tuple(order.shape)} on {order.device}")
    options = {"init": init, "init_kwargs": init_kwargs or {}, "probe": probe}
    # Dropout draws from torch's global RNG (vmap cannot take a generator): seed it from the first
    # seed's 'dropout' stream inside fork_rng, so the run repeats and the caller's RNG is untouched.
    # Batched and per-seed runs then draw different masks: their equality holds without dropout.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(stream_key(seeds[0], "dropout"))
        if not batched:
            parts = [_fit(factory, data.seed(i), [s], cfg, device, batched=False, start=_pick(start, i),
                          masks=_pick(masks, i), order=None if order is None else order[i:i + 1],
                          start_optimizer=optimizer_state_of_seeds(start_optimizer, slice(i, i + 1)), **options)
                     for i, s in enumerate(seeds)]
            return _concat(parts, seeds)
        return _fit(factory, data, seeds, cfg, device, batched=True, start=start, masks=masks, order=order,
                    start_optimizer=start_optimizer, **options)


def init_params(factory: Callable[[], nn.Module], seeds, device, *, init: str = "default",
                init_kwargs: dict | None = None) -> dict[str, torch.Tensor]:
    """The stacked weights `train` starts each seed from: rewinding to them is Frankle & Carbin's
    lottery-ticket reset."""
    models = [build(factory, s, init, device, **(init_kwargs or {})) for s in check_seed_list(seeds)]
    return {k: v.detach() for k, v in stack_module_state(models)[0].items()}


def _checked_stack(what: str, stack: dict | None, n_seeds: int, device: torch.device) -> dict | None:
    """A {name: [S, ...]} argument on the right device with one slice per seed, or a clear error."""
    if stack is None:
        return None
    for name, t in stack.items():
        if t.shape[0] != n_seeds:
            raise ValueError(f"{what}[{name!r}] stacks {t.shape[0]} seeds but {n_seeds} seeds are trained")
        if t.device != device:
            raise ValueError(f"{what}[{name!r}] is on {t.device} but training runs on {device}")
    return stack


def _checked_optimizer_state(state: dict | None, n_seeds: int, device: torch.device) -> dict | None:
    """{name: {key: tensor}} with every per-seed tensor (dim ≥ 1) stacking n_seeds, on the device."""
    for name, entries in (state or {}).items():
        for key, value in entries.items():
            if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] != n_seeds:
                raise ValueError(f"start_optimizer[{name!r}][{key!r}] stacks {value.shape[0]} seeds but {n_seeds} "
                                 f"seeds are trained")
            if torch.is_tensor(value) and value.device != device:
                raise ValueError(f"start_optimizer[{name!r}][{key!r}] is on {value.device} but training runs on "
                                 f"{device}")
    return state


def _pick(stack: dict | None, i: int) -> dict | None:
    return None if stack is None else {k: v[i:i + 1] for k, v in stack.items()}


def optimizer_state_of_seeds(state: dict | None, rows) -> dict | None:
    """An `optimizer_state` for the seeds at rows (a slice, or an index tensor that may repeat a
    seed to fork copies of it); shared entries (Adam's step count) as they are."""
    if state is None:
        return None
    return {name: {k: v[rows] if torch.is_tensor(v) and v.dim() > 0 else v for k, v in entries.items()}
            for name, entries in state.items()}


def _fit(factory, data: TrainData, seeds, cfg: TrainConfig, device, *, init, init_kwargs, batched,
         start, masks, order, probe, start_optimizer) -> TrainResult:
    models = [build(factory, s, init, device, **init_kwargs) for s in seeds]
    params, buffers = stack_module_state(models)
    template = copy.deepcopy(models[0]).to("meta")
    _load_start(params, start, masks)
    forward = _batched_forward(template) if batched else _single_forward(template)
    batch = _Batch(torch.arange(len(seeds)), params, buffers, _optimizer(list(params.values()), cfg), data.contiguous(),
                   masks or {}, order, [torch_generator(s, "order") for s in seeds])
    _load_optimizer_state(batch.optimizer, params, start_optimizer, cfg)
    rows = data.n_train if order is None else order.shape[-1]
    steps_per_epoch = math.ceil(rows / (cfg.batch_size or rows))
    stop = _EarlyStop(params, buffers, cfg)
    # A seed that reached its target leaves the batch, so the slowest seed no longer makes the
    # others' finished models train on. Only where nothing else holds per-seed state: a loss
    # object (EWC's anchors, HAT's masks), a probe (a warm start) or an optimizer of your own.
    # The others then train exactly as before, except that dropout's masks (one draw for the whole
    # batch) change with the batch's size.
    retire = stop.active and batched and isinstance(cfg.loss, str) and isinstance(cfg.optimizer, str) \
        and probe is None
    eval_kind = _evaluated_as(cfg)
    curves: dict[str, list[torch.Tensor]] = {}
    for epoch in range(cfg.epochs):
        _train_epoch(forward, batch, cfg, epoch, (cfg.schedule_start + epoch) * steps_per_epoch,
                     cfg.schedule_span * steps_per_epoch, device)
        if (epoch + 1) % cfg.eval_every and epoch + 1 < cfg.epochs:
            continue
        forward.template.eval()  # dropout off for measuring; _train_epoch turns it back on
        metrics = {} if eval_kind is None else _evaluate(forward, batch.params, batch.buffers, batch.data, eval_kind,
                                                         cfg.test_curves)
        if probe is not None:
            metrics.update(_probed(probe, template, batch.params, batch.buffers, seeds, metrics, epoch))
        if not metrics:
            continue
        if stop.active:  # the stop decision needs the values on the host: one sync per evaluation
            metrics = {name: value.cpu() for name, value in metrics.items()}
        for name, value in metrics.items():
            curves.setdefault(name, []).append(stop.curve_point(value, batch.index))
        if not stop.active:
            continue
        finished = stop.update(epoch, metrics, batch)
        if stop.done.all():
            break
        if retire and finished.any():
            batch = batch.without(finished, cfg)
    template.eval()  # the result predicts; it does not train
    final_params, final_buffers = stop.final(batch)
    # A seed that stopped early left its optimizer state behind: only a run without a stop has one to give
    state = None if stop.active else _named_optimizer_state(batch.optimizer, batch.params)
    return TrainResult(template, final_params, final_buffers,
                       {k: torch.stack(v, dim=1).cpu() for k, v in curves.items()},
                       stop.epochs_run, stop.epochs_run * steps_per_epoch, stop.done.clone(), list(seeds), state)


def _load_optimizer_state(optimizer: torch.optim.Optimizer, params: dict, state: dict | None,
                          cfg: TrainConfig) -> None:
    unknown = set(state or {}) - set(params)
    if unknown:
        raise ValueError(f"start_optimizer names parameters the model does not have: {sorted(unknown)}; "
                         f"it has {sorted(params)}")
    # what the named optimizers keep per parameter (torch would fail later with a bare KeyError)
    needs = {"adam": {"step", "exp_avg", "exp_avg_sq"}, "sgd": {"momentum_buffer"} if cfg.momentum else set()}
    for name, entries in (state or {}).items():
        missing = needs.get(cfg.optimizer, set()) - set(entries) if isinstance(cfg.optimizer, str) else set()
        if missing:
            raise ValueError(f"start_optimizer[{name!r}] lacks {sorted(missing)} (it holds {sorted(entries)}): "
                             f"give the optimizer_state of a run with the same optimizer ({cfg.optimizer})")
        optimizer.state[params[name]] = {k: v.clone() if torch.is_tensor(v) else v for k, v in entries.items()}


def _named_optimizer_state(optimizer: torch.optim.Optimizer, params: dict) -> dict:
    """{parameter name: its optimizer state}: the run's own tensors, which nothing updates after
    it (a run that starts from them works on copies: `_load_optimizer_state`)."""
    return {name: {k: v.detach() if torch.is_tensor(v) else v for k, v in optimizer.state[p].items()}
            for name, p in params.items() if p in optimizer.state}


@dataclass
class _Batch:
    """The seeds in training now (positions `index` among all the run's seeds, on the host) and
    everything the loop holds per seed for them, sliced alike."""

    index: torch.Tensor
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    optimizer: torch.optim.Optimizer
    data: TrainData
    masks: dict[str, torch.Tensor]
    order: torch.Tensor | None  # the caller's rows [S, L] or [S, epochs, L], or None: each seed shuffles
    order_streams: list[torch.Generator]

    def next_order(self, epoch: int, device: torch.device) -> torch.Tensor:
        if self.order is not None:
            return self.order if self.order.dim() == 2 else self.order[:, epoch]
        shuffles = torch.stack([torch.randperm(self.data.n_train, generator=g) for g in self.order_streams])
        return devices.from_host(shuffles, device)

    def without(self, leaving: torch.Tensor, cfg: TrainConfig) -> _Batch:
        """The batch minus the seeds flagged in leaving [len(index)]; optimizer state carried over.
        Each seed's slice of every tensor is computed independently, so the others train on exactly
        as they would have (a seed's shuffle comes from its own stream)."""
        keep_host = (~leaving).nonzero().squeeze(1)
        device = next(iter(self.params.values())).device
        keep = keep_host.to(device)
        n_now = len(self.index)
        params = {k: v.detach()[keep].requires_grad_(v.requires_grad) for k, v in self.params.items()}
        optimizer = _optimizer(list(params.values()), cfg)
        for old, new in zip(self.params.values(), params.values(), strict=True):
            optimizer.state[new] = {
                name: value[keep] if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == n_now else value
                for name, value in self.optimizer.state.get(old, {}).items()}
        data = replace(self.data, **{name: getattr(self.data, name)[keep] for name in self.data.per_seed})
        return _Batch(self.index[keep_host], params, {k: v[keep] for k, v in self.buffers.items()}, optimizer, data,
                      {k: v[keep] for k, v in self.masks.items()}, None if self.order is None else self.order[keep],
                      [self.order_streams[i] for i in keep_host.tolist()])


def _probed(probe: Probe, template, params: dict, buffers: dict, seeds, taken: dict, epoch: int) -> dict:
    """The probe's per-seed values on the weights as they are after `epoch`."""
    n_seeds = len(seeds)
    model = TrainResult(template, {k: v.detach() for k, v in params.items()}, buffers, {},
                        torch.full((n_seeds,), epoch + 1), torch.zeros(n_seeds, dtype=torch.long),
                        torch.zeros(n_seeds, dtype=torch.bool), list(seeds))
    measured = probe(model)
    for name, value in measured.items():
        if name in taken:
            raise ValueError(f"probe value {name!r} clashes with the trainer's own curve of that name; rename it")
        if value.shape != (n_seeds,):
            raise ValueError(f"probe value {name!r} has shape {tuple(value.shape)}; a probe returns one value "
                             f"per seed, shape ({n_seeds},)")
    return {name: value.detach() for name, value in measured.items()}


def _evaluated_as(cfg: TrainConfig) -> str | None:
    """The loss the per-epoch curves report. A loss object is reported as the cross-entropy it
    approximates (distillation, adversarial training) unless it says otherwise with an
    `evaluated_as` attribute; None there means its outputs are no class scores: no curves."""
    if isinstance(cfg.loss, str):
        return cfg.loss
    kind = cfg.loss.evaluated_as if isinstance(cfg.loss, ReportsAs) else "cross_entropy"
    if kind is None and (cfg.stop_at_train_acc is not None or cfg.stop_at_train_loss is not None):
        raise ValueError("stop_at_train_acc/loss need per-epoch curves, which a loss with evaluated_as=None does not give")
    if kind is not None and kind not in LOSSES:
        raise ValueError(f"evaluated_as must be one of {', '.join(LOSSES)} or None, got {kind!r}")
    return kind


def _load_start(params: dict, start: dict | None, masks: dict | None) -> None:
    """Overwrite the fresh init with `start`, then zero what `masks` prunes."""
    unknown = set(start or {}).union(masks or {}) - set(params)
    if unknown:
        raise ValueError(f"start/masks name parameters the model does not have: {sorted(unknown)}; "
                         f"it has {sorted(params)}")
    for what, stack in (("start", start), ("masks", masks)):
        for name, value in (stack or {}).items():
            if value.shape != params[name].shape:
                raise ValueError(f"{what}[{name!r}] has shape {tuple(value.shape)}, the model's "
                                 f"{name} {tuple(params[name].shape)}")
    with torch.no_grad():
        for name, value in (start or {}).items():
            params[name].copy_(value)
        for name, mask in (masks or {}).items():
            params[name].mul_(mask)


def _train_epoch(forward, batch: _Batch, cfg: TrainConfig, epoch: int, step: int, total_steps: int,
                 device) -> None:
    """One pass over the rows, each seed of the batch in its own order (a shuffle from its 'order'
    stream, or the caller's)."""
    forward.template.train()  # dropout on
    perms = batch.next_order(epoch, device)
    params, buffers, data, optimizer = batch.params, batch.buffers, batch.data, batch.optimizer
    n = perms.shape[1]
    size = cfg.batch_size or n
    before_step = cfg.loss.before_step if isinstance(cfg.loss, EditsGradients) else None
    last_batch = max(math.ceil(n / size) - 1, 1)
    for b, start in enumerate(range(0, n, size)):
        idx = perms[:, start:start + size]
        _set_lr(optimizer, cfg, step, total_steps)
        progress = b / last_batch
        loss = _train_loss(lambda x, **kw: forward(params, buffers, x, True, **kw), data, idx, cfg.loss,
                           params, progress)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()  # seeds are independent: each gets the gradient of its own mean loss
        if before_step is not None:
            with torch.no_grad():
                before_step(params, progress)
        optimizer.step()
        with torch.no_grad():
            for name, mask in batch.masks.items():
                params[name].mul_(mask)
        step += 1


class _EarlyStop:
    """Per-seed stop at a train-accuracy or train-loss target: a seed that reaches it keeps the
    weights (and buffers) it had then; without a target, nothing is kept. State is over all the
    run's seeds; a batch covers some of them (`_Batch.index`)."""

    def __init__(self, params: dict, buffers: dict, cfg: TrainConfig):
        self.acc_target, self.loss_target = cfg.stop_at_train_acc, cfg.stop_at_train_loss
        self.active = self.acc_target is not None or self.loss_target is not None
        n_seeds = next(iter(params.values())).shape[0]
        self.done = torch.zeros(n_seeds, dtype=torch.bool)
        self.epochs_run = torch.full((n_seeds,), cfg.epochs)
        self.frozen = {k: v.detach().clone() for k, v in {**params, **buffers}.items()} if self.active else None

    def curve_point(self, value: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """One evaluation's values over all seeds: NaN for a seed that had stopped before it."""
        if len(index) < len(self.done):
            full = torch.full((len(self.done),), torch.nan, dtype=value.dtype, device=value.device)
            value = full.index_copy(0, index.to(value.device), value)
        return torch.where(self.done.to(value.device), torch.nan, value)

    def update(self, epoch: int, metrics: dict, batch: _Batch) -> torch.Tensor:
        """Freeze the batch's seeds that reached the target this epoch (metrics on the host); returns
        them [len(batch.index)]."""
        reached = torch.zeros(len(batch.index), dtype=torch.bool)
        if self.acc_target is not None:
            reached |= metrics["train_acc"] >= self.acc_target
        if self.loss_target is not None:
            reached |= metrics["train_loss"] <= self.loss_target
        newly = reached & ~self.done[batch.index]
        if newly.any():
            device = next(iter(batch.params.values())).device
            on_device, rows = newly.to(device), batch.index[newly]
            for k, v in {**batch.params, **batch.buffers}.items():
                self.frozen[k][rows.to(device)] = v.detach()[on_device]
            self.epochs_run[rows] = epoch + 1
            self.done[rows] = True
        return newly

    @torch.no_grad()
    def final(self, batch: _Batch) -> tuple[dict, dict]:
        """Weights and buffers of every seed: as frozen at its target, else as the batch has them."""
        if self.frozen is None:
            return {k: v.detach() for k, v in batch.params.items()}, batch.buffers
        out = {k: v.clone() for k, v in self.frozen.items()}
        device = next(iter(out.values())).device
        training = ~self.done[batch.index]
        rows, pick = batch.index[training].to(device), training.to(device)
        for k, v in {**batch.params, **batch.buffers}.items():
            out[k][rows] = v.detach()[pick]
        return {k: out[k] for k in batch.params}, {k: out[k] for k in batch.buffers}


def _batched_forward(template):
    def forward(params, buffers, x, per_seed, **kwargs):
        return forward_all(template, params, buffers, x, per_seed, kwargs)
    forward.template = template
    return forward


def _single_forward(template):
    """One seed without vmap: plain module calls on the seed's slice, re-stacked as [1, ...]."""
    def forward(params, buffers, x, per_seed, **kwargs):
        p = {k: v[0] for k, v in params.items()}
        b = {k: v[0] for k, v in buffers.items()}
        return functional_call(template, (p, b), (x[0] if per_seed else x,), kwargs).unsqueeze(0)
    forward.template = template
    return forward


def _optimizer(params: list[torch.Tensor], cfg: TrainConfig) -> torch.optim.Optimizer:
    if callable(cfg.optimizer):
        optimizer = cfg.optimizer(params, lr=cfg.lr)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer factory {cfg.optimizer!r} returned {type(optimizer).__name__}, "
                            f"not a torch.optim.Optimizer over the parameters it was given")
        return optimizer
    # fused: one kernel per step instead of ~6 passes; on the 2-core CPU Adam over 8×287k
    # stacked weights took 5.4 ms/step with foreach and 1.7 ms fused (same math up to rounding).
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, fused=True)


def _set_lr(optimizer, cfg: TrainConfig, step: int, total_steps: int) -> None:
    if cfg.lr_schedule == "linear":
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * (1 - step / total_steps)


def _train_loss(model: Callable, data: TrainData, idx: torch.Tensor, loss, params: dict,
                progress: float) -> torch.Tensor:
    """Per-seed mean training loss [S] on the batch rows idx [S, B]. A loss object (LossObject)
    gets the model so that it may also attack it (adversarial training), the batch rows of the
    optional fields it may need (teacher_logits), the parameters and the epoch's progress."""
    x, y = data.rows("x", idx), data.rows("y", idx)
    if isinstance(loss, str):
        return per_seed_loss(model(x), y, loss)
    extras = {name: data.rows(name, idx) for name in OPTIONAL_FIELDS if getattr(data, name) is not None}
    return loss(model, x, y, {**extras, "params": params, "progress": progress})


def per_seed_loss(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-seed mean loss [S] of outputs [S, B, C] against labels [S, B] (or targets [S, B, C])."""
    if kind == "cross_entropy":
        return cross_entropy_per_seed(out, y)
    target = y if y.shape == out.shape else y.unsqueeze(-1).to(out.dtype)
    return ((out - target) ** 2).flatten(1).mean(1)


@torch.no_grad()
def _evaluate(forward, params, buffers, data: TrainData, loss_kind: str, test: bool) -> dict[str, torch.Tensor]:
    """Full-set loss and accuracy per seed on train (and test), in chunks; values stay on the
    device (copying each evaluation to the host would stall a GPU's queue every epoch)."""
    out = {}
    for split, (xn, yn) in {"train": ("x", "y"), "test": ("x_test", "y_test")}.items():
        x = getattr(data, xn)
        if x is None or (split == "test" and not test):
            continue
        y, per_seed_x, per_seed_y = getattr(data, yn), xn in data.per_seed, yn in data.per_seed
        n = y.shape[1] if per_seed_y else y.shape[0]
        losses, correct = [], []
        for start in range(0, n, EVAL_CHUNK):
            sl = slice(start, start + EVAL_CHUNK)
            xc = x[:, sl] if per_seed_x else x[sl]
            logits = forward(params, buffers, xc, per_seed_x)
            # labels [S, B] or targets [S, B, ...], whether stored per seed or shared
            yc = y[:, sl] if per_seed_y else y[sl].expand(logits.shape[0], *y[sl].shape)
            losses.append(per_seed_loss(logits, yc, loss_kind) * yc.shape[1])
            if loss_kind == "cross_entropy":
                correct.append((logits.argmax(-1) == yc).sum(1))
        out[f"{split}_loss"] = sum(losses) / n
        if correct:
            out[f"{split}_acc"] = sum(correct).float() / n
    return out


def _concat(parts: list[TrainResult], seeds) -> TrainResult:
    """Join 1-seed results into one S-seed result (curves padded with NaN to equal length)."""
    width = max((c.shape[1] for p in parts for c in p.curves.values()), default=0)
    curves = {k: torch.cat([F.pad(p.curves[k], (0, width - p.curves[k].shape[1]), value=torch.nan)
                            for p in parts]) for k in parts[0].curves}
    cat = lambda attr: {k: torch.cat([getattr(p, attr)[k] for p in parts]) for k in getattr(parts[0], attr)}
    state = None if parts[0].optimizer_state is None else {
        name: {k: torch.cat([p.optimizer_state[name][k] for p in parts]) if torch.is_tensor(v) and v.dim() > 0 else v
               for k, v in entries.items()} for name, entries in parts[0].optimizer_state.items()}
    return TrainResult(parts[0].template, cat("params"), cat("buffers"), curves,
                       torch.cat([p.epochs_run for p in parts]), torch.cat([p.steps_run for p in parts]),
                       torch.cat([p.reached_target for p in parts]), list(seeds), state)
