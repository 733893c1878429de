"""Layerwise sharpness and gradient norms along a training trajectory (thesis §3.2).

Definition (thesis §3.2).  The sharpness ``λ_i`` of layer ``i`` is the largest eigenvalue of the
Hessian of the training loss with respect to that layer's parameters ``(W_i, b_i)``, the other
parameters held fixed — the diagonal block ``𝓗_{ii} = ∂²L/∂θ_i²`` of the full Hessian.  The
sharpness of the whole network, ``λ`` ("Full" in the thesis's legends), is the largest eigenvalue
of the full Hessian.  By Cauchy interlacing, ``λ ≥ max_i λ_i``.

:class:`LayerwiseSharpness` measures ``λ`` and every ``λ_i`` at the model's current parameters,
one :class:`eoslab.curvature.HessianOperator` per block (``parameters=model.layer_parameter_names(i)``
gives the block).  Each solve is warm-started from the previous call's Ritz block, so along a
gradient-descent trajectory — where consecutive Hessians differ little — a call costs a few
Hessian–vector products per block instead of the hundred power iterations of the thesis's
PyHessian set-up (``maxIter = 100``, ``top_n = 1``).  Values are the *algebraically* largest
eigenvalues (PyHessian's power iteration finds the largest in magnitude; the two agree whenever
the top eigenvalue is positive and dominant, which is the case for every block of these MSE
networks we have seen, and a block's Gauss–Newton part is positive semi-definite).

:class:`MLPHessian` applies the Hessian (or a block of it) of an :class:`eoslab.models.MLP`'s mean
training loss by hand — Pearlmutter's R-operator pushed through the forward and the backward pass,
with the forward pass, the back-propagated errors and the activation derivatives cached per
parameter point — so that a product costs a few small matrix products instead of an autograd
double-backward (about 15–30× faster for the thesis's 3-layer, 10-unit networks on a CPU, where
autograd's per-call overhead dominates).  It is exact (tested against dense autograd Hessians and
:class:`eoslab.curvature.HessianOperator`) and is what :class:`LayerwiseSharpness` uses unless told
``engine="autograd"``.

:func:`layer_gradient_norms` splits the flat gradient ``∇_θ L`` into the layers' parts and returns
``‖∇_{θ_i} L‖`` — the per-layer gradient norms the thesis plots beside the sharpness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .criteria import Criterion
from .curvature import HessianOperator, LossGradient, ParameterSpace
from .eigensolvers import top_eigenpairs


def _activation_derivatives(name: str, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``σ(z), σ'(z), σ''(z)`` for the activations of :data:`eoslab.models.ACTIVATIONS` (ReLU: the
    derivative autograd uses, ``1[z > 0]``, and ``σ'' = 0``; ELU with α = 1)."""
    if name == "linear":
        one = torch.ones_like(z)
        return z, one, torch.zeros_like(z)
    if name == "relu":
        return torch.relu(z), (z > 0).to(z.dtype), torch.zeros_like(z)
    if name == "tanh":
        t = torch.tanh(z)
        d1 = 1 - t * t
        return t, d1, -2 * t * d1
    if name == "sigmoid":
        s = torch.sigmoid(z)
        d1 = s * (1 - s)
        return s, d1, d1 * (1 - 2 * s)
    if name == "elu":
        negative = torch.exp(torch.clamp(z, max=0))
        d1 = torch.where(z > 0, torch.ones_like(z), negative)
        return F.elu(z), d1, torch.where(z > 0, torch.zeros_like(z), negative)
    raise ValueError(f"no hand-written derivatives for activation {name!r}")


