"""``eoslab.decompose``: the paper's metrics (Eqs. 2–8) for anyone's MLP, as one tidy table.

    import torch, eoslab
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.GELU(), torch.nn.Linear(32, 3))
    table = eoslab.decompose(model, X, y, criterion=torch.nn.CrossEntropyLoss())

returns a ``pandas.DataFrame`` with columns ``metric, layer, value``: the metrics and names of
``eoslab analyze`` (:data:`eoslab.metrics.METRICS`; ``layer`` is null for the global ones),

* ``loss``, ``accuracy``, ``grad_norm``; ``sharpness_hessian``, ``sharpness_G``, ``sharpness_H``
  (``λ₁`` of ``𝓗``, ``G``, ``H``, Eq. 2); ``EK2`` and ``rho_K`` (Eq. 3); ``EDeltaL2``;
* per layer ``i``: ``EK2_layer`` (``i = 1..L``, Eq. 4), ``chi2``, ``r_chi``, ``EJ2``, ``r_DeltaJ``
  (``i = 1..L−1``, Eqs. 5–6) and the Eq. 7 factors ``Pi_chi``, ``P_chi``, ``Pi_J``, ``P_DeltaJ``
  (``k = 1..L−1``, products over ``i = k..L−1``).

**Networks.**  The project's :class:`eoslab.models.MLP`, or any ``nn.Sequential`` of ``nn.Linear``
layers (unequal widths, with or without biases) and elementwise activations, float32 or float64,
on the CPU or a GPU (the data are moved to the model's device and dtype; the model is not
touched).  Anything else is refused with :class:`eoslab.adapters.UnsupportedModel` naming the
module and the reason (:mod:`eoslab.adapters`).  For a layer without bias ``aᵢ = ‖x^{i−1}‖²``
instead of ``1 + ‖x^{i−1}‖²`` (the bias's share of ``∂f/∂θⁱ`` is missing).

**Criteria.**  ``"cross_entropy"`` / ``torch.nn.CrossEntropyLoss`` on logits with integer class
labels, ``"mse"`` / ``torch.nn.MSELoss`` against the one-hot code of integer labels or against
float targets of shape ``(N, O)``, or an :class:`eoslab.criteria.Criterion`.  Class weights,
label smoothing and ``reduction='none'`` are refused.

**Reduction.**  The paper's training loss is the *mean* over samples of a per-sample criterion,
and eoslab's MSE is the mean over the ``O`` outputs too (what ``nn.MSELoss()`` computes).  The
metrics describe *the loss the user trains*, because that is the loss whose sharpness meets
``2/η``: with ``reduction='sum'`` that loss is ``c · L̃`` with ``c = N`` (cross-entropy) or
``c = N·O`` (MSE, summed over samples and outputs), so its Hessian, ``G``, ``H``, gradient and
loss are ``c`` times the mean's.  We therefore scale the per-sample criterion by ``c`` (its
output Hessian by ``c``, its root ``R`` by ``√c``): ``loss``, ``grad_norm``, the three
sharpnesses, ``EK2``, ``EK2_layer`` and ``EDeltaL2`` are multiplied by ``c``; the ratios
(``rho_K``, ``r_chi``, ``r_DeltaJ``, the ``P``'s), ``chi2``, ``EJ2`` and the ``Π``'s do not
change, and Eqs. 3–8 hold as before.  ``N`` is the number of samples passed to
:func:`decompose` (for a mini-batch loss summed over ``B`` samples, pass ``reduction='mean'``
and multiply by ``B`` yourself, or pass ``scale=``).  The scale used is in
``table.attrs["loss_scale"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from .adapters import UnsupportedModel, layer_stack
from .criteria import Criterion, MeanSquaredError, get_criterion

__all__ = ["decompose", "resolve_criterion", "UnsupportedModel", "UnsupportedCriterion", "METRIC_COLUMNS"]

#: Columns of :func:`decompose`'s table.
METRIC_COLUMNS = ["metric", "layer", "value"]

CRITERION_ALIASES = {"cross_entropy": "cross_entropy", "crossentropy": "cross_entropy", "ce": "cross_entropy",
                     "crossentropyloss": "cross_entropy", "mse": "mse", "mseloss": "mse"}


class UnsupportedCriterion(ValueError):
    """The criterion (or its options, or the targets) is not one the decomposition knows."""


class ScaledCriterion(Criterion):
    """``c · l``: the per-sample criterion of a summed loss (module docstring, "Reduction")."""

    def __init__(self, base: Criterion, scale: float):
        self.base, self.scale = base, float(scale)
        self.name = base.name

    def loss(self, z, y):
        return self.scale * self.base.loss(z, y)

    def output_hessian(self, z, y):
        return self.scale * self.base.output_hessian(z, y)

    def output_hessian_matmul(self, z, y, u):
        return self.scale * self.base.output_hessian_matmul(z, y, u)

    def output_hessian_sqrt(self, z, y):
        return self.scale ** 0.5 * self.base.output_hessian_sqrt(z, y)

    def accuracy(self, z, y):
        return self.base.accuracy(z, y)


class TargetMeanSquaredError(MeanSquaredError):
    """``l(z, t) = (1/O)‖z − t‖²`` against float targets ``t`` of shape ``(N, O)``; ``H_z l = (2/O) I``.

    Accuracy is the agreement of ``argmax z`` with ``argmax t`` (the accuracy for one-hot targets).
    """

    def loss(self, z, y):
        return (z - y).pow(2).mean(dim=-1)

    @staticmethod
    def accuracy(z, y):
        return (z.argmax(dim=-1) == y.argmax(dim=-1)).to(z.dtype)


@dataclass
class ResolvedCriterion:
    criterion: Criterion
    name: str           # cross_entropy | mse
    reduction: str      # mean | sum
    scale: float        # c of the module docstring


def _criterion_name(criterion: Any) -> tuple[str, str]:
    """(name, reduction) of a name, a torch loss module or an eoslab Criterion."""
    if isinstance(criterion, str):
        key = criterion.lower().replace("-", "_").replace("nn.", "")
        key = CRITERION_ALIASES.get(key.replace("_", ""), CRITERION_ALIASES.get(key))
        if key is None:
            raise UnsupportedCriterion(f"unknown criterion {criterion!r}; use 'cross_entropy' or 'mse' "
                                       f"(or torch.nn.CrossEntropyLoss / torch.nn.MSELoss)")
        return key, "mean"
    if type(criterion) is nn.CrossEntropyLoss:
        if criterion.weight is not None:
            raise UnsupportedCriterion("CrossEntropyLoss with class weights: the paper's H_z l = diag(p) − ppᵀ "
                                       "has no per-class weights; pass weight=None")
        if criterion.label_smoothing:
            raise UnsupportedCriterion(f"CrossEntropyLoss with label_smoothing={criterion.label_smoothing}: "
                                       "not the paper's criterion; pass label_smoothing=0")
        name = "cross_entropy"
    elif type(criterion) is nn.MSELoss:
        name = "mse"
    elif isinstance(criterion, nn.Module):
        raise UnsupportedCriterion(f"criterion {type(criterion).__name__} is not supported: the decomposition "
                                   f"needs the output Hessian H_z l in closed form, known for "
                                   f"torch.nn.CrossEntropyLoss and torch.nn.MSELoss (or pass an "
                                   f"eoslab.criteria.Criterion)")
    else:
        raise UnsupportedCriterion(f"criterion must be 'cross_entropy', 'mse', torch.nn.CrossEntropyLoss, "
                                   f"torch.nn.MSELoss or an eoslab.criteria.Criterion, got {criterion!r}")
    reduction = criterion.reduction
    if reduction not in ("mean", "sum"):
        raise UnsupportedCriterion(f"{type(criterion).__name__}(reduction={reduction!r}): the training loss must be "
                                   f"reduced over the samples; use reduction='mean' (the paper's L̃) or 'sum'")
    return name, reduction


def resolve_criterion(criterion: Any, y: torch.Tensor, num_outputs: int, *, scale: float | None = None
                      ) -> ResolvedCriterion:
    """The eoslab criterion for ``criterion`` and targets ``y`` over ``N = len(y)`` samples.

    ``scale`` overrides the reduction's factor ``c`` (module docstring).
    """
    N = y.shape[0]
    if isinstance(criterion, Criterion):
        base, name, reduction = criterion, criterion.name, "mean"
    else:
        name, reduction = _criterion_name(criterion)
        if y.is_floating_point():
            if name == "cross_entropy":
                raise UnsupportedCriterion("cross-entropy needs integer class labels y of shape (N,); got float "
                                           f"targets of shape {tuple(y.shape)} (probability targets are not supported)")
            if tuple(y.shape) != (N, num_outputs):
                raise UnsupportedCriterion(f"MSE with float targets needs y of shape (N, O) = ({N}, {num_outputs}), "
                                           f"got {tuple(y.shape)}")
            base = TargetMeanSquaredError()
        else:
            if y.ndim != 1:
                raise UnsupportedCriterion(f"integer labels y must have shape (N,), got {tuple(y.shape)}")
            if N and (int(y.min()) < 0 or int(y.max()) >= num_outputs):
                raise UnsupportedCriterion(f"labels must lie in 0..{num_outputs - 1} (the network has {num_outputs} "
                                           f"outputs), got {int(y.min())}..{int(y.max())}")
            base = get_criterion(name)
    if scale is None:
        scale = 1.0 if reduction == "mean" else float(N * (num_outputs if name == "mse" else 1))
    if not scale > 0:
        raise UnsupportedCriterion(f"scale must be positive, got {scale}")
    return ResolvedCriterion(base if scale == 1.0 else ScaledCriterion(base, scale), name, reduction, float(scale))


def prepare_data(model: nn.Module, X: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``X`` in the model's dtype and device, ``y`` on its device (integer labels stay integers)."""
    parameter = next(model.parameters())
    X = torch.as_tensor(X).to(device=parameter.device, dtype=parameter.dtype)
    y = torch.as_tensor(y).to(device=parameter.device)
    if y.is_floating_point():
        y = y.to(parameter.dtype)
    elif y.dtype != torch.long:
        y = y.long()
    if X.ndim != 2:
        raise ValueError(f"X must have shape (N, D) (flatten your inputs), got {tuple(X.shape)}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}")
    if X.shape[0] == 0:
        raise ValueError("the data set is empty")
    return X, y


