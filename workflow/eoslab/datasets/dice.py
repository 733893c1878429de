"""The synthetic dice data set (Supplement 7.3, Table 3, Figure 5).

Six classes of 32×32 grey images on the square ``[−1, 1]²``, every parameter
drawn uniformly from its Table 3 range:

=====  ======================================================================
class  symbol
=====  ======================================================================
one    a pip of size ``P_size`` at ``(x, y)``
two    pips at ``(x, y)`` and its reflection ``(−x, −y)``
three  a line from ``(x, y)`` to ``(−x, −y)``, weight ``L_weight``, end type ``E_type``
four   the box with corners ``(±x, ±y)``, weight ``L_weight``, end type ``E_type``
five   the box of "four" (``x, y ∈ [0.2, 1]``) plus a pip of size ``P_size`` at the origin
six    the line of "three" shifted by ``±(x_shift, y_shift)``: two parallel lines
=====  ======================================================================

Rendering.  The paper drew with R's base graphics; we draw with Pillow (a
maintained library already required by matplotlib) at 8× resolution and
average 8×8 blocks (an exact box filter), which anti-aliases every edge by its
area coverage.  :func:`render` returns ink intensity (``0`` none, ``255`` full
ink); the stored image is what an R PNG device writes with its defaults, black
ink on a **white** background (``background="white"``: pixel ``= 255 − ink``,
so after the pools' ``x/255`` the background is 1 and full ink 0).  The
alternative ``background="black"`` stores the ink intensity itself (background
0).  The choice is not cosmetic: on the paper's depth-6 ELU network the
white-background images give the paper's progressive sharpening after a short
transient, the black-background ones a sharpness that only falls and a run that
ends before the paper's first snapshot (``docs/readings.md`` has the numbers).
Image row 0 is ``y = +1``; column 0 is ``x = −1``; the map is symmetric, so
reflecting a symbol through the origin rotates its image by 180°.

Two further readings of "R base graphics" are options, off by default:
``pip="circle"`` draws every pip as R's default ``points()`` symbol, an open
circle (``pch = 1``, line width ``lwd = 1`` = 0.75 pixel at 72 dpi), instead of
a filled dot (the paper speaks of the *pips* of a die, which are filled, and of
point sizes that "had to be smaller than 32 × 32", which only a drawn size
matters for); ``channels=3`` stores the three identical channels of an RGB PNG
(3,072 inputs instead of 1,024; the paper never states the dice input size, and
a grey image converted back from an RGB file has one channel).

Size conventions (R's units have no meaning at 32×32 pixels; the paper says
it "adjusted the parameters to accommodate the image size"): a pip of size
``P_size`` is a filled disc of radius ``0.25 · P_size`` (so 0.4–4 pixels); a
line of weight ``L_weight`` is ``L_weight`` pixels wide (``L_weight / 16`` in
coordinates).  ``E_type`` is drawn from {0, 1, 2} = R's ``lend`` values
round, butt, square.  The box is drawn as the rectangle through its four
corners in perimeter order (R's ``polygon`` with the paper's listed order
would draw a bow-tie, which no die face looks like).  Pillow snaps vertices to
its (8× finer) pixel grid, so positions are exact to 1/16–1/8 image pixel; disc
areas and line widths match their nominal values to about 1%.

Determinism.  Images are generated in chunks of ``chunk_size`` per class; the
chunk of class ``c`` with index ``j`` draws from
``numpy.random.default_rng(SeedSequence(seed, spawn_key=(c, j)))``, so the
bytes depend only on the seed, never on the number of worker processes.
The fixed split puts the first half of every class (by generation index) in
the training set and the second half in the test set.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

CLASS_NAMES = ("one", "two", "three", "four", "five", "six")
IMAGE_SIZE = 32
SUPERSAMPLE = 8
PIP_RADIUS_PER_SIZE = 0.25
LINE_WIDTH_PER_WEIGHT = 2.0 / IMAGE_SIZE     # one pixel per unit of L_weight
END_TYPES = ("round", "butt", "square")      # R's lend = 0, 1, 2
BACKGROUNDS = ("white", "black")             # white: R's default device background (pixel = 255 − ink)
PIP_STYLES = ("filled", "circle")            # circle: R's default points() symbol, pch = 1
CIRCLE_LINE_WIDTH = 0.75                     # pixels: R's lwd = 1 is 1/96 inch, at 72 dpi
CHANNELS = (1, 3)                            # 3: the identical channels of an RGB PNG

#: Table 3: uniform ranges (min, max) of every parameter, per class.
PARAMETER_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "one": {"x_coord": (-1, 1), "y_coord": (-1, 1), "P_size": (0.1, 1)},
    "two": {"x_coord": (-1, 1), "y_coord": (-1, 1), "P_size": (0.1, 1)},
    "three": {"x_coord": (-1, 1), "y_coord": (-1, 1), "L_weight": (0.1, 2.5), "E_type": (0, 2)},
    "four": {"x_coord": (-1, 1), "y_coord": (-1, 1), "L_weight": (0.1, 1), "E_type": (0, 2)},
    "five": {"x_coord": (0.2, 1), "y_coord": (0.2, 1), "P_size": (0.1, 0.7), "L_weight": (0.1, 1),
             "E_type": (0, 2)},
    "six": {"x_coord": (-0.9, 0.9), "y_coord": (-0.9, 0.9), "x_shift": (0.1, 0.8), "y_shift": (0.1, 0.8),
            "L_weight": (0.1, 2.5), "E_type": (0, 2)},
}


def sample_parameters(class_name: str, rng: np.random.Generator) -> dict[str, float]:
    """Draw one symbol's parameters from Table 3 (``E_type`` uniformly from {0, 1, 2})."""
    params = {}
    for name, (low, high) in PARAMETER_RANGES[class_name].items():
        params[name] = int(rng.integers(low, high + 1)) if name == "E_type" else float(rng.uniform(low, high))
    return params


