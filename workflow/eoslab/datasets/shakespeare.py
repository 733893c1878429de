"""``tiny_shakespeare`` (Karpathy's char-rnn corpus) and a shipped public-domain excerpt.

The corpus is one ASCII text file of 1,115,394 bytes, 40,000 lines from Shakespeare's plays,
beginning ``First Citizen:``.  Layout: ``resources/tiny_shakespeare/input.txt`` (the name it
has in char-rnn's ``data/tinyshakespeare/``); :func:`fetch_tiny_shakespeare` downloads it and
checks its sha256 (:data:`SHA256`), and :func:`load_tiny_shakespeare` verifies a local copy
against the same sum, so a different or damaged file is refused by name.

Split (Long & Bartlett 2023, §3.1): "the last 10000 lines of tiny_shakespeare were set aside as a
test set, and the remaining data was used for training" — :func:`split_last_lines` cuts the
text before its last ``held_out_lines`` lines (line ends kept, so train + test is the text).

Encoding: characters are their ASCII codes (a fixed vocabulary of 128, as the Haiku example
the paper trained uses), so train and test share the vocabulary whatever they contain;
:func:`encode_ascii` refuses non-ASCII text, naming the first offending character.

Offline stand-in: :func:`excerpt_text` returns ``data/shakespeare_excerpt.txt`` shipped with
the package — 7.3 kB of real Shakespeare in the same layout (its source is in
``data/README.md``), for tests and small configurations without the network.
"""

from __future__ import annotations

import os
from importlib import resources as importlib_resources
from pathlib import Path

import numpy as np

from ..arrays import DataFileError
from ..io import sha256sum
from .download import download, missing_data_error

URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
NUM_BYTES = 1_115_394
RELATIVE_PATH = Path("tiny_shakespeare") / "input.txt"
LAYOUT = "the tiny_shakespeare corpus as one ASCII text file tiny_shakespeare/input.txt (1,115,394 bytes)"
#: The paper's test split: the last 10,000 lines.
HELD_OUT_LINES = 10_000
VOCAB_SIZE = 128
SOURCES = ("tiny_shakespeare", "excerpt")


def corpus_path(root: str | os.PathLike) -> Path:
    """Where the corpus lives under ``root`` (e.g. ``resources``)."""
    return Path(root) / RELATIVE_PATH


def fetch_tiny_shakespeare(root: str | os.PathLike, url: str = URL, sha256: str = SHA256) -> Path:
    """Download the corpus to ``root/tiny_shakespeare/input.txt`` (sha256-checked, atomic)."""
    return download(url, corpus_path(root), sha256=sha256)


def load_tiny_shakespeare(root: str | os.PathLike, download: bool = False, sha256: str | None = SHA256) -> str:
    """The corpus text from ``root`` (downloaded first when missing and ``download``).

    The file must have the published sha256 (``sha256=None`` skips the check, e.g. for a
    deliberately different corpus); a missing file raises a :class:`DataFileError` saying
    where to put it and where to get it.
    """
    path = corpus_path(root)
    if not path.exists():
        if not download:
            raise missing_data_error(path, LAYOUT, URL, "download: true in the config")
        fetch_tiny_shakespeare(root)
    if sha256 is not None:
        actual = sha256sum(path)
        if actual != sha256:
            raise DataFileError(f"{str(path)!r} has sha256 {actual}, not the published tiny_shakespeare's {sha256} "
                                f"({NUM_BYTES} bytes from {URL}); replace it with that file")
    return read_ascii(path)


def read_ascii(path: str | os.PathLike) -> str:
    """A text file that must be ASCII (its characters are the tokens)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as error:
        raise DataFileError(f"{os.fspath(path)!r} is not ASCII: byte {data[error.start]:#04x} at offset "
                            f"{error.start}; the character model's vocabulary is the 128 ASCII codes") from error


def excerpt_path() -> Path:
    """The shipped public-domain excerpt (``eoslab/datasets/data/shakespeare_excerpt.txt``)."""
    return Path(str(importlib_resources.files("eoslab.datasets") / "data" / "shakespeare_excerpt.txt"))


def excerpt_text() -> str:
    return read_ascii(excerpt_path())


def load_text(source: str, root: str | os.PathLike | None = None, download: bool = False) -> str:
    """One loader for both sources: ``tiny_shakespeare`` (from ``root``) or the shipped ``excerpt``."""
    if source == "tiny_shakespeare":
        if root is None:
            raise ValueError("source 'tiny_shakespeare' needs a root folder holding tiny_shakespeare/input.txt")
        return load_tiny_shakespeare(root, download)
    if source == "excerpt":
        return excerpt_text()
    raise ValueError(f"text source must be one of {list(SOURCES)}, got {source!r}")


def split_last_lines(text: str, held_out_lines: int = HELD_OUT_LINES) -> tuple[str, str]:
    """``(train, test)``: ``test`` is the last ``held_out_lines`` lines, ``train`` everything before."""
    if isinstance(held_out_lines, bool) or not isinstance(held_out_lines, int) or held_out_lines < 1:
        raise ValueError(f"held_out_lines must be a positive integer, got {held_out_lines!r}")
    lines = text.splitlines(keepends=True)
    if len(lines) <= held_out_lines:
        raise ValueError(f"the text has {len(lines)} lines, so holding out the last {held_out_lines} leaves no "
                         f"training text")
    return "".join(lines[:-held_out_lines]), "".join(lines[-held_out_lines:])


def encode_ascii(text: str) -> np.ndarray:
    """Token ids (uint8, the ASCII codes) of ``text``."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError as error:
        raise ValueError(f"non-ASCII character {text[error.start]!r} at position {error.start}; the vocabulary "
                         f"is the {VOCAB_SIZE} ASCII codes") from error
    return np.frombuffer(data, dtype=np.uint8).copy()


def decode_ascii(tokens: np.ndarray) -> str:
    return np.asarray(tokens, dtype=np.uint8).tobytes().decode("ascii")


def windows(tokens: np.ndarray, indices: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``tokens[i : i+T]`` and next-token targets ``tokens[i+1 : i+T+1]`` for each start ``i``.

    A text of ``n`` tokens has ``n − T`` windows (starts ``0 … n − T − 1``); both arrays are
    int64 ``(len(indices), T)``.
    """
    tokens = np.asarray(tokens)
    indices = np.asarray(indices, dtype=np.int64)
    count = num_windows(tokens.shape[0], seq_len)
    if indices.size and (indices.min() < 0 or indices.max() >= count):
        raise IndexError(f"window starts must be in 0..{count - 1} for {tokens.shape[0]} tokens and T = {seq_len}")
    offsets = indices[:, None] + np.arange(seq_len + 1)[None, :]
    block = tokens[offsets].astype(np.int64)
    return block[:, :-1], block[:, 1:]


def num_windows(num_tokens: int, seq_len: int) -> int:
    """How many length-``T`` training windows (with their next-token targets) a text holds."""
    if seq_len < 1:
        raise ValueError(f"sequence length must be >= 1, got {seq_len}")
    count = num_tokens - seq_len
    if count < 1:
        raise ValueError(f"a text of {num_tokens} characters holds no window of {seq_len} + 1 characters")
    return count
