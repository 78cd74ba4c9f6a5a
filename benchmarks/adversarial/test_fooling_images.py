"""A3 — fooling images: a network gives ≥ 99% confidence to inputs that look like nothing and lie
far from every training example (Nguyen, Yosinski & Clune 2015, "Deep Neural Networks are Easily
Fooled", CVPR: ≥ 99.99% confidence MNIST fooling images for every class within 50 generations;
Goodfellow et al. 2015 §5: Gaussian "rubbish" inputs are classified confidently).

Claims: from uniform noise, signed-gradient ascent on one class's log-probability (step 0.01)
reaches p ≥ 0.99 for every class and start within 100 steps, and p ≥ 0.9999 within 150; a
gradient-free (1+λ) evolution reaches p ≥ 0.99 for ≥ 90% of them. The confident images lie far
from the data: ≥ 95% of them are farther from the training set (L2 to the nearest training digit)
than the farthest test digit is, and their median distance is ≥ 1.5× that test digit's. Control
(the start): the distance comes from the uniform noise the ascent starts at, so the claim is that
the ascent reaches near-certainty without walking to the data — the median image keeps ≥ 0.8 of
its start's distance to the nearest training digit. Plain uniform
noise is already "rubbish-class" material: max-softmax > 0.5 on ≥ 75% of it, > 0.9 on ≥ 30%.
Not claimed, recorded: how often other models (another seed, the CNN, 1-nearest-neighbour on the
training set) give the fooling image the same class — at this scale they mostly do.

Setting: digits, harness.trained_models "digits-mlp" (64-300-100-10, 30 epochs); 10 starts per class, each
from U[0,1]^64 (the seed's 'attack' stream); evolution: 16 children per generation, 10% of pixels
moved by N(0, 0.3²), 100 generations (200 in the full tier). 1000 uniform inputs for the rubbish test.

Measured (cpu, 2 threads, 10 seeds): steps to 0.99: median 17, worst 33–43; to 0.9999: median
26, worst 44–54. Nearest-training-digit distance (1 thread, seeds 0–4 and 200000–200004): test
digits ≤ 1.846; fooling images median 3.13–3.22 (1.70–1.74× the farthest test digit), per-seed
minimum 1.72–2.60, so 99–100% of them lie beyond every test digit; their starts median 3.53–3.60,
kept 0.878–0.906 of it (median per seed). The per-seed minimum, asserted before, is an extreme
value: it fell below the test maximum on seed 200000 (1.72), which is why a fraction and a median
are asserted now. Evolution: 100% reach 0.99 (min distance
2.37–2.70). Agreement: another MLP seed 1.00, CNN 0.76–0.99, 1-NN 0.78–0.98. Rubbish: > 0.5 on
0.909–0.954 of uniform noise, > 0.9 on 0.454–0.531.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from harness import Metric
from harness.data import load_dataset
from harness.ops.attacks import uniform_like
from harness.ops.fooling import evolved_fooling, gradient_fooling, nearest_distance
from harness.seeds import torch_generator
from harness.trained_models import trained

CLASSES = 10
CONFIDENT, NEAR_CERTAIN = 0.99, 0.9999


@dataclass(frozen=True)
class Config:
    recipe: str = "digits-mlp"
    starts: int = 10  # per class
    step: float = 0.01  # signed-gradient step (pixel range 1)
    max_steps: int = 150
    generations: int = 100
    children: int = 16
    sigma: float = 0.3
    rubbish_inputs: int = 1000


TIERS = {"smoke": Config(), "full": Config(generations=200)}


def start_images(cfg: Config, seeds: list[int], dim: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    targets = torch.arange(CLASSES, device=device).repeat_interleave(cfg.starts)
    x0 = uniform_like(torch.empty(len(seeds), len(targets), dim, device=device),
                      [torch_generator(s, "attack") for s in seeds])
    return targets, x0


@pytest.fixture(scope="module")
def fooled(device, cfg, seeds):
    digits = load_dataset("digits", device)
    result = trained(cfg.recipe, device, seeds)
    model = lambda v: result.forward(v, per_seed=True)
    targets, x0 = start_images(cfg, seeds, digits.x.shape[1], device)
    images, reached = gradient_fooling(model, targets, x0, step=cfg.step, max_steps=cfg.max_steps,
                                       thresholds=(CONFIDENT, NEAR_CERTAIN))
    evolved, evolved_p = evolved_fooling(model, targets, x0, generations=cfg.generations, children=cfg.children,
                                         sigma=cfg.sigma, generators=[torch_generator(s, "attack") for s in seeds])
    return {"model": model, "targets": targets, "starts": x0, "images": images, "reached": reached, "evolved": evolved,
            "evolved_p": evolved_p, "test_max_distance": float(nearest_distance(digits.x_test, digits.x).max())}


def test_gradient_fooling_images_are_confident_and_far(fooled, claim, device, cfg, seeds):
    """Every class and start: p ≥ 0.99 within 100 steps, ≥ 0.9999 within 150; ≥ 95% beyond every
    test digit, median ≥ 1.5× its distance; median keeps ≥ 0.8 of its start's distance."""
    digits = load_dataset("digits", device)
    images, targets = fooled["images"], fooled["targets"]
    others = {"other_seed": trained(cfg.recipe, device, [100 + s for s in seeds]), "cnn": trained("digits-cnn", device, seeds)}
    agree = {f"agreement_{name}": (r.forward(images, per_seed=True).argmax(-1) == targets).float().mean(1)
             for name, r in others.items()}
    nearest = torch.cdist(images.reshape(-1, images.shape[-1]), digits.x).argmin(-1).view(len(seeds), -1)
    agree["agreement_1nn"] = (digits.y[nearest] == targets).float().mean(1)
    values = {"worst_steps_to_099": fooled["reached"][CONFIDENT].max(1).values.float(),
              "worst_steps_to_09999": fooled["reached"][NEAR_CERTAIN].max(1).values.float(),
              "median_steps_to_099": fooled["reached"][CONFIDENT].float().median(1).values,
              **distances(images, fooled["starts"], digits.x, fooled["test_max_distance"]), **agree}
    specs = {"worst_steps_to_099": Metric("lower", abs_tol=10), "worst_steps_to_09999": Metric("lower", abs_tol=10),
             "median_steps_to_099": Metric("lower", abs_tol=5), "far_fraction": Metric("higher", abs_tol=0.02),
             "median_distance_over_test_max": Metric("higher", abs_tol=0.1),
             "median_distance_kept": Metric("target", abs_tol=0.05),
             **{name: Metric("target", abs_tol=0.15) for name in agree}}
    claim.record({k: v.cpu().numpy() for k, v in values.items()}, specs)
    claim.each_within("worst_steps_to_099", high=100)
    claim.each_within("worst_steps_to_09999", high=150)
    claim.each_within("far_fraction", low=0.95)
    claim.each_within("median_distance_over_test_max", low=1.5)
    claim.each_within("median_distance_kept", low=0.8)
    claim.note("test_max_distance", fooled["test_max_distance"])