class MLPHessian:
    """``𝓗_θ L`` (or its block over ``parameters``) of an MLP's mean training loss, applied by hand.

    ``L(θ) = (1/n) Σ_r l(f(x_r; θ), y_r)`` for any :class:`eoslab.criteria.Criterion` ``l``.
    With ``z_l = a_{l−1} W_lᵀ + b_l``, ``a_l = σ(z_l)`` (``a_0 = X``, ``f = z_L``) and the
    back-propagated errors ``δ_L = (1/n) ∂l/∂f``, ``δ_{l−1} = (δ_l W_l) ⊙ σ'(z_{l−1})``, the gradient is
    ``∂L/∂W_l = δ_lᵀ a_{l−1}``, ``∂L/∂b_l = Σ_r δ_l``.  For a direction ``V = (V_{W_l}, V_{b_l})`` the
    R-operator ``R{·} = d/dε (·)(θ + εV)`` gives ``𝓗V = (R{∂L/∂W_l}, R{∂L/∂b_l})`` from

        R{z_l} = R{a_{l−1}} W_lᵀ + a_{l−1} V_{W_l}ᵀ + V_{b_l},      R{a_l} = σ'(z_l) ⊙ R{z_l},
        R{δ_L} = (1/n) (H_f l) R{f},
        R{δ_{l−1}} = (R{δ_l} W_l + δ_l V_{W_l}) ⊙ σ'(z_{l−1}) + (δ_l W_l) ⊙ σ''(z_{l−1}) ⊙ R{z_{l−1}},
        R{∂L/∂W_l} = R{δ_l}ᵀ a_{l−1} + δ_lᵀ R{a_{l−1}},              R{∂L/∂b_l} = Σ_r R{δ_l}.

    A block (``parameters`` = some layers' ``W_l, b_l``, e.g. ``model.layer_parameter_names(i)``)
    sets ``V = 0`` outside it and keeps only its rows: the passes start and stop at the lowest
    selected layer.  ``k`` directions go through together (a leading batch dimension).  The
    forward quantities are computed once per :meth:`refresh` (memory ``O(n · Σ widths)``).
    Same interface as :class:`eoslab.curvature.HessianOperator` (``matmat``, ``shape``,
    ``loss_and_gradient``, ``refresh``, ``num_matvecs``, ``to_dense``).
    """

    def __init__(self, model, criterion: Criterion, X: torch.Tensor, Y: torch.Tensor,
                 parameters: Sequence[str] | None = None):
        if X.shape[0] != Y.shape[0] or X.shape[0] == 0:
            raise ValueError(f"X has {X.shape[0]} samples and Y {Y.shape[0]}; expected the same, non-zero number")
        self.model, self.criterion, self.X, self.Y = model, criterion, X, Y
        self.activation = model.activation_name
        self.space = ParameterSpace(model, parameters)
        self.depth = model.depth
        owner = {name: i for i in range(self.depth) for name in model.layer_parameter_names(i + 1)}
        unknown = [name for name in self.space.names if name not in owner]
        if unknown:
            raise KeyError(f"parameters {unknown} are not weights or biases of the MLP's layers")
        self.selected = {}
        for name in self.space.names:
            kind = "weight" if name.endswith(".weight") else "bias"
            self.selected.setdefault(owner[name], {})[kind] = name
        self.lowest = min(self.selected)
        self.num_matvecs = 0
        self.refresh()

    @property
    def shape(self) -> tuple[int, int]:
        return (self.space.numel, self.space.numel)

    @property
    def dtype(self) -> torch.dtype:
        return self.X.dtype

    @property
    def device(self) -> torch.device:
        return self.X.device

    def refresh(self) -> None:
        """Re-read the parameters and redo the forward and backward pass at them."""
        with torch.no_grad():
            self.W = [linear.weight.detach() for linear in self.model.linears]
            self.b = [linear.bias.detach() for linear in self.model.linears]
            self.inputs, self.d1, self.d2 = [self.X], [], []
            h = self.X
            for l in range(self.depth):
                z = torch.addmm(self.b[l], h, self.W[l].T)
                if l < self.depth - 1:
                    h, d1, d2 = _activation_derivatives(self.activation, z)
                    self.inputs.append(h)
                    self.d1.append(d1)
                    self.d2.append(d2)
            self.output = z
        with torch.enable_grad():
            f = self.output.detach().requires_grad_(True)
            total = self.criterion.loss(f, self.Y).sum()
            (dl_df,) = torch.autograd.grad(total, f)
        n = self.X.shape[0]
        self.loss = float(total.detach()) / n
        self.accuracy = float(self.criterion.accuracy(self.output, self.Y).mean())
        with torch.no_grad():
            self.deltas = [None] * self.depth
            self.pre = [None] * self.depth   # pre[l] = δ_{l+1} W_{l+1}, the error before ⊙ σ'(z_l)
            delta = dl_df / n
            for l in range(self.depth - 1, -1, -1):
                self.deltas[l] = delta
                if l > 0:
                    self.pre[l - 1] = delta @ self.W[l]
                    delta = self.pre[l - 1] * self.d1[l - 1]

    def loss_and_gradient(self) -> LossGradient:
        """Training loss, accuracy and the flat gradient over :attr:`space` at the refreshed point."""
        pieces = {}
        for l, names in self.selected.items():
            if "weight" in names:
                pieces[names["weight"]] = self.deltas[l].T @ self.inputs[l]
            if "bias" in names:
                pieces[names["bias"]] = self.deltas[l].sum(dim=0)
        return LossGradient(self.loss, self.accuracy, self.space.flatten(pieces))

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        if V.ndim != 2 or V.shape[0] != self.space.numel:
            raise ValueError(f"expected a block of shape ({self.space.numel}, k), got {tuple(V.shape)}")
        V = V.to(dtype=self.dtype, device=self.device)
        k = V.shape[1]
        tangent = self.space.columns_to_batched(V)
        n = self.X.shape[0]

        def direction(l, kind):
            name = self.selected.get(l, {}).get(kind)
            return None if name is None else tangent[name]

        Rz, Ra = [None] * self.depth, [None] * (self.depth + 1)   # Ra[l]: R{input of layer l}
        with torch.no_grad():
            for l in range(self.lowest, self.depth):
                r = None if Ra[l] is None else Ra[l] @ self.W[l].T
                VW, Vb = direction(l, "weight"), direction(l, "bias")
                if VW is not None:
                    term = torch.matmul(self.inputs[l], VW.transpose(1, 2))
                    r = term if r is None else r + term
                if Vb is not None:
                    r = (Vb.unsqueeze(1).expand(k, n, -1).clone() if r is None else r + Vb.unsqueeze(1))
                if r is None:  # only a bias-free layer selected below: nothing moves yet
                    r = torch.zeros(k, n, self.W[l].shape[0], dtype=self.dtype, device=self.device)
                Rz[l] = r
                if l < self.depth - 1:
                    Ra[l + 1] = self.d1[l] * r
            Rdelta = self.criterion.output_hessian_matmul(self.output, self.Y, Rz[-1]) / n
            pieces = {}
            for l in range(self.depth - 1, self.lowest - 1, -1):
                names = self.selected.get(l, {})
                if "weight" in names:
                    gW = Rdelta.transpose(1, 2) @ self.inputs[l]
                    if Ra[l] is not None:
                        gW = gW + torch.matmul(self.deltas[l].T, Ra[l])
                    pieces[names["weight"]] = gW
                if "bias" in names:
                    pieces[names["bias"]] = Rdelta.sum(dim=1)
                if l > self.lowest:
                    e = Rdelta @ self.W[l]
                    VW = direction(l, "weight")
                    if VW is not None:
                        e = e + torch.matmul(self.deltas[l], VW)
                    Rdelta = e * self.d1[l - 1] + self.pre[l - 1] * self.d2[l - 1] * Rz[l - 1]
        self.num_matvecs += k
        return self.space.batched_to_columns(pieces)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matmat(v.reshape(-1, 1)).reshape(-1)

    def __matmul__(self, V: torch.Tensor) -> torch.Tensor:
        return self.matvec(V) if V.ndim == 1 else self.matmat(V)

    def to_dense(self) -> torch.Tensor:
        """The full ``P × P`` block (only for tests and tiny models)."""
        return self.matmat(torch.eye(self.space.numel, dtype=self.dtype, device=self.device))


