"""The batched trainer computes what the per-seed loop computes, and honours its config."""

import functools
from dataclasses import replace

import pytest
import torch
from torch import nn

from harness.data import load_dataset, noisy_labels
from harness.kits.hat import HATNet
from harness.models import ResidualCNN, ResidualMLP, cnn2d, mlp
from harness.train import TrainConfig, TrainData, init_params, train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.mark.parametrize("cfg", [
    TrainConfig(epochs=3, batch_size=64, optimizer="adam", lr=1e-3),
    TrainConfig(epochs=3, batch_size=None, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-3,
                lr_schedule="linear"),
    TrainConfig(epochs=3, batch_size=64, optimizer=functools.partial(torch.optim.RMSprop, alpha=0.9), lr=1e-3),
    TrainConfig(epochs=2, batch_size=64, optimizer=torch.optim.Adagrad, lr=1e-2, lr_schedule="linear"),
], ids=["adam-minibatch", "sgd-momentum-fullbatch-linear", "own-optimizer-partial", "own-optimizer-class"])
def test_batched_equals_sequential(digits, cfg):
    labels = torch.stack([noisy_labels(digits.y, 0.5, 10, s)[0] for s in (3, 5, 8)])
    data = TrainData.of(digits, y=labels)
    factory = lambda: mlp([64, 32, 10])
    batched = train(factory, data, [3, 5, 8], cfg, "cpu")
    sequential = train(factory, data, [3, 5, 8], cfg, "cpu", batched=False)
    for name in batched.params:
        torch.testing.assert_close(batched.params[name], sequential.params[name], rtol=1e-4, atol=1e-5)
    for name in batched.curves:
        torch.testing.assert_close(batched.curves[name], sequential.curves[name], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("factory", [lambda: cnn2d(channels=(4,)), lambda: ResidualCNN(channels=4, depth=2)],
                         ids=["cnn2d", "residual-cnn"])
def test_convolutional_models_batch_too(digits, factory):
    small = digits.subset(n_train=128, n_test=64)
    cfg = TrainConfig(epochs=1, batch_size=64)
    batched = train(factory, TrainData.of(small), [0, 1], cfg, "cpu")
    sequential = train(factory, TrainData.of(small), [0, 1], cfg, "cpu", batched=False)
    for name in batched.params:
        torch.testing.assert_close(batched.params[name], sequential.params[name], rtol=1e-4, atol=1e-5)


def test_seeds_differ_and_repeat(digits):
    cfg = TrainConfig(epochs=1, batch_size=128)
    a = train(lambda: mlp([64, 16, 10]), TrainData.of(digits), [0, 1], cfg, "cpu")
    b = train(lambda: mlp([64, 16, 10]), TrainData.of(digits), [0, 1], cfg, "cpu")
    w = "0.weight"
    assert torch.equal(a.params[w], b.params[w])
    assert not torch.equal(a.params[w][0], a.params[w][1])


def test_early_stop_freezes_each_seed(digits):
    small = digits.subset(n_train=100)
    cfg = TrainConfig(epochs=200, batch_size=50, lr=1e-2, stop_at_train_acc=1.0)
    result = train(lambda: mlp([64, 64, 10]), TrainData.of(small), [0, 1, 2], cfg, "cpu")
    assert result.reached_target.all()
    assert (result.accuracy(small.x, small.y) == 1.0).all()
    for i, epochs in enumerate(result.epochs_run.tolist()):  # the curve ends where the seed stopped
        assert torch.isnan(result.curves["train_acc"][i, epochs:]).all()
        assert result.curves["train_acc"][i, epochs - 1] == 1.0
    assert result.steps_run.tolist() == [e * 2 for e in result.epochs_run.tolist()]


def test_seed_model_is_an_ordinary_module(digits):
    result = train(lambda: mlp([64, 16, 10]), TrainData.of(digits), [4, 9], TrainConfig(epochs=1), "cpu")
    model = result.model(1)
    torch.testing.assert_close(model(digits.x_test), result.forward(digits.x_test)[1])


@pytest.mark.parametrize("kwargs, message", [
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
    ({"lr_schedule": "cosine"}, "unknown lr_schedule 'cosine'"),
    ({"epochs": 0}, "must be ≥ 1"),
])
def test_bad_config_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{"epochs": 1, **kwargs})