def distances(images: torch.Tensor, starts: torch.Tensor, train_x: torch.Tensor, test_max: float) -> dict:
    """Per seed [S]: the fraction of images farther from the training set than the farthest test
    digit, their median distance over that test digit's, and the median of each image's distance
    over its start's (the control: how much of the distance the noise start already had)."""
    near, near_start = nearest_distance(images, train_x), nearest_distance(starts, train_x)
    return {"far_fraction": (near > test_max).float().mean(1),
            "median_distance_over_test_max": near.median(1).values / test_max,
            "median_distance_kept": (near / near_start).median(1).values}


def test_evolved_fooling_images(fooled, claim, device):
    """Without gradients, (1+λ) evolution still gets ≥ 90% of the images to p ≥ 0.99, far from the data."""
    digits = load_dataset("digits", device)
    values = {"evolved_fraction_099": (fooled["evolved_p"] >= CONFIDENT).float().mean(1),
              "evolved_distance_margin": nearest_distance(fooled["evolved"], digits.x).min(1).values
              - fooled["test_max_distance"]}
    claim.record({k: v.cpu().numpy() for k, v in values.items()},
                 {"evolved_fraction_099": Metric("higher", abs_tol=0.05),
                  "evolved_distance_margin": Metric("higher", abs_tol=0.2)})
    claim.at_least("evolved_fraction_099", 0.9)
    claim.each_within("evolved_distance_margin", low=0.0)


def test_uniform_noise_is_rubbish_class(fooled, claim, device, cfg, seeds):
    """Uniform noise: max-softmax > 0.5 on ≥ 75% of inputs and > 0.9 on ≥ 30%."""
    noise = uniform_like(torch.empty(len(seeds), cfg.rubbish_inputs, 64, device=device),
                         [torch_generator(s, "noise") for s in seeds])
    with torch.no_grad():
        confidence = fooled["model"](noise).softmax(-1).max(-1).values
    values = {"above_05": (confidence > 0.5).float().mean(1), "above_09": (confidence > 0.9).float().mean(1)}
    claim.record({k: v.cpu().numpy() for k, v in values.items()},
                 {"above_05": Metric("target", abs_tol=0.05), "above_09": Metric("target", abs_tol=0.05)})
    claim.at_least("above_05", 0.75)
    claim.at_least("above_09", 0.3)


def test_gradient_fooling_time(bench, claim, fooled, device, cfg, seeds):
    """Times the gradient search for every class and start, all seeds at once."""
    targets, x0 = start_images(cfg, seeds, 64, device)
    _, reached = bench(lambda: gradient_fooling(fooled["model"], targets, x0, step=cfg.step, max_steps=cfg.max_steps,
                                                thresholds=(CONFIDENT,)))
    claim.record({"fraction_099": (reached[CONFIDENT] <= cfg.max_steps).float().mean(1).cpu().numpy()},
                 {"fraction_099": Metric("higher", abs_tol=0.0)})
    claim.at_least("fraction_099", 1.0)
