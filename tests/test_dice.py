"""The dice generator against the defining geometry of each class (Supplement 7.3)."""

import numpy as np
import pytest
from scipy import ndimage

from eoslab.datasets.dice import CLASS_NAMES, PARAMETER_RANGES, generate_dice, render, sample_parameters


def components(image, threshold=64):
    return ndimage.label(image > threshold)[1]


def symmetric_180(image):
    """Symmetric up to Pillow's vertex snapping (≤ 1/8 pixel: at most a quarter of an edge pixel's ink)."""
    diff = np.abs(image.astype(int) - np.rot90(image, 2).astype(int))
    return int(diff.max()) <= 64 and diff.sum() <= 0.25 * image.sum()


def test_shapes_balance_range_and_split():
    data = generate_dice(seed=3, per_class=40, chunk_size=7, workers=1, progress=False)
    assert data.X_train.shape == (120, 32, 32) and data.X_test.shape == (120, 32, 32)
    assert data.X_train.dtype == np.uint8
    assert np.bincount(data.y_train).tolist() == [20] * 6 and np.bincount(data.y_test).tolist() == [20] * 6
    assert data.X_train.max() == 255 and data.X_train.min() == 0
    # white background (R's default): every image has ink (a pixel below 255) and background pixels (255)
    flat = data.X_train.reshape(120, -1)
    assert (flat.min(1) < 255).all() and (flat.max(1) == 255).all()
    # no test image repeats a training image
    train = {x.tobytes() for x in data.X_train}
    assert not any(x.tobytes() in train for x in data.X_test)


def test_same_seed_same_bytes_whatever_the_workers():
    a = generate_dice(seed=5, per_class=20, chunk_size=6, workers=1, progress=False)
    b = generate_dice(seed=5, per_class=20, chunk_size=6, workers=2, progress=False)
    c = generate_dice(seed=6, per_class=20, chunk_size=6, workers=1, progress=False)
    assert a.X_train.tobytes() == b.X_train.tobytes() and a.X_test.tobytes() == b.X_test.tobytes()
    assert a.X_train.tobytes() != c.X_train.tobytes()


def test_parameters_lie_in_table3_ranges():
    rng = np.random.default_rng(0)
    for name in CLASS_NAMES:
        draws = [sample_parameters(name, rng) for _ in range(300)]
        for key, (low, high) in PARAMETER_RANGES[name].items():
            values = np.array([d[key] for d in draws])
            assert values.min() >= low and values.max() <= high, (name, key)
            if key == "E_type":
                assert set(values.tolist()) == {0, 1, 2}


def _ink_centroid(image):
    rows, cols = np.nonzero(image)
    w = image[rows, cols].astype(float)
    # pixel centre → coordinate: column j ↦ x = (j + 0.5)/16 − 1, row i ↦ y = 1 − (i + 0.5)/16
    return ((cols + 0.5) / 16 - 1) @ w / w.sum(), (1 - (rows + 0.5) / 16) @ w / w.sum()


def test_one_is_a_single_pip_at_its_coordinates():
    image = render("one", {"x_coord": 0.4, "y_coord": -0.3, "P_size": 0.8})
    assert components(image) == 1
    x, y = _ink_centroid(image)
    assert abs(x - 0.4) < 0.03 and abs(y + 0.3) < 0.03
    # area ≈ π r² with r = 0.25·P_size coordinate units = 3.2 px
    assert image.sum() / 255 == pytest.approx(np.pi * 3.2 ** 2, rel=0.03)


def test_line_width_is_its_weight_in_pixels():
    image = render("three", {"x_coord": 0.5, "y_coord": 0.0, "L_weight": 2.0, "E_type": 1})  # butt ends
    assert image.sum() / 255 == pytest.approx(16 * 2.0, rel=0.03)                        # length 16 px × 2 px


def test_two_is_a_pair_of_pips_symmetric_through_the_origin():
    image = render("two", {"x_coord": 0.5, "y_coord": 0.6, "P_size": 0.5})
    assert components(image) == 2
    assert symmetric_180(image)
    x, y = _ink_centroid(image)
    assert abs(x) < 0.02 and abs(y) < 0.02


def test_three_is_one_line_through_the_origin():
    image = render("three", {"x_coord": 0.7, "y_coord": 0.2, "L_weight": 2.0, "E_type": 1})
    assert components(image) == 1 and symmetric_180(image)
    rows, cols = np.nonzero(image > 128)
    points = np.stack([cols - 15.5, 15.5 - rows], 1).astype(float)
    _, singular, vt = np.linalg.svd(points - points.mean(0), full_matrices=False)
    assert singular[1] / singular[0] < 0.1                      # collinear
    assert abs(vt[0, 1] / vt[0, 0]) == pytest.approx(0.2 / 0.7, abs=0.03)  # along (x, y)


def test_end_types_change_only_the_ends():
    params = {"x_coord": 0.5, "y_coord": 0.0, "L_weight": 2.5}
    ink = {e: render("three", {**params, "E_type": e}).sum() for e in (0, 1, 2)}
    assert ink[1] < ink[0] < ink[2]   # butt < round < square (square adds w/2 at each end)


