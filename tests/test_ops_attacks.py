"""Attacks on problems with known answers: FGSM on a linear model is the closed form, PGD stays in
the ε-ball and the box, the noise control has FGSM's norm, and adversarial training batches."""

import pytest
import torch

from harness.data import load_dataset
from harness.models import mlp
from harness.ops.attacks import AdversarialTraining, error_and_confidence, fgsm, pgd, sign_noise
from harness.ops.fooling import evolved_fooling, gradient_fooling, nearest_distance
from harness.seeds import torch_generator
from harness.train import TrainConfig, TrainData, train


def linear_model(w: torch.Tensor, b: torch.Tensor):
    """Two seeds' linear classifiers w [S, C, D], b [S, C] as a stacked model."""
    return lambda x: torch.einsum("scd,snd->snc", w, x) + b[:, None, :]


def test_fgsm_on_a_linear_model_is_eps_times_sign_of_the_weight_difference():
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(2, 2, 6, generator=g), torch.randn(2, 2, generator=g)
    x, y = torch.rand(2, 5, 6, generator=g) * 0.5 + 0.25, torch.randint(0, 2, (5,), generator=g)
    # two classes: ∇ₓCE = p_other · (w_other − w_y), so its sign is sign(w_other − w_y)
    direction = torch.stack([(w[s, 1 - y] - w[s, y]).sign() for s in range(2)])
    torch.testing.assert_close(fgsm(linear_model(w, b), x, y, 0.2, box=(-10, 10)), x + 0.2 * direction)


def test_pgd_stays_in_the_ball_and_the_box_and_repeats():
    g = torch.Generator().manual_seed(1)
    model = linear_model(torch.randn(3, 4, 8, generator=g), torch.zeros(3, 4))
    x, y = torch.rand(3, 20, 8, generator=g), torch.randint(0, 4, (20,), generator=g)
    gens = lambda: [torch_generator(s, "attack") for s in range(3)]
    adv = pgd(model, x, y, 0.3, steps=10, step_size=0.1, generators=gens())
    assert (adv - x).abs().max() <= 0.3 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert torch.equal(adv, pgd(model, x, y, 0.3, steps=10, step_size=0.1, generators=gens()))
    loss = lambda v: torch.nn.functional.cross_entropy(model(v).flatten(0, 1), y.repeat(3))
    assert loss(adv) > loss(fgsm(model, x, y, 0.3)) - 1e-4 > loss(x)  # PGD at least as strong as FGSM here
    with pytest.raises(ValueError, match="generators"):
        pgd(model, x, y, 0.3, steps=1, step_size=0.1, generators=gens()[:2])


def test_sign_noise_has_fgsm_norm_inside_the_box():
    x = torch.full((2, 50, 4), 0.5)
    noisy = sign_noise(x, 0.1, [torch_generator(s, "noise") for s in (0, 1)])
    torch.testing.assert_close((noisy - x).abs(), torch.full_like(x, 0.1))
    assert not torch.equal(noisy[0], noisy[1])  # each seed its own stream
    assert sign_noise(torch.ones(1, 3, 2), 0.5, [torch_generator(0, "noise")]).max() <= 1


def test_error_and_confidence_by_hand():
    logits = torch.tensor([[[4.0, 0.0], [0.0, 4.0], [4.0, 0.0]]]).log_softmax(-1)  # p = 0.982 for the argmax
    error, confidence = error_and_confidence(lambda x: logits, None, torch.tensor([0, 0, 1]))
    torch.testing.assert_close(error, torch.tensor([2 / 3]))
    torch.testing.assert_close(confidence, torch.tensor([1 / (1 + torch.exp(torch.tensor(-4.0)).item())]))


@pytest.mark.parametrize("loss", [AdversarialTraining(eps=0.1), AdversarialTraining(eps=0.1, steps=2)],
                         ids=["fgsm", "pgd-2"])
