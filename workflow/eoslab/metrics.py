"""The paper's metrics of one set of weights on one data set (Eqs. 2–8), for any study or user.

For an MLP, a criterion and the data ``(X, y)``:

* ``loss``, ``accuracy``, ``grad_norm`` — ``L̃(θ)``, the accuracy and ``‖∇_θ L̃‖``;
* ``sharpness_hessian``, ``sharpness_G``, ``sharpness_H`` — ``λ₁`` of ``𝓗_θ L̃``, ``G`` and
  ``H = 𝓗_θ L̃ − G`` (Eq. 2), algebraically largest (``H`` is indefinite), from the curvature
  engine's matrix-free operators and :func:`eoslab.eigensolvers.top_eigenpairs`;
* ``EK2`` = ``E‖K‖²_max`` and ``rho_K`` = ``ρ(K) = λ₁(G)/E‖K‖²`` (Eq. 3);
* per layer ``i``: ``EK2_layer`` (``i = 1..L``, Eq. 4), ``chi2``, ``r_chi``, ``EJ2``, ``r_DeltaJ``
  (``i = 1..L−1``, Eqs. 5–6) and ``Pi_chi``, ``P_chi``, ``Pi_J``, ``P_DeltaJ`` (Eq. 7);
* ``EDeltaL2`` = ``E‖Δᴸ‖²``.

The layerwise quantities come from :mod:`eoslab.decomposition`.  The tidy table of these metrics
(:data:`TABLE_COLUMNS`, :func:`typed_table`: one row per metric, layer and snapshot) is the engine's,
written by the paper study's run analysis (:mod:`eoslab.studies.jacobian_alignment.analysis`) and by
:class:`eoslab.SharpnessMonitor` alike, so the study's figures draw either.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from .curvature import GaussNewtonOperator, HessianOperator, ResidualHessianOperator
from .decomposition import layerwise_decomposition
from .eigensolvers import top_eigenpairs
from .settings import ConfigError, config_from_dict, option
from .training import EIG_METHODS, resolve_eig_method

log = logging.getLogger(__name__)

#: The tidy metrics table: one row per (run, snapshot, metric, layer); ``layer`` null for global metrics.
TABLE_COLUMNS = ["dataset", "criterion", "size", "subset_seed", "init_seed", "iteration", "t", "metric", "layer",
                 "value"]


def typed_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` in :data:`TABLE_COLUMNS` order with the table's column types (``layer`` nullable for
    global metrics); an aggregate's ``status`` column (the run's training status) is kept, last."""
    has_status = "status" in frame.columns
    columns = TABLE_COLUMNS + (["status"] if has_status else [])
    return frame[columns].astype({**({"status": "string"} if has_status else {}), "dataset": "string",
                                  "criterion": "string", "size": "int64", "subset_seed": "int64",
                                  "init_seed": "int64", "iteration": "int64", "t": "float64", "metric": "string",
                                  "layer": "Int64", "value": "float64"})


#: Metrics with a null ``layer`` / with a layer index (see the module docstring for their ranges).
GLOBAL_METRICS = ("loss", "accuracy", "grad_norm", "sharpness_hessian", "sharpness_G", "sharpness_H", "EK2",
                  "rho_K", "EDeltaL2")
LAYER_METRICS = ("EK2_layer", "chi2", "r_chi", "EJ2", "r_DeltaJ", "Pi_chi", "P_chi", "Pi_J", "P_DeltaJ")
#: Every metric name of the table, in the order they are written.
METRICS = ("loss", "accuracy", "grad_norm", "sharpness_hessian", "sharpness_G", "sharpness_H", "EK2", "rho_K",
           "EK2_layer", "chi2", "r_chi", "EJ2", "r_DeltaJ", "Pi_chi", "P_chi", "Pi_J", "P_DeltaJ", "EDeltaL2")

#: ``sharpness_*`` metric → curvature operator.
SHARPNESS_OPERATORS = {"sharpness_hessian": HessianOperator, "sharpness_G": GaussNewtonOperator,
                       "sharpness_H": ResidualHessianOperator}


