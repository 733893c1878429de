"""The training data of the three settings of Long & Bartlett (2023), §3.1.

* ``mlp``: MNIST (all 60,000 training images by default), pixels scaled to ``[0, 1]`` and
  *centred* — "prior to training, the data was centered": we subtract the mean of every input
  coordinate over the training images used, so each pixel has mean zero.
* ``cnn``: "the first 1000 examples" of the CIFAR-10 training set (the order of
  ``data_batch_1``), scaled and centred the same way (per pixel and colour channel).
* ``transformer``: ``tiny_shakespeare`` without its last 10,000 lines (the test set), as ASCII
  token ids.

Image sources other than the paper's are there for machines without the data:
``sklearn_digits`` (scikit-learn's bundled 8×8 handwritten digits, via
:func:`eoslab.datasets.mnist.load_images`) for either image setting, ``mnist`` for the CNN; the
character model can use the shipped public-domain excerpt (``excerpt``).  A data file says
which source it holds, and every figure and table names it.

Images are written as :mod:`eoslab.arrays` files (``X`` flat rows, channel-major; ``y``;
``num_classes``) with a JSON card that also records the image shape (for the CNN) and the
centring; text as an ``.npz`` with ``train_tokens`` and ``test_tokens`` (uint8) and a card.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...arrays import DataFileError, load_arrays, save_arrays
from ...datasets import shakespeare
from ...io import atomic_write, read_json, sha256sum, write_json

IMAGE_SOURCES = {"mlp": ("mnist", "sklearn_digits"), "cnn": ("cifar10", "mnist", "sklearn_digits")}
TEXT_SOURCES = shakespeare.SOURCES
TEXT_LAYOUT = "an .npz with train_tokens and test_tokens (uint8 ASCII codes) and a JSON card beside it"


def card_path(path: str | os.PathLike) -> Path:
    return Path(path).with_suffix(".json")


def load_images(source: str, root: str, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """Training images as uint8 ``(N, C, H, W)`` and labels, in the source's own order."""
    if source == "cifar10":
        from ...datasets.cifar10 import fetch_cifar10, load_cifar10

        directory = Path(root) / "cifar-10-batches-py"
        if download and not directory.exists():
            fetch_cifar10(root)
        images, labels, _, _ = load_cifar10(directory)
        return images, labels
    from ...datasets.mnist import load_images as load_digit_images

    images, labels = load_digit_images(source, root, "train", download)
    return images[:, None, :, :], labels


def centre(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat float64 rows scaled to ``[0, 1]`` minus their per-coordinate mean, and that mean."""
    X = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    mean = X.mean(axis=0)
    return X - mean, mean


def prepare_images(experiment: str, settings: dict[str, Any], out: str | os.PathLike) -> Path:
    """Write the centred training images of ``experiment`` (``mlp`` or ``cnn``) to ``out``."""
    source = settings["source"]
    if source not in IMAGE_SOURCES[experiment]:
        raise ValueError(f"data source of experiment {experiment!r} must be one of {list(IMAGE_SOURCES[experiment])}, "
                         f"got {source!r}")
    images, labels = load_images(source, settings["root"], settings["download"])
    size = settings.get("train_size")
    if size is not None:
        if size > images.shape[0]:
            raise ValueError(f"train_size {size} exceeds the {images.shape[0]} training images of {source}")
        images, labels = images[:size], labels[:size]  # the first `size` examples, as the paper's CIFAR-10 run
    X, mean = centre(images)
    out = Path(out)
    save_arrays(out, X, labels, 10)
    write_json(card_path(out), {
        "experiment": experiment, "source": source, "size": int(X.shape[0]), "image_shape": list(images.shape[1:]),
        "preprocessing": "x/255 minus the per-coordinate mean over these training images (centred)",
        "mean_of_means": float(mean.mean()), "class_counts": np.bincount(labels, minlength=10).tolist(),
        "file": out.name, "sha256": sha256sum(out)})
    return out


def prepare_text(settings: dict[str, Any], out: str | os.PathLike) -> Path:
    """Write the training and held-out token ids of the character model to ``out``."""
    source = settings["source"]
    if source not in TEXT_SOURCES:
        raise ValueError(f"data source of experiment 'transformer' must be one of {list(TEXT_SOURCES)}, got {source!r}")
    text = shakespeare.load_text(source, settings["root"], settings["download"])
    train, test = shakespeare.split_last_lines(text, settings["held_out_lines"])
    train_tokens, test_tokens = shakespeare.encode_ascii(train), shakespeare.encode_ascii(test)
    out = Path(out)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, train_tokens=train_tokens, test_tokens=test_tokens)

    atomic_write(out, write)
    write_json(card_path(out), {
        "experiment": "transformer", "source": source, "held_out_lines": settings["held_out_lines"],
        "train_characters": int(train_tokens.size), "test_characters": int(test_tokens.size),
        "distinct_characters": int(np.unique(train_tokens).size), "vocabulary": "ASCII codes 0..127",
        "file": out.name, "sha256": sha256sum(out)})
    return out


def prepare(experiment: str, settings: dict[str, Any], out: str | os.PathLike) -> Path:
    if experiment == "transformer":
        return prepare_text(settings, out)
    if experiment in IMAGE_SOURCES:
        return prepare_images(experiment, settings, out)
    raise ValueError(f"experiment must be one of mlp, cnn, transformer, got {experiment!r}")


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    card = card_path(path)
    if not card.exists():
        raise DataFileError(f"data file {os.fspath(path)!r} has no card {str(card)!r} "
                            f"(write both with `eoslab study sam_edge data`)")
    return read_json(card)


def load_images_file(path: str | os.PathLike):
    """``(ArrayData, card)`` of an image data file."""
    return load_arrays(path), read_card(path)


def load_text_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(train_tokens, test_tokens, card)`` of a text data file."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"data file {str(path)!r} does not exist; expected {TEXT_LAYOUT}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            train, test = archive["train_tokens"], archive["test_tokens"]
    except KeyError as error:
        raise DataFileError(f"data file {str(path)!r} lacks {error}; expected {TEXT_LAYOUT}") from error
    except Exception as error:  # zip/npy errors come in many types
        raise DataFileError(f"data file {str(path)!r} is corrupt or not an .npz archive ({error})") from error
    if train.dtype != np.uint8 or train.ndim != 1 or train.max(initial=0) >= shakespeare.VOCAB_SIZE:
        raise DataFileError(f"data file {str(path)!r}: train_tokens must be 1-d uint8 ASCII codes")
    return train, test, read_card(path)