def layer_parameter_groups(model) -> list[list[str]]:
    """The parameter names ``[W_i, b_i]`` of every layer ``i = 1..L`` of an :class:`eoslab.models.MLP`."""
    return [model.layer_parameter_names(i) for i in range(1, model.depth + 1)]


def layer_gradient_norms(gradient: torch.Tensor, space: ParameterSpace,
                         groups: Sequence[Sequence[str]]) -> list[float]:
    """``‖∇_{θ_i} L‖`` for each group of parameter names, from the flat ``gradient`` over ``space``."""
    if gradient.shape != (space.numel,):
        raise ValueError(f"gradient must be flat over the {space.numel} parameters of the space, "
                         f"got shape {tuple(gradient.shape)}")
    pieces = space.unflatten(gradient)
    norms = []
    for group in groups:
        missing = [name for name in group if name not in pieces]
        if missing:
            raise KeyError(f"parameters {missing} are not in the gradient's space {space.names}")
        norms.append(float(torch.sqrt(sum(pieces[name].pow(2).sum() for name in group))))
    return norms


@dataclass
class SharpnessMeasurement:
    """``λ`` of the full Hessian and ``λ_i`` of each layer block, with what the solves cost."""

    full: float
    layers: list[float]
    matvecs: int                 # Hessian–vector products of all solves of this call
    max_relative_residual: float  # max over blocks of ‖Hv − λv‖ / |λ|
    converged: bool              # every block met the tolerance