def test_duplicate_seeds_are_refused(digits):
    with pytest.raises(ValueError, match="duplicates"):
        train(lambda: mlp([64, 10]), TrainData.of(digits), [1, 1], TrainConfig(epochs=1), "cpu")


def test_inconsistent_data_is_refused(digits):
    with pytest.raises(ValueError, match="x has 1300 examples but y has 10"):
        TrainData(digits.x, digits.y[:10])
    labels = torch.stack([digits.y, digits.y])
    with pytest.raises(ValueError, match="y stacks 2 seeds but 3 seeds are trained"):
        train(lambda: mlp([64, 10]), TrainData.of(digits, y=labels), [0, 1, 2], TrainConfig(epochs=1), "cpu")


def test_data_on_another_device_is_refused(digits):
    meta = TrainData(digits.x.to("meta"), digits.y.to("meta"))
    with pytest.raises(ValueError, match="x is on meta but training runs on cpu; move the data first"):
        train(lambda: mlp([64, 10]), meta, [0], TrainConfig(epochs=1), "cpu")


def test_dropout_trains_per_seed_and_repeats(digits):
    factory = lambda: mlp([64, 64, 10], dropout=0.5)
    cfg = TrainConfig(epochs=2, batch_size=64)
    state = torch.random.get_rng_state()
    a = train(factory, TrainData.of(digits), [0, 1], cfg, "cpu")
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is left alone
    b = train(factory, TrainData.of(digits), [0, 1], cfg, "cpu")
    torch.testing.assert_close(a.params["0.weight"], b.params["0.weight"])
    assert not a.template.training  # predictions use the whole net: dropout off
    torch.testing.assert_close(a.forward(digits.x_test), a.forward(digits.x_test))


def test_masked_weights_stay_zero_and_batching_still_agrees(digits):
    first = train(lambda: mlp([64, 32, 10]), TrainData.of(digits), [0, 1], TrainConfig(epochs=1), "cpu")
    masks = {"0.weight": (torch.rand(first.params["0.weight"].shape, generator=torch.Generator().manual_seed(0))
                          > 0.5).float()}
    cfg = TrainConfig(epochs=2, batch_size=64)
    batched = train(lambda: mlp([64, 32, 10]), TrainData.of(digits), [0, 1], cfg, "cpu", masks=masks)
    assert (batched.params["0.weight"][masks["0.weight"] == 0] == 0).all()  # Adam momentum cannot revive them
    assert (batched.params["0.weight"][masks["0.weight"] == 1] != 0).all()
    sequential = train(lambda: mlp([64, 32, 10]), TrainData.of(digits), [0, 1], cfg, "cpu", masks=masks,
                       batched=False)
    torch.testing.assert_close(batched.params["0.weight"], sequential.params["0.weight"], rtol=1e-4, atol=1e-5)


def test_start_from_given_weights(digits):
    first = train(lambda: mlp([64, 32, 10]), TrainData.of(digits), [0, 1], TrainConfig(epochs=2), "cpu")
    frozen = TrainConfig(epochs=1, optimizer="sgd", lr=0.0)  # no movement: the result is the start
    again = train(lambda: mlp([64, 32, 10]), TrainData.of(digits), [0, 1], frozen, "cpu", start=first.params)
    for name in first.params:
        torch.testing.assert_close(again.params[name], first.params[name])
    torch.testing.assert_close(again.curves["test_acc"][:, -1], first.curves["test_acc"][:, -1])


