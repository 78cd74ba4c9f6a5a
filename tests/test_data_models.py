"""Datasets (shapes, determinism, exact transforms, local-file loaders) and models (shapes, init)."""

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from harness import data, local_files, models


def test_mnist1d_shapes_and_determinism():
    ds = data.load_dataset("mnist1d")
    assert ds.x.shape == (4000, 40) and ds.x_test.shape == (1000, 40) and ds.x.dtype == torch.float32
    assert set(ds.y.unique().tolist()) == set(range(10))
    fresh = data.make_mnist1d()  # second build comes from the disk cache: identical
    assert torch.equal(fresh.x, ds.x) and torch.equal(fresh.y_test, ds.y_test)


def test_digits_split_as_documented():
    ds = data.load_dataset("digits")
    assert ds.x.shape == (1300, 64) and ds.x_test.shape == (497, 64)
    assert ds.x.min() >= 0 and ds.x.max() <= 1


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; available: digits, mnist1d"):
        data.load_dataset("cifar")


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 1.0])
def test_label_noise_fraction_is_exact(fraction):
    y = torch.arange(1000) % 10
    noisy, redrawn = data.noisy_labels(y, fraction, 10, seed=3)
    assert redrawn.sum().item() == round(fraction * 1000)
    assert torch.equal(noisy[~redrawn], y[~redrawn])
    again, _ = data.noisy_labels(y, fraction, 10, seed=3)
    assert torch.equal(noisy, again)
    if fraction == 1.0:  # fully random labels agree with the truth only by chance (~1/10)
        assert 0.05 < (noisy == y).float().mean() < 0.15


def test_pixel_transforms():
    x = torch.arange(12.0).reshape(3, 4)
    shuffled, shuffled_test = data.shuffled_pixels(x, x + 100, seed=0)
    perm = shuffled[0].long()  # row 0 holds 0..3, so its values are the permutation itself
    assert torch.equal(shuffled, x[:, perm]) and torch.equal(shuffled_test, (x + 100)[:, perm])
    random = data.random_pixels(x, seed=0)
    assert torch.equal(random.sort(dim=1).values, x)  # each row a permutation of itself
    g = data.gaussian_like(x, 5000, seed=0)
    assert g.shape == (5000, 4) and abs(g.mean() - x.mean()) < 0.3 and abs(g.std() - x.std()) < 0.2


def test_parity_targets():
    x, y, subset = data.make_parity(10, 256, seed=1)
    assert x.shape == (256, 10) and set(x.unique().tolist()) == {-1.0, 1.0} and len(subset) == 5
    assert torch.equal(y, ((x[:, subset] < 0).sum(1) % 2))


def test_step_targets_and_pwl():
    x, y, w, b = data.make_step_targets(100, 10, seed=0)
    assert w.norm() == pytest.approx(3.0) and torch.equal(y, torch.floor(x @ w + b))
    cond = [torch.linalg.cond(data.pwl_matrix(n)).item() for n in (25, 50, 100)]
    slope = np.polyfit(np.log([25, 50, 100]), np.log(cond), 1)[0]
    assert slope == pytest.approx(2.0, abs=0.2)  # cond(W) ~ n² (Shalev-Shwartz et al. 2017)
    f, p = data.make_pwl_curves(20, 4, knots=3, seed=0)
    assert ((p != 0).sum(1) == 3).all() and torch.allclose(f, p @ data.pwl_matrix(20).T.float(), atol=1e-4)


