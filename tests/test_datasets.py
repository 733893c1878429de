"""Loaders on small format-faithful fixtures built here; subsets; downloads; clear errors."""

import hashlib
import io
import json
import pickle
import tarfile

import numpy as np
import pytest

from eoslab.arrays import DataFileError, load_arrays
from eoslab.cli import main
from eoslab.datasets import atrial_fibrillation, cifar10, sst
from eoslab.datasets.download import DownloadError, download
from eoslab.datasets.pools import load_pool, preprocess, select_subset, write_subset
from eoslab.datasets.prepare import (prepare_atrial_fibrillation, prepare_cifar10, prepare_dice,
                                     prepare_sst)


# -- CIFAR-10 -------------------------------------------------------------------------------
def make_cifar(root, per_batch=6, seed=0):
    """The python CIFAR-10 layout: pickled dicts with bytes keys, uint8 data (n, 3072)."""
    rng = np.random.default_rng(seed)
    directory = root / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    for name in cifar10.TRAIN_BATCHES + [cifar10.TEST_BATCH]:
        batch = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, per_batch).tolist(),
                 b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [f"img{i}.png".encode() for i in range(per_batch)]}
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [n.encode() for n in cifar10.CLASS_NAMES], b"num_cases_per_batch": per_batch}
    (directory / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return directory


def test_cifar10_reader_and_standardisation(tmp_path):
    directory = make_cifar(tmp_path)
    X_train, y_train, X_test, y_test = cifar10.load_cifar10(directory)
    assert X_train.shape == (30, 3, 32, 32) and X_test.shape == (6, 3, 32, 32)
    raw = pickle.loads((directory / "data_batch_2").read_bytes(), encoding="bytes")
    np.testing.assert_array_equal(X_train[6:12].reshape(6, -1), raw[b"data"])   # channel-major rows kept
    pool = prepare_cifar10(tmp_path / "pool.npz", directory)
    subset = write_subset(pool, 30, seed=0, out=tmp_path / "all.npz")
    X = load_arrays(subset).X.reshape(30, 3, 1024)
    np.testing.assert_allclose(X.mean(axis=(0, 2)), 0, atol=1e-12)           # whole pool: zero mean
    np.testing.assert_allclose(X.std(axis=(0, 2)), 1, atol=1e-12)            # and unit std per channel


def test_cifar10_missing_and_corrupt_batches_are_named(tmp_path):
    with pytest.raises(DataFileError, match="cifar-10-batches-py.*not found.*cifar-10-python.tar.gz"):
        cifar10.load_cifar10(tmp_path / "cifar-10-batches-py")
    directory = make_cifar(tmp_path)
    (directory / "data_batch_3").write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataFileError, match="data_batch_3.*corrupt"):
        cifar10.load_cifar10(directory)
    (directory / "data_batch_3").unlink()
    with pytest.raises(DataFileError, match="data_batch_3.*not found"):
        cifar10.load_cifar10(directory)


def _tar_gz(directory):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    return buffer.getvalue()