@dataclass
class MetricSettings:
    """How the metrics of one set of weights are computed (eigensolver and Jacobian-norm tolerances, chunking, device)."""

    num_eigenvalues: int = option(1, "top eigenvalues computed per matrix (λ₁ is reported)")
    eig_tol: float = option(1e-8, "eigensolver residual tolerance, relative to |λ₁| (Hessian, G, H)")
    eig_method: str = option("auto", "eigensolver; auto: lanczos on a CPU, krylov on a GPU", choices=EIG_METHODS)
    eig_max_iterations: int = option(300, "eigensolver iteration limit per matrix")
    eig_seed: int = option(0, "seed of the eigensolver's start block")
    jacobian_tol: float = option(1e-10, "batched Lanczos tolerance for ‖∂x̂ⁱ⁺¹/∂x̂ⁱ‖² (relative residual)")
    jacobian_steps: int = option(24, "Krylov basis size per Lanczos cycle of the Jacobian norms")
    jacobian_max_restarts: int = option(100, "Lanczos restarts allowed per Jacobian norm")
    chunk_size: int = option(512, "samples per chunk of the curvature products (memory against speed)")
    device: str = option("auto", "torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:N")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "MetricSettings":
        return config_from_dict(cls, values, "metric")

    def validate(self) -> None:
        for name in ("num_eigenvalues", "eig_max_iterations", "jacobian_steps", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"analysis config '{name}' must be a positive integer, got {value!r}")
        for name in ("eig_seed", "jacobian_max_restarts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"analysis config '{name}' must be a non-negative integer, got {value!r}")
        for name in ("eig_tol", "jacobian_tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"analysis config '{name}' must be a positive number, got {value!r}")
        if self.eig_method not in ("auto", "krylov", "lanczos", "lobpcg"):
            raise ConfigError(f"analysis config 'eig_method' must be auto, krylov, lanczos or lobpcg, "
                              f"got {self.eig_method!r}")


def analyze_snapshot(model, criterion, X: torch.Tensor, y: torch.Tensor, config: MetricSettings,
                     warm: dict[str, torch.Tensor] | None = None, generator: torch.Generator | None = None
                     ) -> tuple[list[tuple[str, int | None, float]], dict[str, torch.Tensor], dict[str, Any]]:
    """All metrics of one set of weights: ``(rows of (metric, layer, value), warm starts, diagnostics)``."""
    warm = dict(warm or {})
    diagnostics: dict[str, Any] = {}
    rows: list[tuple[str, int | None, float]] = []
    method = resolve_eig_method(config.eig_method, X.device)

    hessian = HessianOperator(model, criterion, X, y, chunk_size=config.chunk_size)
    result = hessian.loss_and_gradient()
    rows += [("loss", None, result.loss), ("accuracy", None, result.accuracy),
             ("grad_norm", None, float(result.gradient.norm()))]

    sharpness = {}
    for metric, operator_class in SHARPNESS_OPERATORS.items():
        operator = hessian if operator_class is HessianOperator else operator_class(
            model, criterion, X, y, chunk_size=config.chunk_size)
        eig = top_eigenpairs(operator, config.num_eigenvalues, initial=warm.get(metric), tol=config.eig_tol,
                             method=method, max_iterations=config.eig_max_iterations, generator=generator)
        warm[metric] = eig.block
        sharpness[metric] = float(eig.eigenvalues[0])
        diagnostics[metric] = {"eigenvalues": eig.eigenvalues.tolist(), "residuals": eig.residual_norms.tolist(),
                               "products": eig.matvecs, "converged": bool(eig.converged)}
        if not eig.converged:
            log.warning("%s: eigensolver did not converge (max residual %.3g, tolerance %.3g relative to "
                        "|lambda_1| = %.3g)", metric, float(eig.residual_norms.max()), config.eig_tol,
                        abs(sharpness[metric]))
        rows.append((metric, None, sharpness[metric]))

    decomposition = layerwise_decomposition(model, criterion, X, y, chunk_size=config.chunk_size,
                                            tol=config.jacobian_tol, steps=config.jacobian_steps,
                                            max_restarts=config.jacobian_max_restarts, seed=config.eig_seed)
    diagnostics["layerwise_jacobians"] = decomposition.solver
    if decomposition.solver["unconverged"]:
        log.warning("%d per-sample layerwise Jacobian norms did not reach the tolerance %.1e (max relative "
                    "residual %.3g)", decomposition.solver["unconverged"], config.jacobian_tol,
                    decomposition.solver["max_relative_residual"])
    rows.append(("EK2", None, decomposition.EK2))
    rows.append(("rho_K", None, sharpness["sharpness_G"] / decomposition.EK2 if decomposition.EK2 else math.nan))
    for name in LAYER_METRICS:  # each is a Decomposition attribute indexed by layer − 1
        for i, value in enumerate(getattr(decomposition, name), start=1):
            rows.append((name, i, value))
    rows.append(("EDeltaL2", None, decomposition.EDeltaL2))
    return rows, warm, diagnostics


