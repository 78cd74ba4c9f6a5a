"""Continual-learning metrics, EWC, replay and HAT, on inputs whose answers are known by hand."""

import pytest
import torch
import torch.nn.functional as F

from harness.data import load_dataset
from harness.kits.hat import HATLoss, HATNet, HATStrategy, with_task_id
from harness.models import mlp
from harness.ops.continual import (
    EWC,
    EWCStrategy,
    FineTune,
    Replay,
    ReplayStrategy,
    average_accuracy,
    backward_transfer,
    class_balanced_sample,
    diagonal_fisher,
    forgetting,
    permuted_tasks,
    split_tasks,
    task_accuracy,
    train_sequence,
)
from harness.train import TrainConfig, TrainData, train

R3 = torch.tensor([[0.9, 0.1, 0.1],
                   [0.5, 0.8, 0.2],
                   [0.4, 0.6, 0.7]])


def test_matrix_metrics_by_hand():
    assert average_accuracy(R3).item() == pytest.approx((0.4 + 0.6 + 0.7) / 3)
    assert forgetting(R3).item() == pytest.approx(((0.9 - 0.4) + (0.8 - 0.6)) / 2)
    assert backward_transfer(R3).item() == pytest.approx(((0.4 - 0.9) + (0.6 - 0.8)) / 2)


def test_forgetting_counts_from_the_best_and_bwt_from_the_start():
    # task 0 improved while task 1 was learned (0.5 → 0.9), then fell to 0.7
    R = torch.tensor([[0.5, 0.0, 0.0], [0.9, 0.8, 0.0], [0.7, 0.8, 0.9]])
    assert forgetting(R).item() == pytest.approx(((0.9 - 0.7) + 0.0) / 2)
    assert backward_transfer(R).item() == pytest.approx(((0.7 - 0.5) + 0.0) / 2)


def test_matrix_metrics_keep_leading_seed_axes_and_refuse_non_square():
    stacked = torch.stack([R3, torch.eye(3)])
    assert torch.allclose(forgetting(stacked), torch.tensor([0.35, 1.0]))
    assert torch.allclose(average_accuracy(stacked), torch.tensor([1.7 / 3, 1 / 3]))
    with pytest.raises(ValueError, match=r"\[\.\.\., T, T\]"):
        forgetting(torch.ones(3, 2))


def test_task_accuracy_argmax_runs_over_the_task_classes_only():
    logits = torch.tensor([[[0.0, 1.0, 5.0, 0.0], [2.0, 0.0, 9.0, 9.0]]])  # [S=1, B=2, C=4]
    y = torch.tensor([1, 0])
    assert task_accuracy(logits, y, (0, 1)).tolist() == [1.0]
    assert (logits.argmax(-1) == y).float().mean().item() == 0.0  # the class-incremental reading


def test_ewc_single_quadratic_has_the_gradient_of_the_per_task_sum():
    g = torch.Generator().manual_seed(0)
    shape = (2, 5, 3)
    anchors = [{"w": torch.randn(shape, generator=g)} for _ in range(3)]
    fishers = [{"w": torch.rand(shape, generator=g)} for _ in range(3)]
    precision = {"w": sum(f["w"] for f in fishers)}
    center = {"w": sum(f["w"] * a["w"] for f, a in zip(fishers, anchors, strict=True)) / precision["w"]}
    theta = torch.randn(shape, generator=g, requires_grad=True)
    merged = EWC(center, precision, strength=3.0).penalty({"w": theta})
    separate = sum(1.5 * (f["w"] * (theta - a["w"]) ** 2).flatten(1).sum(1) for f, a in zip(fishers, anchors, strict=True))
    (g_merged,) = torch.autograd.grad(merged.sum(), theta)
    (g_separate,) = torch.autograd.grad(separate.sum(), theta)
    assert torch.allclose(g_merged, g_separate, atol=1e-5)
    assert merged.shape == (2,)


# a plain MLP takes the (δ²)ᵀ(a²) shortcut; with a dropout layer (inactive when evaluating) the same
# network goes through the per-example gradients: both must match the explicit loops
PATHS = pytest.mark.parametrize("dropout", [0.0, 0.1], ids=["plain-mlp-shortcut", "per-example-gradients"])


