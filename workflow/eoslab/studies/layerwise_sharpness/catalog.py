"""What each figure and table of the thesis shows, as runs of this study (no torch/matplotlib import).

Two kinds of run:

* a **trajectory** (:class:`TrajectoryRun`, Chapter 3): one network trained by full-batch gradient
  descent with one step-size scheme, logged at every iteration.  Key
  ``{dataset}_{activation}_d{depth}_w{width}_{scheme}`` with ``scheme`` one of ``lr{η}`` (constant
  ``η``), ``inv0`` (``1/λ_0``), ``invt`` (``1/λ_t``), ``layer{c}`` (``1/(cλ_{i,t})``) and
  ``armijo``; e.g. ``synthetic_tanh_d3_w10_lr0.08``;
* a **max-step point** (:class:`MaxStepPoint`, Chapter 4): Algorithm 2's ``R`` runs for one
  architecture, data set, training-set size and batch size.  Key
  ``{dataset}_{batch}_{activation}_d{depth}_w{width}_n{samples}`` with ``batch`` ``full`` or
  ``b{size}``; e.g. ``synthetic_full_tanh_d3_w10_n100``.

``depth`` counts linear layers: the thesis's "3 layers and 10 units in each layer" has an input,
a hidden and an output layer (the three sharpness curves of Figure 3.1), widths ``[d, 10, 10, o]``.

Readings where the thesis is silent (also in ``docs/layerwise_sharpness.md``):

* Figures 3.1/3.2 split the four activations of A.1 two by two (3.1: linear, ReLU; 3.2: sigmoid,
  tanh), Figures 3.3/3.4 the widths 10, 25 | 50, 100 of A.2, Figures 3.5/3.6 the depths 2, 3 | 5, 8
  of A.4.
* Figure 3.7's "two constant step sizes" are the chapter's ``η = 2/25`` and ``2/10``; Figure 3.9
  (and A.7) keeps 3.8's schemes with the layerwise one scaled by ``c = 2``.  The §3.3 networks
  are the chapter's default, 3 layers of 10 units (on CIFAR-10: ``[3072, 10, 10, 10]``).
* The sweeps of Figures 4.2–4.7 and A.8–A.10 use the config's depths, widths and sizes (the
  thesis names only some of its points: 16 layers, 1 and 100 units); the other two parameters stay
  at Table 4.1's 3 layers, 10 units, 100 examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Table 4.1's order of the activations; the thesis's names.
ACTIVATIONS = ("linear", "tanh", "relu", "sigmoid")
ACTIVATION_NAMES = {"linear": "Linear", "tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid"}
DATASETS = ("synthetic", "cifar10")
DATASET_NAMES = {"synthetic": "synthetic regression data", "cifar10": "CIFAR-10"}

#: The thesis's values (Tables 4.1 and 4.2).
THESIS_TABLES = {
    "table_4_1": {"linear": 0.38433, "tanh": 3.12765, "relu": 2.26166, "sigmoid": 12.58223},
    "table_4_2": {"linear": 0.05842, "tanh": 1.44604, "relu": 0.19952, "sigmoid": 9.17098},
}
TABLE_TITLES = {
    "table_4_1": "Table 4.1: mean maximal step size before full-batch gradient descent diverges "
                 "(3 layers, 10 units, 100 synthetic examples)",
    "table_4_2": "Table 4.2: maximal step size before gradient descent with batch size 1 diverges "
                 "(3 layers, 10 units, 100 synthetic examples)",
}

#: The default network of Chapter 3 and of Table 4.1 (Table 3.1 and the figure captions).
BASE_DEPTH, BASE_WIDTH, BASE_SAMPLES = 3, 10, 100
CIFAR10_INPUT, CIFAR10_OUTPUT = 3072, 10

ETA_SMALL, ETA_LARGE = 2 / 25, 2 / 10

_NUMBER = r"\d+(?:\.\d+)?(?:e-?\d+)?"


def format_number(value: float) -> str:
    """A step size or scale in a run key: ``0.08``, ``0.2``, ``2`` (``%g``)."""
    return f"{value:g}"


@dataclass(frozen=True)
class TrajectoryRun:
    dataset: str
    activation: str
    depth: int
    width: int
    scheme: str     # lr{η} | inv0 | invt | layer{c} | armijo

    PATTERN = re.compile(rf"^(synthetic|cifar10)_(linear|tanh|relu|sigmoid|elu)_d(\d+)_w(\d+)_"
                         rf"(lr{_NUMBER}|inv0|invt|layer{_NUMBER}|armijo)$")

    @property
    def key(self) -> str:
        return f"{self.dataset}_{self.activation}_d{self.depth}_w{self.width}_{self.scheme}"

    @classmethod
    def parse(cls, key: str) -> "TrajectoryRun":
        match = cls.PATTERN.match(key)
        if not match:
            raise ValueError(f"not a trajectory run key: {key!r}; expected "
                             "{synthetic|cifar10}_{activation}_d{depth}_w{width}_{lr<η>|inv0|invt|layer<c>|armijo}")
        dataset, activation, depth, width, scheme = match.groups()
        return cls(dataset, activation, int(depth), int(width), scheme)

    def scheme_spec(self, armijo: dict | None = None) -> dict:
        """The :func:`eoslab.step_sizes.make_scheme` entry of this run's scheme."""
        if self.scheme.startswith("lr"):
            return {"scheme": "constant", "lr": float(self.scheme[2:])}
        if self.scheme == "inv0":
            return {"scheme": "inverse_initial_sharpness"}
        if self.scheme == "invt":
            return {"scheme": "inverse_sharpness"}
        if self.scheme.startswith("layer"):
            return {"scheme": "layerwise_inverse_sharpness", "scale": float(self.scheme[5:])}
        return {"scheme": "armijo", **(armijo or {})}

    @property
    def scheme_label(self) -> str:
        """The thesis's legend: λ_0, λ_t, layer λ, LS, or the constant step size."""
        if self.scheme.startswith("lr"):
            value = float(self.scheme[2:])
            known = {ETA_SMALL: "2/25", ETA_LARGE: "2/10"}
            return "η = " + next((text for v, text in known.items() if abs(v - value) < 1e-12), format_number(value))
        if self.scheme.startswith("layer"):
            scale = float(self.scheme[5:])
            return "layer 1/λᵢ,ₜ" if scale == 1 else f"layer 1/({format_number(scale)}λᵢ,ₜ)"
        return {"inv0": "1/λ₀", "invt": "1/λₜ", "armijo": "LS (Armijo)"}[self.scheme]

    @property
    def input_dim(self) -> int:
        """Synthetic data have the network's width as dimension (§3: input and output layers as wide
        as the hidden ones); CIFAR-10 images 3072 inputs and 10 one-hot outputs."""
        return self.width if self.dataset == "synthetic" else CIFAR10_INPUT

    @property
    def output_dim(self) -> int:
        return self.width if self.dataset == "synthetic" else CIFAR10_OUTPUT


