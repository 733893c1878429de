"""Criteria ``l(z, y)`` with their output-space Hessians ``H_z l`` and square roots ``R``.

The training loss is ``L̃(θ) = E_{(x,y)~T} l(f(x,θ), y)`` (Section 2.1): every
criterion here returns the *per-sample* value, and callers average over samples.
Labels ``y`` are integer class indices; MSE compares against their one-hot code.

Square roots.  Every quantity of the paper that involves ``R`` — ``G = E(KᵀK)``
(Eq. 2), ``‖K‖_max``, ``‖Kⁱ‖_max = ‖Δⁱ‖_max`` (Eq. 4), the alignment ratios of
Eqs. 6–7 — is the top eigenvalue of ``(RM)ᵀ(RM) = Mᵀ(RᵀR)M = Mᵀ(H_z l)M`` for
some matrix ``M`` (``M = ∂f/∂θ``, ``∂f/∂x̂ⁱ``, ``∂f/∂x̂^{i+1} · ∂x̂^{i+1}/∂x̂ⁱ``,
...), or an expectation of such values.  Hence every ``R`` with
``RᵀR = H_z l`` gives the same numbers, and we are free to pick the cheapest
closed form instead of the paper's eigendecomposition-based symmetric root:

* cross-entropy, ``p = softmax(z)``, ``s = √p`` (a unit vector):
  ``H_z l = diag(p) − ppᵀ = diag(s)(I − ssᵀ)diag(s)``.  Since ``I − ssᵀ`` is an
  orthogonal projector, ``R = (I − ssᵀ)diag(s) = diag(s) − s pᵀ`` satisfies
  ``RᵀR = diag(s)(I − ssᵀ)²diag(s) = H_z l``.  This ``R`` is not symmetric (the
  symmetric root has no closed form); by the argument above that changes
  nothing the paper reports.
* MSE (see below): ``H_z l = (2/O) I`` and ``R = sqrt(2/O) I`` (symmetric).

MSE normalisation.  ``l(z, y) = (1/O) ‖z − e_y‖²`` with ``O`` the number of
outputs: the mean over output entries, which is what ``torch.nn.MSELoss``
computes and what the paper's PyTorch code most plausibly used.  It makes the
paper's 0.02 threshold a per-entry squared error.
"""

from __future__ import annotations

import abc

import torch
import torch.nn.functional as F


