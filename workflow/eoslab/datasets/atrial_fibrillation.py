"""AtrialFibrillation (UCR/UEA archive) cut into windows of length 128 (Section 3).

Layout: ``AtrialFibrillation_TRAIN.ts`` and ``AtrialFibrillation_TEST.ts`` in
the archive's ``.ts`` format — ``@``-header lines (``@problemName``,
``@univariate false``, ``@dimensions 2``, ``@equalLength true``,
``@seriesLength 640``, ``@classLabel true n s t``, …), then after ``@data``
one case per line: the values of each dimension comma-separated, dimensions
separated by ``:``, the class label last.  15 training and 15 test cases, 2 ECG
channels of length 640, classes ``n`` (non-terminating), ``s`` (terminates
after one minute), ``t`` (terminates immediately).  Put the two files under
``resources/AtrialFibrillation/``; :func:`fetch_atrial_fibrillation` downloads
the archive's zip.  The reader here is our own (tested on files with the real
header), so the data stage needs no time-series toolkit.

Windows (our choice; the paper only says "sequences of length 128"): every
window of length 128 with **stride 1**, the first **512 per case** (starts
0 … 511 of the 513 possible), both channels of a window concatenated (256
inputs), labelled with the case's class.  That makes the training pool
15 × 512 = 7,680 windows, and Table 1's sizes 60 … 960 are then 7,680/2⁷ …
7,680/2³ — the same halving pattern from the pool size as dice (60,000/2³ …)
and CIFAR-10 (50,000/2³ …), which a reader of Table 1 would take to be how the
paper chose its sizes; the largest subset then takes 1/8 of the pool, so the
four subset seeds see different data.  The earlier choice, stride 8 (65 windows
per case, a pool of 975), is ``stride=8, per_case=None``: there D = 960 takes
98.5% of the pool and the four subsets are nearly the same data.  Windows of
one case overlap heavily and share a label, so they are far from independent
samples whatever the stride — a property of the paper's set-up.  Values are
used as they are in the archive (no further scaling).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..arrays import DataFileError
from .download import download, extract, missing_data_error

URL = "https://timeseriesclassification.com/aeon-toolkit/AtrialFibrillation.zip"
NAME = "AtrialFibrillation"
WINDOW = 128
STRIDE = 1
PER_CASE = 512   # windows per case: 15 training cases × 512 = 7,680 = 960 · 8
LAYOUT = ("the UEA .ts files AtrialFibrillation_TRAIN.ts and AtrialFibrillation_TEST.ts "
          "(2 dimensions, series length 640, classes n s t)")


def read_ts(path: str | os.PathLike) -> tuple[np.ndarray, list[str], list[str]]:
    """Read an equal-length multivariate ``.ts`` file.

    Returns ``(X, labels, class_labels)`` with ``X`` of shape
    ``(cases, dimensions, length)`` float64, one label per case and the
    header's class list.
    """
    path = Path(path)
    if not path.exists():
        raise missing_data_error(path, LAYOUT, URL, "eoslab data atrial-fibrillation --download")
    header: dict[str, str] = {}
    cases, labels = [], []
    in_data = False
    with open(path, encoding="utf-8", errors="strict") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise DataFileError(f"{str(path)!r} line {number}: expected a '@' header line before @data")
                key, _, value = line[1:].partition(" ")
                if key.lower() == "data":
                    in_data = True
                else:
                    header[key.lower()] = value.strip()
                continue
            *dims, label = line.split(":")
            try:
                cases.append([np.array(d.split(","), dtype=np.float64) for d in dims])
            except ValueError as error:
                raise DataFileError(f"{str(path)!r} line {number}: non-numeric value ({error})") from error
            labels.append(label.strip())
    if not in_data:
        raise DataFileError(f"{str(path)!r} has no @data section; expected {LAYOUT}")
    class_field = header.get("classlabel", "").split()
    if not class_field or class_field[0].lower() != "true":
        raise DataFileError(f"{str(path)!r}: header lacks '@classLabel true <labels>'; expected {LAYOUT}")
    classes = class_field[1:]
    dimensions = int(header.get("dimensions", len(cases[0]) if cases else 0))
    length = int(header["serieslength"]) if "serieslength" in header else None
    for i, case in enumerate(cases):
        if len(case) != dimensions or any(len(d) != (length or len(case[0])) for d in case):
            raise DataFileError(f"{str(path)!r} case {i}: expected {dimensions} dimensions of length "
                                f"{length}; the file is truncated or not equal-length")
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataFileError(f"{str(path)!r}: labels {unknown} are not in the header's classes {classes}")
    if not cases:
        raise DataFileError(f"{str(path)!r} holds no cases")
    return np.array(cases), labels, classes


def windows(X: np.ndarray, window: int = WINDOW, stride: int = STRIDE,
            per_case: int | None = PER_CASE) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``(cases, dims, length)`` into ``(cases·w, dims, window)`` windows (the first ``per_case`` of
    each case, all when None); also returns each window's case."""
    cases, dims, length = X.shape
    if window > length:
        raise ValueError(f"window {window} is longer than the series ({length})")
    starts = np.arange(0, length - window + 1, stride)
    if per_case is not None:
        if not 1 <= per_case <= len(starts):
            raise ValueError(f"{per_case} windows per case requested, but a series of length {length} has "
                             f"{len(starts)} windows of length {window} at stride {stride}")
        starts = starts[:per_case]
    cut = np.stack([X[:, :, s:s + window] for s in starts], axis=1)       # (cases, w, dims, window)
    return cut.reshape(cases * len(starts), dims, window), np.repeat(np.arange(cases), len(starts))


def load_atrial_fibrillation(directory: str | os.PathLike, window: int = WINDOW, stride: int = STRIDE,
                             per_case: int | None = PER_CASE):
    """Windows of the train and test files: ``(X_train, y_train, X_test, y_test, class_names)``."""
    directory = Path(directory)
    X_train, labels_train, classes = read_ts(directory / f"{NAME}_TRAIN.ts")
    X_test, labels_test, _ = read_ts(directory / f"{NAME}_TEST.ts")
    index = {name: i for i, name in enumerate(classes)}
    out = []
    for X, labels in ((X_train, labels_train), (X_test, labels_test)):
        cut, case = windows(X, window, stride, per_case)
        out.extend([cut, np.array([index[labels[c]] for c in case], dtype=np.int64)])
    return (*out, classes)


def fetch_atrial_fibrillation(resources: str | os.PathLike, url: str = URL, sha256: str | None = None) -> Path:
    """Download the archive's zip into ``resources`` and unpack it; returns the data directory."""
    resources = Path(resources)
    archive = download(url, resources / f"{NAME}.zip", sha256=sha256)
    target = resources / NAME
    extract(archive, target)
    archive.unlink()
    nested = target / NAME  # some archive versions nest a directory of the same name
    return nested if (nested / f"{NAME}_TRAIN.ts").exists() else target
