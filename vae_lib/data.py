"""Data: the embedded MNIST subset (no download), full MNIST from IDX files, splits.

Images are float32 tensors of shape (N, 784) with values in [0, 1]; labels are
int64 tensors of shape (N,).
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import importlib.resources
import io
import math
import os
import struct
import tempfile
import urllib.request
import zlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np
import torch
from torch import Tensor

from ._checks import check_bool, check_choice, check_fraction, check_instance, check_int, check_tensor

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
    check_instance("data", data, Dataset, "a vae_lib.data.Dataset (images, labels)")
    check_instance("data.images", data.images, Tensor, "a torch.Tensor")
    check_instance("data.labels", data.labels, Tensor, "a torch.Tensor")
    if data.images.dim() == 0 or data.labels.shape[:1] != data.images.shape[:1]:
        raise ValueError(f"data has images of shape {tuple(data.images.shape)} and labels of shape "
                         f"{tuple(data.labels.shape)}: one label per image expected")
    check_fraction("heldout_fraction", heldout_fraction)
    check_int("seed", seed)
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
    check_choice("mode", mode, ("threshold", "stochastic"))
    if seed is not None:
        check_int("seed", seed)
    if bool(((images < 0) | (images > 1)).any()):
        raise ValueError("images must lie in [0, 1] to be binarised")
    if mode == "threshold":
        return (images > 0.5).to(images.dtype)
    # seed=None draws from torch's global generator: an unseeded fresh Generator would
    # start from the same default seed and return the same pattern on every call
    g = None if seed is None else torch.Generator(device=images.device).manual_seed(seed)
    return torch.bernoulli(images, generator=g)


# --- Full MNIST from IDX files --------------------------------------------------------

MNIST_IMAGE_SHAPE = (28, 28)
_GZIP_MAGIC = b"\x1f\x8b"
_IDX_UBYTE_MAGIC = b"\x00\x00\x08"


def parse_idx(raw: bytes, source: str = "IDX data") -> np.ndarray:
    """Decode an IDX file (the MNIST format): big-endian header, then unsigned bytes.

    ``source`` (the file's path, say) opens every error message.
    """
    check_instance("raw", raw, (bytes, bytearray), "bytes")
    check_instance("source", source, str, "a str")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        hint = " (it is gzip-compressed: decompress it first)" if raw[:2] == _GZIP_MAGIC else ""
        raise ValueError(f"{source} is not an IDX file: it must start with two zero bytes, "
                         f"but starts with {bytes(raw[:4])!r}{hint}")
    if raw[2] != 0x08:
        raise ValueError(f"{source}: unsupported IDX data type 0x{raw[2]:02x}; "
                         "only unsigned bytes (0x08) are supported")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{source}: truncated IDX header ({len(raw)} bytes, {ndim} dimensions need {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(shape)  # Python ints: np.prod would wrap around for absurd sizes
    if len(raw) - header != expected:
        raise ValueError(f"{source}: IDX body has {len(raw) - header} bytes but the header promises {expected} "
                         f"(shape {shape}); the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _gunzip(path: Path, raw: bytes) -> bytes:
    if raw[:2] != _GZIP_MAGIC:
        if raw[:3] == _IDX_UBYTE_MAGIC:
            raise ValueError(f"{path} is not gzip-compressed: it is an uncompressed IDX file. Rename it to "
                             f"{path.name[:-3]} (vae_lib reads uncompressed IDX files too)")
        raise ValueError(f"{path} is not gzip-compressed: it starts with {raw[:16]!r}. "
                         "Delete it; download=True fetches it again")
    try:
        return gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"{path} is a truncated or corrupt gzip file ({e}). "
                         "Delete it; download=True fetches it again") from e


def _read_gz(path: Path, md5: str) -> bytes:
    """The IDX bytes of a gzipped file, whose MD5 must be ``md5``."""
    raw = path.read_bytes()
    idx = _gunzip(path, raw)  # first: its message says what is wrong, a bare MD5 mismatch does not
    digest = hashlib.md5(raw).hexdigest()
    if digest != md5:
        raise ValueError(f"checksum mismatch for {path}: MD5 {digest}, expected {md5}")
    return idx


def _download(name: str, target: Path, mirrors: tuple[str, ...], md5: str, reason: str = "") -> None:
    """Fetch ``name`` into ``target``, trying each mirror until one serves a file with this MD5."""
    errors = []
    for mirror in mirrors:
        url = mirror + name
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                data = r.read()
        # URLError is an OSError; a cut connection raises http.client.IncompleteRead; a bad URL ValueError
        except (OSError, ValueError, http.client.HTTPException) as e:
            errors.append(f"{url}: {e}")
            continue
        digest = hashlib.md5(data).hexdigest()
        if digest != md5:  # e.g. an HTML error page or a cut-off file: never written, try the next mirror
            errors.append(f"{url}: MD5 {digest}, expected {md5} ({len(data)} bytes starting {data[:16]!r})")
            continue
        # atomic: a half-written file never looks like a finished download
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return
    raise RuntimeError(
        f"{reason}could not download {name} from any mirror ({'; '.join(errors)}). Offline? Put the four "
        f"MNIST files {sorted(MNIST_FILES)} in the folder passed as root, or use load_embedded_mnist()."
    )


def _find_idx(root: Path, name: str) -> Path | None:
    """``name`` or its uncompressed twin, in ``root`` or in torchvision's ``root/MNIST/raw``."""
    for folder in (root, root / "MNIST" / "raw"):
        for path in (folder / name, folder / name[: -len(".gz")]):  # the .gz first: it has a published MD5
            if path.is_file():
                return path
    return None


def _check_path(name: str, value: object) -> Path:
    check_instance(name, value, (str, os.PathLike), "a str or os.PathLike")
    return Path(cast("str | os.PathLike", value))


def _check_mirrors(mirrors: object) -> tuple[str, ...]:
    # a lone string would be iterated character by character
    if not isinstance(mirrors, (tuple, list)) or not all(isinstance(m, str) for m in mirrors):
        raise TypeError(f"mirrors must be a tuple of URL strings, got {mirrors!r}")
    if not mirrors or not all(m.endswith("/") for m in mirrors):
        raise ValueError(f"mirrors must be one or more URL prefixes ending in '/', got {mirrors!r}")
    return tuple(mirrors)


def _check_mnist_arrays(images_path: Path, images: np.ndarray, labels_path: Path, labels: np.ndarray) -> None:
    if images.ndim != 3 or images.shape[1:] != MNIST_IMAGE_SHAPE:
        raise ValueError(f"{images_path} holds an array of shape {images.shape}; MNIST images are (N, 28, 28)")
    if labels.ndim != 1:
        raise ValueError(f"{labels_path} holds an array of shape {labels.shape}; MNIST labels are (N,)")
    if len(images) == 0:
        raise ValueError(f"{images_path} holds no images")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; "
                         "they must pair up")
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise ValueError(f"{labels_path} has {bad.size} labels outside 0-9 (the first: {labels[bad[0]]} "
                         f"at index {bad[0]})")


