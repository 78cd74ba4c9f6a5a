"""The operations behind double descent, spectral bias, neural collapse and the edge of stability,
on inputs whose answers are known by hand."""

import math

import pytest
import torch

from harness.data import make_modular_addition
from harness.ops.collapse import class_means, simplex_deviation, within_class_variability
from harness.ops.fourier import amplitudes, periodic_grid, sum_of_sines
from harness.ops.landscape import top_eigenvalues_per_seed
from harness.ops.random_features import min_norm_sweep, random_relu_features


def test_min_norm_fit_interpolates_from_p_equals_n_and_is_least_squares_below():
    g = torch.Generator().manual_seed(0)
    x, x_test = torch.randn(20, 5, generator=g), torch.randn(7, 5, generator=g)
    targets = torch.randn(20, 3, generator=g)
    weights = random_relu_features(x, 60, torch.Generator().manual_seed(1))
    assert weights.shape == (5, 60)
    train_out, test_out = min_norm_sweep(x, targets, x_test, weights, [10, 20, 60])
    assert train_out.shape == (3, 20, 3) and test_out.shape == (3, 7, 3)
    assert torch.allclose(train_out[1], targets, atol=1e-4) and torch.allclose(train_out[2], targets, atol=1e-4)
    features = torch.relu(x @ weights[:, :10]).double()
    best = torch.linalg.lstsq(features, targets.double()).solution
    assert torch.allclose(train_out[0].double(), features @ best, atol=1e-4)  # below n: the least-squares fit
    wide = torch.relu(x @ weights).double()
    coef = torch.linalg.pinv(wide) @ targets.double()
    null_space = torch.eye(60, dtype=torch.float64) - torch.linalg.pinv(wide) @ wide
    other = coef + null_space @ torch.randn(60, 3, dtype=torch.float64)
    assert torch.allclose(wide @ other, wide @ coef, atol=1e-6) and other.norm() > coef.norm()  # min-norm among fits


def test_amplitudes_recover_each_sines_amplitude_and_refuse_aliasing():
    x = periodic_grid(64)
    values = sum_of_sines(x, [1, 3, 7], [1.0, 0.5, 0.25], [0.3, 2.0, -1.0])
    assert torch.allclose(amplitudes(values, [1, 2, 3, 7]), torch.tensor([1.0, 0.0, 0.5, 0.25]), atol=1e-5)
    assert torch.allclose(amplitudes(torch.stack([values, 2 * values]), [3])[:, 0], torch.tensor([0.5, 1.0]), atol=1e-5)
    with pytest.raises(ValueError, match="grid points"):
        amplitudes(values, [40])


def simplex(num_classes: int, dim: int) -> torch.Tensor:
    """The vertices of a simplex ETF in `dim` dimensions: rows of I − 11ᵀ/C, rotated."""
    etf = torch.eye(num_classes) - 1 / num_classes
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(0)))
    return etf @ q[:num_classes]


def test_collapsed_features_on_a_simplex_score_zero_and_noise_raises_nc1():
    means = simplex(4, 6) * 3
    labels = torch.arange(4).repeat(5)
    collapsed = means[labels].unsqueeze(0)  # [1 seed, 20, 6]
    assert torch.allclose(class_means(collapsed, labels, 4)[0], means, atol=1e-6)
    assert within_class_variability(collapsed, labels, 4).item() < 1e-8
    frame = simplex_deviation(collapsed, labels, 4)
    assert frame["equiangle"].item() < 1e-6 and frame["equinorm"].item() < 1e-6
    noise = torch.randn(1, 20, 6, generator=torch.Generator().manual_seed(1))
    small, large = (within_class_variability(collapsed + s * noise, labels, 4).item() for s in (0.1, 1.0))
    assert 0 < small < large
    h = (collapsed + noise)[0].double()  # by hand: tr(Σ_W Σ_B⁺)/C from its definition
    mu = torch.stack([h[labels == c].mean(0) for c in range(4)])
    sigma_w = sum(torch.outer(h[i] - mu[labels[i]], h[i] - mu[labels[i]]) for i in range(20)) / 20
    sigma_b = sum(torch.outer(m - mu.mean(0), m - mu.mean(0)) for m in mu) / 4
    expected = torch.trace(sigma_w @ torch.linalg.pinv(sigma_b)) / 4
    assert within_class_variability(collapsed + noise, labels, 4).item() == pytest.approx(expected.item(), rel=1e-5)
    squeezed = torch.cat([collapsed, (means[labels] * torch.tensor([1.0, 0.5, 1.0, 1.0])[labels, None]).unsqueeze(0)])
    assert simplex_deviation(squeezed, labels, 4)["equinorm"][1] > 0.1  # one class mean shorter: not equinorm
    with pytest.raises(ValueError, match="every class"):
        class_means(collapsed, torch.zeros(20, dtype=torch.long), 4)


def test_per_seed_power_iteration_finds_each_seeds_top_eigenvalue():
    """Two seeds with quadratic losses ½θᵀA_sθ summed: one H·v serves both, each gets its own λ_max."""
    g = torch.Generator().manual_seed(0)
    spectra = torch.tensor([[4.0, 1.0, 0.5], [9.0, 3.0, -1.0]])
    bases = [torch.linalg.qr(torch.randn(3, 3, generator=g))[0] for _ in range(2)]
    matrices = torch.stack([q @ torch.diag(s) @ q.T for q, s in zip(bases, spectra, strict=True)])
    loss_sum = lambda p: 0.5 * torch.einsum("si,sij,sj->", p["w"], matrices, p["w"])
    params = {"w": torch.randn(2, 3, generator=g)}
    estimate, vectors = top_eigenvalues_per_seed(loss_sum, params, {"w": torch.randn(2, 3, generator=g)}, 60)
    assert torch.allclose(estimate, torch.tensor([4.0, 9.0]), rtol=1e-3)
    assert torch.allclose(vectors["w"].norm(dim=1), torch.ones(2))
    warm, _ = top_eigenvalues_per_seed(loss_sum, params, vectors, 1)  # warm start: one step is enough
    assert torch.allclose(warm, torch.tensor([4.0, 9.0]), rtol=1e-3)


def test_modular_addition_is_the_table_split_by_the_seed():
    x, y, x_test, y_test = make_modular_addition(7, 0.6, seed=0)
    assert x.shape == (29, 14) and x_test.shape == (20, 14)
    a, b = x[:, :7].argmax(1), x[:, 7:].argmax(1)
    assert torch.equal(y, (a + b) % 7) and torch.equal(x.sum(1), torch.full((29,), 2.0))
    pairs = {(int(i), int(j)) for i, j in zip(a, b, strict=True)}
    pairs |= {(int(i), int(j)) for i, j in zip(x_test[:, :7].argmax(1), x_test[:, 7:].argmax(1), strict=True)}
    assert len(pairs) == 49  # train and test partition the table
    assert torch.equal(make_modular_addition(7, 0.6, seed=0)[1], y)
    assert not torch.equal(make_modular_addition(7, 0.6, seed=1)[1], y)
    with pytest.raises(ValueError, match="train_fraction"):
        make_modular_addition(7, 1.0, seed=0)


def test_sum_of_sines_is_periodic_on_the_grid():
    x = periodic_grid(16)
    assert x[0] == 0 and x[-1] == pytest.approx(15 / 16)
    values = sum_of_sines(x, [2], [1.0], [math.pi / 2])
    assert torch.allclose(values, torch.cos(4 * math.pi * x), atol=1e-6)