def constant(lr: float) -> str:
    return f"lr{format_number(lr)}"


@dataclass(frozen=True)
class MaxStepPoint:
    dataset: str
    batch_size: int | None  # None: full batch
    activation: str
    depth: int
    width: int
    samples: int

    PATTERN = re.compile(r"^(synthetic|cifar10)_(full|b\d+)_(linear|tanh|relu|sigmoid|elu)_d(\d+)_w(\d+)_n(\d+)$")

    @property
    def key(self) -> str:
        batch = "full" if self.batch_size is None else f"b{self.batch_size}"
        return f"{self.dataset}_{batch}_{self.activation}_d{self.depth}_w{self.width}_n{self.samples}"

    @classmethod
    def parse(cls, key: str) -> "MaxStepPoint":
        match = cls.PATTERN.match(key)
        if not match:
            raise ValueError(f"not a max-step point key: {key!r}; expected "
                             "{synthetic|cifar10}_{full|b<size>}_{activation}_d{depth}_w{width}_n{samples}")
        dataset, batch, activation, depth, width, samples = match.groups()
        return cls(dataset, None if batch == "full" else int(batch[1:]), activation, int(depth), int(width),
                   int(samples))


@dataclass(frozen=True)
class FigureSpec:
    name: str            # fig_3_1 …
    label: str           # "Figure 3.1"
    kind: str            # sharpness | schemes | maxstep
    caption: str
    # sharpness: (panel title, run) pairs; schemes: activation and scheme tokens; maxstep: the sweep
    panels: tuple = ()
    lr: float | None = None
    activation: str | None = None
    schemes: tuple = ()
    dataset: str | None = None
    batch: str | None = None       # "full" or "minibatch"
    sweep: str | None = None       # depth | width | samples


def _run(activation, lr, depth=BASE_DEPTH, width=BASE_WIDTH):
    return TrajectoryRun("synthetic", activation, depth, width, constant(lr))


def _sharpness(name, label, lr, panels, what):
    eta = "2/25" if lr == ETA_SMALL else "2/10"
    caption = (f"{label}: edge of stability compared across {what}, common step size η = {eta} "
               f"(full-batch gradient descent on synthetic regression data, PyTorch-default initialisation, "
               f"MSE). Rows: one network each; columns: training loss, sharpness λ of the full Hessian "
               f"('Full') and λᵢ of each layer's (Wᵢ, bᵢ) block with the threshold 2/η, and the gradient "
               f"norms of the network and of each layer, at every iteration.")
    return FigureSpec(name, label, "sharpness", caption, panels=tuple(panels), lr=lr)


