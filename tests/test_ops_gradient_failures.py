"""Gradient variance and SNR estimators, the PWL conditioning pieces, step functions and the
tuple-parity model, on problems whose answers are known by hand."""

import pytest
import torch
from torch import nn

from harness.data import hypercube, load_dataset, make_digit_tuples, make_pwl_curves, pwl_matrix
from harness.kits.conditioning import conv_on_whitened_patches, patches, whitened_patches
from harness.kits.decomposition import ParityHinge, TupleParityNet, tuple_accuracy
from harness.kits.step_functions import FloorLinear, smooth_floor, straight_through_floor
from harness.models import build, mlp
from harness.ops.gradient_signal import (
    chunk_mean_gradients,
    flat,
    snr_from_chunks,
    target_gradients,
    variance_across_targets,
)


def test_hypercube_lists_every_sign_vector_once():
    x = hypercube(4)
    assert x.shape == (16, 4) and set(x.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(r) for r in x.tolist()}) == 16


def linear_model(d):
    model = nn.Linear(d, 1, bias=False)
    nn.init.normal_(model.weight, generator=torch.Generator().manual_seed(0))
    return model


def test_target_gradients_of_a_linear_model_are_w_minus_the_targets_correlations():
    # f(x) = w·x on {±1}^d: ∇ ½E(f − h)² = E[x xᵀ] w − E[h x] = w − E[h x]
    d = 5
    x, model = hypercube(d), linear_model(d)
    targets = torch.stack([x[:, 0], x[:, 1] * x[:, 2]], dim=1)  # χ_{0} and χ_{1,2}
    grads = target_gradients(model, x, targets)
    w = model.weight.detach().squeeze(0)
    assert torch.allclose(grads[0], w - torch.eye(d)[0], atol=1e-6)
    assert torch.allclose(grads[1], w, atol=1e-6)  # a parity of two bits is orthogonal to every x_i


def test_variance_across_parities_is_zero_beyond_the_linear_ones():
    d = 6
    x, model = hypercube(d), linear_model(d)
    pairs = torch.stack([x[:, i] * x[:, i + 1] for i in range(5)], dim=1)
    assert variance_across_targets(target_gradients(model, x, pairs)) == pytest.approx(0.0, abs=1e-10)
    singles = torch.stack([x[:, 0], x[:, 1]], dim=1)  # g = w − e_0, w − e_1: each ‖(e_0 − e_1)/2‖² = 0.5 off the mean
    assert variance_across_targets(target_gradients(model, x, singles)) == pytest.approx(0.5, abs=1e-6)


def test_target_gradients_match_autograd_on_an_mlp():
    x = hypercube(4)
    model = build(lambda: mlp([4, 6, 1]), 0)
    h = x[:, :2].prod(1)
    loss = 0.5 * ((model(x).squeeze(1) - h) ** 2).mean()
    expected = flat({k: g.unsqueeze(0) for k, g in
                     zip(dict(model.named_parameters()), torch.autograd.grad(loss, list(model.parameters())), strict=True)})
    assert torch.allclose(target_gradients(model, x, h.unsqueeze(1)), expected, atol=1e-6)


def test_chunk_snr_recovers_a_known_signal_to_noise_ratio():
    g = torch.Generator().manual_seed(0)
    P, C, m, sigma = 50, 400, 64, 2.0
    mu = torch.full((P,), 0.1)
    per_example = mu + sigma * torch.randn(C, m, P, generator=g)
    truth = float(mu @ mu) / (P * sigma ** 2)  # 0.0025
    assert snr_from_chunks(per_example.mean(1), m) == pytest.approx(truth, rel=0.15)
    pure_noise = sigma * torch.randn(C, m, P, generator=g)
    assert abs(snr_from_chunks(pure_noise.mean(1), m)) < 0.2 * truth
    with pytest.raises(ValueError, match="at least 2 chunks"):
        snr_from_chunks(per_example.mean(1)[:1], m)


