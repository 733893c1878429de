"""Stanford Sentiment Treebank sentences embedded by RoBERTa-base (Section 3).

Variant: the 5-class sentence-level split (SST-5).  The paper calls SST a
"sentence classification" data set, and Table 1's largest subset (3,689)
fits in the 8,544 training sentences; the phrase-level or binary (SST-2)
variants would change the task.  Labels bin the sentence's sentiment value
``v ∈ [0, 1]`` into ``[0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1]`` =
very negative … very positive.  Training pool: split 1 (train); test: split 2;
split 3 (dev) is not used.

Layout: the original ``stanfordSentimentTreebank/`` directory with
``datasetSentences.txt`` (``sentence_index<TAB>sentence``),
``datasetSplit.txt`` (``sentence_index,splitset_label``), ``dictionary.txt``
(``phrase|phrase_id``) and ``sentiment_labels.txt``
(``phrase ids|sentiment values``).  Sentences are matched to their phrase id
through the dictionary after undoing the two known encoding differences of
``datasetSentences.txt`` (``-LRB-``/``-RRB-`` for brackets and UTF-8 text
read as Latin-1).  A sentence that still cannot be matched is dropped and
listed in the pool card; more than 0.5% unmatched is an error.

Embedding: each sentence is tokenised by RoBERTa's tokenizer, padded or cut
to 32 tokens (``<s>`` and ``</s>`` included), and encoded by the RoBERTa-base
encoder; the features are the last hidden state, ``32 × 768 = 24,576`` per
sentence, with padded positions set to zero (the paper's zero padding).  The
encoder runs in float32 (on the GPU when present) in batches, so the pool is
stored in float32 and is exact.  The model is loaded from a local directory
(``resources/roberta-base``, e.g. ``huggingface-cli download FacebookAI/roberta-base
--local-dir resources/roberta-base``) or, with internet, by hub name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..arrays import DataFileError
from .download import download, extract, missing_data_error

log = logging.getLogger(__name__)

URL = "https://nlp.stanford.edu/~socherr/stanfordSentimentTreebank.zip"
FILES = ("datasetSentences.txt", "datasetSplit.txt", "dictionary.txt", "sentiment_labels.txt")
LAYOUT = "the directory 'stanfordSentimentTreebank' with " + ", ".join(FILES)
CLASS_NAMES = ["very negative", "negative", "neutral", "positive", "very positive"]
MAX_TOKENS = 32
HIDDEN = 768
MAX_UNMATCHED_FRACTION = 0.005


def _read_table(path: Path, separator: str, header: bool) -> list[list[str]]:
    if not path.exists():
        raise missing_data_error(path, LAYOUT, URL, "eoslab data sst --download")
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    rows = [line.split(separator, 1) if separator == "\t" else line.rsplit(separator, 1) for line in lines if line]
    rows = rows[1:] if header else rows
    bad = [i for i, row in enumerate(rows) if len(row) != 2]
    if bad:
        raise DataFileError(f"{str(path)!r}: line {bad[0] + 1 + header} is not '<a>{separator}<b>'; expected {LAYOUT}")
    return rows


def _repair(sentence: str) -> list[str]:
    """Candidate spellings of a datasetSentences.txt sentence as it appears in dictionary.txt."""
    fixed = sentence.replace("-LRB-", "(").replace("-RRB-", ")")
    candidates = [sentence, fixed]
    try:
        candidates.append(fixed.encode("latin-1").decode("utf-8"))
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return candidates


def sentiment_class(value: float) -> int:
    """SST-5 class of a sentiment value: right-closed bins of width 0.2."""
    return int(min(max(np.ceil(value * 5.0) - 1, 0), 4))


def load_sst5(directory: str | os.PathLike) -> dict:
    """Sentences and 5-class labels by split: ``{"train": (sentences, labels), "test": ..., "dropped": [...]}``."""
    directory = Path(directory)
    sentences = {int(i): s for i, s in _read_table(directory / "datasetSentences.txt", "\t", header=True)}
    splits = {int(i): int(s) for i, s in _read_table(directory / "datasetSplit.txt", ",", header=True)}
    phrase_ids = {phrase: int(i) for phrase, i in _read_table(directory / "dictionary.txt", "|", header=False)}
    values = {int(i): float(v) for i, v in _read_table(directory / "sentiment_labels.txt", "|", header=True)}
    out = {"train": ([], []), "test": ([], [])}
    dropped = []
    for index, sentence in sorted(sentences.items()):
        split = {1: "train", 2: "test"}.get(splits.get(index, 0))
        if split is None:
            continue
        match = next((c for c in _repair(sentence) if c in phrase_ids), None)
        if match is None or phrase_ids[match] not in values:
            dropped.append(index)
            continue
        out[split][0].append(match)
        out[split][1].append(sentiment_class(values[phrase_ids[match]]))
    total = len(out["train"][0]) + len(out["test"][0]) + len(dropped)
    if total == 0:
        raise DataFileError(f"{str(directory)!r}: no train/test sentences found; expected {LAYOUT}")
    if len(dropped) > MAX_UNMATCHED_FRACTION * total:
        raise DataFileError(f"{str(directory)!r}: {len(dropped)} of {total} sentences have no sentiment label in "
                            f"dictionary.txt (e.g. sentence indices {dropped[:5]}); the files are inconsistent")
    if dropped:
        log.warning("SST: %d sentences without a dictionary entry were dropped: %s", len(dropped), dropped)
    return {"train": out["train"], "test": out["test"], "dropped": dropped}


def embed_sentences(sentences: list[str], model: str | os.PathLike, *, max_tokens: int = MAX_TOKENS,
                    batch_size: int = 64, device: str | None = None, progress: bool = True) -> np.ndarray:
    """RoBERTa last hidden states, zero at padded positions: float32 ``(n, max_tokens, 768)``."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModel, AutoTokenizer

    model_ref = os.fspath(model)
    if os.sep in model_ref or model_ref.startswith("."):
        if not Path(model_ref).is_dir():
            raise missing_data_error(model_ref, "a RoBERTa-base model directory (config.json, model weights, "
                                     "tokenizer files)", "https://huggingface.co/FacebookAI/roberta-base",
                                     f"huggingface-cli download FacebookAI/roberta-base --local-dir {model_ref}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_ref)
    encoder = AutoModel.from_pretrained(model_ref).to(device=device, dtype=torch.float32).eval()
    hidden = encoder.config.hidden_size
    out = np.empty((len(sentences), max_tokens, hidden), dtype=np.float32)
    for start in tqdm(range(0, len(sentences), batch_size), desc="RoBERTa", disable=not progress):
        batch = sentences[start:start + batch_size]
        encoded = tokenizer(batch, padding="max_length", truncation=True, max_length=max_tokens,
                            return_tensors="pt").to(device)
        with torch.inference_mode():
            states = encoder(**encoded).last_hidden_state
        states = states * encoded["attention_mask"].unsqueeze(-1).to(states.dtype)
        out[start:start + len(batch)] = states.float().cpu().numpy()
    return out


def fetch_sst(resources: str | os.PathLike, url: str = URL, sha256: str | None = None) -> Path:
    """Download and unpack the treebank zip into ``resources``; returns its directory."""
    resources = Path(resources)
    archive = download(url, resources / "stanfordSentimentTreebank.zip", sha256=sha256)
    extract(archive, resources)
    archive.unlink()
    return resources / "stanfordSentimentTreebank"
