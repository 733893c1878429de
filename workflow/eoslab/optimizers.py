"""Minibatch sampling, (stochastic) gradient descent and sharpness-aware minimisation.

The training loss ``ℓ(w)`` is the mean of a per-sample criterion over a set of samples — the
whole training set (full-batch GD and SAM, Long & Bartlett 2023, §3.1 for MNIST and CIFAR-10)
or one minibatch (SGD and minibatch SAM, their character model).  Everything here works on a
flat parameter vector ``w`` (:class:`eoslab.curvature.ParameterSpace` order) so that the steps
can be checked against closed forms on quadratics:

* :func:`gd_step`: ``w ← w − η ∇ℓ(w)``;
* :func:`sam_step`, Eq. 1: ``w ← w − η ∇ℓ(w + ρ ∇ℓ(w)/‖∇ℓ(w)‖)``.  Both gradients are of the
  same ``ℓ`` — for minibatch SAM, the same minibatch (the usual practical SAM, and the version
  the paper's language model used).  ``ρ = 0`` is gradient descent (one gradient, not two); a
  zero gradient has no direction, so its ascent step is taken as zero.

A *gradient function* maps ``w`` to a :class:`Evaluation` (loss, accuracy, gradient); an
:class:`Objective` makes one from a model, a criterion and samples.  :func:`minibatch_indices`
draws the samples of one stochastic step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, grad_and_value

from .criteria import Criterion
from .curvature import ParameterSpace


def minibatch_indices(num_samples: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """The samples of one stochastic step: ``batch_size`` distinct indices in ``0 … num_samples − 1``.

    A uniformly random subset drawn *without* replacement (every index at most once in a step),
    independently at every call, in the random order of ``torch.randperm`` (int64, on the CPU).
    The indices depend only on ``generator``'s state, so a generator seeded the same way gives
    the same sequence of minibatches.
    """
    for name, value in (("num_samples", num_samples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if batch_size > num_samples:
        raise ValueError(f"batch_size {batch_size} exceeds the {num_samples} samples it is drawn from "
                         f"(a minibatch holds each sample at most once)")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (an explicit seed), got {type(generator).__name__}")
    return torch.randperm(num_samples, generator=generator)[:batch_size]


@dataclass
class Evaluation:
    """``ℓ(w)``, the mean accuracy (NaN where it has no meaning) and ``∇ℓ(w)`` (flat)."""

    loss: float
    accuracy: float
    gradient: torch.Tensor


GradientFunction = Callable[[torch.Tensor], Evaluation]


class Objective:
    """``ℓ(w) = mean_n criterion(model(x_n; w), y_n)`` over given samples, as a function of flat ``w``.

    The model's buffers are held fixed; its parameters are replaced by ``w`` for each evaluation
    (``functional_call``), so evaluating never changes the model.  Samples are processed in chunks
    of ``chunk_size`` (gradients summed, then divided by the number of samples: exactly the mean).
    """

    def __init__(self, model: nn.Module, criterion: Criterion, chunk_size: int | None = None):
        self.model = model
        self.criterion = criterion
        self.space = ParameterSpace(model)
        self.chunk_size = chunk_size
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.buffers = {name: b.detach() for name, b in model.named_buffers()}

    def parameters(self) -> torch.Tensor:
        """The model's current parameters as one flat vector (a copy)."""
        return self.space.flatten(self.space.values(self.model)).clone()

    def evaluate(self, w: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> Evaluation:
        if X.shape[0] != y.shape[0] or X.shape[0] == 0:
            raise ValueError(f"need as many targets as samples (and at least one), got {X.shape[0]} and {y.shape[0]}")
        params = self.space.unflatten(w)
        step = self.chunk_size or X.shape[0]
        total_loss, total_correct, gradient = 0.0, 0.0, None
        for start in range(0, X.shape[0], step):
            x_chunk, y_chunk = X[start:start + step], y[start:start + step]

            def chunk_loss(p):
                z = functional_call(self.model, (p, self.buffers), (x_chunk,))
                return self.criterion.loss(z, y_chunk).sum(), z.detach()

            g, (loss, z) = grad_and_value(chunk_loss, has_aux=True)(params)
            total_loss += float(loss)
            total_correct += float(self.criterion.accuracy(z, y_chunk).sum())
            flat = self.space.flatten(g)
            gradient = flat if gradient is None else gradient.add_(flat)
        n = X.shape[0]
        return Evaluation(total_loss / n, total_correct / n, gradient.div_(n))

    def on(self, X: torch.Tensor, y: torch.Tensor) -> GradientFunction:
        """The gradient function of ``ℓ`` over the samples ``(X, y)`` (a minibatch or all of them)."""
        return lambda w: self.evaluate(w, X, y)


@dataclass
class Step:
    """One update ``w_t → w_{t+1}`` and what it saw.

    ``at_iterate`` is ``ℓ, ∇ℓ`` at ``w_t``; ``at_ascent`` at ``w_t + ρ ĝ`` (the gradient SAM
    steps along; the same object as ``at_iterate`` for ρ = 0); ``grad_norm = ‖∇ℓ(w_t)‖``.
    """

    parameters: torch.Tensor
    at_iterate: Evaluation
    at_ascent: Evaluation
    grad_norm: float


def ascent_point(w: torch.Tensor, gradient: torch.Tensor, rho: float) -> torch.Tensor:
    """``w + ρ g/‖g‖`` (Eq. 1); ``w`` itself when ``ρ = 0`` or ``g = 0``."""
    norm = gradient.norm()
    if rho == 0 or norm == 0:
        return w
    return w + (rho / norm) * gradient


def _check_rates(lr: float, rho: float = 0.0) -> None:
    if not lr > 0:
        raise ValueError(f"the step size η must be positive, got {lr!r}")
    if not rho >= 0:
        raise ValueError(f"the SAM radius ρ must be non-negative, got {rho!r}")


def gd_step(w: torch.Tensor, gradient_function: GradientFunction, lr: float) -> Step:
    """``w ← w − η ∇ℓ(w)``: gradient descent, or SGD when ``ℓ`` is a minibatch loss."""
    _check_rates(lr)
    here = gradient_function(w)
    return Step(w - lr * here.gradient, here, here, float(here.gradient.norm()))


def sam_step(w: torch.Tensor, gradient_function: GradientFunction, lr: float, rho: float) -> Step:
    """Eq. 1: ``w ← w − η ∇ℓ(w + ρ ∇ℓ(w)/‖∇ℓ(w)‖)``, both gradients of the same ``ℓ``."""
    _check_rates(lr, rho)
    if rho == 0:
        return gd_step(w, gradient_function, lr)
    here = gradient_function(w)
    uphill = gradient_function(ascent_point(w, here.gradient, rho))
    return Step(w - lr * uphill.gradient, here, uphill, float(here.gradient.norm()))