@PATHS
def test_empirical_fisher_is_the_mean_squared_per_example_gradient(dropout):
    digits = load_dataset("digits")
    x, y = digits.x[:40], digits.y[:40]
    result = train(lambda: mlp([64, 8, 10], dropout=dropout), TrainData(x, y), [0, 1],
                   TrainConfig(epochs=1, batch_size=20), "cpu")
    fisher = diagonal_fisher(result, x, y)
    for i in range(2):
        model = result.model(i)
        expected = {k: torch.zeros_like(v) for k, v in model.named_parameters()}
        for xi, yi in zip(x, y, strict=True):
            model.zero_grad()
            F.cross_entropy(model(xi[None]), yi[None]).backward()
            for k, p in model.named_parameters():
                expected[k] += p.grad ** 2 / len(x)
        for k, value in expected.items():
            assert torch.allclose(fisher[k][i], value, atol=1e-6, rtol=1e-4), k


@PATHS
def test_true_fisher_weighs_every_class_by_the_models_probability(dropout):
    digits = load_dataset("digits")
    x = digits.x[:12]
    result = train(lambda: mlp([64, 6, 10], dropout=dropout), TrainData(x, digits.y[:12]), [0, 1],
                   TrainConfig(epochs=1, batch_size=6), "cpu")
    fisher = diagonal_fisher(result, x)
    for i in range(2):
        model = result.model(i)
        expected = {k: torch.zeros_like(v) for k, v in model.named_parameters()}
        for xi in x:
            log_p = F.log_softmax(model(xi[None]), -1)[0]
            for c in range(10):
                model.zero_grad()
                log_p[c].backward(retain_graph=True)
                for k, p in model.named_parameters():
                    expected[k] += log_p[c].exp().detach() * p.grad ** 2 / len(x)
        for k, value in expected.items():
            assert torch.allclose(fisher[k][i], value, atol=1e-6, rtol=1e-4), k


def test_ewc_strategy_rejects_an_unknown_fisher():
    with pytest.raises(ValueError, match="'true' or 'empirical'"):
        EWCStrategy(1.0, fisher="diagonal")


def test_ewc_strategy_penalises_moving_away_from_the_first_task():
    digits = load_dataset("digits")
    tasks = split_tasks(digits, [(0, 1), (2, 3)])
    strategy = EWCStrategy(strength=10.0, fisher_examples=50)
    assert strategy.loss(0) == "cross_entropy"
    result = train(lambda: mlp([64, 8, 10]), tasks[0].train, [0], TrainConfig(epochs=1), "cpu")
    strategy.learned(0, result, tasks[0])
    loss = strategy.loss(1)
    assert loss.penalty(result.params).abs().max() < 1e-6  # at the anchor: no penalty
    moved = {k: v + 0.1 for k, v in result.params.items()}
    assert loss.penalty(moved).item() > 0


def test_replay_mixes_the_batch_loss_with_the_whole_memory():
    logits_of = lambda x: x
    x = torch.tensor([[[2.0, 0.0]]])
    memory_x = torch.tensor([[[0.0, 3.0], [1.0, 1.0]]])
    y, memory_y = torch.tensor([[0]]), torch.tensor([[1, 0]])
    loss = Replay(memory_x, memory_y, weight=0.25)(logits_of, x, y, {})
    current = F.cross_entropy(x[0], y[0])
    memory = F.cross_entropy(memory_x[0], memory_y[0])
    assert loss.item() == pytest.approx((0.75 * current + 0.25 * memory).item())


def test_class_balanced_sample_takes_that_many_of_every_class():
    y = torch.tensor([0] * 10 + [1] * 5 + [2] * 7)
    picks = class_balanced_sample(y, 3, seed=0)
    assert torch.bincount(y[picks]).tolist() == [3, 3, 3]
    assert torch.equal(picks, class_balanced_sample(y, 3, seed=0))
    with pytest.raises(ValueError, match="fewer than the 6"):
        class_balanced_sample(y, 6, seed=0)


def test_permuted_tasks_start_from_the_identity_and_permute_features_per_seed():
    digits = load_dataset("digits")
    tasks = permuted_tasks(digits, 3, [0, 1])
    assert torch.equal(tasks[0].train.x[1], digits.x)
    for t in tasks[1:]:
        assert t.per_seed and t.train.x.shape == (2, *digits.x.shape)
        assert torch.equal(t.train.x[0].sort(1).values, digits.x.sort(1).values)  # same values, moved
        assert not torch.equal(t.train.x[0], t.train.x[1])  # each seed its own permutation
    assert with_task_id(digits.x[:2], 3)[:, -1].tolist() == [3.0, 3.0]