def test_chunk_mean_gradients_equal_autograd_per_chunk():
    model = build(lambda: mlp([3, 4, 1]), 0)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    y = torch.randn(8, generator=torch.Generator().manual_seed(2))
    per_row = lambda out, t: (out.squeeze(-1) - t) ** 2
    got = chunk_mean_gradients(model, per_row, [(x[:4], y[:4]), (x[4:], y[4:])])
    for c, sl in enumerate((slice(0, 4), slice(4, 8))):
        grads = torch.autograd.grad(per_row(model(x[sl]), y[sl]).mean(), list(model.parameters()))
        assert torch.allclose(got[c], torch.cat([g.flatten() for g in grads]), atol=1e-6)


def test_pwl_patches_and_the_second_difference_invert_the_curve_map():
    assert patches(torch.tensor([1.0, 2.0, 3.0]), 3).tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3]]
    f, p = make_pwl_curves(20, 64, 3, seed=0)
    second_difference = torch.tensor([1.0, -2.0, 1.0])  # p_i = f_i − 2 f_{i−1} + f_{i−2}
    assert torch.allclose(patches(f, 3) @ second_difference, p, atol=1e-3)
    assert torch.allclose(f.double(), p.double() @ pwl_matrix(20).T, atol=1e-3)


def test_whitened_patches_have_identity_second_moments_and_the_conv_is_one_filter():
    f, _ = make_pwl_curves(30, 500, 3, seed=1)
    w = whitened_patches(f, 3).reshape(-1, 3).double()
    assert torch.allclose(w.T @ w / len(w), torch.eye(3, dtype=torch.float64), atol=1e-3)
    conv = conv_on_whitened_patches(3)
    assert conv(whitened_patches(f, 3)).shape == f.shape and sum(p.numel() for p in conv.parameters()) == 3


def test_smooth_floor_matches_floor_away_from_the_steps():
    z = torch.tensor([-3.5, -0.5, 0.5, 2.5, 7.5])
    assert torch.allclose(smooth_floor(z, -20, 20), torch.floor(z), atol=0.01)


def test_floor_gradients_zero_identity_and_smooth():
    z = torch.tensor([0.3, 1.7], requires_grad=True)
    (exact,) = torch.autograd.grad(torch.floor(z).sum(), z)
    (through,) = torch.autograd.grad(straight_through_floor(z).sum(), z)
    (smooth,) = torch.autograd.grad(smooth_floor(z, -5, 5).sum(), z)
    assert exact.tolist() == [0.0, 0.0] and through.tolist() == [1.0, 1.0]
    assert (smooth > 0).all() and torch.equal(straight_through_floor(z), torch.floor(z))
    with pytest.raises(ValueError, match="unknown floor mode"):
        FloorLinear(3, "ceil")


def test_digit_tuples_label_is_the_parity_of_the_sub_labels():
    digits = load_dataset("digits")
    x, t = make_digit_tuples(digits.x, digits.y, 3, 50, seed=0)
    assert x.shape == (50, 3 * 64) and t.shape == (50, 4)
    assert torch.equal(t[:, 0], t[:, 1:].prod(1))
    first = (x[:, :64].unsqueeze(1) == digits.x.unsqueeze(0)).all(-1).float().argmax(1)  # which digit came first
    assert torch.equal((digits.y[first] >= 5).float() * 2 - 1, t[:, 1])


def test_parity_hinge_adds_the_per_image_terms_by_weight():
    out = torch.tensor([[[0.5, 2.0, -0.5]]]).expand(2, 1, 3)  # [S=2, B=1, 1 + k=2]
    targets = torch.tensor([[[1.0, 1.0, 1.0]]]).expand(2, 1, 3)
    loss = ParityHinge(torch.tensor([0.0, 1.0])).per_row(out, targets)
    assert loss[:, 0].tolist() == [0.5, 0.5 + 0.0 + 1.5]
    assert tuple_accuracy(out, targets).tolist() == [1.0, 1.0]
    net = TupleParityNet(3)
    assert net(torch.zeros(4, 3 * 64)).shape == (4, 4)
    assert ParityHinge.evaluated_as is None  # scores, not class logits: no per-epoch curves
