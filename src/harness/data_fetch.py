"""`harness data fetch`: the real datasets, from their published archives into $HARNESS_DATA_DIR.

The only place the harness touches the network, and only when a person runs the command: tests
read what it leaves behind (`harness.local_files`) and skip when it is not there. Every archive is
hashed as it streams in and compared with the SHA-256 below before anything is kept or unpacked;
a mismatch deletes the download and says so. The sums are those of the archives as published
(MNIST: the copy torchvision fetches, since yann.lecun.com refuses scripted downloads; Fashion-MNIST:
Zalando's S3 bucket; CIFAR-10: the Toronto page) and agree with the sums other projects pin.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "HARNESS_DATA_DIR"  # where the fetched files go and the loaders (harness.local_files) look


@dataclass(frozen=True)
class Archives:
    source: str  # base URL the file names are appended to
    folder: str  # sub-folder of the data directory the loader reads
    sha256: dict[str, str]  # file name → SHA-256 of the published archive
    unpack: bool = False  # a tarball whose members the loader reads (else the files are read as they are)


DATASETS = {
    "mnist": Archives("https://ossci-datasets.s3.amazonaws.com/mnist/", "mnist", {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }),
    "fashion-mnist": Archives("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "fashion-mnist", {
        "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    }),
    "cifar10": Archives("https://www.cs.toronto.edu/~kriz/", ".", {
        "cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    }, unpack=True),
}
CIFAR_MEMBERS = "cifar-10-batches-py/"  # the only paths the CIFAR-10 tarball may unpack to


class ChecksumMismatch(ValueError):
    """A download is not the published archive (corrupt, truncated, or not what the URL promised)."""


def default_dir() -> Path:
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "harness" / "data")


def fetch(name: str, folder: Path, source: str | None = None) -> list[Path]:
    """Download (or keep, when already verified) each archive of `name` under folder; returns what
    the loader will read. `source` replaces the base URL (a mirror, or file:// in tests)."""
    spec = DATASETS[name]
    target = Path(folder) / spec.folder
    target.mkdir(parents=True, exist_ok=True)
    base = (source or spec.source).rstrip("/") + "/"
    kept = []
    for file, expected in spec.sha256.items():
        path = target / file
        if not (path.exists() and _sha256(path) == expected):
            _download(base + file, path, expected)
        kept.append(_unpack(path, target) if spec.unpack else path)
    return kept


def _download(url: str, path: Path, expected: str) -> None:
    partial = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise OSError(f"cannot download {url}: {err}; check the network, or pass --source with a mirror") from err
    if digest.hexdigest() != expected:
        partial.unlink()
        raise ChecksumMismatch(f"{url}: SHA-256 {digest.hexdigest()} is not the published {expected}; "
                               "nothing was kept (a corrupt or altered download: try again, or another mirror)")
    partial.replace(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _unpack(archive: Path, target: Path) -> Path:
    """The CIFAR-10 batches out of their (verified) tarball; a member outside the batch folder,
    or one that is not a plain file or folder, stops the unpacking before anything is written."""
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        for m in members:
            if not (m.name.startswith(CIFAR_MEMBERS) or m.name == CIFAR_MEMBERS.rstrip("/")) \
                    or ".." in Path(m.name).parts or not (m.isfile() or m.isdir()):
                raise ValueError(f"{archive}: unexpected member {m.name!r}; refusing to unpack it")
        out = target / CIFAR_MEMBERS
        shutil.rmtree(out, ignore_errors=True)
        for m in members:
            if m.isfile():
                dest = target / m.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    return out