class Criterion(abc.ABC):
    """Interface: per-sample loss, output Hessian products and square root."""

    name: str = ""

    @abc.abstractmethod
    def loss(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample criterion ``l(z_n, y_n)``, shape ``(N,)``."""

    @abc.abstractmethod
    def output_hessian(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``H_z l`` per sample, shape ``(N, O, O)``."""

    @abc.abstractmethod
    def output_hessian_matmul(self, z: torch.Tensor, y: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``(H_z l) u`` for ``u`` of shape ``(..., N, O)`` without forming ``H_z l``."""

    @abc.abstractmethod
    def output_hessian_sqrt(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """A square root ``R`` with ``RᵀR = H_z l`` per sample, shape ``(N, O, O)``."""

    @staticmethod
    def accuracy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample 0/1 correctness of ``argmax z``."""
        return (z.argmax(dim=-1) == y).to(z.dtype)


class CrossEntropy(Criterion):
    """``l(z, y) = logsumexp(z) − z_y``; ``H_z l = diag(p) − ppᵀ`` with ``p = softmax(z)``."""

    name = "cross_entropy"

    def loss(self, z, y):
        return F.cross_entropy(z, y, reduction="none")

    def output_hessian(self, z, y):
        p = torch.softmax(z, dim=-1)
        return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)

    def output_hessian_matmul(self, z, y, u):
        p = torch.softmax(z, dim=-1)
        return p * u - p * (p * u).sum(dim=-1, keepdim=True)

    def output_hessian_sqrt(self, z, y):
        p = torch.softmax(z, dim=-1)
        s = p.sqrt()
        return torch.diag_embed(s) - s.unsqueeze(-1) * p.unsqueeze(-2)


class MeanSquaredError(Criterion):
    """``l(z, y) = (1/O)‖z − e_y‖²`` (mean over the ``O`` outputs); ``H_z l = (2/O) I``."""

    name = "mse"

    def loss(self, z, y):
        target = F.one_hot(y, z.shape[-1]).to(z.dtype)
        return (z - target).pow(2).mean(dim=-1)

    def output_hessian(self, z, y):
        n, o = z.shape
        eye = torch.eye(o, dtype=z.dtype, device=z.device)
        return (2.0 / o) * eye.expand(n, o, o).clone()

    def output_hessian_matmul(self, z, y, u):
        return (2.0 / z.shape[-1]) * u

    def output_hessian_sqrt(self, z, y):
        n, o = z.shape
        eye = torch.eye(o, dtype=z.dtype, device=z.device)
        return (2.0 / o) ** 0.5 * eye.expand(n, o, o).clone()


class SequenceCrossEntropy(Criterion):
    """Cross-entropy of a character model, averaged over the ``T`` positions of each sequence.

    ``z`` has shape ``(N, T, V)`` (logits for the next token at every position), ``y`` holds the
    ``(N, T)`` next-token indices, and the *per-sample* loss is
    ``l(z_n, y_n) = (1/T) Σ_t [logsumexp(z_{n,t}) − z_{n,t,y_{n,t}}]``, so the mean over samples is
    the mean over all ``N·T`` predictions (as in the Haiku language-model example that Long &
    Bartlett 2023, §3.1, trained).  Its output Hessian is block diagonal over positions,
    ``H_z l = (1/T) ⊕_t (diag(p_t) − p_t p_tᵀ)``; dense forms flatten ``(T, V)`` into
    ``O = T·V`` outputs.  Not in :data:`CRITERIA`: that registry lists the criteria of the MLP
    trainer (``eoslab train --criterion``), whose outputs are vectors.
    """

    name = "sequence_cross_entropy"

    @staticmethod
    def _check(z, y):
        if z.ndim != 3 or y.shape != z.shape[:2]:
            raise ValueError(f"sequence cross-entropy expects logits (N, T, V) and targets (N, T), "
                             f"got {tuple(z.shape)} and {tuple(y.shape)}")

    def loss(self, z, y):
        self._check(z, y)
        n, t, v = z.shape
        return F.cross_entropy(z.reshape(n * t, v), y.reshape(n * t), reduction="none").reshape(n, t).mean(dim=1)

    @staticmethod
    def accuracy(z, y):
        """Per-sample fraction of positions whose most likely next token is the target."""
        return (z.argmax(dim=-1) == y).to(z.dtype).mean(dim=-1)

    def output_hessian(self, z, y):
        self._check(z, y)
        n, t, v = z.shape
        blocks = CrossEntropy().output_hessian(z.reshape(n * t, v), y.reshape(n * t)).reshape(n, t, v, v) / t
        return torch.stack([torch.block_diag(*sample) for sample in blocks])

    def output_hessian_matmul(self, z, y, u):
        p = torch.softmax(z, dim=-1)
        return (p * u - p * (p * u).sum(dim=-1, keepdim=True)) / z.shape[-2]

    def output_hessian_sqrt(self, z, y):
        self._check(z, y)
        n, t, v = z.shape
        blocks = CrossEntropy().output_hessian_sqrt(z.reshape(n * t, v), y.reshape(n * t)).reshape(n, t, v, v)
        return torch.stack([torch.block_diag(*sample) for sample in blocks]) / t ** 0.5


class RegressionMSE(Criterion):
    """Real-valued regression: ``l(z, y) = s · (1/O)‖z − y‖²``, ``H_z l = (2s/O) I``.

    Targets ``y`` are real vectors of the output's shape ``(N, O)`` (not class indices).  With the
    scale ``s = 1`` the mean over samples of this per-sample loss is ``torch.nn.MSELoss()`` (the mean
    over samples *and* outputs), the loss of the layerwise-sharpness thesis (study
    ``layerwise_sharpness``, Table 3.1); ``s = 1/2`` gives the ½-scaled squared error.  There is no
    accuracy for regression: :meth:`accuracy` is NaN per sample.
    """

    name = "regression_mse"

    def __init__(self, scale: float = 1.0):
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"regression_mse scale must be a positive number, got {scale!r}")
        self.scale = float(scale)

    @staticmethod
    def _check(z, y):
        if y.shape != z.shape or not y.is_floating_point():
            raise ValueError(f"regression_mse expects real targets of the outputs' shape {tuple(z.shape)}, "
                             f"got {tuple(y.shape)} {y.dtype}")

    def loss(self, z, y):
        self._check(z, y)
        return self.scale * (z - y).pow(2).mean(dim=-1)

    def output_hessian(self, z, y):
        n, o = z.shape
        eye = torch.eye(o, dtype=z.dtype, device=z.device)
        return (2.0 * self.scale / o) * eye.expand(n, o, o).clone()

    def output_hessian_matmul(self, z, y, u):
        return (2.0 * self.scale / z.shape[-1]) * u

    def output_hessian_sqrt(self, z, y):
        n, o = z.shape
        eye = torch.eye(o, dtype=z.dtype, device=z.device)
        return (2.0 * self.scale / o) ** 0.5 * eye.expand(n, o, o).clone()

    @staticmethod
    def accuracy(z, y):
        """NaN per sample: regression has no accuracy."""
        return torch.full(z.shape[:1], float("nan"), dtype=z.dtype, device=z.device)


CRITERIA: dict[str, type[Criterion]] = {"cross_entropy": CrossEntropy, "mse": MeanSquaredError}

#: Criteria with real-valued targets (not choices of ``eoslab train``, whose data hold class labels).
REGRESSION_CRITERIA: dict[str, type[Criterion]] = {"regression_mse": RegressionMSE}

#: The paper's stopping thresholds on the training loss (Section 3).
PAPER_LOSS_THRESHOLDS = {"cross_entropy": 0.01, "mse": 0.02}


def get_criterion(name: str, **options) -> Criterion:
    """The criterion called ``name`` (classification or regression), built with ``options``
    (e.g. ``get_criterion("regression_mse", scale=0.5)``)."""
    known = {**CRITERIA, **REGRESSION_CRITERIA}
    if name not in known:
        raise ValueError(f"criterion must be one of {sorted(known)}, got {name!r}")
    return known[name](**options)
