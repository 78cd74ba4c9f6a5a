"""Spectral norms, Jacobian directions, unit-purity and the shared model zoo, on known answers."""

import pytest
import torch
import torch.nn.functional as F

from harness.data import load_dataset
from harness.models import mlp
from harness.ops.directions import random_subset_purity, top_k_purity
from harness.ops.spectral import conv_operator_norm, lipschitz_bound, local_gain, spectral_norm, worst_direction
from harness.train import TrainConfig, TrainData, train
from harness.trained_models import Recipe, trained


def test_power_iteration_matches_the_matrix_two_norm():
    w = torch.randn(3, 7, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(spectral_norm(w), torch.linalg.matrix_norm(w, ord=2), rtol=1e-4, atol=0)


def test_bound_is_the_product_and_exact_for_a_linear_model():
    g = torch.Generator().manual_seed(1)
    params = {"0.weight": torch.randn(2, 6, 4, generator=g), "0.bias": torch.randn(2, 6, generator=g),
              "2.weight": torch.randn(2, 3, 6, generator=g)}
    bound, per_layer = lipschitz_bound(params, ["0.weight", "2.weight"])
    torch.testing.assert_close(bound, per_layer["0.weight"] * per_layer["2.weight"])
    w = params["2.weight"]
    model = lambda x: torch.einsum("scd,snd->snc", w, x)
    x = torch.rand(2, 5, 6, generator=g)
    gain = local_gain(model, x, worst_direction(model, x, iters=100, generator=g), delta=0.1)
    torch.testing.assert_close(gain, spectral_norm(w)[:, None].expand(2, 5), rtol=1e-4, atol=0)


def test_a_one_by_one_convolution_has_its_channel_matrix_norm():
    w = torch.randn(4, 3, 1, 1, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(conv_operator_norm(w, (3, 5, 5)), spectral_norm(w[:, :, 0, 0]), rtol=1e-5, atol=0)


def test_conv_operator_norm_bounds_and_is_reached_unlike_the_flattened_kernel():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(2, 3, 3, 3, generator=g)
    norm = conv_operator_norm(w, (3, 6, 6), padding=1)
    conv = lambda x: F.conv2d(x, w, padding=1)
    x = torch.randn(1, 3, 6, 6, generator=g)
    for _ in range(300):  # power iteration with the adjoint (conv_transpose2d), independent of the Jacobian
        x = F.conv_transpose2d(conv(x), w, padding=1)
        x = x / x.norm()
    torch.testing.assert_close(conv(x).norm(), norm, rtol=1e-3, atol=0)
    assert all(conv(v).norm() <= norm * v.norm() * (1 + 1e-5) for v in torch.randn(20, 1, 3, 6, 6, generator=g))
    assert abs(float(spectral_norm(w.flatten(1))) - float(norm)) > 0.1 * float(norm)  # the old flatten(2) was wrong
    stacked = torch.stack([w, 2 * w])
    torch.testing.assert_close(conv_operator_norm(stacked, (3, 6, 6), padding=1), torch.stack([norm, 2 * norm]))


def test_lipschitz_bound_refuses_convolution_kernels():
    params = {"0.weight": torch.randn(2, 4, 1, 3, 3)}
    with pytest.raises(ValueError, match="conv_operator_norm"):
        lipschitz_bound(params, ["0.weight"])
    with pytest.raises(ValueError, match="more than 8192"):
        conv_operator_norm(torch.randn(4, 3, 3, 3), (3, 64, 64))


def test_top_k_purity_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 2])
    scores = torch.tensor([[[5.0, 0.0], [4.0, 1.0], [3.0, 2.0], [0.0, 3.0], [1.0, 4.0]]])  # [1, 5 inputs, 2 directions]
    # direction 0 picks inputs 0, 1, 2 → labels 0, 0, 1 → 2/3; direction 1 picks 4, 3, 2 → 2, 1, 1 → 2/3
    torch.testing.assert_close(top_k_purity(scores, labels, 3), torch.tensor([[2 / 3, 2 / 3]]))
    torch.testing.assert_close(top_k_purity(scores, labels, 2), torch.tensor([[1.0, 0.5]]))
    chance = random_subset_purity(torch.arange(10).repeat(50), 10, 500, torch.Generator().manual_seed(2))
    assert 0.2 < float(chance.mean()) < 0.35  # ten balanced labels: mostly 2–3 of a kind among 10


def test_without_head_gives_the_hidden_features():
    digits = load_dataset("digits").subset(n_train=64, n_test=8)
    result = train(lambda: mlp([64, 12, 10]), TrainData.of(digits), [0, 1], TrainConfig(epochs=1), "cpu")
    features = result.without_head().forward(digits.x_test)
    expected = torch.relu(torch.einsum("shd,nd->snh", result.params["0.weight"], digits.x_test)
                          + result.params["0.bias"][:, None])
    torch.testing.assert_close(features, expected)


def test_zoo_trains_once_and_knows_its_recipes():
    assert trained("digits-softmax", "cpu", [7]) is trained("digits-softmax", "cpu", [7])
    # a benchmark's own setting that equals a named recipe gets the same models (C1, C2 in the smoke tier)
    same = Recipe("digits", ("mlp", (64, 10)), TrainConfig(epochs=100, batch_size=64, lr=1e-2, eval_every=100))
    assert trained(same, "cpu", [7]) is trained("digits-softmax", "cpu", [7])
    other = Recipe("digits", ("mlp", (64, 10)), TrainConfig(epochs=1, batch_size=64, lr=1e-2))
    assert trained(other, "cpu", [7]) is not trained("digits-softmax", "cpu", [7])
    with pytest.raises(ValueError, match="recipe"):
        trained("imagenet-resnet", "cpu", [0])
    with pytest.raises(ValueError, match="model must be \\(kind, argument\\)"):
        Recipe("digits", ("resnet", 18), other.config)
