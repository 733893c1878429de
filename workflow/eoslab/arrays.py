"""The compact array files that training reads: ``.npz`` with ``X`` and ``y``.

Layout: ``X`` is a float array of shape ``(N, D)`` (inputs already flattened
and preprocessed), ``y`` an integer array of shape ``(N,)`` with class indices
``0 … C−1``, and optionally ``num_classes`` (a scalar ``C``; without it ``C`` is
``max(y) + 1``).  The data stage writes these files (one per data subset).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass

import numpy as np

LAYOUT = ("an .npz file with 'X' (float, shape (N, D)), 'y' (int, shape (N,), values 0..C-1) "
          "and optionally 'num_classes'")


class DataFileError(ValueError):
    """A data file is missing, unreadable or not in the expected layout."""


@dataclass
class ArrayData:
    X: np.ndarray
    y: np.ndarray
    num_classes: int

    @property
    def num_samples(self) -> int:
        return self.X.shape[0]

    @property
    def input_dim(self) -> int:
        return self.X.shape[1]


def load_arrays(path: str | os.PathLike) -> ArrayData:
    """Read and validate an array file; every failure names the file and the layout."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataFileError(f"data file {path!r} does not exist; expected {LAYOUT}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            missing = {"X", "y"} - keys
            if missing:
                raise DataFileError(f"data file {path!r} lacks {sorted(missing)} (has {sorted(keys)}); "
                                    f"expected {LAYOUT}")
            X, y = archive["X"], archive["y"]
            num_classes = int(archive["num_classes"]) if "num_classes" in keys else None
    except DataFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataFileError(f"data file {path!r} is corrupt or not an .npz archive ({error}); "
                            f"expected {LAYOUT}") from error
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.floating):
        raise DataFileError(f"data file {path!r}: 'X' must be a float array of shape (N, D), "
                            f"got dtype {X.dtype} shape {X.shape}")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or y.shape[0] != X.shape[0]:
        raise DataFileError(f"data file {path!r}: 'y' must be an integer array of shape ({X.shape[0]},), "
                            f"got dtype {y.dtype} shape {y.shape}")
    if X.shape[0] == 0:
        raise DataFileError(f"data file {path!r} holds no samples")
    if not np.isfinite(X).all():
        raise DataFileError(f"data file {path!r}: 'X' contains NaN or inf")
    if num_classes is None:
        num_classes = int(y.max()) + 1
    if y.min() < 0 or y.max() >= num_classes:
        raise DataFileError(f"data file {path!r}: labels must lie in 0..{num_classes - 1}, "
                            f"got range {y.min()}..{y.max()}")
    return ArrayData(X=X, y=y.astype(np.int64), num_classes=num_classes)


def save_arrays(path: str | os.PathLike, X: np.ndarray, y: np.ndarray, num_classes: int) -> None:
    """Write an array file atomically (the inverse of :func:`load_arrays`)."""
    from .io import atomic_write

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, X=X, y=y, num_classes=np.int64(num_classes))

    atomic_write(path, write)