def test_four_is_a_centred_box_and_five_adds_a_centre_pip():
    params = {"x_coord": 0.6, "y_coord": 0.4, "L_weight": 1.0, "E_type": 1}
    four = render("four", params)
    assert np.abs(four.astype(int) - four[::-1].astype(int)).max() <= 64
    assert np.abs(four.astype(int) - four[:, ::-1].astype(int)).max() <= 64
    assert four[14:18, 14:18].max() == 0 and components(four) == 1
    five = render("five", {**params, "P_size": 0.5})
    assert five[14:18, 14:18].max() > 128
    assert components(five) == 2


def test_six_is_two_parallel_shifted_lines():
    image = render("six", {"x_coord": 0.6, "y_coord": 0.1, "x_shift": 0.1, "y_shift": 0.6, "L_weight": 2.0,
                           "E_type": 1})
    assert components(image) == 2 and symmetric_180(image)
    labels, _ = ndimage.label(image > 64)
    slopes = []
    for k in (1, 2):
        rows, cols = np.nonzero(labels == k)
        points = np.stack([cols, -rows], 1).astype(float)
        _, _, vt = np.linalg.svd(points - points.mean(0), full_matrices=False)
        slopes.append(vt[0, 1] / vt[0, 0])
    assert slopes[0] == pytest.approx(slopes[1], abs=0.05) and slopes[0] == pytest.approx(0.1 / 0.6, abs=0.05)


def test_white_background_is_the_black_rendering_inverted():
    """R's default device draws black ink on white: pixel = 255 − ink, the same symbols as on black."""
    white = generate_dice(seed=2, per_class=12, chunk_size=5, workers=1, progress=False)
    black = generate_dice(seed=2, per_class=12, chunk_size=5, workers=1, progress=False, background="black")
    assert np.array_equal(white.X_train.astype(int), 255 - black.X_train.astype(int))
    assert np.array_equal(white.y_train, black.y_train)
    # corners of a "one" (a single small pip) are background: 255 on white, 0 on black
    rng = np.random.default_rng(0)
    params = {**sample_parameters("one", rng), "x_coord": 0.0, "y_coord": 0.0, "P_size": 0.5}
    ink = render("one", params)
    assert ink[0, 0] == 0 and ink[16, 16] == 255


def test_white_background_after_scaling_is_one_and_full_ink_zero(tmp_path):
    from eoslab.datasets.pools import write_subset
    from eoslab.datasets.prepare import prepare_dice

    pool = prepare_dice(tmp_path / "pool.npz", per_class=10, workers=1, progress=False)
    subset = write_subset(pool, 30, 0, tmp_path / "s.npz")
    X = np.load(subset)["X"]
    assert X.shape == (30, 1024) and X.dtype == np.float64
    assert X.max() == 1.0 and X.min() == 0.0
    # most pixels of a dice image are background
    assert np.median(X) == 1.0
    import json
    card = json.loads((tmp_path / "pool.json").read_text())
    assert card["background"] == "white" and card["pip"] == "filled" and card["channels"] == 1


def test_circle_pips_are_rings_of_r_default_line_width():
    """pch = 1: an open circle with a 0.75-pixel line; large pips leave their centre empty."""
    params = {"x_coord": 0.0, "y_coord": 0.0, "P_size": 1.0}
    ring = render("one", params, pip="circle").astype(float)
    disc = render("one", params).astype(float)
    assert ring[15:17, 15:17].max() == 0            # the centre of a 4-pixel-radius circle is empty
    assert components(ring, threshold=16) == 1       # one closed ring
    radius = 4.0                                     # pixels: 0.25 · P_size in [−1, 1] coordinates
    # ink of a ring of width w at radius r ≈ 2π r w (anti-aliased areas, pixels × 255)
    assert abs(ring.sum() / 255 - 2 * np.pi * (radius - 0.375) * 0.75) < 0.15 * 2 * np.pi * radius * 0.75
    assert abs(disc.sum() / 255 - np.pi * radius ** 2) < 0.05 * np.pi * radius ** 2
    # a pip thinner than its line is drawn as a dot, not as nothing
    tiny = render("one", {"x_coord": 0.0, "y_coord": 0.0, "P_size": 0.1}, pip="circle")
    assert tiny.sum() > 0


def test_three_channels_are_identical_copies():
    one = generate_dice(seed=1, per_class=6, workers=1, progress=False)
    rgb = generate_dice(seed=1, per_class=6, workers=1, progress=False, channels=3)
    assert rgb.X_train.shape == (18, 3, 32, 32)
    for c in range(3):
        assert np.array_equal(rgb.X_train[:, c], one.X_train)


@pytest.mark.parametrize("option", [{"background": "grey"}, {"pip": "square"}, {"channels": 2}])
def test_rendering_options_are_checked(option):
    with pytest.raises(ValueError, match=next(iter(option))):
        generate_dice(seed=0, per_class=2, workers=1, progress=False, **option)