def _sharpness_figures():
    acts = [(ACTIVATION_NAMES[a], a) for a in ("linear", "relu", "sigmoid", "tanh")]
    widths, depths = (10, 25, 50, 100), (2, 3, 5, 8)
    figures = []
    for name, label, lr, chosen in (("fig_3_1", "Figure 3.1", ETA_SMALL, acts[:2]),
                                    ("fig_3_2", "Figure 3.2", ETA_SMALL, acts[2:]),
                                    ("fig_a_1", "Figure A.1", ETA_LARGE, acts)):
        figures.append(_sharpness(name, label, lr, [(f"{title}, 3 layers, 10 units", _run(a, lr)) for title, a in chosen],
                                  "activation functions (3 layers, 10 units per layer)"))
    for name, label, lr, activation, chosen in (("fig_3_3", "Figure 3.3", ETA_SMALL, "tanh", widths[:2]),
                                                ("fig_3_4", "Figure 3.4", ETA_SMALL, "tanh", widths[2:]),
                                                ("fig_a_2", "Figure A.2", ETA_LARGE, "tanh", widths),
                                                ("fig_a_3", "Figure A.3", ETA_LARGE, "relu", widths)):
        figures.append(_sharpness(name, label, lr, [(f"{ACTIVATION_NAMES[activation]}, {w} hidden units",
                                                     _run(activation, lr, width=w)) for w in chosen],
                                  f"network widths with {ACTIVATION_NAMES[activation]} activations (3 layers; "
                                  f"data dimension = width)"))
    for name, label, lr, activation, chosen in (("fig_3_5", "Figure 3.5", ETA_SMALL, "tanh", depths[:2]),
                                                ("fig_3_6", "Figure 3.6", ETA_SMALL, "tanh", depths[2:]),
                                                ("fig_a_4", "Figure A.4", ETA_LARGE, "tanh", depths),
                                                ("fig_a_5", "Figure A.5", ETA_LARGE, "relu", depths)):
        figures.append(_sharpness(name, label, lr, [(f"{ACTIVATION_NAMES[activation]}, {d} layers",
                                                     _run(activation, lr, depth=d)) for d in chosen],
                                  f"numbers of layers with {ACTIVATION_NAMES[activation]} activations (10 units)"))
    return figures


def _scheme_figures():
    defs = (("fig_3_7", "Figure 3.7", "relu", ("inv0", "invt", constant(ETA_SMALL), constant(ETA_LARGE))),
            ("fig_3_8", "Figure 3.8", "tanh", ("inv0", "invt", "layer1", "armijo")),
            ("fig_3_9", "Figure 3.9", "tanh", ("inv0", "invt", "layer2", "armijo")),
            ("fig_a_6", "Figure A.6", "sigmoid", ("inv0", "invt", "layer1", "armijo")),
            ("fig_a_7", "Figure A.7", "sigmoid", ("inv0", "invt", "layer2", "armijo")))
    figures = []
    for name, label, activation, schemes in defs:
        labels = ", ".join(TrajectoryRun("synthetic", activation, 3, 10, s).scheme_label for s in schemes)
        caption = (f"{label}: convergence of full-batch gradient descent for different step sizes and data sets "
                   f"with {ACTIVATION_NAMES[activation]} activations (3 layers, 10 units): {labels}. "
                   f"Top: training loss; bottom: the step size taken (layerwise schemes: one curve per layer). "
                   f"Left: synthetic regression data; right: CIFAR-10 (when the config includes it).")
        figures.append(FigureSpec(name, label, "schemes", caption, activation=activation, schemes=schemes))
    return figures