class _Canvas:
    """A supersampled Pillow canvas in the paper's coordinates ``[−1, 1]²``."""

    def __init__(self):
        self.size = IMAGE_SIZE * SUPERSAMPLE
        self.image = Image.new("L", (self.size, self.size), 0)
        self.draw = ImageDraw.Draw(self.image)

    def to_pixels(self, x: float, y: float) -> tuple[float, float]:
        # Pillow's coordinates are pixel indices (pixel i covers [i, i+1)), so the
        # continuous point u sits at index u − 0.5.
        return (x + 1.0) / 2.0 * self.size - 0.5, (1.0 - y) / 2.0 * self.size - 0.5

    def _ellipse(self, cx: float, cy: float, r: float) -> None:
        # Pillow fills shapes inclusively of their boundary pixels, which would widen
        # them by half a (supersampled) pixel on every side: shrink by that much.
        r = max(r - 0.5, 0.0)
        self.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)

    def disc(self, x: float, y: float, radius: float) -> None:
        cx, cy = self.to_pixels(x, y)
        self._ellipse(cx, cy, radius / 2.0 * self.size)

    def circle(self, x: float, y: float, radius: float, line_width: float) -> None:
        """An open circle of outer radius ``radius`` (coordinates) and ``line_width`` image pixels."""
        cx, cy = self.to_pixels(x, y)
        r = max(radius / 2.0 * self.size - 0.5, 0.0)
        width = max(int(round(line_width * SUPERSAMPLE)), 1)
        if r <= width:  # a ring thinner than its hole is not left: the symbol is a dot
            self.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        else:
            self.draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=255, width=width)

    def pip(self, x: float, y: float, radius: float, style: str) -> None:
        if style == "filled":
            self.disc(x, y, radius)
        elif style == "circle":
            self.circle(x, y, radius, CIRCLE_LINE_WIDTH)
        else:
            raise ValueError(f"unknown pip style {style!r}; expected one of {PIP_STYLES}")

    def segment(self, p: tuple[float, float], q: tuple[float, float], width: float, end_type: int) -> None:
        """A thick segment with R's line end: 0 round, 1 butt, 2 square."""
        (x0, y0), (x1, y1) = self.to_pixels(*p), self.to_pixels(*q)
        half = width / 4.0 * self.size
        dx, dy = x1 - x0, y1 - y0
        length = float(np.hypot(dx, dy))
        if length == 0.0:
            if end_type == 0:
                self._ellipse(x0, y0, half)
            elif end_type == 2:
                self.draw.rectangle([x0 - half, y0 - half, x0 + half, y0 + half], fill=255)
            return
        ux, uy = dx / length, dy / length
        side = max(half - 0.5, 0.0)  # inclusive filling adds half a pixel on each side
        nx, ny = -uy * side, ux * side
        if end_type == 2:  # square: extend by half the width
            x0, y0, x1, y1 = x0 - ux * half, y0 - uy * half, x1 + ux * half, y1 + uy * half
        self.draw.polygon([(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny), (x0 - nx, y0 - ny)], fill=255)
        if end_type == 0:
            for cx, cy in ((x0, y0), (x1, y1)):
                self._ellipse(cx, cy, half)

    def pixels(self) -> np.ndarray:
        big = np.asarray(self.image, dtype=np.float64)
        blocks = big.reshape(IMAGE_SIZE, SUPERSAMPLE, IMAGE_SIZE, SUPERSAMPLE).mean(axis=(1, 3))
        return np.rint(blocks).astype(np.uint8)