def _write_idx(path, array, dtype_code=0x08):
    header = bytes([0, 0, dtype_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_idx_loader(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    images, labels = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5)
    for name, arr in [("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels),
                      ("t10k-images-idx3-ubyte.gz", images[:2]), ("t10k-labels-idx1-ubyte.gz", labels[:2])]:
        _write_idx(folder / name, arr)
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    ds = local_files.load_mnist()
    assert ds.x.shape == (5, 1, 28, 28) and ds.x_test.shape == (2, 1, 28, 28)
    assert torch.allclose(ds.x[:, 0] * 255, torch.tensor(images, dtype=torch.float32))
    assert ds.y.tolist() == labels.tolist()
    raw = (folder / "train-images-idx3-ubyte").read_bytes()
    (folder / "train-images-idx3-ubyte").write_bytes(raw[:-10])
    with pytest.raises(local_files.DataError, match="truncated or corrupt"):
        local_files.load_mnist()


def test_cifar_loader(tmp_path):
    folder = tmp_path / "cifar"
    folder.mkdir()
    for name in local_files.CIFAR_TRAIN + [local_files.CIFAR_TEST]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": np.full((2, 3072), 255, np.uint8), b"labels": [1, 2]}, f)
    ds = local_files.load_cifar10(folder)
    assert ds.x.shape == (10, 3, 32, 32) and ds.x_test.shape == (2, 3, 32, 32) and ds.x.max() == 1.0
    (folder / "test_batch").write_bytes(b"garbage")
    with pytest.raises(local_files.DataError, match="not a CIFAR-10 python batch"):
        local_files.load_cifar10(folder)


class _RunsACommand:
    """What a crafted batch file could hold: unpickling it calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_cifar_batch_runs_no_code(tmp_path):
    folder = tmp_path / "cifar"
    folder.mkdir()
    marker = tmp_path / "pwned"
    for name in local_files.CIFAR_TRAIN + [local_files.CIFAR_TEST]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": _RunsACommand(marker), b"labels": [1]}, f, protocol=2)
    with pytest.raises(local_files.DataError, match="refusing to load (posix|os).system"):
        local_files.load_cifar10(folder)
    assert not marker.exists()


def test_python2_style_cifar_batches_still_load(tmp_path):
    """The real batches are protocol-2 pickles with bytes keys, numpy arrays and lists."""
    folder = tmp_path / "cifar"
    folder.mkdir()
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": [3, 4],
             b"data": np.zeros((2, 3072), np.uint8), b"filenames": [b"a.png", b"b.png"]}
    for name in local_files.CIFAR_TRAIN + [local_files.CIFAR_TEST]:
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    assert local_files.load_cifar10(folder).y.tolist() == [3, 4] * 5


def test_a_broken_gzip_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(local_files.DataError, match="train-images-idx3-ubyte.gz: cannot be read"):
        local_files.read_idx(path)
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 40)[:-12])  # cut off mid-stream
    with pytest.raises(local_files.DataError, match="cannot be read"):
        local_files.read_idx(path)


def test_missing_local_data_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    with pytest.raises(local_files.DataUnavailable, match=r"\$HARNESS_DATA_DIR is not set"):
        local_files.load_mnist()
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    with pytest.raises(local_files.DataUnavailable, match="train-images-idx3-ubyte.*not found"):
        local_files.load_mnist()


@pytest.mark.parametrize("factory, shape_in, shape_out", [
    (lambda: models.mlp([40, 32, 10]), (7, 40), (7, 10)),
    (lambda: models.cnn1d(), (7, 40), (7, 10)),
    (lambda: models.cnn2d(), (7, 64), (7, 10)),
    (lambda: models.ResidualMLP(64, 16, 3, 10, layer_norm=True), (7, 64), (7, 10)),
    (lambda: models.ResidualCNN(skip=False), (7, 64), (7, 10)),
    (lambda: models.Autoencoder(64, 16), (7, 64), (7, 64)),
], ids=["mlp", "cnn1d", "cnn2d", "residual-mlp", "plain-cnn", "autoencoder"])
def test_models_build_and_run(factory, shape_in, shape_out):
    model = models.build(factory, seed=0)
    assert model(torch.randn(shape_in)).shape == shape_out
    again = models.build(factory, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))


@pytest.mark.parametrize("scheme, kwargs, expected_std", [
    ("default", {}, 1 / np.sqrt(3 * 512)), ("uniform", {}, 1 / np.sqrt(3 * 512)),
    ("xavier", {}, np.sqrt(2 / (512 + 256))), ("he", {}, np.sqrt(2 / 512)), ("normal", {"std": 0.01}, 0.01),
])
def test_init_statistics(scheme, kwargs, expected_std):
    model = models.build(lambda: models.mlp([512, 256]), seed=0, init=scheme, **kwargs)
    assert model[0].weight.std().item() == pytest.approx(expected_std, rel=0.03)
    assert (model[0].bias.abs().max() > 0) == (scheme == "default")


def test_init_errors():
    with pytest.raises(ValueError, match="unknown init scheme 'lecun'"):
        models.build(lambda: models.mlp([4, 2]), seed=0, init="lecun")
    with pytest.raises(ValueError, match="give std exactly when scheme='normal'"):
        models.build(lambda: models.mlp([4, 2]), seed=0, init="normal")
    with pytest.raises(ValueError, match="unknown activation 'gelu2'"):
        models.mlp([4, 4, 2], activation="gelu2")
    with pytest.raises(ValueError, match="≥ 2 positive widths"):
        models.mlp([4])


@pytest.mark.parametrize("residual, plain, x", [
    (lambda: models.ResidualMLP(8, 16, 4, 3, zero_init_last=True), lambda: models.ResidualMLP(8, 16, 4, 3, skip=False),
     torch.randn(5, 8)),
    (lambda: models.ResidualCNN(zero_init_last=True), lambda: models.ResidualCNN(skip=False), torch.rand(5, 64)),
], ids=["mlp", "cnn"])
def test_residual_lesion_and_zero_init(residual, plain, x):
    net = models.build(residual, seed=0)
    # zero-initialised blocks add nothing: every lesion gives the same output as the whole net
    assert torch.allclose(net(x), net(x, lesioned=frozenset({0, 2})))
    plain_net = models.build(plain, seed=0)
    assert not torch.allclose(plain_net(x), plain_net(x, lesioned=frozenset({1})))


def test_class_selection_and_seeded_split():
    x, y = torch.arange(20.0).unsqueeze(1), torch.arange(20) % 5
    xs, ys = data.select_classes(x, y, [0, 3])
    assert set(ys.tolist()) == {0, 3} and len(ys) == 8 and torch.equal(xs[:, 0] % 5, ys.float())
    with pytest.raises(ValueError, match="no example has a label in"):
        data.select_classes(x, y, [7])
    train_idx, test_idx = data.seeded_split(20, 5, seed=0)
    assert len(test_idx) == 5 and sorted(np.concatenate([train_idx, test_idx]).tolist()) == list(range(20))
    assert np.array_equal(data.seeded_split(20, 5, seed=0)[1], test_idx)


def test_dataset_shape_checks():
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        data.Dataset("bad", torch.zeros(3, 2), torch.zeros(2), torch.zeros(1, 2), torch.zeros(1), 2)
    ds = data.load_dataset("digits")
    with pytest.raises(ValueError, match="asked for 5000 train examples, have 1300"):
        ds.subset(n_train=5000)