def test_train_sequence_fills_the_matrix_and_fine_tuning_forgets_split_classes():
    digits = load_dataset("digits")
    tasks = split_tasks(digits, [(0, 1), (2, 3)])
    out = train_sequence(lambda: mlp([64, 32, 10]), tasks, [0, 1], TrainConfig(epochs=3, batch_size=32, lr=1e-2), "cpu",
                         FineTune())
    R, R_task = out["R"], out["R_task"]
    assert R.shape == R_task.shape == (2, 2, 2)
    assert (R[:, 0, 0] > 0.9).all() and (R[:, 1, 0] < 0.1).all()  # the shared head forgets 0/1
    assert (R_task >= R - 1e-6).all()  # knowing the task never hurts


def test_methods_that_begin_alike_can_share_their_first_task():
    """Replay and EWC begin with plain cross-entropy: given the first task fine-tuning trained, they
    fill the same matrices as when they train it themselves; HAT begins otherwise and is refused."""
    digits = load_dataset("digits")
    tasks = split_tasks(digits, [(0, 1), (2, 3), (4, 5)])
    cfg, factory = TrainConfig(epochs=2, batch_size=32, lr=1e-2), lambda: mlp([64, 32, 10])
    plain = train_sequence(factory, tasks, [0, 1], cfg, "cpu", FineTune())
    for strategy in (lambda: ReplayStrategy([0, 1], 5), lambda: EWCStrategy(100.0)):
        alone = train_sequence(factory, tasks, [0, 1], cfg, "cpu", strategy())
        shared = train_sequence(factory, tasks, [0, 1], cfg, "cpu", strategy(), first=plain["first"])
        torch.testing.assert_close(shared["R"], alone["R"])
        assert shared["first"] is plain["first"]
    with pytest.raises(ValueError, match="begins with .* train its first task itself"):
        train_sequence(factory, tasks, [0, 1], cfg, "cpu", HATStrategy(), first=plain["first"])


def hat_grads(previous):
    net = HATNet(4, (3, 2), num_tasks=2, num_classes=2)
    params = {k: torch.ones(1, *v.shape) for k, v in net.named_parameters()}
    for v in params.values():
        v.grad = torch.ones_like(v)
    HATLoss(task=1, previous=previous).before_step(params, progress=1.0)
    return params


def test_hat_freezes_the_weights_of_units_earlier_tasks_use():
    previous = (torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
    params = hat_grads(previous)
    assert params["layers.0.weight"].grad[0, 0].abs().sum() == 0  # unit 0 of layer 0 is taken
    assert (params["layers.0.weight"].grad[0, 1:] == 1).all()
    assert params["layers.0.bias"].grad[0].tolist() == [0.0, 1.0, 1.0]
    # layer 1: frozen where both ends are taken: output unit 1 from input unit 0 only
    expected = torch.ones(2, 3)
    expected[1, 0] = 0.0
    assert torch.equal(params["layers.1.weight"].grad[0], expected)
    assert (params["heads.1.weight"].grad == 1).all()  # heads are per task: never frozen


def test_hat_compensates_the_embedding_gradient_and_clamps_embeddings():
    params = hat_grads(None)
    e = params["embeddings.0.weight"]
    assert torch.isfinite(e.grad).all()
    # at s = s_max the compensation is (cosh(s·e) + 1)/(cosh(e) + 1) for e = 1, clamped to 50 inside
    s = 400.0
    factor = (torch.cosh(torch.tensor(min(s, 50.0))) + 1) / (torch.cosh(torch.tensor(1.0)) + 1)
    assert torch.allclose(e.grad, factor.expand_as(e.grad))
    e.data.fill_(9.0)
    HATLoss(task=0).before_step(params, progress=0.0)
    assert e.max() == 6.0


def test_hat_keeps_the_first_task_when_learning_the_second():
    digits = load_dataset("digits")
    tasks = permuted_tasks(digits, 2, [0], transform=with_task_id)
    out = train_sequence(lambda: HATNet(64, (256, 256), 2, 10), tasks, [0],
                         TrainConfig(epochs=3, batch_size=32, optimizer="sgd", lr=0.1), "cpu", HATStrategy())
    R = out["R"][0]
    assert R[0, 0] > 0.5  # HAT learns slowly: its gates anneal anew every epoch (0.63 after 3)
    assert abs(R[1, 0] - R[0, 0]) <= 0.01  # and the second task leaves the first alone
