"""L3 — large-batch training lands in sharper minima, and generalizes a little worse (Keskar,
Mudigere, Nocedal, Smelyanskiy & Tang 2017, "On large-batch training for deep learning:
generalization gap and sharp minima", ICLR).

Claims (large batch over small batch, both trained to the same training loss — checked: each
net's final full-training-set loss in [0.15, 0.3] on every seed): top Hessian
eigenvalue ratio ≥ 5 on every seed; Keskar's ε-sharpness ratio ≥ 1.5 on average; the small-batch
net has the higher test accuracy on all seeds but at most one.

Setting: MNIST-1D (4000/1000), MLP 40-128-128-10, SGD momentum 0.9, lr 0.05, batch 32 against
1000 (smoke: 500), each seed trained until its full-training-set loss is < 0.3 (at equal epochs the
large-batch net is undertrained and the comparison inverts). ε-sharpness: 100·(max L(θ + δ) −
L(θ))/(1 + L(θ)) over |δ_i| ≤ 1e-3·(|θ_i| + 1), 20 steps of sign ascent; both measures on the
training set (harness.ops.landscape). Not on digits, not with Adam (the first calibration found no effect there).

Measured (cpu, 2 threads, 5 seeds, 27 s): the small batch reaches loss 0.3 in 17±1 epochs, the
large batch in 160 (all seeds between 150 and 160; read every 10 epochs); λ_max 1.42±0.13 against
22.0±1.7, ratio 15.5±0.8 (first calibration: 16.4±2.3); ε-sharpness ratio 3.61±0.30 (3.1±0.6); test
accuracy 0.656±0.021 against 0.607±0.006, small batch ahead on every seed, gap 0.049±0.019.
Final training loss (1 thread, 12 seeds): small 0.217–0.298, large 0.247–0.290 (gap −0.046 to
0.058: the small batch's last epoch overshoots the target most).

Smoke tier since: large batch 500, read every 5 epochs (the 1000-batch arm was half of the file's
15–18 s; at 500 it reaches loss 0.3 in 80–85 epochs instead of 160, 3–3.5 s against 6–8 s for
three seeds). 1 thread, seeds 0–5 / 6–11 / held-out 200000–200005: λ_max ratio 12.3 / 12.3 /
12.2 (lowest seed 9.5; at 1000 it was 15.5), large-batch λ_max 16.1–19.0; ε-sharpness ratio
3.29 / 3.51 / 3.52 (lowest 2.56); test accuracy gap 0.052 / 0.052 / 0.041, small batch ahead on
all 18 seeds (lowest 0.016); final training losses 0.240–0.298 in both arms.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from harness import Metric
from harness.data import load_dataset
from harness.models import build, mlp
from harness.ops.landscape import epsilon_sharpness, loss_of, seed_slice, top_eigenvalue
from harness.seeds import torch_generator
from harness.train import TrainConfig, TrainData, train


@dataclass(frozen=True)
class Config:
    widths: tuple = (40, 128, 128, 10)
    target_loss: float = 0.3
    small_batch: int = 32
    large_batch: int = 1000
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1, optimizer="sgd", lr=0.05, momentum=0.9,
                                                                    test_curves=False))
    max_epochs: dict = field(default_factory=lambda: {32: 60, 1000: 1500})
    eval_every: dict = field(default_factory=lambda: {32: 1, 1000: 10})
    power_iters: int = 30


# smoke: the large batch is 500 (an eighth of the training set), which reaches the target loss
# in half the epochs of 1000 at the same lr; the full tier keeps 1000
TIERS = {"smoke": Config(large_batch=500, max_epochs={32: 60, 500: 1500}, eval_every={32: 1, 500: 5}),
         "full": Config(power_iters=60)}


def measure(cfg: Config, batch: int, device, seeds: list[int]) -> dict:
    """Per seed at the given batch size: epochs to the target loss, test accuracy, λ_max, ε-sharpness."""
    ds = load_dataset("mnist1d", device)
    training = replace(cfg.train, batch_size=batch, epochs=cfg.max_epochs[batch], eval_every=cfg.eval_every[batch],
                       stop_at_train_loss=cfg.target_loss)
    result = train(lambda: mlp(cfg.widths), TrainData.of(ds), seeds, training, device)
    if not result.reached_target.all():
        raise RuntimeError(f"batch {batch}: seeds {[s for s, r in zip(seeds, result.reached_target) if not r]} did "
                           f"not reach train loss {cfg.target_loss} in {cfg.max_epochs[batch]} epochs; raise max_epochs")
    loss = loss_of(result.template, {}, ds.x, ds.y)
    thetas = [seed_slice(result.params, i) for i in range(len(seeds))]
    return {"epochs": result.epochs_run.numpy(),
            "train_loss": np.array([float(loss(t)) for t in thetas]),
            "test_acc": result.accuracy(ds.x_test, ds.y_test).cpu().numpy(),
            "lambda_max": np.array([top_eigenvalue(loss, t, torch_generator(s, "eval"), iters=cfg.power_iters)
                                    for t, s in zip(thetas, seeds, strict=True)]),
            "eps_sharpness": np.array([epsilon_sharpness(loss, t) for t in thetas])}


def run(cfg: Config, device, seeds: list[int]) -> dict:
    small, large = measure(cfg, cfg.small_batch, device, seeds), measure(cfg, cfg.large_batch, device, seeds)
    out = {f"{name}_{k}": v for name, m in (("small", small), ("large", large)) for k, v in m.items()}
    out["lambda_max_ratio"] = large["lambda_max"] / small["lambda_max"]
    out["eps_sharpness_ratio"] = large["eps_sharpness"] / small["eps_sharpness"]
    out["test_acc_gap"] = small["test_acc"] - large["test_acc"]
    out["train_loss_gap"] = large["train_loss"] - small["train_loss"]
    return out


METRICS = {
    "small_test_acc": Metric("higher", abs_tol=0.03),
    "large_test_acc": Metric("target", abs_tol=0.03),
    "small_lambda_max": Metric("target", abs_tol=5.0),
    "large_lambda_max": Metric("target", abs_tol=50.0),
    "lambda_max_ratio": Metric("higher", abs_tol=4.0),
    "eps_sharpness_ratio": Metric("higher", abs_tol=1.0),
    "test_acc_gap": Metric("higher", abs_tol=0.03),
    "small_epochs": Metric("target", abs_tol=5),
    "large_epochs": Metric("target", abs_tol=100),
    "small_train_loss": Metric("target", abs_tol=0.02),
    "large_train_loss": Metric("target", abs_tol=0.02),
    "train_loss_gap": Metric("target", abs_tol=0.02),
}
# "Trained to the same training loss" is checked, not assumed: each net's final full-training-set
# loss lies in [0.15, 0.3]. The small batch is read once per epoch of 125 steps, which near the
# target moves the loss by up to ~0.08, so it can end that far below 0.3.
FINAL_LOSS_BAND = (0.15, 0.3)


def test_large_batch_finds_sharper_minima(device, cfg, seeds, claim):
    """Both final train losses in [0.15, 0.3] per seed; λ_max ratio ≥ 5 per seed, mean ε-sharpness
    ratio ≥ 1.5, small batch ahead on ≥ n − 1 seeds."""
    result = run(cfg, device, seeds)
    claim.record(result, METRICS)
    for arm in ("small", "large"):
        claim.each_within(f"{arm}_train_loss", *FINAL_LOSS_BAND)
    claim.each_within("lambda_max_ratio", low=5)
    claim.at_least("eps_sharpness_ratio", 1.5)
    claim.each_above("test_acc_gap", 0.0, but=1)


def test_epsilon_sharpness_time(bench, claim, device, seeds):
    """Times Keskar's ε-sharpness (20 ascent steps on the 4000 training rows) at init; the ascent
    must raise the loss."""
    ds = load_dataset("mnist1d", device)

    def sharpness(seed: int) -> float:
        model = build(lambda: mlp(Config().widths), seed, device=device)
        params = {k: v.detach() for k, v in model.named_parameters()}
        return epsilon_sharpness(loss_of(model, {}, ds.x, ds.y), params)
    first = bench(lambda: sharpness(seeds[0]))  # the timed unit; every seed's value is recorded (0.52–0.61)
    claim.record({"eps_sharpness_at_init": [first] + [sharpness(s) for s in seeds[1:]]},
                 {"eps_sharpness_at_init": Metric("target", abs_tol=0.05)})
    claim.above("eps_sharpness_at_init", 0.0)