def render(class_name: str, params: dict[str, float], pip: str = "filled") -> np.ndarray:
    """Render one symbol as a ``(32, 32)`` uint8 image of ink intensity (0 = no ink, 255 = full ink)."""
    canvas = _Canvas()
    x, y = params["x_coord"], params["y_coord"]
    if class_name in ("one", "two"):
        radius = PIP_RADIUS_PER_SIZE * params["P_size"]
        canvas.pip(x, y, radius, pip)
        if class_name == "two":
            canvas.pip(-x, -y, radius, pip)
    else:
        width = LINE_WIDTH_PER_WEIGHT * params["L_weight"]
        end = params["E_type"]
        if class_name == "three":
            canvas.segment((x, y), (-x, -y), width, end)
        elif class_name in ("four", "five"):
            corners = [(x, y), (-x, y), (-x, -y), (x, -y)]
            for a, b in zip(corners, corners[1:] + corners[:1]):
                canvas.segment(a, b, width, end)
            if class_name == "five":
                canvas.pip(0.0, 0.0, PIP_RADIUS_PER_SIZE * params["P_size"], pip)
        elif class_name == "six":
            sx, sy = params["x_shift"], params["y_shift"]
            canvas.segment((x - sx, y - sy), (-x - sx, -y - sy), width, end)
            canvas.segment((x + sx, y + sy), (-x + sx, -y + sy), width, end)
        else:
            raise ValueError(f"unknown dice class {class_name!r}; expected one of {CLASS_NAMES}")
    return canvas.pixels()


def stored_pixels(ink: np.ndarray, background: str = "white") -> np.ndarray:
    """The stored image of an ink-intensity image: ``255 − ink`` on white (R's default), ``ink`` on black."""
    if background == "white":
        return 255 - ink
    if background == "black":
        return ink
    raise ValueError(f"unknown background {background!r}; expected one of {BACKGROUNDS}")


def _generate_chunk(task: tuple[int, int, int, int, str, str]) -> tuple[int, int, np.ndarray]:
    seed, class_index, chunk_index, count, background, pip = task
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(class_index, chunk_index)))
    name = CLASS_NAMES[class_index]
    images = np.empty((count, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i in range(count):
        images[i] = stored_pixels(render(name, sample_parameters(name, rng), pip=pip), background)
    return class_index, chunk_index, images


@dataclass
class DiceSet:
    X_train: np.ndarray   # (60000, 32, 32) uint8, or (60000, 3, 32, 32) with channels=3
    y_train: np.ndarray   # (60000,) int64, class index 0..5 = one..six
    X_test: np.ndarray
    y_test: np.ndarray


def generate_dice(seed: int = 0, per_class: int = 20_000, chunk_size: int = 500, workers: int | None = None,
                  progress: bool = True, background: str = "white", pip: str = "filled",
                  channels: int = 1) -> DiceSet:
    """Generate the dice set: ``per_class`` images of each class, split in half train/test.

    ``background``, ``pip`` and ``channels`` choose among the readings of the paper's R rendering
    (module docstring); the symbols' parameters, and so the random stream, are the same for all.
    """
    if per_class < 2 or per_class % 2:
        raise ValueError(f"per_class must be an even number >= 2, got {per_class}")
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    if pip not in PIP_STYLES:
        raise ValueError(f"pip must be one of {PIP_STYLES}, got {pip!r}")
    if channels not in CHANNELS:
        raise ValueError(f"channels must be one of {CHANNELS}, got {channels!r}")
    tasks = []
    for class_index in range(len(CLASS_NAMES)):
        for chunk_index, start in enumerate(range(0, per_class, chunk_size)):
            tasks.append((seed, class_index, chunk_index, min(chunk_size, per_class - start), background, pip))
    images = np.empty((len(CLASS_NAMES), per_class, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    workers = workers or os.cpu_count() or 1
    started = time.time()
    bar = tqdm(total=len(CLASS_NAMES) * per_class, desc="dice", unit="img", disable=not progress)

    def store(result):
        class_index, chunk_index, chunk = result
        start = chunk_index * chunk_size
        images[class_index, start:start + chunk.shape[0]] = chunk
        bar.update(chunk.shape[0])

    if workers == 1:
        for task in tasks:
            store(_generate_chunk(task))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(_generate_chunk, tasks):
                store(result)
    bar.close()
    log.info("generated %d dice images in %.1f s with %d workers", images.shape[0] * per_class,
             time.time() - started, workers)
    half = per_class // 2
    labels = np.repeat(np.arange(len(CLASS_NAMES), dtype=np.int64), half)
    X_train = images[:, :half].reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    X_test = images[:, half:].reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    if channels == 3:  # an RGB PNG of a grey drawing: three identical channels, channel-major like CIFAR-10
        X_train = np.repeat(X_train[:, None], 3, axis=1)
        X_test = np.repeat(X_test[:, None], 3, axis=1)
    return DiceSet(X_train=X_train, y_train=labels, X_test=X_test, y_test=labels.copy())
