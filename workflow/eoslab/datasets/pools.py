"""Data pools and the seeded subsets drawn from them (Section 3, Table 1).

A *pool* is one prepared data set: an ``.npz`` with ``X_train``, ``y_train``,
``X_test``, ``y_test`` (raw values, any shape per sample), ``num_classes`` and
``class_names``, plus a JSON card beside it (``pool.json``) saying where the
data came from and how subsets must be preprocessed.  Preprocessing is one of

* ``{"kind": "scale", "factor": f}`` — ``x · f`` (dice: 1/255);
* ``{"kind": "channel_standardize", "scale": f, "mean": [...], "std": [...]}`` —
  ``(x · f − mean_c) / std_c`` per channel ``c`` (axis 1 of each sample), with
  statistics of the whole training pool (CIFAR-10);
* ``{"kind": "identity"}`` — values used as they are (AtrialFibrillation, SST).

A *subset* (``size`` samples of the training pool, chosen by ``seed``) is an
array file for :func:`eoslab.arrays.load_arrays` — ``X`` flattened and
preprocessed (float64, or float32 when the pool is float32, which is then
lossless), ``y``, ``num_classes`` and the chosen ``indices`` into the pool —
with a JSON card (source pool and its sha256, size, seed, shape, classes,
preprocessing, the file's own sha256).  The same pool, size and seed always
select the same indices: ``default_rng(SeedSequence([seed, size]))`` draws
them without replacement, so subsets of different sizes are independent draws
(the paper's four subset seeds per size).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import DataFileError
from ..io import atomic_write, read_json, sha256sum, write_json

POOL_LAYOUT = "an .npz with X_train, y_train, X_test, y_test, num_classes, class_names and a JSON card beside it"


def card_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_suffix(".json")


def save_pool(path: str | os.PathLike, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
              y_test: np.ndarray, class_names: list[str], card: dict[str, Any]) -> Path:
    """Write a pool and its card (both atomically); the card gains shapes and the pool's sha256."""
    path = Path(path)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, X_train=X_train, y_train=y_train.astype(np.int64), X_test=X_test,
                     y_test=y_test.astype(np.int64), num_classes=np.int64(len(class_names)),
                     class_names=np.array(class_names))

    atomic_write(path, write)
    full = {**card, "file": path.name, "sha256": sha256sum(path), "class_names": list(class_names),
            "num_classes": len(class_names), "train_shape": list(X_train.shape), "test_shape": list(X_test.shape),
            "train_class_counts": np.bincount(y_train, minlength=len(class_names)).tolist(),
            "dtype": str(X_train.dtype)}
    write_json(card_path(path), full)
    return path


def load_pool(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"pool {str(path)!r} does not exist; expected {POOL_LAYOUT} "
                            f"(the workflow's data rules, or `eoslab data ...`, write it)")
    if not card_path(path).exists():
        raise DataFileError(f"pool {str(path)!r} has no card {str(card_path(path))!r}; expected {POOL_LAYOUT}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:  # zip/npy errors come in many types
        raise DataFileError(f"pool {str(path)!r} is corrupt or not an .npz archive ({error})") from error
    missing = {"X_train", "y_train", "X_test", "y_test", "num_classes", "class_names"} - set(arrays)
    if missing:
        raise DataFileError(f"pool {str(path)!r} lacks {sorted(missing)}; expected {POOL_LAYOUT}")
    return arrays, read_json(card_path(path))


def preprocess(X: np.ndarray, preprocessing: dict[str, Any]) -> np.ndarray:
    """Apply a card's preprocessing and flatten every sample into a vector."""
    kind = preprocessing.get("kind")
    out_dtype = np.float32 if X.dtype == np.float32 else np.float64
    if kind == "scale":
        X = X.astype(np.float64) * float(preprocessing["factor"])
    elif kind == "channel_standardize":
        mean = np.asarray(preprocessing["mean"], dtype=np.float64)
        std = np.asarray(preprocessing["std"], dtype=np.float64)
        shape = (1, -1) + (1,) * (X.ndim - 2)
        scale = float(preprocessing.get("scale", 1.0))
        X = (X.astype(np.float64) * scale - mean.reshape(shape)) / std.reshape(shape)
    elif kind == "identity":
        pass
    else:
        raise ValueError(f"unknown preprocessing kind {kind!r}; expected scale, channel_standardize or identity")
    return X.reshape(X.shape[0], -1).astype(out_dtype)


def select_subset(pool_size: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``size`` distinct training samples, determined by ``(seed, size)``."""
    if not 1 <= size <= pool_size:
        raise ValueError(f"subset size must be in 1..{pool_size} (the training pool), got {size}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, size]))
    return np.sort(rng.choice(pool_size, size=size, replace=False))


def write_subset(pool_path: str | os.PathLike, size: int, seed: int, out: str | os.PathLike,
                 split: str = "train") -> Path:
    """Draw a subset of the training pool (or take the whole test split) and write it with its card."""
    arrays, card = load_pool(pool_path)
    X_all, y_all = arrays[f"X_{split}"], arrays[f"y_{split}"]
    indices = select_subset(X_all.shape[0], size, seed) if split == "train" else np.arange(X_all.shape[0])
    X = preprocess(X_all[indices], card["preprocessing"])
    y = y_all[indices]
    out = Path(out)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, X=X, y=y, num_classes=arrays["num_classes"], indices=indices)

    atomic_write(out, write)
    write_json(card_path(out), {
        "dataset": card.get("dataset"), "source_pool": os.path.abspath(pool_path),
        "source_pool_sha256": card.get("sha256"), "split": split, "size": int(len(indices)),
        "subset_seed": seed if split == "train" else None, "shape": list(X.shape), "dtype": str(X.dtype),
        "num_classes": int(arrays["num_classes"]), "class_names": card.get("class_names"),
        "class_counts": np.bincount(y, minlength=int(arrays["num_classes"])).tolist(),
        "preprocessing": card["preprocessing"], "file": out.name, "sha256": sha256sum(out)})
    return out