@pytest.mark.parametrize("kwargs, message", [
    ({"start": {"0.weight": torch.zeros(3, 32, 64)}}, r"start\['0.weight'\] stacks 3 seeds but 2"),
    ({"start": {"9.weight": torch.zeros(2, 32, 64)}}, "name parameters the model does not have: \\['9.weight'\\]"),
    ({"masks": {"0.weight": torch.zeros(2, 64, 32)}}, r"masks\['0.weight'\] has shape \(2, 64, 32\), the model's"),
], ids=["seeds", "unknown-name", "shape"])
def test_bad_start_or_masks_are_refused(digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train(lambda: mlp([64, 32, 10]), TrainData.of(digits), [0, 1], TrainConfig(epochs=1), "cpu", **kwargs)


def test_per_seed_target_vectors_train_on_every_row():
    # targets [S, N, C] per seed: N rows, not C (the bug this guards against read n_train from the last axis)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 96, 4, generator=g), torch.randn(2, 96, 3, generator=g)
    data = TrainData(x, y, x[:, :10], y[:, :10], per_seed=frozenset({"x", "y", "x_test", "y_test"}))
    assert data.n_train == 96
    result = train(lambda: mlp([4, 3]), data, [0, 1], TrainConfig(epochs=2, batch_size=32, loss="mse"), "cpu")
    assert result.steps_run.tolist() == [6, 6]
    assert result.curves["train_loss"].shape == (2, 2) and "train_acc" not in result.curves
    shared = TrainData(x[0], y[0])  # shared targets [N, C] are evaluated against every seed
    assert train(lambda: mlp([4, 3]), shared, [0, 1], TrainConfig(epochs=1, loss="mse"), "cpu").curves["train_loss"].shape == (2, 1)


class RecordingLoss:
    """A loss object that notes what the trainer hands it and zeroes the first layer's update."""

    evaluated_as = None

    def __init__(self):
        self.progress, self.calls = [], 0

    def __call__(self, model, x, y, extras):
        self.progress.append(extras["progress"])
        assert set(extras["params"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
        return torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)

    def before_step(self, params, progress):
        self.calls += 1
        params["0.weight"].grad.zero_()


def test_loss_objects_get_params_progress_and_a_step_hook(digits):
    loss = RecordingLoss()
    start = init_params(lambda: mlp([64, 8, 10]), [0], "cpu")
    data = TrainData(digits.x[:100], digits.y[:100])
    result = train(lambda: mlp([64, 8, 10]), data, [0], TrainConfig(epochs=2, batch_size=25, loss=loss), "cpu",
                   start=start)
    assert loss.progress == [0.0, 1 / 3, 2 / 3, 1.0] * 2 and loss.calls == 8
    assert result.curves == {}  # evaluated_as=None: no curves
    assert torch.equal(result.params["0.weight"], start["0.weight"])  # the hook froze it (plain Adam, no decay)
    assert not torch.equal(result.params["2.weight"], start["2.weight"])
    with pytest.raises(ValueError, match="need per-epoch curves"):
        train(lambda: mlp([64, 8, 10]), data, [0], TrainConfig(epochs=1, loss=loss, stop_at_train_acc=0.9), "cpu")


@pytest.mark.parametrize("cfg", [
    TrainConfig(epochs=60, batch_size=32, lr=1e-2, stop_at_train_acc=1.0),
    TrainConfig(epochs=80, batch_size=32, optimizer="sgd", lr=0.1, momentum=0.9, lr_schedule="linear",
                stop_at_train_acc=1.0),
], ids=["adam", "sgd-momentum-linear"])
def test_a_seed_that_stops_leaves_the_batch_and_the_others_train_on_unchanged(digits, cfg, monkeypatch):
    """Per-seed random labels make the seeds stop at different epochs; each seed then ends exactly as
    it does trained alone (its shuffle, optimizer state and weights carried over when others leave),
    and the batch shrinks instead of training finished models on."""
    import harness.train as trainer
    small = digits.subset(n_train=96)
    seeds = [0, 1, 2]
    labels = torch.stack([noisy_labels(small.y, p, 10, s)[0] for p, s in zip((0.0, 0.2, 0.4), seeds)])
    sizes, epoch = [], trainer._train_epoch
    monkeypatch.setattr(trainer, "_train_epoch", lambda forward, batch, *a: (sizes.append(len(batch.index)),
                                                                            epoch(forward, batch, *a)))
    together = train(lambda: mlp([64, 128, 10]), TrainData.of(small, y=labels), seeds, cfg, "cpu")
    assert together.reached_target.all() and len(set(together.epochs_run.tolist())) > 1
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 3 and sizes[-1] < 3
    assert len(sizes) == together.epochs_run.max()
    for i, s in enumerate(seeds):
        alone = train(lambda: mlp([64, 128, 10]), TrainData.of(small, y=labels[i:i + 1]), [s], cfg, "cpu")
        assert alone.epochs_run.item() == together.epochs_run[i].item()
        for name in alone.params:
            torch.testing.assert_close(together.params[name][i], alone.params[name][0], rtol=1e-5, atol=1e-6)
        n = alone.curves["train_acc"].shape[1]
        torch.testing.assert_close(together.curves["train_acc"][i, :n], alone.curves["train_acc"][0])


def test_early_stop_at_a_train_loss(digits):
    cfg = TrainConfig(epochs=40, batch_size=64, lr=1e-3, stop_at_train_loss=0.5)
    result = train(lambda: mlp([64, 16, 10]), TrainData.of(digits), [0, 1], cfg, "cpu")
    assert result.reached_target.all() and (result.epochs_run < 40).all()
    for i, epochs in enumerate(result.epochs_run.tolist()):
        losses = result.curves["train_loss"][i]
        assert losses[epochs - 1] <= 0.5 and (losses[:epochs - 1] > 0.5).all()  # stopped at the first epoch below


def test_an_explicit_order_decides_which_rows_come_when(digits):
    data = TrainData(digits.x[:64], digits.y[:64])
    cfg = TrainConfig(epochs=1, batch_size=16, optimizer="sgd", lr=0.1)
    order = torch.arange(64).repeat(2, 2)  # [2 seeds, 128 rows]: the data twice, in order
    twice = train(lambda: mlp([64, 10]), data, [0, 1], cfg, "cpu", order=order)
    assert twice.steps_run.tolist() == [8, 8]
    again = train(lambda: mlp([64, 10]), data, [0, 1], cfg, "cpu", order=order, batched=False)
    assert torch.allclose(twice.params["0.weight"], again.params["0.weight"], atol=1e-6)
    swapped = order.clone()
    swapped[:, :16] = order[:, 16:32].clone()  # another first batch: another result
    assert not torch.allclose(train(lambda: mlp([64, 10]), data, [0, 1], cfg, "cpu", order=swapped).params["0.weight"],
                              twice.params["0.weight"])
    with pytest.raises(ValueError, match="order must be"):
        train(lambda: mlp([64, 10]), data, [0, 1], cfg, "cpu", order=torch.full((2, 8), 64))


def test_stack_seeds_turns_per_seed_tuples_into_stacks():
    from harness.stacked import stack_seeds
    x, y = stack_seeds((torch.full((3, 2), float(s)), torch.tensor([s, s, s])) for s in range(4))
    assert x.shape == (4, 3, 2) and y.shape == (4, 3) and y[:, 0].tolist() == [0, 1, 2, 3]


def test_the_training_loop_never_waits_on_the_device(digits, monkeypatch):
    """Host reads of tensor values (item, tolist, bool, float, .cpu) stall a GPU's queue: the loop
    makes none per step or per evaluation, only a fixed few at the end (without early stopping)."""
    reads = {"n": 0}
    for name in ("item", "tolist", "cpu", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            reads["n"] += 1
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counted)

    def host_reads(epochs: int) -> int:
        reads["n"] = 0
        train(lambda: mlp([64, 8, 10]), TrainData.of(digits), [0, 1], TrainConfig(epochs=epochs, batch_size=256), "cpu")
        return reads["n"]
    assert host_reads(2) == host_reads(6)


def test_own_optimizer_options_go_to_the_optimizer():
    with pytest.raises(ValueError, match="pass them to your own optimizer as its options"):
        TrainConfig(epochs=1, optimizer=torch.optim.RMSprop, weight_decay=1e-4)
    with pytest.raises(TypeError, match="a callable .params, lr=.... returning a torch.optim.Optimizer"):
        TrainConfig(epochs=1, optimizer=3)


def test_a_factory_that_returns_no_optimizer_is_named(digits):
    cfg = TrainConfig(epochs=1, optimizer=lambda params, lr: "not an optimizer")
    with pytest.raises(TypeError, match="returned str, not a torch.optim.Optimizer"):
        train(lambda: mlp([64, 10]), TrainData.of(digits.subset(n_train=64, n_test=32)), [0], cfg, "cpu")


class WithBatchNorm(nn.Module):
    """A user's model with running statistics: they are stacked per seed like the weights."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))

    def forward(self, x):
        return self.body(x)


class BranchesOnData(nn.Module):
    """A user's model whose forward looks at a value on the host: vmap cannot batch it."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        return self.linear(x / 2 if x.abs().max() > 100 else x)


def test_a_users_model_with_batchnorm_trains_batched(digits):
    data = TrainData.of(digits.subset(n_train=128, n_test=64))
    # SGD: the bias before BatchNorm has a gradient of exactly zero up to rounding, which Adam would
    # normalise into full-size steps of rounding noise (1e-4 apart after two epochs instead of 1e-8)
    cfg = TrainConfig(epochs=2, batch_size=64, optimizer="sgd", lr=0.05)
    batched = train(WithBatchNorm, data, [0, 1], cfg, "cpu")
    sequential = train(WithBatchNorm, data, [0, 1], cfg, "cpu", batched=False)
    for name in batched.buffers:
        torch.testing.assert_close(batched.buffers[name], sequential.buffers[name], rtol=1e-4, atol=1e-5)
    assert not torch.equal(batched.buffers["body.1.running_mean"][0], batched.buffers["body.1.running_mean"][1])


def test_a_model_vmap_cannot_take_says_why_and_trains_unbatched(digits):
    data = TrainData.of(digits.subset(n_train=128, n_test=64))
    cfg = TrainConfig(epochs=1, batch_size=64)
    with pytest.raises(RuntimeError, match="BranchesOnData cannot run batched .* train it with train.*batched=False"):
        train(BranchesOnData, data, [0, 1], cfg, "cpu")
    result = train(BranchesOnData, data, [0, 1], cfg, "cpu", batched=False)
    assert result.curves["train_acc"].shape == (2, 1)


def test_a_layer_the_initialiser_does_not_know_says_what_to_add(digits):
    with pytest.raises(ValueError, match="give it an init_from.generator. method"):
        train(lambda: nn.Sequential(nn.Embedding(5, 3)), TrainData.of(digits.subset(n_train=8, n_test=8)), [0],
              TrainConfig(epochs=1), "cpu")


@pytest.mark.parametrize("per_seed", [True, False], ids=["per-seed-inputs", "shared-inputs"])
def test_plain_mlps_take_the_batched_matmul_path_and_agree_with_each_seed(per_seed):
    """forward_all computes a Linear/activation stack with batched matmuls instead of vmap: the
    same outputs as running each seed's own module (and the path is really taken)."""
    from torch.func import stack_module_state

    from harness.stacked import forward_all, is_plain_mlp

    models = [nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.Tanh(), nn.Linear(7, 3)) for _ in range(4)]
    params, buffers = stack_module_state(models)
    x = torch.randn(4, 5, 3, 4) if per_seed else torch.randn(5, 3, 4)
    out = forward_all(models[0], params, buffers, x, per_seed, {})
    expected = torch.stack([m(x[i] if per_seed else x) for i, m in enumerate(models)])
    torch.testing.assert_close(out, expected)
    assert is_plain_mlp(models[0]) and not is_plain_mlp(mlp([12, 7, 3], dropout=0.5))
    # a Linear on inputs with more than one dimension acts on the last, as nn.Linear does
    deep = [nn.Sequential(nn.Linear(4, 2, bias=False)) for _ in range(4)]
    params, buffers = stack_module_state(deep)
    out = forward_all(deep[0], params, buffers, x, per_seed, {})
    torch.testing.assert_close(out, torch.stack([m(x[i] if per_seed else x) for i, m in enumerate(deep)]))


def _with_gate_embeddings(model):
    for e in getattr(model, "embeddings", []):
        nn.init.normal_(e.weight)  # HAT's gates; the zero init would leave them all at 0.5
    return model


STACKED_MODELS = {  # name: (factory, inputs [S, B, ...] per seed, forward's keyword arguments)
    "hat-gated": (lambda: _with_gate_embeddings(HATNet(6, (5, 4), 3, 2)),
                  lambda: torch.cat([torch.randn(3, 7, 6), torch.tensor([0., 1, 2, 2, 1, 0, 1]).view(7, 1).expand(3, 7, 1)], -1),
                  {"s": 2.5}),
    "hat-ungated": (lambda: HATNet(6, (5, 4), 3, 2, gated=False),
                    lambda: torch.cat([torch.randn(3, 7, 6), torch.tensor([2., 1, 0, 0, 1, 2, 1]).view(7, 1).expand(3, 7, 1)], -1),
                    {}),
    "residual-lesioned": (lambda: ResidualMLP(6, 5, 4, 3, layer_norm=True), lambda: torch.randn(3, 7, 6),
                          {"lesioned": frozenset({1})}),
    "plain-post-activation": (lambda: ResidualMLP(6, 5, 3, 3, skip=False, layer_norm=True, post_activation=True),
                              lambda: torch.randn(3, 7, 6), {}),
}


@pytest.mark.parametrize("name", list(STACKED_MODELS))
def test_a_models_stacked_forward_is_each_seeds_own_forward(name):
    """Models with `forward_stacked` (batched matmuls, which forward_all then takes instead of vmap)
    against vmap over their own `forward`: the same outputs and gradients, shared or per-seed inputs."""
    from torch.func import functional_call, stack_module_state, vmap

    from harness.stacked import forward_all

    factory, inputs, kwargs = STACKED_MODELS[name]
    torch.manual_seed(0)
    models = [factory() for _ in range(3)]
    template = factory().to("meta")
    params, _ = stack_module_state(models)
    x = inputs()

    def own(p, xi):
        return functional_call(template, (p, {}), (xi,), kwargs)
    expected, got = vmap(own)(params, x), forward_all(template, params, {}, x, True, kwargs)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(forward_all(template, params, {}, x[0], False, kwargs), vmap(own, (0, None))(params, x[0]))
    grads = [torch.autograd.grad(out.square().sum(), list(params.values()), allow_unused=True) for out in (expected, got)]
    for param, a, b in zip(params, *grads, strict=True):  # ungated HAT: no gradient for the embeddings on either path
        assert (a is None) == (b is None), param
        if a is not None:
            torch.testing.assert_close(b, a, msg=f"gradient of {param}")


def test_a_probe_becomes_curves_at_every_evaluation_batched_or_not(digits):
    """The probe sees the weights as they are after each evaluated epoch, in eval mode, and its
    per-seed values land beside the loss curves; batched and per-seed runs agree."""
    data = TrainData(digits.x[:128], digits.y[:128])
    cfg = TrainConfig(epochs=4, batch_size=32, lr=1e-2, eval_every=2)
    seen = []

    def probe(model):
        seen.append(model.template.training)
        return {"weight_norm": model.params["0.weight"].flatten(1).norm(dim=1), "acc": model.accuracy(data.x, data.y)}

    result = train(lambda: mlp([64, 16, 10]), data, [0, 1], cfg, "cpu", probe=probe)
    assert result.curves["weight_norm"].shape == (2, 2) and seen == [False, False]
    assert torch.allclose(result.curves["weight_norm"][:, -1], result.params["0.weight"].flatten(1).norm(dim=1))
    assert torch.allclose(result.curves["acc"], result.curves["train_acc"])
    single = train(lambda: mlp([64, 16, 10]), data, [0, 1], cfg, "cpu", probe=probe, batched=False)
    assert torch.allclose(single.curves["weight_norm"], result.curves["weight_norm"], atol=1e-5)


@pytest.mark.parametrize("probe, message", [
    (lambda model: {"train_loss": torch.zeros(2)}, "clashes with the trainer's own curve"),
    (lambda model: {"norm": torch.zeros(3)}, "one value per seed"),
])
def test_a_probe_that_clashes_or_miscounts_seeds_is_refused(digits, probe, message):
    with pytest.raises(ValueError, match=message):
        train(lambda: mlp([64, 10]), TrainData(digits.x[:64], digits.y[:64]), [0, 1],
              TrainConfig(epochs=1, batch_size=32), "cpu", probe=probe)


def test_a_schedule_split_over_two_runs_is_the_schedule_of_one(digits):
    """Plain SGD has no state and an explicit order repeats every epoch, so a parent trained 2 of
    5 epochs and continued for the other 3 (schedule_start=2, schedule_epochs=5) is the same model
    as one 5-epoch run under the same linear decay; restarting the decay instead is not."""
    data = TrainData(digits.x[:64], digits.y[:64])
    order = torch.arange(64).repeat(2, 1)
    cfg = TrainConfig(epochs=5, batch_size=16, optimizer="sgd", lr=0.5, lr_schedule="linear")
    factory = lambda: mlp([64, 16, 10])
    whole = train(factory, data, [0, 1], cfg, "cpu", order=order)
    first = train(factory, data, [0, 1], replace(cfg, epochs=2, schedule_epochs=5), "cpu", order=order)
    rest = train(factory, data, [0, 1], replace(cfg, epochs=3, schedule_start=2, schedule_epochs=5), "cpu",
                 order=order, start=first.params)
    assert torch.allclose(rest.params["0.weight"], whole.params["0.weight"], atol=1e-6)
    restarted = train(factory, data, [0, 1], replace(cfg, epochs=3), "cpu", order=order, start=first.params)
    assert not torch.allclose(restarted.params["0.weight"], whole.params["0.weight"], atol=1e-4)
    with pytest.raises(ValueError, match="within the schedule"):
        TrainConfig(epochs=4, schedule_start=2, schedule_epochs=5)


@pytest.mark.parametrize("cfg", [
    TrainConfig(epochs=4, batch_size=16, optimizer="sgd", lr=0.1, momentum=0.9, lr_schedule="linear"),
    TrainConfig(epochs=4, batch_size=16, optimizer="adam", lr=1e-2, weight_decay=1e-3),
], ids=["sgd-momentum-linear", "adam"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "per-seed"])
def test_a_run_continued_from_its_optimizer_state_is_one_run(digits, cfg, batched):
    """A run of 4 epochs, each with its own rows ([S, epochs, L] order), is the same model as 1
    epoch continued for 3 from the weights and optimizer state it ended with; continuing from the
    weights alone (momentum and moments start afresh) is not. A fork of the state into copies
    trains each copy as the parent would have."""
    data = TrainData(digits.x[:96], digits.y[:96])
    g = torch.Generator().manual_seed(0)
    order = torch.stack([torch.stack([torch.randperm(96, generator=g)[:64] for _ in range(4)]) for _ in range(2)])
    factory = lambda: mlp([64, 16, 10])
    whole = train(factory, data, [0, 1], cfg, "cpu", order=order, batched=batched)
    first = train(factory, data, [0, 1], replace(cfg, epochs=1, schedule_epochs=4), "cpu", order=order[:, :1],
                  batched=batched)
    rest = replace(cfg, epochs=3, schedule_start=1, schedule_epochs=4)
    continued = train(factory, data, [0, 1], rest, "cpu", order=order[:, 1:], start=first.params,
                      start_optimizer=first.optimizer_state, batched=batched)
    for name in whole.params:
        torch.testing.assert_close(continued.params[name], whole.params[name], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(continued.optimizer_state["0.weight"], whole.optimizer_state["0.weight"],
                               atol=1e-5, rtol=1e-4)
    afresh = train(factory, data, [0, 1], rest, "cpu", order=order[:, 1:], start=first.params, batched=batched)
    assert not torch.allclose(afresh.params["0.weight"], whole.params["0.weight"], atol=1e-3)

    fork = lambda stack: {k: v.repeat_interleave(2, 0) if torch.is_tensor(v) and v.dim() else v
                          for k, v in stack.items()}
    copies = train(factory, data, [10, 11, 12, 13], rest, "cpu", order=order[:, 1:].repeat_interleave(2, 0),
                   start=fork(first.params), start_optimizer={k: fork(v) for k, v in first.optimizer_state.items()},
                   batched=batched)
    torch.testing.assert_close(copies.params["0.weight"], whole.params["0.weight"].repeat_interleave(2, 0),
                               atol=1e-5, rtol=1e-4)


def test_an_early_stop_leaves_no_optimizer_state_and_bad_states_are_refused(digits):
    data = TrainData(digits.x[:64], digits.y[:64])
    factory = lambda: mlp([64, 10])
    stopped = train(factory, data, [0, 1], TrainConfig(epochs=2, stop_at_train_acc=0.5), "cpu")
    assert stopped.optimizer_state is None  # a seed that stopped took its state with it
    state = train(factory, data, [0, 1], TrainConfig(epochs=1), "cpu").optimizer_state
    assert set(state["0.weight"]) == {"step", "exp_avg", "exp_avg_sq"}
    with pytest.raises(ValueError, match=r"start_optimizer\['0.weight'\]\['exp_avg'\] stacks 2 seeds but 3"):
        train(factory, data, [0, 1, 2], TrainConfig(epochs=1), "cpu", start_optimizer=state)
    with pytest.raises(ValueError, match=r"names parameters the model does not have: \['9.weight'\]"):
        train(factory, data, [0, 1], TrainConfig(epochs=1), "cpu", start_optimizer={"9.weight": state["0.weight"]})
    lacks = r"start_optimizer\['0.weight'\] lacks \['momentum_buffer'\] .* same optimizer"
    with pytest.raises(ValueError, match=lacks):
        train(factory, data, [0, 1], TrainConfig(epochs=1, optimizer="sgd", momentum=0.9), "cpu",
              start_optimizer={"0.weight": {"step": state["0.weight"]["step"]}})
    with pytest.raises(ValueError, match=r"order must be .* \[seeds, epochs=2, L\]"):
        train(factory, data, [0, 1], TrainConfig(epochs=2), "cpu", order=torch.zeros(2, 3, 8, dtype=torch.long))


def test_curves_on_the_training_set_only_leave_training_unchanged(digits):
    both = TrainConfig(epochs=3, batch_size=128, stop_at_train_acc=0.99)
    train_only = replace(both, test_curves=False)
    a = train(lambda: mlp([64, 16, 10]), TrainData.of(digits), [0, 1], both, "cpu")
    b = train(lambda: mlp([64, 16, 10]), TrainData.of(digits), [0, 1], train_only, "cpu")
    assert set(a.curves) == {"train_loss", "train_acc", "test_loss", "test_acc"}
    assert set(b.curves) == {"train_loss", "train_acc"}
    for name in b.curves:
        assert torch.equal(a.curves[name], b.curves[name])
    for name in a.params:
        assert torch.equal(a.params[name], b.params[name])


def test_per_seed_rows_of_a_slice_equal_those_of_a_copy():
    """`rows` reads per-seed fields through one flat index_select; a slice (not contiguous) would be
    copied whole at every step, so the trainer makes per-seed fields contiguous once."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 50, 4, generator=g), torch.randint(0, 2, (3, 50), generator=g)
    sliced = TrainData(x[:, :40], y[:, :40], per_seed=frozenset({"x", "y"}))
    copied = sliced.contiguous()
    assert not sliced.x.is_contiguous() and copied.x.is_contiguous()
    assert copied.contiguous().x is copied.x  # nothing copied twice
    idx = torch.stack([torch.randperm(40, generator=g)[:8] for _ in range(3)])
    expected = torch.stack([x[s, idx[s]] for s in range(3)])
    for data in (sliced, copied):
        assert torch.equal(data.rows("x", idx), expected)
        assert torch.equal(data.rows("y", idx), torch.stack([y[s, idx[s]] for s in range(3)]))