#: Tolerances of the eigensolvers for float32 networks (float64's defaults, 1e-8 and 1e-10, lie below
#: float32's rounding: the solvers would run to their iteration limits without converging).
FLOAT32_TOLERANCES = {"eig_tol": 1e-4, "jacobian_tol": 1e-5}


def default_settings(model: nn.Module):
    """:class:`eoslab.metrics.MetricSettings` for ``model``: the analysis defaults, with
    :data:`FLOAT32_TOLERANCES` when its parameters are float32 (or lower)."""
    from .metrics import MetricSettings

    dtype = next(model.parameters()).dtype
    return MetricSettings(**FLOAT32_TOLERANCES) if torch.finfo(dtype).eps > 1e-10 else MetricSettings()


def decompose(model: nn.Module, X: Any, y: Any, criterion: Any = "cross_entropy", *, settings=None,
              chunk_size: int | None = None, scale: float | None = None, seed: int | None = None) -> pd.DataFrame:
    """The paper's metrics (Eqs. 2–8) of ``model`` on ``(X, y)``: a table ``metric, layer, value``.

    ``model``: an ``nn.Sequential`` of ``nn.Linear`` and elementwise activations, or an
    :class:`eoslab.models.MLP` (others are refused, naming the module and why).  ``X``: ``(N, D)``;
    ``y``: integer labels ``(N,)`` (or float targets ``(N, O)`` for MSE).  ``criterion``: ``"cross_entropy"``,
    ``"mse"``, ``torch.nn.CrossEntropyLoss(...)``, ``torch.nn.MSELoss(...)`` or an
    :class:`eoslab.criteria.Criterion`; a ``reduction='sum'`` loss scales the curvature metrics by
    ``c`` (module docstring).  ``settings``: an :class:`eoslab.metrics.MetricSettings` (eigensolver
    tolerances, chunking; its ``device`` is ignored — the model's is used); ``chunk_size`` overrides
    its ``chunk_size``; ``seed`` its ``eig_seed``.  ``scale`` overrides the reduction's factor ``c``.

    ``table.attrs`` holds ``loss_scale``, ``criterion``, ``reduction`` and ``diagnostics`` (eigensolver
    eigenvalues, residuals and products; Jacobian-norm solver statistics), all JSON-compatible.
    """
    from .metrics import MetricSettings, analyze_snapshot

    stack = layer_stack(model)
    settings = default_settings(model) if settings is None else settings
    if chunk_size is not None or seed is not None:
        settings = MetricSettings(**{**settings.__dict__, **({"chunk_size": chunk_size} if chunk_size else {}),
                                     **({"eig_seed": seed} if seed is not None else {})})
    settings.validate()
    X, y = prepare_data(model, X, y)
    if X.shape[1] != stack.linears[0].in_features:
        raise ValueError(f"X has {X.shape[1]} features but the first linear layer ({stack.names[0]!r}) expects "
                         f"{stack.linears[0].in_features}")
    resolved = resolve_criterion(criterion, y, stack.linears[-1].out_features, scale=scale)
    generator = torch.Generator().manual_seed(settings.eig_seed)
    rows, _, diagnostics = analyze_snapshot(model, resolved.criterion, X, y, settings, None, generator)
    frame = metric_frame(rows)
    frame.attrs.update({"loss_scale": resolved.scale, "criterion": resolved.name, "reduction": resolved.reduction,
                        "diagnostics": diagnostics})
    return frame


