"""Pruning, weight sharing, quantization, storage counting and the distillation loss, on inputs
whose answers are known by hand."""

import pytest
import torch
import torch.nn.functional as F

from harness.data import load_dataset
from harness.models import build, mlp
from harness.ops.distill import Distillation, soft_cross_entropy
from harness.ops.prune import apply_masks, magnitude_masks, sparsity, weight_names
from harness.ops.quantize import quantize_symmetric
from harness.ops.storage import compression_ratio, stored_entries
from harness.ops.weight_sharing import kmeans_1d, largest_codebook, share_weights
from harness.train import TrainConfig, TrainData, init_params, train

# --- pruning -----------------------------------------------------------------------------------

def stacked_weights(n_seeds=3):
    g = torch.Generator().manual_seed(0)
    return {"0.weight": torch.randn(n_seeds, 30, 20, generator=g), "2.weight": torch.randn(n_seeds, 10, 30, generator=g)}


@pytest.mark.parametrize("target", [0.0, 0.5, 0.9, 0.95])
def test_global_pruning_prunes_exactly_the_smallest(target):
    w = stacked_weights()
    masks = magnitude_masks(w, target, scope="global")
    n = 600 + 300
    for i in range(3):
        flat = torch.cat([w[k][i].flatten() for k in w]).abs()
        alive = torch.cat([masks[k][i].flatten() for k in w]).bool()
        assert int((~alive).sum()) == round(target * n)
        if 0 < target:
            assert flat[~alive].max() <= flat[alive].min()  # one threshold across layers
    assert torch.allclose(sparsity(masks), torch.full((3,), round(target * n) / n, dtype=torch.float64))


def test_layer_pruning_prunes_each_layer_to_the_fraction():
    w = stacked_weights()
    masks = magnitude_masks(w, 0.9, scope="layer")
    for k in w:
        assert ((masks[k] == 0).flatten(1).sum(1) == round(0.9 * w[k][0].numel())).all()


def test_iterative_pruning_keeps_old_zeros_and_reaches_the_target():
    w = stacked_weights()
    first = magnitude_masks(w, 0.5)
    # the weights change between rounds (training): the old zeros must stay pruned regardless
    changed = {k: torch.randn_like(v) for k, v in w.items()}
    second = magnitude_masks(changed, 0.8, masks=first)
    for k in w:
        assert (second[k][first[k] == 0] == 0).all()
    assert torch.allclose(sparsity(second), torch.full((3,), 0.8, dtype=torch.float64))
    with pytest.raises(ValueError, match="only removes"):
        magnitude_masks(w, 0.3, masks=second)


def test_pruning_rejects_bad_arguments():
    w = stacked_weights()
    with pytest.raises(ValueError, match="scope"):
        magnitude_masks(w, 0.5, scope="row")
    with pytest.raises(ValueError, match="sparsity"):
        magnitude_masks(w, 1.0)


def test_weight_names_skip_biases_and_apply_masks_zeroes():
    params = init_params(lambda: mlp([4, 3, 2]), [0, 1], "cpu")
    assert weight_names(params) == ["0.weight", "2.weight"]
    masks = magnitude_masks({k: params[k] for k in weight_names(params)}, 0.5)
    pruned = apply_masks(params, masks)
    assert torch.equal(pruned["0.bias"], params["0.bias"])
    assert (pruned["0.weight"][masks["0.weight"] == 0] == 0).all()


def test_training_from_rewound_init_keeps_the_mask():
    digits = load_dataset("digits").subset(n_train=200)
    factory = lambda: mlp([64, 16, 10])
    theta0 = init_params(factory, [4, 5], "cpu")
    assert torch.equal(theta0["0.weight"][0], build(factory, 4).state_dict()["0.weight"])
    masks = magnitude_masks({k: theta0[k] for k in weight_names(theta0)}, 0.8)
    result = train(factory, TrainData.of(digits), [4, 5], TrainConfig(epochs=2, batch_size=50), "cpu",
                   start=theta0, masks=masks)
    for k, m in masks.items():
        assert (result.params[k][m == 0] == 0).all() and (result.params[k][m == 1] != theta0[k][m == 1]).any()


# --- weight sharing and quantization -----------------------------------------------------------

def test_kmeans_finds_separated_clusters():
    values = torch.tensor([-1.1, -0.9, -1.0, 0.45, 0.55, 1.9, 2.1, 2.0])
    centroids, assignment = kmeans_1d(values, 3)
    torch.testing.assert_close(centroids, torch.tensor([-1.0, 0.5, 2.0]))
    assert assignment.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]


def test_share_weights_keeps_zeros_and_uses_at_most_k_values():
    w = stacked_weights()["0.weight"]
    w = w * (w.abs() > 0.5)  # pruned: exact zeros
    shared = share_weights(w, 8)
    assert (shared[w == 0] == 0).all() and (shared[w != 0] != 0).all()
    for i in range(3):
        assert len(shared[i][shared[i] != 0].unique()) <= 8
    assert largest_codebook({"a": shared, "b": torch.tensor([[1.0, 2.0, 0.0], [3.0, 3.0, 3.0], [0.0, 0.0, 0.0]])}).tolist() == [
        len(shared[i][shared[i] != 0].unique()) for i in range(3)]
    few = torch.tensor([[0.0, 1.0, -2.0, 1.0, 3.0]])
    assert torch.equal(share_weights(few, 4), few)  # k ≥ distinct values: nothing changes