def test_cifar10_download_checks_md5_and_leaves_no_half_file(tmp_path):
    source = make_cifar(tmp_path / "src")
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(_tar_gz(source))
    url, md5 = archive.as_uri(), hashlib.md5(archive.read_bytes()).hexdigest()
    with pytest.raises(DownloadError, match="md5.*does not match"):
        cifar10.fetch_cifar10(tmp_path / "bad", url=url, md5="0" * 32)
    assert not list((tmp_path / "bad").glob("*"))
    directory = cifar10.fetch_cifar10(tmp_path / "resources", url=url, md5=md5)
    assert cifar10.load_cifar10(directory)[0].shape == (30, 3, 32, 32)
    assert sorted(p.name for p in (tmp_path / "resources").iterdir()) == ["cifar-10-batches-py"]
    with pytest.raises(DownloadError, match="failed"):
        download((tmp_path / "nothing-here").as_uri(), tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()


# -- AtrialFibrillation -----------------------------------------------------------------------
def write_ts(path, X, labels, classes=("n", "s", "t")):
    """The UEA .ts format as the archive ships it (header, then dim:dim:label per case)."""
    lines = ["#Fixture in the format of AtrialFibrillation", "@problemName AtrialFibrillation",
             "@timeStamps false", "@missing false", "@univariate false", f"@dimensions {X.shape[1]}",
             "@equalLength true", f"@seriesLength {X.shape[2]}", "@classLabel true " + " ".join(classes), "@data"]
    for case, label in zip(X, labels):
        lines.append(":".join(",".join(repr(float(v)) for v in dim) for dim in case) + ":" + label)
    path.write_text("\n".join(lines) + "\n")


def make_af(root, cases=3, seed=0):
    rng = np.random.default_rng(seed)
    directory = root / "AtrialFibrillation"
    directory.mkdir(parents=True)
    for split in ("TRAIN", "TEST"):
        X = rng.normal(size=(cases, 2, 640))
        write_ts(directory / f"AtrialFibrillation_{split}.ts", X, ["n", "s", "t"][:cases])
    return directory


def test_ts_reader_and_windows(tmp_path):
    directory = make_af(tmp_path)
    X, labels, classes = atrial_fibrillation.read_ts(directory / "AtrialFibrillation_TRAIN.ts")
    assert X.shape == (3, 2, 640) and labels == ["n", "s", "t"] and classes == ["n", "s", "t"]
    # the earlier reading: stride 8, all 65 windows per case
    X_train, y_train, X_test, y_test, names = atrial_fibrillation.load_atrial_fibrillation(directory, stride=8,
                                                                                         per_case=None)
    assert X_train.shape == (3 * 65, 2, 128) and y_train.tolist() == [0] * 65 + [1] * 65 + [2] * 65
    np.testing.assert_array_equal(X_train[65 + 2], X[1, :, 16:144])     # case 1, window 2 starts at 2·stride
    # the default: stride 1, the first 512 windows of each case → 15 cases give 7,680 = 960 · 8 windows
    X_train, y_train, _, _, _ = atrial_fibrillation.load_atrial_fibrillation(directory)
    assert X_train.shape == (3 * 512, 2, 128) and y_train.tolist() == [0] * 512 + [1] * 512 + [2] * 512
    np.testing.assert_array_equal(X_train[512 + 511], X[1, :, 511:639])  # case 1's last window starts at 511
    assert 15 * 512 == 960 * 8
    with pytest.raises(ValueError, match="514 windows per case"):
        atrial_fibrillation.windows(X, per_case=514)
    pool = prepare_atrial_fibrillation(tmp_path / "af.npz", directory)
    arrays, card = load_pool(pool)
    assert card["stride"] == 1 and card["windows_per_case"] == 512 and arrays["X_train"].shape == (1536, 2, 128)
    row = preprocess(arrays["X_train"][:1], card["preprocessing"])
    np.testing.assert_array_equal(row[0], np.concatenate([X[0, 0, :128], X[0, 1, :128]]))  # channels concatenated


def test_ts_reader_rejects_truncated_and_unlabelled_files(tmp_path):
    directory = make_af(tmp_path)
    path = directory / "AtrialFibrillation_TRAIN.ts"
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:-1] + [text[-1].split(":")[0] + ":t"]) + "\n")   # one dimension lost
    with pytest.raises(DataFileError, match="case 2: expected 2 dimensions"):
        atrial_fibrillation.read_ts(path)
    path.write_text("\n".join(t.replace(":t", ":x") if i == len(text) - 1 else t for i, t in enumerate(text)))
    with pytest.raises(DataFileError, match="labels \\['x'\\]"):
        atrial_fibrillation.read_ts(path)
    with pytest.raises(DataFileError, match="AtrialFibrillation_TEST.ts.*not found.*timeseriesclassification"):
        atrial_fibrillation.read_ts(tmp_path / "AtrialFibrillation_TEST.ts")


