import numpy as np
import pytest

from eoslab.arrays import DataFileError, load_arrays, save_arrays


def test_round_trip(tmp_path):
    X = np.random.default_rng(0).normal(size=(5, 3))
    y = np.array([0, 1, 2, 1, 0])
    save_arrays(tmp_path / "a.npz", X, y, 4)
    data = load_arrays(tmp_path / "a.npz")
    np.testing.assert_array_equal(data.X, X)
    assert data.num_classes == 4 and data.input_dim == 3


def test_missing_file_names_path_and_layout(tmp_path):
    with pytest.raises(DataFileError, match=r"nope\.npz.*does not exist.*'X'"):
        load_arrays(tmp_path / "nope.npz")


def test_truncated_file_is_reported_as_corrupt(tmp_path):
    X, y = np.zeros((50, 4)), np.zeros(50, dtype=int)
    save_arrays(tmp_path / "a.npz", X, y, 2)
    raw = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "a.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match="corrupt"):
        load_arrays(tmp_path / "a.npz")


@pytest.mark.parametrize("arrays, message", [
    ({"X": np.zeros((3, 2))}, "lacks \\['y'\\]"),
    ({"X": np.zeros((3, 2)), "y": np.zeros(4, dtype=int)}, "'y' must be an integer array of shape \\(3,\\)"),
    ({"X": np.zeros(3), "y": np.zeros(3, dtype=int)}, "'X' must be a float array"),
    ({"X": np.full((2, 2), np.nan), "y": np.zeros(2, dtype=int)}, "NaN"),
    ({"X": np.zeros((2, 2)), "y": np.array([0, 5]), "num_classes": 3}, "labels must lie in 0..2"),
])
def test_bad_layout_is_named(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataFileError, match=message):
        load_arrays(tmp_path / "bad.npz")


def test_atomic_outputs_get_normal_permissions(tmp_path):
    import os
    import stat

    from eoslab.io import write_json

    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_stale_temporaries_of_killed_writes_are_removed(tmp_path):
    from eoslab.io import atomic_write, remove_stale_temporaries

    (tmp_path / "snapshots").mkdir()
    stale = [tmp_path / ".checkpoint.pt.abc123.tmp", tmp_path / "snapshots" / ".0000010.pt.x9.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    keep = atomic_write(tmp_path / "log.parquet", lambda tmp: open(tmp, "wb").write(b"ok"))
    (tmp_path / "notes.tmp").write_text("not ours: no leading dot")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert not any(p.exists() for p in stale) and keep.read_bytes() == b"ok" and (tmp_path / "notes.tmp").exists()
