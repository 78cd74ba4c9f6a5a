"""Real MNIST and Fashion-MNIST (IDX files) and CIFAR-10 (python pickle batches) from $HARNESS_DATA_DIR.

Used by the full tier only. Nothing is downloaded here (`harness data fetch` puts the files there,
checksums verified): when the files are absent the loader raises DataUnavailable, which the
`local_dataset` fixture turns into a skip naming the variable.
Truncated or malformed files raise DataError saying which file and what is wrong.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

from harness.data import Dataset
from harness.data_fetch import ENV_VAR

MNIST_FILES = {
    "x": "train-images-idx3-ubyte", "y": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}
CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_TEST = "test_batch"
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataUnavailable(LookupError):
    """The local files for a dataset are not there (a reason to skip, not to fail)."""


class DataError(ValueError):
    """A local data file exists but cannot be read as the format says."""


def data_dir() -> Path:
    value = os.environ.get(ENV_VAR)
    if not value:
        raise DataUnavailable(f"${ENV_VAR} is not set; point it at a folder holding the MNIST IDX files "
                              "or the CIFAR-10 python batches (`harness data fetch mnist cifar10` puts them "
                              "there) to run the real-data full tier")
    return Path(value)


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise DataUnavailable(f"{name} (or {name}.gz) not found in {folder} (${ENV_VAR})")


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST format: magic 0,0,dtype,ndim; big-endian dims; raw data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError; a cut-off gzip stream an EOFError
        raise DataError(f"{path}: cannot be read ({err}); fetch it again") from err
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes, need {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: shape {shape} needs {expected} data bytes, file has {len(raw) - header} "
                        "(truncated or corrupt download; fetch it again)")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def load_mnist(folder: Path | None = None) -> Dataset:
    """Real MNIST: 60000/10000 images as [N, 1, 28, 28] float32 in [0, 1]."""
    return _load_idx_set("mnist", Path(folder) if folder else data_dir() / "mnist")


def load_fashion_mnist(folder: Path | None = None) -> Dataset:
    """Fashion-MNIST (Zalando, MIT licence): MNIST's format and sizes, clothing instead of digits."""
    return _load_idx_set("fashion-mnist", Path(folder) if folder else data_dir() / "fashion-mnist")


def _load_idx_set(name: str, folder: Path) -> Dataset:
    arrays = {key: read_idx(_find(folder, name)) for key, name in MNIST_FILES.items()}
    for split in ("", "_test"):
        if arrays[f"x{split}"].shape[0] != arrays[f"y{split}"].shape[0]:
            raise DataError(f"{folder}: {arrays[f'x{split}'].shape[0]} images but "
                            f"{arrays[f'y{split}'].shape[0]} labels in the {split or '_train'} split")
    x, x_test = (torch.tensor(arrays[k], dtype=torch.float32).unsqueeze(1) / 255 for k in ("x", "x_test"))
    y, y_test = (torch.tensor(arrays[k].astype(np.int64)) for k in ("y", "y_test"))
    return Dataset(name, x, y, x_test, y_test, 10)


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers and nothing else: a pickle can
    name any callable, so a crafted batch file would otherwise run code as it loads."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # how protocol-2 pickles written by Python 3 spell bytes

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch holds only arrays, "
                                         "lists and bytes")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnly(f, encoding="bytes").load()
        data, labels = np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({err!r}); fetch it again") from err
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
        raise DataError(f"{path}: expected data [N, 3072] and N labels, got {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(folder: Path | None = None) -> Dataset:
    """CIFAR-10 from the python pickle batches: [N, 3, 32, 32] float32 in [0, 1]."""
    folder = Path(folder) if folder else data_dir() / "cifar-10-batches-py"
    train = [_read_cifar_batch(_find(folder, name)) for name in CIFAR_TRAIN]
    x_test, y_test = _read_cifar_batch(_find(folder, CIFAR_TEST))
    x = np.concatenate([b[0] for b in train])
    y = np.concatenate([b[1] for b in train])
    as_float = lambda a: torch.tensor(a, dtype=torch.float32) / 255
    return Dataset("cifar10", as_float(x), torch.tensor(y), as_float(x_test), torch.tensor(y_test), 10)
