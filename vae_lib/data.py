"""Data: the embedded MNIST subset (no download), full MNIST from IDX files, splits.

Images are float32 tensors of shape (N, 784) with values in [0, 1]; labels are
int64 tensors of shape (N,).
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import io
import os
import struct
import tempfile
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ._checks import check_tensor

if TYPE_CHECKING:  # importlib.resources.abc is Python 3.11+
    from importlib.resources.abc import Traversable

# The 5,000-image MNIST subset (500 per digit) that ships in vae_lib/_data (its README
# gives provenance and licences), and the SHA-256 of that file.
EMBEDDED_MNIST = "mnist_5k.csv.gz"
EMBEDDED_MNIST_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"

# Full MNIST as gzipped IDX files, with the MD5 sums published for these files
# (the same ones torchvision checks).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


class Dataset(NamedTuple):
    images: Tensor  # (N, 784) float32 in [0, 1]
    labels: Tensor  # (N,) int64


class Split(NamedTuple):
    train: Dataset
    heldout: Dataset


# --- The embedded data set ------------------------------------------------------------


def _embedded_resource() -> Traversable:
    return importlib.resources.files(__package__) / "_data" / EMBEDDED_MNIST


@lru_cache(maxsize=1)
def _read_embedded() -> tuple[np.ndarray, np.ndarray]:
    resource = _embedded_resource()
    if not resource.is_file():
        raise FileNotFoundError(f"{resource} not found: this installation of vae_lib is incomplete; reinstall it")
    raw = resource.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != EMBEDDED_MNIST_SHA256:  # checked before parsing: a corrupt file must not look like data
        raise ValueError(f"{resource} is corrupt: SHA-256 {digest}, expected {EMBEDDED_MNIST_SHA256}; "
                         "reinstall vae_lib")
    with gzip.open(io.BytesIO(raw), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    return table[:, :-1], table[:, -1]


def load_embedded_mnist() -> Dataset:
    """The 5,000 MNIST digits that ship inside ``vae_lib`` (in ``vae_lib/_data``): nothing is downloaded."""
    pixels, labels = _read_embedded()
    images = torch.from_numpy(pixels.astype(np.float32) / 255.0)
    return Dataset(images, torch.from_numpy(labels.astype(np.int64)))


def train_heldout_split(data: Dataset, heldout_fraction: float = 0.2, seed: int = 0) -> Split:
    """A deterministic split: the same ``seed`` gives the same images on every machine."""
    if not (0 < heldout_fraction < 1):
        raise ValueError(f"heldout_fraction must lie strictly between 0 and 1, got {heldout_fraction!r}")
    n = data.images.shape[0]
    n_heldout = int(round(n * heldout_fraction))
    if not 0 < n_heldout < n:
        raise ValueError(f"heldout_fraction={heldout_fraction} leaves an empty part of {n} examples")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    held, train = order[:n_heldout], order[n_heldout:]
    return Split(
        Dataset(data.images[train], data.labels[train]),
        Dataset(data.images[held], data.labels[held]),
    )


def binarize(images: Tensor, mode: str = "threshold", seed: int | None = None) -> Tensor:
    """Binary pixels: ``"threshold"`` at 0.5, or ``"stochastic"`` (each pixel ~ Bernoulli(grey level)).

    A stochastic binarisation with ``seed=None`` draws from torch's global generator.
    """
    check_tensor("images", images)
    if bool(((images < 0) | (images > 1)).any()):
        raise ValueError("images must lie in [0, 1] to be binarised")
    if mode == "threshold":
        return (images > 0.5).to(images.dtype)
    if mode == "stochastic":
        # seed=None draws from torch's global generator: an unseeded fresh Generator would
        # start from the same default seed and return the same pattern on every call
        g = None if seed is None else torch.Generator(device=images.device).manual_seed(seed)
        return torch.bernoulli(images, generator=g)
    raise ValueError(f"mode must be 'threshold' or 'stochastic', got {mode!r}")


# --- Full MNIST from IDX files --------------------------------------------------------


def parse_idx(raw: bytes) -> np.ndarray:
    """Decode an IDX file (the MNIST format): big-endian header, then unsigned bytes."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError("not an IDX file: it must start with two zero bytes")
    if raw[2] != 0x08:
        raise ValueError(f"unsupported IDX data type 0x{raw[2]:02x}; only unsigned bytes (0x08) are supported")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError("truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape)) if shape else 1
    if len(raw) - header != expected:
        raise ValueError(f"IDX body has {len(raw) - header} bytes but the header promises {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _download(name: str, target: Path, mirrors: tuple[str, ...]) -> None:
    errors = []
    for mirror in mirrors:
        try:
            with urllib.request.urlopen(mirror + name, timeout=30) as r:
                data = r.read()
        except OSError as e:  # URLError is an OSError
            errors.append(f"{mirror}: {e}")
            continue
        # atomic: a half-written file never looks like a finished download
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
        return
    raise RuntimeError(
        f"could not download {name} from any mirror ({'; '.join(errors)}). Offline? Put the four MNIST "
        f"files {sorted(MNIST_FILES)} in the folder passed as root, or use load_embedded_mnist()."
    )


def load_mnist(
    root: str | os.PathLike,
    split: str = "train",
    download: bool = False,
    checksums: dict[str, str] | None = None,
    mirrors: tuple[str, ...] = MNIST_MIRRORS,
) -> Dataset:
    """Full MNIST (60,000 train or 10,000 test images) from gzipped IDX files in ``root``.

    Missing files are downloaded when ``download=True``; every file is checked
    against its MD5 sum (``checksums`` defaults to the published MNIST sums).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    checksums = MNIST_FILES if checksums is None else checksums
    prefix = "train" if split == "train" else "t10k"
    names = (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz")
    root = Path(root)
    arrays = []
    for name in names:
        path = root / name
        if not path.exists():
            if not download:
                raise FileNotFoundError(
                    f"{path} not found. Pass download=True to fetch MNIST (needs the internet), "
                    "or use load_embedded_mnist() for the data that ships with the book."
                )
            root.mkdir(parents=True, exist_ok=True)
            _download(name, path, mirrors)
        if name not in checksums:
            raise ValueError(f"checksums has no entry for {name}")
        digest = _md5(path)
        if digest != checksums[name]:
            raise ValueError(f"checksum mismatch for {path}: MD5 {digest}, expected {checksums[name]}")
        arrays.append(parse_idx(gzip.decompress(path.read_bytes())))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"images {images.shape} and labels {labels.shape} do not form a data set")
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return Dataset(x, torch.from_numpy(labels.astype(np.int64)))


def load_dataset(name: str = "embedded", root: str | os.PathLike = "data/mnist", download: bool = True) -> Split:
    """The book's entry point: ``"embedded"`` (default, offline) or ``"mnist"`` (full, downloads)."""
    if name == "embedded":
        return train_heldout_split(load_embedded_mnist())
    if name == "mnist":
        return Split(load_mnist(root, "train", download), load_mnist(root, "test", download))
    raise ValueError(f"name must be 'embedded' or 'mnist', got {name!r}")
