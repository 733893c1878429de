"""MNIST idx reader on format-faithful fixtures; the bundled digits; ZCA whitening."""

import gzip
import hashlib
import struct

import numpy as np
import pytest

from eoslab.arrays import DataFileError
from eoslab.datasets import mnist
from eoslab.datasets.download import DownloadError
from eoslab.datasets.preprocessing import apply_zca, fit_zca, parity_labels


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx encoding: 0, 0, type code 0x08 (ubyte), ndim, big-endian uint32 sizes, C-order data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def make_mnist(root, n_train=7, n_test=3, compress=True, seed=0):
    rng = np.random.default_rng(seed)
    directory = root / "MNIST" / "raw"
    directory.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        arrays[split] = (images, labels)
        for stem, array in zip(mnist.FILES[split], (images, labels)):
            data = idx_bytes(array)
            if compress:
                (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
            else:
                (directory / stem).write_bytes(data)
    return directory, arrays


@pytest.mark.parametrize("compress", [True, False])
def test_idx_reader_roundtrip(tmp_path, compress):
    _, arrays = make_mnist(tmp_path, compress=compress)
    for split in ("train", "test"):
        images, labels = mnist.load_mnist(tmp_path, split)
        assert images.dtype == np.uint8 and labels.dtype == np.int64
        np.testing.assert_array_equal(images, arrays[split][0])
        np.testing.assert_array_equal(labels, arrays[split][1])
    # the raw folder itself is accepted as root too
    images, _ = mnist.load_mnist(tmp_path / "MNIST" / "raw", "test")
    assert images.shape == (3, 28, 28)


def test_idx_header_is_big_endian(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    array = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    path.write_bytes(idx_bytes(array))
    assert path.read_bytes()[4:8] == b"\x00\x00\x00\x02"
    np.testing.assert_array_equal(mnist.read_idx(path), array)


def test_missing_file_names_the_folder(tmp_path):
    with pytest.raises(DataFileError, match=r"MNIST/raw/train-images-idx3-ubyte\.gz.*not found.*MNIST/raw"):
        mnist.load_mnist(tmp_path / "resources", "train")


def test_truncated_and_garbage_files_are_named(tmp_path):
    directory, _ = make_mnist(tmp_path, compress=False)
    path = directory / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte.*truncated or corrupt"):
        mnist.load_mnist(tmp_path, "test")
    path.write_bytes(b"GIF89a......")
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte.*not an idx file"):
        mnist.load_mnist(tmp_path, "test")
    labels = directory / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.array([0, 1, 2], dtype=np.uint8)))
    with pytest.raises(DataFileError, match="7 images but labels of shape"):
        mnist.load_mnist(tmp_path, "train")
    labels.write_bytes(idx_bytes(np.array([0, 1, 2, 3, 4, 5, 11], dtype=np.uint8)))
    with pytest.raises(DataFileError, match="labels outside 0..9"):
        mnist.load_mnist(tmp_path, "train")


def test_download_checks_md5_and_uses_mirrors(tmp_path):
    """A local 'mirror' (file:// URLs): correct md5 sums are accepted, a wrong one is discarded."""
    source, _ = make_mnist(tmp_path / "mirror")
    sums = {name: hashlib.md5((source / name).read_bytes()).hexdigest() for name in mnist.MD5}
    original = dict(mnist.MD5)
    try:
        mnist.MD5.update(sums)
        directory = mnist.download_mnist(tmp_path / "dest", mirrors=("file:///nonexistent/", source.as_uri() + "/"))
        assert sorted(p.name for p in directory.iterdir()) == sorted(mnist.MD5)
        assert all(mnist.verify_mnist(tmp_path / "dest").values())
        images, _ = mnist.load_mnist(tmp_path / "dest", "train")
        assert images.shape == (7, 28, 28)
        mnist.MD5["t10k-labels-idx1-ubyte.gz"] = "0" * 32
        with pytest.raises(DownloadError, match="t10k-labels.*does not match"):
            mnist.download_mnist(tmp_path / "dest2", mirrors=(source.as_uri() + "/",))
        assert not (tmp_path / "dest2" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").exists()
    finally:
        mnist.MD5.clear()
        mnist.MD5.update(original)


def test_digits_fallback_and_unified_loader():
    train_images, train_labels = mnist.load_images("sklearn_digits", split="train")
    test_images, test_labels = mnist.load_images("sklearn_digits", split="test")
    assert train_images.shape == (1437, 8, 8) and test_images.shape == (360, 8, 8)
    assert train_images.dtype == np.uint8 and train_images.max() == 255 and train_images.min() == 0
    assert set(np.unique(train_labels)) == set(range(10)) and train_labels.dtype == np.int64
    from sklearn.datasets import load_digits
    np.testing.assert_array_equal(test_labels, load_digits().target[1437:])
    with pytest.raises(ValueError, match="mnist \\| sklearn_digits|one of"):
        mnist.load_images("cifar", split="train")


def test_zca_whitens_to_identity():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(6, 6)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1, 0.01])
    X = rng.normal(size=(500, 6)) @ mixing + 3.0
    zca = fit_zca(X)
    Z = apply_zca(zca, X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(Z.T @ Z / len(Z), np.eye(6), atol=1e-9)
    np.testing.assert_allclose(zca.matrix, zca.matrix.T, atol=1e-12)   # ZCA, not PCA: symmetric
    # regularised: eigenvalues s/(s + ε) < 1, and rank-deficient inputs need ε > 0
    reg = fit_zca(X, regularization=0.1)
    eig = np.linalg.eigvalsh(np.cov(apply_zca(reg, X).T, bias=True))
    assert eig.max() < 1 and eig.min() > 0
    with pytest.raises(ValueError, match="full-rank"):
        fit_zca(np.hstack([X, X[:, :1]]))


def test_parity_labels():
    np.testing.assert_array_equal(parity_labels(np.arange(10)), [-1, 1, -1, 1, -1, 1, -1, 1, -1, 1])