def test_adversarial_training_batches_and_repeats(loss):
    digits = load_dataset("digits").subset(n_train=128, n_test=64)
    cfg = TrainConfig(epochs=2, batch_size=64, loss=loss)
    runs = [train(lambda: mlp([64, 16, 10]), TrainData.of(digits), [0, 1], cfg, "cpu") for _ in range(2)]
    assert torch.equal(runs[0].params["0.weight"], runs[1].params["0.weight"])  # PGD's start is seeded
    if loss.steps == 0:  # deterministic attack: the per-seed loop computes the same thing
        sequential = train(lambda: mlp([64, 16, 10]), TrainData.of(digits), [0, 1], cfg, "cpu", batched=False)
        torch.testing.assert_close(runs[0].params["0.weight"], sequential.params["0.weight"], rtol=1e-4, atol=1e-5)


def test_gradient_fooling_reaches_targets_and_reports_steps():
    g = torch.Generator().manual_seed(4)
    model = linear_model(torch.randn(2, 3, 5, generator=g) * 3, torch.zeros(2, 3))
    targets = torch.tensor([0, 1, 2])
    x0 = torch.full((2, 3, 5), 0.5)
    images, reached = gradient_fooling(model, targets, x0, step=0.05, max_steps=40, thresholds=(0.9, 0.99))
    p = model(images).softmax(-1).gather(-1, targets.expand(2, -1).unsqueeze(-1)).squeeze(-1)
    done = reached[0.99] <= 40
    assert (p[done] >= 0.99).all() and (reached[0.9] <= reached[0.99]).all()
    assert images.min() >= 0 and images.max() <= 1


def test_gradient_fooling_stops_where_every_image_is_done_however_rarely_the_host_looks(monkeypatch):
    """Reading the stop flag every 8 steps (as on a GPU) gives the images and steps of reading it
    at every step, with 8× fewer host reads."""
    g = torch.Generator().manual_seed(8)
    model = linear_model(torch.randn(2, 3, 5, generator=g) * 10, torch.zeros(2, 3))
    targets, x0 = torch.tensor([0, 1, 2]), torch.full((2, 3, 5), 0.5)
    reads = {"n": 0}
    original = torch.Tensor.__bool__
    monkeypatch.setattr(torch.Tensor, "__bool__", lambda t: reads.__setitem__("n", reads["n"] + 1) or original(t))
    runs = {}
    for every in (1, 8):
        reads["n"] = 0
        runs[every] = gradient_fooling(model, targets, x0, step=0.01, max_steps=200, thresholds=(0.9, 0.99),
                                       check_every=every), reads["n"]
    (images, reached), step_reads = runs[1]
    (rare_images, rare_reached), rare_reads = runs[8]
    assert reached[0.99].max() < 200 and reached[0.99].max() % 8  # stopped between two reads
    assert torch.equal(images, rare_images)
    assert all(torch.equal(reached[t], rare_reached[t]) for t in reached)
    assert rare_reads <= -(-step_reads // 8) + 1  # one read per 8 steps, and the one that sees the stop


def test_evolution_never_gets_worse_and_repeats():
    g = torch.Generator().manual_seed(5)
    model = linear_model(torch.randn(1, 3, 8, generator=g), torch.zeros(1, 3))
    targets, x0 = torch.tensor([0, 2]), torch.rand(1, 2, 8, generator=g)
    start = model(x0).softmax(-1)[0, [0, 1], targets]
    runs = [evolved_fooling(model, targets, x0, generations=20, children=4, sigma=0.3,
                            generators=[torch_generator(0, "attack")]) for _ in range(2)]
    assert torch.equal(runs[0][0], runs[1][0])
    assert (runs[0][1][0] >= start - 1e-6).all()


def test_nearest_distance_by_hand():
    reference = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    torch.testing.assert_close(nearest_distance(torch.tensor([[[3.0, 0.0], [3.0, 5.0]]]), reference),
                               torch.tensor([[3.0, 1.0]]))