def metric_frame(rows: list[tuple[str, int | None, float]]) -> pd.DataFrame:
    """Rows of ``(metric, layer, value)`` as a typed table (``layer`` nullable)."""
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    return frame.astype({"metric": "string", "layer": "Int64", "value": "float64"})


def load_network(model_path: str, arch: str | None = None, device: str = "cpu") -> nn.Module:
    """A network from a file: an eoslab snapshot, a state dict with an architecture spec (``arch``, JSON or
    YAML), or a ``torch.save``'d module (unpickled: trusted files only)."""
    import yaml

    from .arrays import DataFileError
    from .training import load_snapshot

    try:
        if arch is not None:
            from .adapters import sequential_from_spec

            with open(arch) as handle:
                spec = yaml.safe_load(handle)
            if not isinstance(spec, dict):
                raise DataFileError(f"architecture spec {arch} must hold a mapping (widths, activation, bias, dtype)")
            try:
                model = sequential_from_spec(spec)
            except ValueError as error:
                raise DataFileError(f"{arch}: {error}") from error
            state = torch.load(model_path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state:
                state = state["state_dict"]
            try:
                model.load_state_dict(state)
            except RuntimeError as error:
                raise DataFileError(f"the state dict {model_path} does not fit the architecture {arch}: "
                                    f"{str(error).splitlines()[0]} (keys: {list(state)[:6]}…)") from error
            return model.to(device)
        try:
            saved = torch.load(model_path, map_location="cpu", weights_only=True)
        except Exception:  # a pickled module: not loadable with weights_only
            saved = torch.load(model_path, map_location="cpu", weights_only=False)
        if isinstance(saved, dict) and "model" in saved and "state_dict" in saved:  # an eoslab snapshot
            model, _ = load_snapshot(model_path, device=device)
            return model
        if isinstance(saved, nn.Module):
            return saved.to(device)
        if isinstance(saved, dict):
            raise DataFileError(f"{model_path} holds a state dict; pass --arch SPEC (widths, activation, bias, "
                                f"dtype) to say which network it belongs to")
        raise DataFileError(f"{model_path} holds a {type(saved).__name__}, not a network")
    except FileNotFoundError as error:
        raise DataFileError(f"{error.filename}: no such file") from error


def load_data(data_path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, y)`` from an ``.npz`` (``X``, ``y``) or a ``.pt`` holding ``{"X": …, "y": …}`` or ``(X, y)``."""
    from .arrays import DataFileError

    if str(data_path).endswith(".npz"):
        import numpy as np

        try:
            with np.load(data_path) as arrays:
                if "X" not in arrays or "y" not in arrays:
                    raise DataFileError(f"{data_path} must hold arrays X and y, has {sorted(arrays.files)}")
                return torch.as_tensor(arrays["X"]), torch.as_tensor(arrays["y"])
        except FileNotFoundError as error:
            raise DataFileError(f"{data_path}: no such file") from error
    try:
        saved = torch.load(data_path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise DataFileError(f"{data_path}: no such file") from error
    if isinstance(saved, dict) and "X" in saved and "y" in saved:
        return torch.as_tensor(saved["X"]), torch.as_tensor(saved["y"])
    if isinstance(saved, (tuple, list)) and len(saved) == 2:
        return torch.as_tensor(saved[0]), torch.as_tensor(saved[1])
    raise DataFileError(f"{data_path} must hold {{'X': ..., 'y': ...}} or (X, y)")


def decompose_files(model_path: str, data_path: str, out: str, *, arch: str | None = None,
                    criterion: str = "cross_entropy", reduction: str = "mean", device: str = "cpu",
                    settings=None) -> pd.DataFrame:
    """``eoslab decompose``: load, decompose, write ``out`` (.parquet or .csv); errors as ``ConfigError``."""
    from pathlib import Path

    from .io import write_parquet
    from .settings import ConfigError

    model = load_network(model_path, arch, device)
    X, y = load_data(data_path)
    loss = {"cross_entropy": nn.CrossEntropyLoss, "mse": nn.MSELoss}[criterion](reduction=reduction)
    if criterion == "mse" and not y.is_floating_point():
        loss = nn.MSELoss(reduction=reduction)  # integer labels: against their one-hot code
    try:
        frame = decompose(model, X, y, loss, settings=settings)
    except (UnsupportedModel, UnsupportedCriterion) as error:
        raise ConfigError(str(error)) from error
    except ValueError as error:  # shapes of X, y against the network
        raise ConfigError(str(error)) from error
    attrs = dict(frame.attrs)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix == ".csv":
        frame.to_csv(out_path, index=False)
    else:
        plain = frame.copy()
        plain.attrs = {}
        write_parquet(out_path, plain)
    value = {(m, None if pd.isna(layer) else int(layer)): v for m, layer, v in frame.itertuples(index=False)}
    frame.attrs.update(attrs)
    frame.attrs.update({"sharpness": value[("sharpness_hessian", None)], "EK2": value[("EK2", None)],
                        "P_DeltaJ_1": value.get(("P_DeltaJ", 1), float("nan"))})
    return frame