def load_mnist(
    root: str | os.PathLike,
    split: str = "train",
    download: bool = False,
    checksums: dict[str, str] | None = None,
    mirrors: tuple[str, ...] = MNIST_MIRRORS,
) -> Dataset:
    """Full MNIST (60,000 train or 10,000 test images) from the IDX files in ``root``.

    Gzipped files are checked against their MD5 sums (``checksums`` defaults to the
    published MNIST sums). torchvision's unzipped files (``train-images-idx3-ubyte``
    ..., also in ``root/MNIST/raw``) are read when the ``.gz`` are absent. With
    ``download=True`` a missing or corrupt ``.gz`` is fetched (again) into ``root``.
    """
    root = _check_path("root", root)
    check_choice("split", split, ("train", "test"))
    check_bool("download", download)
    checksums = MNIST_FILES if checksums is None else checksums
    check_instance("checksums", checksums, Mapping, "a dict of file name -> MD5")
    mirrors = _check_mirrors(mirrors)
    if root.exists() and not root.is_dir():
        raise ValueError(f"root {root} is a file, not a folder")
    prefix = "train" if split == "train" else "t10k"
    found = []
    for name in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"):
        path = _find_idx(root, name)
        if path is not None and path.suffix != ".gz":
            # The published MD5s are of the .gz files, so an uncompressed file (torchvision's
            # raw/ layout) is checked by its structure instead: parse_idx and _check_mnist_arrays.
            found.append((path, parse_idx(path.read_bytes(), str(path))))
            continue
        md5 = checksums.get(name)
        if not isinstance(md5, str):
            raise ValueError(f"checksums has no entry for {name} (an MD5 hex string), got {md5!r}")
        if path is None or (download and _md5(path) != md5):
            if not download:
                raise FileNotFoundError(
                    f"{root / name} not found, nor {name[:-3]} there or in {root / 'MNIST' / 'raw'}. Pass "
                    "download=True to fetch MNIST (needs the internet), or use load_embedded_mnist() for "
                    "the data that ships with the book."
                )
            reason = "" if path is None else f"{path} fails its MD5 check, and "
            root.mkdir(parents=True, exist_ok=True)
            path = root / name
            _download(name, path, mirrors, md5, reason)
        found.append((path, parse_idx(_read_gz(path, md5), str(path))))
    (images_path, images), (labels_path, labels) = found
    _check_mnist_arrays(images_path, images, labels_path, labels)
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return Dataset(x, torch.from_numpy(labels.astype(np.int64)))


def load_dataset(name: str = "embedded", root: str | os.PathLike = "data/mnist", download: bool = True) -> Split:
    """The book's entry point: ``"embedded"`` (default, offline) or ``"mnist"`` (full, downloads)."""
    _check_path("root", root)  # checked for "embedded" too: a wrong argument is never ignored
    check_bool("download", download)
    if check_choice("name", name, ("embedded", "mnist")) == "embedded":
        return train_heldout_split(load_embedded_mnist())
    return Split(load_mnist(root, "train", download), load_mnist(root, "test", download))