# -- SST + RoBERTa ---------------------------------------------------------------------------
SENTENCES = [  # index, text as in datasetSentences.txt, text in dictionary.txt, sentiment, split
    (1, "a gorgeous , witty film .", "a gorgeous , witty film .", 0.95, 1),
    (2, "the plot -LRB- such as it is -RRB- drags .", "the plot ( such as it is ) drags .", 0.30, 1),
    (3, "a caf\u00c3\u00a9 comedy that works", "a caf\u00e9 comedy that works", 0.7, 1),
    (4, "dull , dull , dull .", "dull , dull , dull .", 0.05, 1),
    (5, "it is a movie .", "it is a movie .", 0.5, 1),
    (6, "a truly bad film , really bad", "a truly bad film , really bad", 0.2, 2),
    (7, "fine work from everyone", "fine work from everyone", 0.61, 2),
    (8, "some dev sentence", "some dev sentence", 0.4, 3),
]


def make_sst(root):
    directory = root / "stanfordSentimentTreebank"
    directory.mkdir(parents=True)
    rows = ["sentence_index\tsentence"] + [f"{i}\t{raw}" for i, raw, *_ in SENTENCES]
    (directory / "datasetSentences.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (directory / "datasetSplit.txt").write_text(
        "sentence_index,splitset_label\n" + "\n".join(f"{i},{split}" for i, *_, split in SENTENCES) + "\n")
    phrases = [(text, 100 + i) for i, _, text, *_ in SENTENCES] + [("witty", 3)]
    (directory / "dictionary.txt").write_text("\n".join(f"{p}|{pid}" for p, pid in phrases) + "\n", encoding="utf-8")
    values = [(100 + i, v) for i, _, _, v, _ in SENTENCES] + [(3, 0.8)]
    (directory / "sentiment_labels.txt").write_text(
        "phrase ids|sentiment values\n" + "\n".join(f"{pid}|{v}" for pid, v in values) + "\n")
    return directory


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory):
    """A random-weight RoBERTa with hidden size 768 and a byte-level BPE tokenizer trained here, offline."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    directory = tmp_path_factory.mktemp("roberta")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([text for _, _, text, *_ in SENTENCES] * 5, vocab_size=400, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe._tokenizer.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = RobertaTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>",
                                     sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                     mask_token="<mask>")
    tokenizer.save_pretrained(directory)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=1, num_attention_heads=12,
                           intermediate_size=64, max_position_embeddings=40, pad_token_id=1)
    torch.manual_seed(0)
    RobertaModel(config).save_pretrained(directory)
    return directory


def test_sst5_labels_and_encoding_repairs(tmp_path):
    data = sst.load_sst5(make_sst(tmp_path))
    sentences, labels = data["train"]
    assert sentences[1] == "the plot ( such as it is ) drags ." and sentences[2] == "a caf\u00e9 comedy that works"
    assert labels == [4, 1, 3, 0, 2]                   # 0.95, 0.30, 0.7, 0.05, 0.5
    assert data["test"][1] == [0, 3] and data["dropped"] == []   # 0.2 is the right-closed edge of class 0
    assert [sst.sentiment_class(v) for v in (0.0, 0.2, 0.2001, 0.6, 0.8, 1.0)] == [0, 0, 1, 2, 3, 4]


def test_sst_embeddings_are_zero_padded_last_hidden_states(tmp_path, tiny_roberta):
    import torch
    from transformers import AutoModel, AutoTokenizer

    sentences = ["a gorgeous , witty film .", "dull , dull , dull ."]
    X = sst.embed_sentences(sentences, tiny_roberta, batch_size=1, device="cpu", progress=False)
    assert X.shape == (2, 32, 768) and X.dtype == np.float32
    tokenizer = AutoTokenizer.from_pretrained(tiny_roberta)
    model = AutoModel.from_pretrained(tiny_roberta).eval()
    ids = tokenizer(sentences[0])["input_ids"]
    with torch.no_grad():
        unpadded = model(torch.tensor([ids])).last_hidden_state[0].numpy()
    n = len(ids)
    np.testing.assert_allclose(X[0, :n], unpadded, rtol=1e-4, atol=1e-5)   # padding does not leak into tokens
    assert np.abs(X[0, n:]).max() == 0 and np.abs(X[0, :n]).min(axis=1).max() > 0


def test_prepare_sst_end_to_end_and_missing_model(tmp_path, tiny_roberta):
    directory = make_sst(tmp_path)
    pool = prepare_sst(tmp_path / "sst.npz", directory, tiny_roberta, device="cpu", progress=False)
    arrays, card = load_pool(pool)
    assert arrays["X_train"].shape == (5, 32, 768) and arrays["X_test"].shape == (2, 32, 768)
    subset = load_arrays(write_subset(pool, 3, seed=1, out=tmp_path / "s.npz"))
    assert subset.X.shape == (3, 32 * 768) and subset.X.dtype == np.float32 and subset.num_classes == 5
    with pytest.raises(DataFileError, match="roberta-base.*not found.*huggingface-cli download"):
        sst.embed_sentences(["x"], tmp_path / "resources" / "roberta-base")


# -- pools and subsets -----------------------------------------------------------------------
def test_subsets_are_deterministic_distinct_and_faithful(tmp_path):
    pool = prepare_dice(tmp_path / "dice.npz", per_class=20, workers=1, progress=False)
    a = write_subset(pool, 25, seed=3, out=tmp_path / "a.npz")
    b = write_subset(pool, 25, seed=3, out=tmp_path / "b.npz")
    assert a.read_bytes() == b.read_bytes()
    with np.load(a) as first, np.load(write_subset(pool, 25, seed=4, out=tmp_path / "c.npz")) as other:
        assert len(set(first["indices"])) == 25 and np.all(np.diff(first["indices"]) > 0)
        assert not np.array_equal(first["indices"], other["indices"])
        arrays, _ = load_pool(pool)
        np.testing.assert_allclose(first["X"], arrays["X_train"][first["indices"]].reshape(25, -1) / 255.0)
        np.testing.assert_array_equal(first["y"], arrays["y_train"][first["indices"]])
    card = json.loads((tmp_path / "a.json").read_text())
    assert card["size"] == 25 and card["subset_seed"] == 3 and card["shape"] == [25, 1024]
    assert card["sha256"] == hashlib.sha256(a.read_bytes()).hexdigest()
    test = load_arrays(write_subset(pool, 0, seed=0, out=tmp_path / "test.npz", split="test"))
    assert test.num_samples == 60
    with pytest.raises(ValueError, match="subset size must be in 1..60"):
        select_subset(60, 61, 0)


def test_data_cli(tmp_path, capsys):
    pool = tmp_path / "dice" / "pool.npz"
    assert main(["data", "dice", "--out", str(pool), "--per-class", "12", "--workers", "1", "--no-progress"]) == 0
    assert main(["data", "subset", "--pool", str(pool), "--size", "10", "--seed", "2",
                 "--out", str(tmp_path / "s.npz")]) == 0
    assert load_arrays(tmp_path / "s.npz").X.shape == (10, 1024)
    assert main(["data", "figure5", "--pool", str(pool), "--out", str(tmp_path / "fig05")]) == 0
    assert (tmp_path / "fig05.pdf").stat().st_size > 1000 and (tmp_path / "fig05.png").stat().st_size > 1000
    assert main(["data", "cifar10", "--root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "c.npz")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["data", "subset", "--pool", str(tmp_path / "missing.npz"), "--size", "3",
                 "--out", str(tmp_path / "x.npz")]) == 2
