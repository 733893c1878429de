"""MNIST from the raw idx files (LeCun, Cortes & Burges), and scikit-learn's 8×8 digits offline.

Layout: the torchvision ``MNIST/raw`` folder, i.e. under a root such as ``resources/``::

    resources/MNIST/raw/train-images-idx3-ubyte(.gz)   60,000 images
    resources/MNIST/raw/train-labels-idx1-ubyte(.gz)
    resources/MNIST/raw/t10k-images-idx3-ubyte(.gz)    10,000 images
    resources/MNIST/raw/t10k-labels-idx1-ubyte(.gz)

Each file may be gzip-compressed (as published) or not (as torchvision also keeps them); the
uncompressed one is read when both exist.  The idx format: a big-endian header of two zero bytes,
a type code (``0x08`` = unsigned byte), the number of dimensions ``k`` and ``k`` big-endian
``uint32`` sizes, then the values in C order.  Every file is checked against its header (type,
dimensions, sizes, length) and labels against ``0 … 9``; :func:`download_mnist` and
:func:`verify_mnist` check the published archives' md5 sums (:data:`MD5`).

:func:`load_mnist` returns ``(images uint8 (N, 28, 28), labels int64 (N,))``.  Study-specific
preprocessing (ZCA, ±1 parity labels, the first ``N`` examples) is not done here:
:mod:`eoslab.datasets.preprocessing` has the generic transforms.

Offline stand-in: :func:`load_digits_fallback` gives the 1,797 8×8 handwritten digits that
scikit-learn ships inside its wheel (``sklearn.datasets.load_digits``, no network), as uint8
images scaled from ``0 … 16`` to ``0 … 255`` by ``round(v · 255 / 16)`` and the same label
convention; the first 1,437 (80 %, in the file's order) are the ``train`` split, the remaining 360
the ``test`` split (our choice: the set has no official split).  :func:`load_images` reaches both
through one call (``source: mnist | sklearn_digits``).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from ..arrays import DataFileError
from .download import DownloadError, download, missing_data_error

#: Where the files are published; the first mirror that answers is used.
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: md5 of the published .gz archives (the sums torchvision and the original site list).
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
#: Images per split of the real data set (fixtures may hold fewer; the header is what is checked).
SPLIT_SIZES = {"train": 60000, "test": 10000}
LAYOUT = ("the torchvision MNIST layout: a folder MNIST/raw holding train-images-idx3-ubyte, "
          "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte "
          "(each as published, .gz, or unpacked)")
SOURCES = ("mnist", "sklearn_digits")
DIGITS_TRAIN_SIZE = 1437

_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def raw_directory(root: str | os.PathLike) -> Path:
    """The ``MNIST/raw`` folder under ``root`` (``root`` itself if it already is that folder)."""
    root = Path(root)
    if root.name == "raw" and root.parent.name == "MNIST":
        return root
    return root / "MNIST" / "raw"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one idx file (plain or gzip), validating the header against the payload."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise DataFileError(f"MNIST file {str(path)!r} cannot be read ({error}); expected an idx file "
                            f"(optionally gzip-compressed)") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataFileError(f"MNIST file {str(path)!r} is not an idx file (bad magic number "
                            f"{data[:4].hex() or 'empty'}); expected {LAYOUT}")
    dtype, ndim = _IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataFileError(f"MNIST file {str(path)!r}: truncated idx header")
    shape = tuple(int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise DataFileError(f"MNIST file {str(path)!r}: header says shape {shape} ({expected} bytes) but the "
                            f"file has {len(data)} bytes; it is truncated or corrupt")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    raise missing_data_error(directory / f"{stem}.gz", LAYOUT, MIRRORS[0] + f"{stem}.gz",
                             "download: true in the config, or eoslab.datasets.mnist.download_mnist(root)")


def load_mnist(root: str | os.PathLike, split: str = "train", download: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 28, 28), labels int64 (N,))`` of one split (``train`` or ``test``).

    ``root`` holds ``MNIST/raw`` (e.g. ``resources``); with ``download=True`` missing files are
    fetched there first (md5-checked).  A missing file raises a :class:`DataFileError` naming the
    folder and the files expected in it.
    """
    if split not in FILES:
        raise ValueError(f"MNIST split must be one of {sorted(FILES)}, got {split!r}")
    directory = raw_directory(root)
    if download:
        download_mnist(root)
    image_stem, label_stem = FILES[split]
    image_path, label_path = _find(directory, image_stem), _find(directory, label_stem)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataFileError(f"MNIST file {str(image_path)!r}: images {images.dtype} {images.shape}; "
                            f"expected unsigned bytes of shape (N, 28, 28)")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataFileError(f"MNIST files {str(image_path)!r} and {str(label_path)!r}: {images.shape[0]} images "
                            f"but labels of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataFileError(f"MNIST file {str(label_path)!r}: labels outside 0..9")
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_mnist(root: str | os.PathLike) -> dict[str, bool]:
    """md5 of every published ``.gz`` archive present under ``MNIST/raw``: name -> matches :data:`MD5`."""
    directory = raw_directory(root)
    return {name: _md5(directory / name) == md5 for name, md5 in MD5.items() if (directory / name).exists()}


def download_mnist(root: str | os.PathLike, mirrors: tuple[str, ...] = MIRRORS) -> Path:
    """Fetch the four archives into ``root/MNIST/raw`` (those not yet there), md5-checked; returns the folder."""
    directory = raw_directory(root)
    for name, md5 in MD5.items():
        stem = name[:-3]
        if (directory / name).exists() or (directory / stem).exists():
            continue
        errors = []
        for mirror in mirrors:
            try:
                download(mirror + name, directory / name, md5=md5)
                break
            except DownloadError as error:
                errors.append(str(error))
        else:
            raise DownloadError(f"could not download {name} from any mirror: " + "; ".join(errors))
    return directory


def load_digits_fallback(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8×8 digits as ``(images uint8 (N, 8, 8), labels int64 (N,))``.

    ``train`` is the first 1,437 images, ``test`` the last 360 (module docstring).
    """
    if split not in FILES:
        raise ValueError(f"digits split must be one of {sorted(FILES)}, got {split!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - scikit-learn is a dependency
        raise DataFileError("source 'sklearn_digits' needs scikit-learn (pip install scikit-learn)") from error
    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    part = slice(0, DIGITS_TRAIN_SIZE) if split == "train" else slice(DIGITS_TRAIN_SIZE, None)
    return images[part], labels[part]


def load_images(source: str, root: str | os.PathLike | None = None, split: str = "train",
                download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One loader for both sources: ``mnist`` (from ``root``) or ``sklearn_digits`` (bundled)."""
    if source == "mnist":
        if root is None:
            raise ValueError("source 'mnist' needs a root folder holding MNIST/raw (e.g. resources)")
        return load_mnist(root, split, download)
    if source == "sklearn_digits":
        return load_digits_fallback(split)
    raise ValueError(f"image source must be one of {list(SOURCES)}, got {source!r}")
