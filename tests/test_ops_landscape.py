"""Hessian-vector products, eigenvalues, filter normalization, lines, ε-sharpness and block
lesions, on problems whose answers are known: quadratics, linear losses, a net's own filters."""

import pytest
import torch

from harness.data import load_dataset
from harness.models import ResidualMLP
from harness.ops.landscape import (
    combine,
    epsilon_sharpness,
    exact_hessian,
    filter_normalized_direction,
    filter_normalized_sharpness,
    hvp,
    loss_along_line,
    loss_on_plane,
    top_eigenvalue,
)
from harness.ops.lesion import lesioned_accuracy, random_lesions, single_block_accuracies
from harness.train import TrainConfig, TrainData, train

EIGENVALUES = torch.tensor([5.0, 2.0, 1.0, -0.5])


def quadratic():
    """L(θ) = ½ θᵀAθ over θ = {"a": [2], "b": [2]} with A = Q diag(5, 2, 1, −0.5) Qᵀ."""
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0)))
    A = q @ torch.diag(EIGENVALUES) @ q.T
    flat = lambda p: torch.cat([p["a"], p["b"]])
    return A, (lambda p: 0.5 * flat(p) @ A @ flat(p)), {"a": torch.tensor([0.3, -1.0]), "b": torch.tensor([2.0, 0.5])}


def test_hvp_and_exact_hessian_of_a_quadratic_are_A():
    A, loss, theta = quadratic()
    v = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([0.0, 2.0])}
    hv = hvp(loss, theta, v)
    assert torch.allclose(torch.cat([hv["a"], hv["b"]]), A @ torch.tensor([1.0, 0.0, 0.0, 2.0]), atol=1e-5)
    assert torch.allclose(exact_hessian(loss, theta), A, atol=1e-5)
    assert torch.allclose(torch.linalg.eigvalsh(exact_hessian(loss, theta)), EIGENVALUES.sort().values, atol=1e-5)


def test_power_iteration_finds_the_top_eigenvalue():
    _, loss, theta = quadratic()
    assert top_eigenvalue(loss, theta, torch.Generator().manual_seed(1), iters=200, tol=1e-7) == pytest.approx(5.0, rel=1e-3)


def test_filter_normalized_direction_matches_each_filter_norm_and_spares_biases():
    net = ResidualMLP(8, 6, 2, 3)
    params = {k: v.detach() for k, v in net.named_parameters()}
    d = filter_normalized_direction(params, torch.Generator().manual_seed(0))
    for k, p in params.items():
        if p.dim() < 2:
            assert (d[k] == 0).all(), k
        else:
            assert torch.allclose(d[k].norm(dim=1), p.norm(dim=1), atol=1e-5), k
            assert not torch.allclose(d[k], p)


def test_lines_and_planes_pass_through_their_points():
    _, loss, theta = quadratic()
    end = {k: torch.zeros_like(v) for k, v in theta.items()}
    line = loss_along_line(loss, theta, end, [0.0, 0.5, 1.0])
    assert line[0] == pytest.approx(float(loss(theta))) and line[2] == pytest.approx(0.0)
    d = {"a": torch.tensor([1.0, 0.0]), "b": torch.zeros(2)}
    plane = loss_on_plane(loss, theta, d, d, [-1.0, 0.0, 1.0])
    assert plane.shape == (3, 3) and plane[1, 1] == pytest.approx(float(loss(theta)))
    assert plane[2, 0] == pytest.approx(float(loss(theta)))  # +d − d = the centre
    assert float(loss(combine(theta, (1.0, d)))) == pytest.approx(float(plane[2, 1]))


def test_sharpness_of_a_quadratic_at_its_minimum_is_the_curvature_along_the_directions():
    _, loss, _ = quadratic()
    at_min = {"a": torch.zeros(2), "b": torch.zeros(2)}
    # every direction is zero at θ = 0 (filters of norm 0): no rise
    assert filter_normalized_sharpness(loss, at_min, torch.Generator().manual_seed(0)) == 0.0


def test_epsilon_sharpness_of_a_linear_loss_reaches_the_box_corner():
    c = {"w": torch.tensor([1.0, -2.0, 0.5])}
    theta = {"w": torch.tensor([0.0, 3.0, -1.0])}
    loss = lambda p: (c["w"] * p["w"]).sum() + 10.0
    base = float(loss(theta))
    corner = float((c["w"].abs() * 1e-3 * (theta["w"].abs() + 1)).sum())
    assert epsilon_sharpness(loss, theta) == pytest.approx(100 * corner / (1 + base), rel=1e-4)


def test_lesioning_every_block_leaves_the_skip_path_and_single_lesions_are_counted():
    digits = load_dataset("digits")
    result = train(lambda: ResidualMLP(64, 16, 3, 10, layer_norm=True, post_activation=False),
                   TrainData(digits.x[:200], digits.y[:200]), [0, 1], TrainConfig(epochs=2), "cpu")
    model = result.model(0)
    with torch.no_grad():
        skip_path = model.out(model.norm(model.inp(digits.x[:50])))
        assert torch.allclose(model(digits.x[:50], lesioned=frozenset({0, 1, 2})), skip_path)
    every = lesioned_accuracy(result, digits.x[:50], digits.y[:50], {0, 1, 2})
    assert torch.allclose(every[0], (skip_path.argmax(-1) == digits.y[:50]).float().mean())
    singles = single_block_accuracies(result, digits.x[:50], digits.y[:50], 3)
    assert singles.shape == (2, 3)
    all_deleted = random_lesions(result, digits.x[:50], digits.y[:50], 3, 3, 4, torch.Generator().manual_seed(0))
    assert torch.allclose(all_deleted, every)  # every draw of 3 of 3 blocks is the same set
