"""The study's training sets: the synthetic regression data of §3.1.1 and CIFAR-10 subsets.

CIFAR-10 comes from a pool written by ``eoslab data cifar10`` (the existing loader; per-channel
standardisation over the 50,000 training images, see :mod:`eoslab.datasets.cifar10`).  A subset of
``n`` images is drawn by :func:`eoslab.datasets.pools.select_subset` from ``(seed, n)`` and
flattened to 3072 inputs; the thesis trains it with the MSE loss, so the labels become one-hot
vectors of the 10 classes (regressed with :class:`eoslab.criteria.RegressionMSE`).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ...arrays import DataFileError
from ...datasets.pools import load_pool, preprocess, select_subset
from ...datasets.synthetic_regression import make_synthetic_regression


def synthetic(n: int, d: int, seed: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, Y)``: ``n`` examples of the §3.1.1 data of dimension ``d`` drawn from ``seed``."""
    data = make_synthetic_regression(n, d, seed, dtype=dtype)
    return data.X, data.Y


class Cifar10Pool:
    """The CIFAR-10 training pool, loaded once, from which subsets are drawn."""

    def __init__(self, path: str | os.PathLike):
        arrays, card = load_pool(path)
        if card.get("dataset") != "cifar10":
            raise DataFileError(f"pool {os.fspath(path)!r} holds {card.get('dataset')!r}, expected a CIFAR-10 pool "
                                f"(written by `eoslab data cifar10 --out POOL`)")
        self.X, self.y = arrays["X_train"], arrays["y_train"]
        self.num_classes = int(arrays["num_classes"])
        self.preprocessing = card["preprocessing"]
        self.path = os.fspath(path)

    def subset(self, n: int, seed: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, Y)``: ``n`` standardised, flattened images and their one-hot labels."""
        index = select_subset(self.X.shape[0], n, seed)
        X = preprocess(self.X[index], self.preprocessing).astype(np.float64)
        Y = np.eye(self.num_classes)[self.y[index]]
        return torch.from_numpy(X).to(dtype), torch.from_numpy(Y).to(dtype)


def training_set(dataset: str, n: int, d: int, seed: int, *, pool: str | None = None,
                 dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set of one run: synthetic ``(n, d)`` data, or a CIFAR-10 subset from ``pool``."""
    if dataset == "synthetic":
        return synthetic(n, d, seed, dtype)
    if dataset == "cifar10":
        if pool is None:
            raise DataFileError("CIFAR-10 runs need the pool written by `eoslab data cifar10` (--cifar10-pool PATH)")
        return Cifar10Pool(pool).subset(n, seed, dtype)
    raise ValueError(f"dataset must be 'synthetic' or 'cifar10', got {dataset!r}")
