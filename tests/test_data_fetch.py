"""`harness data fetch` against a local file:// mirror: checksums decide what is kept, the
CIFAR-10 tarball unpacks only its batches, and the loaders read what the command leaves."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from harness import cli, data_fetch, local_files


def idx_gz(arr: np.ndarray) -> bytes:
    header = b"\x00\x00\x08" + bytes([arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A folder serving fake MNIST archives, with DATASETS pinned to their sums (as the real
    entries pin the published ones)."""
    rng = np.random.default_rng(0)
    site = tmp_path / "mirror"
    site.mkdir()
    files = {"train-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (6, 28, 28))),
             "train-labels-idx1-ubyte.gz": idx_gz(rng.integers(0, 10, 6)),
             "t10k-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (2, 28, 28))),
             "t10k-labels-idx1-ubyte.gz": idx_gz(rng.integers(0, 10, 2))}
    for name, data in files.items():
        (site / name).write_bytes(data)
    monkeypatch.setitem(data_fetch.DATASETS, "mnist", data_fetch.Archives(
        "https://unreachable.invalid/", "mnist", {name: sha(data) for name, data in files.items()}))
    return site


def test_fetch_verifies_and_the_loader_reads_it(mirror, tmp_path, monkeypatch, capsys):
    target = tmp_path / "data"
    monkeypatch.setenv("HARNESS_DATA_DIR", str(target))
    assert cli.main(["data", "fetch", "mnist", "--source", mirror.as_uri()]) == 0
    assert f"HARNESS_DATA_DIR={target}" in capsys.readouterr().out
    ds = local_files.load_mnist()
    assert ds.x.shape == (6, 1, 28, 28) and ds.x_test.shape == (2, 1, 28, 28)
    # a second fetch keeps the verified files without reading the source again
    for path in mirror.iterdir():
        path.unlink()
    data_fetch.fetch("mnist", target, mirror.as_uri())


def test_a_tampered_archive_is_refused_and_nothing_is_kept(mirror, tmp_path):
    (mirror / "train-labels-idx1-ubyte.gz").write_bytes(idx_gz(np.zeros(6)))
    with pytest.raises(data_fetch.ChecksumMismatch, match="train-labels-idx1-ubyte.gz: SHA-256 .* is not the published"):
        data_fetch.fetch("mnist", tmp_path / "data", mirror.as_uri())
    assert not (tmp_path / "data" / "mnist" / "train-labels-idx1-ubyte.gz").exists()
    assert not list((tmp_path / "data" / "mnist").glob("*.part"))


def test_an_unreachable_source_says_what_to_do(tmp_path):
    with pytest.raises(OSError, match="cannot download .*pass --source with a mirror"):
        data_fetch.fetch("mnist", tmp_path, (tmp_path / "nowhere").as_uri())


def cifar_tarball(extra: str | None = None) -> bytes:
    buffer = io.BytesIO()
    batch = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}, protocol=2)
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in [*local_files.CIFAR_TRAIN, local_files.CIFAR_TEST, *([extra] if extra else [])]:
            path = name if extra == name else f"cifar-10-batches-py/{name}"
            info = tarfile.TarInfo(path)
            info.size = len(batch)
            tar.addfile(info, io.BytesIO(batch))
    return buffer.getvalue()


@pytest.mark.parametrize("extra", [None, "../escape"])
def test_cifar_unpacks_only_its_batches(tmp_path, monkeypatch, extra):
    site = tmp_path / "mirror"
    site.mkdir()
    data = cifar_tarball(extra)
    (site / "cifar-10-python.tar.gz").write_bytes(data)
    monkeypatch.setitem(data_fetch.DATASETS, "cifar10", data_fetch.Archives(
        "https://unreachable.invalid/", ".", {"cifar-10-python.tar.gz": sha(data)}, unpack=True))
    target = tmp_path / "data"
    if extra:
        with pytest.raises(ValueError, match="unexpected member '../escape'"):
            data_fetch.fetch("cifar10", target, site.as_uri())
        assert not (tmp_path / "escape").exists() and not (target / "cifar-10-batches-py").exists()
        return
    (folder,) = data_fetch.fetch("cifar10", target, site.as_uri())
    assert local_files.load_cifar10(folder).y.tolist() == [1, 2] * 5


def test_the_published_sums_are_pinned():
    for name, spec in data_fetch.DATASETS.items():
        assert spec.sha256 and all(len(s) == 64 and int(s, 16) >= 0 for s in spec.sha256.values()), name
