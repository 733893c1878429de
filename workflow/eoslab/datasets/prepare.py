"""Raw data → pools: one function per data set, each writing ``pool.npz`` and its card."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from . import atrial_fibrillation, cifar10, dice, sst
from .pools import save_pool

log = logging.getLogger(__name__)

DATASETS = ("dice", "cifar10", "atrial_fibrillation", "sst")


def prepare_dice(out: str | os.PathLike, seed: int = 0, per_class: int = 20_000, workers: int | None = None,
                 progress: bool = True, background: str = "white", pip: str = "filled", channels: int = 1) -> Path:
    started = time.time()
    data = dice.generate_dice(seed=seed, per_class=per_class, workers=workers, progress=progress,
                              background=background, pip=pip, channels=channels)
    card = {"dataset": "dice", "source": "generated (Supplement 7.3, Table 3)", "seed": seed,
            "per_class": per_class, "renderer": "Pillow, 8x supersampled, box-filtered to 32x32",
            "background": background, "ink": "black" if background == "white" else "white",
            "pip": pip, "channels": channels,
            "preprocessing": {"kind": "scale", "factor": 1.0 / 255.0},
            "generation_seconds": round(time.time() - started, 1)}
    return save_pool(out, data.X_train, data.y_train, data.X_test, data.y_test, list(dice.CLASS_NAMES), card)


def prepare_cifar10(out: str | os.PathLike, directory: str | os.PathLike, download: bool = False) -> Path:
    directory = Path(directory)
    if download and not directory.exists():
        directory = cifar10.fetch_cifar10(directory.parent)
    X_train, y_train, X_test, y_test = cifar10.load_cifar10(directory)
    mean, std = cifar10.channel_statistics(X_train)
    card = {"dataset": "cifar10", "source": os.path.abspath(directory), "url": cifar10.URL,
            "preprocessing": {"kind": "channel_standardize", "scale": 1.0 / 255.0, "mean": mean, "std": std}}
    return save_pool(out, X_train, y_train, X_test, y_test, cifar10.CLASS_NAMES, card)


def prepare_atrial_fibrillation(out: str | os.PathLike, directory: str | os.PathLike, download: bool = False,
                                window: int = atrial_fibrillation.WINDOW,
                                stride: int = atrial_fibrillation.STRIDE,
                                per_case: int | None = atrial_fibrillation.PER_CASE) -> Path:
    directory = Path(directory)
    if download and not directory.exists():
        directory = atrial_fibrillation.fetch_atrial_fibrillation(directory.parent)
    X_train, y_train, X_test, y_test, classes = atrial_fibrillation.load_atrial_fibrillation(
        directory, window, stride, per_case)
    card = {"dataset": "atrial_fibrillation", "source": os.path.abspath(directory), "url": atrial_fibrillation.URL,
            "window": window, "stride": stride, "windows_per_case": per_case,
            "channels": "both, concatenated per window",
            "preprocessing": {"kind": "identity"}}
    return save_pool(out, X_train, y_train, X_test, y_test, classes, card)


def prepare_sst(out: str | os.PathLike, directory: str | os.PathLike, model: str | os.PathLike,
                download: bool = False, batch_size: int = 64, device: str | None = None,
                progress: bool = True) -> Path:
    directory = Path(directory)
    if download and not directory.exists():
        directory = sst.fetch_sst(directory.parent)
    data = sst.load_sst5(directory)
    (train_sentences, y_train), (test_sentences, y_test) = data["train"], data["test"]
    X_train = sst.embed_sentences(train_sentences, model, batch_size=batch_size, device=device, progress=progress)
    X_test = sst.embed_sentences(test_sentences, model, batch_size=batch_size, device=device, progress=progress)
    import numpy as np

    card = {"dataset": "sst", "source": os.path.abspath(directory), "url": sst.URL, "variant": "SST-5 sentences",
            "encoder": os.fspath(model), "max_tokens": sst.MAX_TOKENS, "padding": "zero vectors at padded positions",
            "dropped_sentence_indices": data["dropped"], "preprocessing": {"kind": "identity"}}
    return save_pool(out, X_train, np.asarray(y_train), X_test, np.asarray(y_test), sst.CLASS_NAMES, card)