def test_share_weights_clusters_each_seed_on_its_own_and_rarely_reads_the_host(monkeypatch):
    g = torch.Generator().manual_seed(3)
    w = torch.randn(3, 40, 50, generator=g) * torch.tensor([1.0, 3.0, 0.1])[:, None, None]
    w = w * (torch.rand(w.shape, generator=g) > torch.tensor([0.0, 0.5, 0.9])[:, None, None])
    w[2] = 0  # a fully pruned seed stays zero
    alone = torch.cat([share_weights(w[i:i + 1], 16) for i in range(3)])
    reads = {"n": 0}
    original = torch.Tensor.__bool__
    monkeypatch.setattr(torch.Tensor, "__bool__", lambda t: reads.__setitem__("n", reads["n"] + 1) or original(t))
    together = share_weights(w, 16)
    assert torch.equal(together, alone) and (together[2] == 0).all()
    # a direct k-means check: every kept weight sits on the centroid nearest to it
    for i in range(2):
        kept, centroids = w[i][w[i] != 0], together[i][w[i] != 0].unique()
        nearest = centroids[(kept[:, None] - centroids[None]).abs().argmin(1)]
        assert torch.equal(nearest, together[i][w[i] != 0])
    assert reads["n"] <= 100 // 4 + 1


def test_quantization_error_is_at_most_half_a_step():
    w = stacked_weights()["2.weight"]
    w[1] = 0.0  # an all-zero seed stays zero
    q = quantize_symmetric(w, 8)
    scale = w.abs().flatten(1).amax(1) / 127
    for i in (0, 2):
        assert (q[i] - w[i]).abs().max() <= scale[i] / 2 + 1e-7
        assert len(q[i].unique()) <= 255
        assert torch.isclose(q[i].abs().max(), w[i].abs().max())  # the largest weight is on the grid
    assert (q[1] == 0).all()
    assert (quantize_symmetric(torch.tensor([[0.0, 0.3, -1.0]]), 2) == torch.tensor([[0.0, 0.0, -1.0]])).all()


def test_storage_counts_padding_for_long_gaps():
    mask = torch.zeros(40)
    mask[[0, 1, 5, 39]] = 1  # gaps 1, 1, 4, 34
    assert stored_entries(mask, index_bits=2) == 4 + (34 - 1) // 4  # gaps up to 4 fit in 2 bits
    assert stored_entries(mask, index_bits=8) == 4
    assert stored_entries(torch.zeros(5), 3) == 0
    dense = torch.ones(10, 10)
    # every weight stored: 100·(8+5) bits vs 100·32, plus one float32 scale
    assert compression_ratio({"w": dense}, 8, index_bits=5, table_floats=1) == pytest.approx(3200 / (1300 + 32))


# --- distillation ------------------------------------------------------------------------------

def test_distillation_with_one_hot_targets_is_cross_entropy():
    g = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(6, 10, generator=g), torch.randint(0, 10, (6,), generator=g)
    one_hot_teacher = 1e4 * F.one_hot(labels, 10).float()  # softmax → exactly one-hot
    expected = F.cross_entropy(logits, labels, reduction="none")
    torch.testing.assert_close(Distillation(1.0, 1.0).per_row(logits, labels, one_hot_teacher), expected)
    torch.testing.assert_close(Distillation(7.0, 0.0).per_row(logits, labels, torch.randn(6, 10)), expected)


def test_t_squared_keeps_the_soft_gradient_scale():
    """Hinton §2.1: for large T and zero-mean logits, d(T²·CE)/dz → (z − v)/C, whatever T is."""
    g = torch.Generator().manual_seed(2)
    z, v = torch.randn(10, generator=g), torch.randn(10, generator=g)
    z, v = z - z.mean(), v - v.mean()
    for temperature in (50.0, 200.0):
        zz = z.clone().requires_grad_()
        soft_cross_entropy(zz, (v / temperature).softmax(-1), temperature).backward()
        torch.testing.assert_close(zz.grad, (z - v) / 10, atol=2e-3, rtol=0)


def test_trainer_distills_batched_as_sequentially_and_needs_teacher_logits():
    digits = load_dataset("digits").subset(n_train=128)
    teacher = torch.randn(2, 128, 10, generator=torch.Generator().manual_seed(3))
    cfg = TrainConfig(epochs=2, batch_size=64, loss=Distillation(4.0, 0.9))
    data = TrainData.of(digits, teacher_logits=teacher)
    batched = train(lambda: mlp([64, 16, 10]), data, [0, 1], cfg, "cpu")
    sequential = train(lambda: mlp([64, 16, 10]), data, [0, 1], cfg, "cpu", batched=False)
    torch.testing.assert_close(batched.params["0.weight"], sequential.params["0.weight"], rtol=1e-4, atol=1e-5)
    assert "train_loss" in batched.curves  # evaluated as cross-entropy
    with pytest.raises(ValueError, match="teacher_logits"):
        train(lambda: mlp([64, 16, 10]), TrainData.of(digits), [0], cfg, "cpu")
    with pytest.raises(ValueError, match="rows"):
        TrainData.of(digits, teacher_logits=teacher[:, :100])
    with pytest.raises(TypeError, match="callable"):
        TrainConfig(epochs=1, loss=3)