def _maxstep_figures():
    figures = []
    what = {"depth": "numbers of layers (10 units per layer", "width": "numbers of hidden units per layer (3 layers",
            "samples": "numbers of training examples (3 layers, 10 units per layer"}
    defs = [("fig_4_2", "Figure 4.2", "synthetic", "full", "depth"), ("fig_4_3", "Figure 4.3", "synthetic", "full", "width"),
            ("fig_4_4", "Figure 4.4", "synthetic", "full", "samples"),
            ("fig_4_5", "Figure 4.5", "synthetic", "minibatch", "depth"),
            ("fig_4_6", "Figure 4.6", "synthetic", "minibatch", "width"),
            ("fig_4_7", "Figure 4.7", "synthetic", "minibatch", "samples"),
            ("fig_a_8", "Figure A.8", "cifar10", "full", "depth"), ("fig_a_9", "Figure A.9", "cifar10", "full", "width"),
            ("fig_a_10", "Figure A.10", "cifar10", "full", "samples")]
    for name, label, dataset, batch, sweep in defs:
        method = "full-batch gradient descent" if batch == "full" else "gradient descent with batch size 1"
        examples = "" if sweep == "samples" else ", 100 training examples"
        caption = (f"{label}: the maximal step size before {method} diverges (Algorithm 2: loss NaN/inf within T "
                   f"iterations) across {what[sweep]}{examples}), one panel per activation; "
                   f"{DATASET_NAMES[dataset]}. Line: mean over the R runs, bars: ± one standard deviation, dots: "
                   f"the runs.")
        figures.append(FigureSpec(name, label, "maxstep", caption, dataset=dataset, batch=batch, sweep=sweep))
    return figures


FIGURES: dict[str, FigureSpec] = {f.name: f for f in _sharpness_figures() + _scheme_figures() + _maxstep_figures()}
TABLES = ("table_4_1", "table_4_2")
#: The thesis's order: Chapter 3, Chapter 4, Appendix A.
FIGURE_ORDER = tuple(sorted(FIGURES, key=lambda n: (n.startswith("fig_a"), [int(p) for p in n.split("_")[-2:]
                                                                              if p.isdigit()])))


# --------------------------------------------------------------------------------------------
# From a (validated) study config to the runs of each figure and table


def cifar10_enabled(config: dict) -> bool:
    return bool(config["cifar10"]["enabled"])


def figure_available(name: str, config: dict) -> bool:
    """Whether ``name`` can be built with this config (A.8–A.10 need CIFAR-10)."""
    spec = FIGURES[name]
    return not (spec.kind == "maxstep" and spec.dataset == "cifar10" and not cifar10_enabled(config))


def scheme_datasets(config: dict) -> list[str]:
    return ["synthetic", "cifar10"] if cifar10_enabled(config) else ["synthetic"]


def figure_runs(name: str, config: dict) -> list[TrajectoryRun]:
    """The trajectory runs a Chapter-3 figure shows."""
    spec = FIGURES[name]
    if spec.kind == "sharpness":
        return [run for _, run in spec.panels]
    if spec.kind == "schemes":
        return [TrajectoryRun(dataset, spec.activation, BASE_DEPTH, BASE_WIDTH, scheme)
                for dataset in scheme_datasets(config) for scheme in spec.schemes]
    raise ValueError(f"{name} is a {spec.kind} figure, not a trajectory figure")


def batch_size_of(batch: str, config: dict) -> int | None:
    return None if batch == "full" else int(config["maxstep"]["batch_size"])


def sweep_values(sweep: str, config: dict) -> list[int]:
    return list(config["maxstep"][{"depth": "depths", "width": "widths", "samples": "sizes"}[sweep]])


def figure_points(name: str, config: dict) -> list[MaxStepPoint]:
    """The max-step points a Chapter-4 figure shows (every activation × every swept value)."""
    spec = FIGURES[name]
    if spec.kind != "maxstep":
        raise ValueError(f"{name} is a {spec.kind} figure, not a max-step figure")
    batch = batch_size_of(spec.batch, config)
    points = []
    for activation in ACTIVATIONS:
        for value in sweep_values(spec.sweep, config):
            shape = {"depth": BASE_DEPTH, "width": BASE_WIDTH, "samples": BASE_SAMPLES, spec.sweep: value}
            points.append(MaxStepPoint(spec.dataset, batch, activation, shape["depth"], shape["width"], shape["samples"]))
    return points


def table_points(name: str, config: dict) -> list[MaxStepPoint]:
    """Tables 4.1 (full batch) and 4.2 (batch size 1): the base network per activation."""
    if name not in TABLES:
        raise ValueError(f"table must be one of {TABLES}, got {name!r}")
    batch = None if name == "table_4_1" else int(config["maxstep"]["batch_size"])
    return [MaxStepPoint("synthetic", batch, a, BASE_DEPTH, BASE_WIDTH, BASE_SAMPLES) for a in ACTIVATIONS]


def selected_figures(config: dict) -> list[str]:
    """The figures ``all`` builds: the config's ``figures`` (default every one), those it can build."""
    wanted = config.get("figures") or list(FIGURE_ORDER)
    return [name for name in FIGURE_ORDER if name in wanted and figure_available(name, config)]


def selected_tables(config: dict) -> list[str]:
    wanted = config.get("tables")
    return [name for name in TABLES if wanted is None or name in wanted]