class LayerwiseSharpness:
    """Warm-started top eigenvalues of the full Hessian and of each layer's diagonal block.

    ``model`` is an :class:`eoslab.models.MLP`, ``criterion`` its per-sample loss and ``X``, ``Y``
    the training set (the loss is the mean over it, as everywhere in eoslab).  Call
    :meth:`measure` after every parameter update; the operators re-read the parameters.
    ``full=False`` skips ``λ``, ``layers=False`` the ``λ_i``.  ``engine``: ``"mlp"``
    (:class:`MLPHessian`, the default) or ``"autograd"`` (:class:`eoslab.curvature.HessianOperator`,
    chunked by ``chunk_size``; any model).  ``tol`` is the residual
    tolerance relative to ``|λ|`` of :func:`eoslab.eigensolvers.top_eigenpairs`; ``method`` its
    solver and ``guard`` its extra block columns — the defaults (block Krylov, no guard columns,
    i.e. Lanczos restarted from the previous Ritz vector) took the fewest products along a
    gradient-descent trajectory of the thesis's networks (about 4 per block per iteration at
    ``tol = 1e-3``, against 9 with two guard columns and 22 for ARPACK, which restarts from one
    vector); the random start vectors of the first call come from ``seed``.
    """

    def __init__(self, model, criterion: Criterion, X: torch.Tensor, Y: torch.Tensor, *, tol: float = 1e-4,
                 method: str = "krylov", max_iterations: int = 200, chunk_size: int | None = None,
                 seed: int = 0, full: bool = True, layers: bool = True, guard: int = 0,
                 max_basis: int | None = 20, engine: str = "mlp"):
        if not (full or layers):
            raise ValueError("LayerwiseSharpness needs full=True or layers=True (else there is nothing to measure)")
        self.model = model
        self.tol = float(tol)
        self.method = method
        self.max_iterations = int(max_iterations)
        self.guard = int(guard)
        self.max_basis = max_basis
        self.generator = torch.Generator().manual_seed(seed)
        self.groups = layer_parameter_groups(model)
        if engine == "mlp":
            def operator(names):
                return MLPHessian(model, criterion, X, Y, parameters=names)
        elif engine == "autograd":
            def operator(names):
                return HessianOperator(model, criterion, X, Y, parameters=names, chunk_size=chunk_size)
        else:
            raise ValueError(f"engine must be 'mlp' (hand-written products) or 'autograd', got {engine!r}")
        self.full = operator(None)
        self.blocks = []
        if full:
            self.blocks.append(("full", self.full))
        if layers:
            self.blocks += [(f"layer{i}", operator(names)) for i, names in enumerate(self.groups, start=1)]
        self._warm: dict[str, torch.Tensor] = {}
        self._refreshed_at: dict[int, torch.Tensor] = {}
        self.has_full, self.has_layers = full, layers

    @property
    def space(self) -> ParameterSpace:
        """The space of all parameters (the layout of :meth:`loss_and_gradient`'s gradient)."""
        return self.full.space

    def _refresh(self, operators) -> None:
        """Re-read the parameters into ``operators`` — those not already refreshed at these values."""
        point = torch.cat([p.detach().reshape(-1) for p in self.model.parameters()])
        for operator in operators:
            seen = self._refreshed_at.get(id(operator))
            if seen is None or not torch.equal(seen, point):
                operator.refresh()
                self._refreshed_at[id(operator)] = point

    def refresh(self, blocks=None) -> None:
        """Re-read the model's parameters (after an update) into the operators of ``blocks``
        (names ``full``, ``layer1`` …; default all); operators already at these values are skipped."""
        self._refresh([operator for name, operator in self.blocks if blocks is None or name in blocks])

    def loss_and_gradient(self) -> LossGradient:
        """Training loss and flat gradient ``∇_θ L`` at the current parameters (re-reads them)."""
        self._refresh([self.full])
        return self.full.loss_and_gradient()

    def gradient_norms(self, gradient: torch.Tensor) -> list[float]:
        """``‖∇_{θ_i} L‖`` of every layer from the flat gradient of :meth:`loss_and_gradient`."""
        return layer_gradient_norms(gradient, self.space, self.groups)

    def measure(self, full: bool | None = None, layers: bool | None = None) -> SharpnessMeasurement:
        """``λ`` and ``λ_1 … λ_L`` at the current parameters (warm-started from the last call).

        ``full`` / ``layers`` (default: as constructed) skip ``λ`` / the ``λ_i`` this time
        (reported as NaN); asking for a block the tracker was built without is an error."""
        full = self.has_full if full is None else full
        layers = self.has_layers if layers is None else layers
        if (full and not self.has_full) or (layers and not self.has_layers):
            raise ValueError("this LayerwiseSharpness was built without the blocks asked for")
        wanted = [name for name, _ in self.blocks if (full if name == "full" else layers)]
        self.refresh(wanted)
        values: dict[str, float] = {}
        matvecs, worst, converged = 0, 0.0, True
        for name, operator in self.blocks:
            if name not in wanted:
                continue
            result = top_eigenpairs(operator, 1, initial=self._warm.get(name), tol=self.tol, method=self.method,
                                    max_iterations=self.max_iterations, guard=self.guard, max_basis=self.max_basis,
                                    generator=self.generator)
            self._warm[name] = result.block
            value = float(result.eigenvalues[0])
            values[name] = value
            matvecs += result.matvecs
            worst = max(worst, float(result.residual_norms[0]) / max(abs(value), torch.finfo(torch.float64).tiny))
            converged = converged and result.converged
        nan = float("nan")
        layers = ([values.get(f"layer{i}", nan) for i in range(1, len(self.groups) + 1)] if self.has_layers else [])
        return SharpnessMeasurement(full=values.get("full", float("nan")), layers=layers, matvecs=matvecs,
                                    max_relative_residual=worst, converged=converged)
