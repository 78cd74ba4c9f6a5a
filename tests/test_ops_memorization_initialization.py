"""Zhang's construction, randomization conditions, disagreement, partial freezing and the
denoising loss, on inputs whose answers are known by hand."""

import pytest
import torch

from harness.data import load_dataset
from harness.kits.construction import fit_any_labels
from harness.models import Autoencoder, mlp
from harness.ops.agreement import disagreement_matrix, mean_disagreement, pair_disagreement
from harness.ops.pretraining import Denoising, pretrain_stack
from harness.ops.randomization import CONDITIONS, condition_data
from harness.ops.transfer import PartlyFrozen, first_layers
from harness.train import TrainConfig, TrainData, init_params, train


def test_construction_fits_arbitrary_labels_with_2n_plus_d_weights():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(200, 7, generator=g, dtype=torch.float64), torch.randn(200, generator=g, dtype=torch.float64)
    net = fit_any_labels(x, y, g)
    assert net.parameter_count == 2 * 200 + 7
    assert (net(x) - y).abs().max() < 1e-8
    with pytest.raises(ValueError, match="not distinct"):
        fit_any_labels(torch.cat([x[:5], x[:5]]), torch.zeros(10, dtype=torch.float64), g)


def test_disagreement_by_hand():
    predictions = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 0], [1, 1, 0, 0]])
    D = disagreement_matrix(predictions)
    assert D[0, 1] == 0.25 and D[0, 2] == 0.75 and D[1, 2] == 0.5 and (D.diagonal() == 0).all()
    assert torch.allclose(mean_disagreement(predictions), torch.tensor([0.5, 0.375, 0.625]))
    assert torch.allclose(pair_disagreement(predictions), D[0, 1:2])  # the third model has no partner
    with pytest.raises(ValueError, match="two models"):
        mean_disagreement(predictions[:1])


def test_randomization_conditions_keep_what_they_should():
    ds = load_dataset("digits")
    x, y, xt, yt = condition_data(ds, "true_labels", 0)
    assert x is ds.x and y is ds.y
    x, y, xt, yt = condition_data(ds, "random_labels", 0)
    assert torch.equal(x, ds.x) and not torch.equal(y, ds.y) and torch.equal(yt, ds.y_test)
    x, y, xt, yt = condition_data(ds, "shuffled_pixels", 0)
    perm = [(x[:, j:j + 1] == ds.x).all(0).nonzero() for j in range(2)]  # columns moved, whole
    assert all(len(p) >= 1 for p in perm) and torch.equal(y, ds.y)
    x, _, _, _ = condition_data(ds, "random_pixels", 0)
    assert torch.equal(x.sort(1).values, ds.x.sort(1).values) and not torch.equal(x, ds.x)
    x, _, xt, _ = condition_data(ds, "gaussian", 0)
    assert x.mean().item() == pytest.approx(ds.x.mean().item(), abs=0.02) and not torch.equal(x[:len(xt)], xt)
    assert set(CONDITIONS) == {"true_labels", "random_labels", "shuffled_pixels", "random_pixels", "gaussian"}
    with pytest.raises(ValueError, match="unknown condition"):
        condition_data(ds, "upside_down", 0)


def test_partly_frozen_keeps_the_frozen_copy_and_trains_the_rest():
    digits = load_dataset("digits")
    factory = lambda: mlp([64, 16, 10])
    start = init_params(factory, [0, 1], "cpu")
    assert first_layers(start, 1) == ["0.weight", "0.bias"]
    frozen = {name: torch.tensor([1.0, 0.0]) for name in first_layers(start, 1)}
    result = train(factory, TrainData(digits.x[:200], digits.y[:200]), [0, 1],
                   TrainConfig(epochs=2, loss=PartlyFrozen(frozen)), "cpu", start=start)
    assert torch.equal(result.params["0.weight"][0], start["0.weight"][0])  # model 0: layer 0 frozen
    assert not torch.equal(result.params["0.weight"][1], start["0.weight"][1])  # model 1: trained
    assert not torch.equal(result.params["2.weight"][0], start["2.weight"][0])
    with pytest.raises(ValueError, match="first 3"):
        first_layers(start, 3)


def test_denoising_loss_masks_the_input_and_scores_the_clean_target():
    x = torch.full((1, 4, 8), 0.5)
    seen = {}

    def model(inputs):
        seen["inputs"] = inputs
        return torch.zeros_like(inputs)  # logits 0: BCE(σ(0)=0.5, target) = log 2 whatever the target

    torch.manual_seed(0)
    loss = Denoising(mask=0.5)(model, x, x, {})
    assert loss.shape == (1,) and loss.item() == pytest.approx(float(torch.log(torch.tensor(2.0))))
    zeroed = (seen["inputs"] == 0).float().mean().item()
    assert 0.2 < zeroed < 0.8 and ((seen["inputs"] == 0) | (seen["inputs"] == 0.5)).all()


def test_pretrained_stack_trains_each_layer_on_the_codes_below():
    digits = load_dataset("digits")
    stack = pretrain_stack(digits.x[:256], [32, 16], [0], TrainConfig(epochs=20, batch_size=64), "cpu")
    assert [tuple(layer["weight"].shape) for layer in stack] == [(1, 32, 64), (1, 16, 32)]
    untrained = init_params(lambda: Autoencoder(64, 32), [0], "cpu")["encoder.0.weight"]  # layer 0 is seed 0
    assert not torch.allclose(stack[0]["weight"], untrained)
