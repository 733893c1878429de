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


CRITERIA: dict[str, type[Criterion]] = {"cross_entropy": CrossEntropy, "mse": MeanSquaredError}

#: The paper's stopping thresholds on the training loss (Section 3).
PAPER_LOSS_THRESHOLDS = {"cross_entropy": 0.01, "mse": 0.02}


def get_criterion(name: str) -> Criterion:
    if name not in CRITERIA:
        raise ValueError(f"criterion must be one of {sorted(CRITERIA)}, got {name!r}")
    return CRITERIA[name]()
