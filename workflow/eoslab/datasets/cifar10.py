"""CIFAR-10 from the standard ``cifar-10-batches-py`` layout (Krizhevsky 2009).

Layout: a directory ``cifar-10-batches-py/`` holding the pickled batches
``data_batch_1`` … ``data_batch_5`` (training, 50,000 images) and
``test_batch`` (10,000), each a dict with ``b"data"`` (uint8, ``(10000, 3072)``,
channel-major: 1024 red, 1024 green, 1024 blue values of a 32×32 image) and
``b"labels"`` (10,000 ints), and ``batches.meta`` with ``b"label_names"``.
Put it under ``resources/`` (``resources/cifar-10-batches-py``) or point the
config at it; :func:`fetch_cifar10` downloads the official archive and checks
its md5 first.

Preprocessing (recorded in the pool card and applied to every subset):
values are scaled to ``[0, 1]`` and standardised per colour channel with the
mean and standard deviation over all 50,000 training images — one fixed
transform for every subset, so subsets differ only in which images they hold.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from ..arrays import DataFileError
from .download import download, extract, missing_data_error

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
LAYOUT = ("the directory 'cifar-10-batches-py' with data_batch_1..5, test_batch and batches.meta "
          "(the python version of CIFAR-10)")
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.exists():
        raise missing_data_error(path, LAYOUT, URL, "eoslab data cifar10 --download")
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise DataFileError(f"CIFAR-10 batch {str(path)!r} is corrupt or not a CIFAR-10 pickle ({error!r}); "
                            f"expected {LAYOUT}") from error
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DataFileError(f"CIFAR-10 batch {str(path)!r}: data {data.shape} / labels {labels.shape}; "
                            f"expected (n, 3072) uint8 and (n,) labels")
    if labels.min() < 0 or labels.max() > 9:
        raise DataFileError(f"CIFAR-10 batch {str(path)!r}: labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(directory: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)`` with images as uint8 ``(n, 3, 32, 32)``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise missing_data_error(directory, LAYOUT, URL, "eoslab data cifar10 --download")
    parts = [_read_batch(directory / name) for name in TRAIN_BATCHES]
    X_test, y_test = _read_batch(directory / TEST_BATCH)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), X_test, y_test)


def channel_statistics(X_train: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the training images scaled to [0, 1]."""
    scaled = X_train.astype(np.float64) / 255.0
    return scaled.mean(axis=(0, 2, 3)).tolist(), scaled.std(axis=(0, 2, 3)).tolist()


def fetch_cifar10(resources: str | os.PathLike, url: str = URL, md5: str = MD5) -> Path:
    """Download and unpack CIFAR-10 into ``resources`` (md5-checked); returns the batches directory."""
    resources = Path(resources)
    archive = download(url, resources / "cifar-10-python.tar.gz", md5=md5)
    extract(archive, resources)
    archive.unlink()
    return resources / "cifar-10-batches-py"
