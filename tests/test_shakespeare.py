"""eoslab.datasets.shakespeare: the tiny_shakespeare layout, checksum, split and windows."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from eoslab.arrays import DataFileError
from eoslab.datasets import shakespeare as sh


def test_split_holds_out_exactly_the_last_lines():
    text = "".join(f"line {i}\n" for i in range(25)) + "last line without newline"
    train, test = sh.split_last_lines(text, 10)
    assert train + test == text
    assert test.splitlines() == [f"line {i}" for i in range(16, 25)] + ["last line without newline"]
    assert train.splitlines()[-1] == "line 15" and len(train.splitlines()) == 16
    with pytest.raises(ValueError, match="leaves no training text"):
        sh.split_last_lines("a\nb\n", 2)
    with pytest.raises(ValueError, match="positive"):
        sh.split_last_lines(text, 0)


def test_excerpt_is_real_ascii_text_in_the_corpus_layout():
    text = sh.excerpt_text()
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.\n")
    assert 5000 < len(text) < 20000 and text.isascii()
    train, test = sh.split_last_lines(text, 20)
    assert test.splitlines()[-1] == "It is an attribute to God himself."
    assert sh.load_text("excerpt") == text


def test_encoding_and_windows():
    tokens = sh.encode_ascii("abcdefg")
    assert tokens.dtype == np.uint8 and sh.decode_ascii(tokens) == "abcdefg"
    X, y = sh.windows(tokens, np.array([0, 3]), 3)
    assert X.tolist() == [[97, 98, 99], [100, 101, 102]] and y.tolist() == [[98, 99, 100], [101, 102, 103]]
    assert sh.num_windows(7, 3) == 4
    with pytest.raises(IndexError):
        sh.windows(tokens, np.array([4]), 3)
    with pytest.raises(ValueError, match="non-ASCII"):
        sh.encode_ascii("naïve")


def test_local_corpus_is_checked_against_the_published_sha256(tmp_path):
    with pytest.raises(DataFileError, match="tiny_shakespeare/input.txt.*not found.*raw.githubusercontent"):
        sh.load_tiny_shakespeare(tmp_path)
    path = sh.corpus_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("First Citizen:\nnot the real corpus\n")
    with pytest.raises(DataFileError, match="sha256"):
        sh.load_tiny_shakespeare(tmp_path)
    assert sh.load_tiny_shakespeare(tmp_path, sha256=None).startswith("First Citizen:")
    path.write_bytes("caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DataFileError, match="not ASCII"):
        sh.load_tiny_shakespeare(tmp_path, sha256=None)


def test_fetch_downloads_checks_and_refuses_a_wrong_checksum(tmp_path):
    source = tmp_path / "served.txt"
    source.write_text(sh.excerpt_text())
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    root = tmp_path / "resources"
    fetched = sh.fetch_tiny_shakespeare(root, url=source.as_uri(), sha256=digest)
    assert fetched == sh.corpus_path(root) and fetched.read_text() == sh.excerpt_text()
    with pytest.raises(Exception, match="does not match"):
        sh.fetch_tiny_shakespeare(tmp_path / "other", url=source.as_uri(), sha256="0" * 64)
    assert not sh.corpus_path(tmp_path / "other").exists()   # nothing half-written is left
