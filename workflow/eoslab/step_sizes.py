"""Step-size schemes, the Armijo line search and the maximal stable step size (thesis §3.3, §4.1).

Schemes of §3.3 (gradient descent ``θ_{t+1} = θ_t − η_t ∇L(θ_t)``, per layer ``i`` in the
layerwise ones):

* :class:`ConstantStep` — a fixed ``η``;
* :class:`InverseInitialSharpness` — ``η_t = 1/λ_0`` (the sharpness at initialisation);
* :class:`InverseSharpness` — ``η_t = 1/λ_t`` (the current sharpness; Cohen et al.'s heuristic);
* :class:`LayerwiseInverseSharpness` — layer ``i`` steps by ``1/(c λ_{i,t})`` with ``λ_{i,t}``
  the sharpness of its block (``c = 1``: Figure 3.8; ``c = 2``: Figure 3.9);
* :class:`ArmijoLineSearch` — one global backtracking (Armijo) step per iteration, the full-batch
  case of the stochastic line search of Vaswani et al. (2019) that the thesis uses ("LS").

Algorithm 2 (§4.1, Figure 4.1) — :func:`maximal_step_sizes`.  For each of ``R`` runs: start from
``η = η_0``; train a *freshly initialised* model for ``T`` iterations (the algorithm's input
says "epochs", its loop and §4.2 "iterations"; they coincide for full-batch gradient descent —
see :func:`horizon_iterations`); if its loss is NaN or ±inf at some iteration the run ends with
that ``η`` (the first step size that diverged — Algorithm 2
returns the ``η`` of the diverging trial, not the last stable one), else ``η ← β η`` and repeat.
The result is the mean of the ``R`` values.  Trial ``k`` of run ``r`` uses ``η_0 β^k`` and an
initialisation (and, for mini-batches, a shuffling) drawn from seeds derived from
``(seed, r, k)`` only, so the trials are independent and are evaluated many at once — a block of
consecutive trials of every unfinished run in one vectorised training (:class:`DivergenceTrials`)
— with the same result as the sequential loop.  (Up to rounding: batched products of different
sizes may round differently, which can flip a trial that sits exactly at the edge of overflow, so
two block sizes agree on all but such borderline trials.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

# --------------------------------------------------------------------------------------------
# Step-size schemes (§3.3)


class StepSizeScheme:
    """A rule giving the step size of every layer at iteration ``t``.

    ``needs_full`` / ``needs_layers``: whether :meth:`step_sizes` reads the full sharpness
    ``λ_t`` / the layer sharpnesses ``λ_{i,t}`` (so callers measure only what is needed).
    """

    name = ""
    needs_full = False
    needs_layers = False

    def step_sizes(self, iteration: int, depth: int, full: float | None = None,
                   layers: Sequence[float] | None = None) -> list[float]:
        raise NotImplementedError

    @staticmethod
    def _inverse(value: float, what: str) -> float:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"the step size 1/{what} is undefined: {what} = {value!r} (expected a positive number)")
        return 1.0 / value


@dataclass
class ConstantStep(StepSizeScheme):
    """``η_t = η`` for every layer."""

    lr: float
    name = "constant"

    def __post_init__(self):
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"a constant step size must be positive, got {self.lr!r}")

    def step_sizes(self, iteration, depth, full=None, layers=None):
        return [self.lr] * depth


@dataclass
class InverseInitialSharpness(StepSizeScheme):
    """``η_t = 1/λ_0``: the inverse of the sharpness at the first iteration it is asked for."""

    name = "inverse_initial_sharpness"
    needs_full = True  # only at t = 0; callers may skip it afterwards (see needs_full_at)
    initial: float | None = field(default=None)

    def needs_full_at(self, iteration: int) -> bool:
        return self.initial is None

    def step_sizes(self, iteration, depth, full=None, layers=None):
        if self.initial is None:
            if full is None:
                raise ValueError("1/λ_0 needs the sharpness at the first iteration")
            self.initial = self._inverse(full, "λ_0")
        return [self.initial] * depth


class InverseSharpness(StepSizeScheme):
    """``η_t = 1/λ_t`` for every layer."""

    name = "inverse_sharpness"
    needs_full = True

    def step_sizes(self, iteration, depth, full=None, layers=None):
        return [self._inverse(full, "λ_t")] * depth


@dataclass
class LayerwiseInverseSharpness(StepSizeScheme):
    """Layer ``i`` steps by ``1/(c λ_{i,t})`` (``c = 1``: Figure 3.8, ``c = 2``: Figure 3.9)."""

    scale: float = 1.0
    name = "layerwise_inverse_sharpness"
    needs_layers = True

    def __post_init__(self):
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"the layerwise scale c must be positive, got {self.scale!r}")

    def step_sizes(self, iteration, depth, full=None, layers=None):
        if layers is None or len(layers) != depth:
            raise ValueError(f"1/(c λ_i,t) needs the sharpness of each of the {depth} layers, got {layers!r}")
        return [self._inverse(self.scale * value, f"(c·λ_{i},t)") for i, value in enumerate(layers, start=1)]


@dataclass
class ArmijoResult:
    """The accepted step ``η``, the loss there and how many trial points were evaluated."""

    lr: float
    loss: float
    evaluations: int
    satisfied: bool  # False: max_backtracks reached without meeting the condition


def armijo_backtracking(loss_at: Callable[[float], float], loss: float, grad_norm_sq: float, start: float, *,
                        c: float = 0.1, beta: float = 0.9, max_backtracks: int = 100) -> ArmijoResult:
    """Backtrack ``η ← β η`` from ``start`` until ``L(θ − η g) ≤ L(θ) − c η ‖g‖²`` (Armijo).

    ``loss_at(η)`` evaluates ``L(θ − η g)``; ``loss`` is ``L(θ)``, ``grad_norm_sq`` is ``‖g‖²``.
    A NaN/inf trial loss counts as not satisfying the condition.  After ``max_backtracks``
    unsuccessful reductions the last (smallest) ``η`` is returned with ``satisfied=False``.
    """
    if not (0 < c < 1 and 0 < beta < 1):
        raise ValueError(f"Armijo needs 0 < c < 1 and 0 < beta < 1, got c={c}, beta={beta}")
    if not start > 0:
        raise ValueError(f"the line search's first step must be positive, got {start}")
    lr = float(start)
    for evaluation in range(1, max_backtracks + 2):
        trial = float(loss_at(lr))
        if math.isfinite(trial) and trial <= loss - c * lr * grad_norm_sq:
            return ArmijoResult(lr, trial, evaluation, True)
        if evaluation == max_backtracks + 1:
            return ArmijoResult(lr, trial, evaluation, False)
        lr *= beta
    raise AssertionError("unreachable")


@dataclass
class ArmijoLineSearch(StepSizeScheme):
    """Armijo backtracking with the step reset of Vaswani et al. (2019), full batch.

    Each iteration starts from the previous accepted step times ``γ^{b/n}`` (one batch per
    epoch here, so ``γ``; ``initial`` at the first iteration) and backtracks by ``β`` until the
    Armijo condition with constant ``c`` holds.  Defaults are that paper's: ``c = 0.1``,
    ``β = 0.9``, ``γ = 2``, ``η_init = 1``.
    """

    c: float = 0.1
    beta: float = 0.9
    gamma: float = 2.0
    initial: float = 1.0
    max_backtracks: int = 100
    name = "armijo"
    previous: float | None = field(default=None)

    def search(self, loss_at: Callable[[float], float], loss: float, grad_norm_sq: float) -> ArmijoResult:
        start = self.initial if self.previous is None else self.previous * self.gamma
        result = armijo_backtracking(loss_at, loss, grad_norm_sq, start, c=self.c, beta=self.beta,
                                     max_backtracks=self.max_backtracks)
        self.previous = result.lr
        return result


def make_scheme(spec: dict) -> StepSizeScheme:
    """A scheme from a config entry ``{scheme: constant|inverse_initial_sharpness|inverse_sharpness|
    layerwise_inverse_sharpness|armijo, ...its parameters}``."""
    kind = spec.get("scheme")
    options = {k: v for k, v in spec.items() if k not in ("scheme", "label")}
    classes = {"constant": ConstantStep, "inverse_initial_sharpness": InverseInitialSharpness,
               "inverse_sharpness": InverseSharpness, "layerwise_inverse_sharpness": LayerwiseInverseSharpness,
               "armijo": ArmijoLineSearch}
    if kind not in classes:
        raise ValueError(f"step-size scheme must be one of {sorted(classes)}, got {kind!r}")
    try:
        return classes[kind](**options)
    except TypeError as error:
        raise ValueError(f"bad options {options} for step-size scheme {kind!r}: {error}") from error


# --------------------------------------------------------------------------------------------
# Algorithm 2 (§4.1): the maximal step size before divergence


def trial_step_size(eta0: float, beta: float, trial: int | np.ndarray) -> float | np.ndarray:
    """``η_0 β^k``: the step size of trial ``k`` (``k = 0`` is the first) of Algorithm 2."""
    return eta0 * np.power(beta, trial)


def trial_seed(seed: int, run: int, trial: int, stream: int = 0) -> int:
    """A 32-bit seed for the initialisation (``stream = 0``) or shuffling (``stream = 1``) of trial
    ``trial`` of run ``run``: ``SeedSequence([seed, run, trial, stream])``."""
    return int(np.random.SeedSequence([seed, run, trial, stream]).generate_state(1)[0])


@dataclass
class MaximalStepSizes:
    """Algorithm 2's result: per run the first diverging ``η`` and how many trials it took."""

    step_sizes: np.ndarray   # (R,) η_i
    trials: np.ndarray       # (R,) number of trials run (the last one diverged)
    eta0: float
    beta: float

    @property
    def mean(self) -> float:
        """``η_avg = mean{η_i}`` (Algorithm 2's return value)."""
        return float(np.mean(self.step_sizes))

    @property
    def std(self) -> float:
        """Sample standard deviation of the ``η_i`` (ddof = 1; 0 for one run)."""
        return float(np.std(self.step_sizes, ddof=1)) if len(self.step_sizes) > 1 else 0.0


DivergenceOracle = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def maximal_step_sizes(diverges: DivergenceOracle, runs: int, *, eta0: float, beta: float, block: int = 64,
                       max_trials: int = 100_000, progress: Callable[[int], None] | None = None) -> MaximalStepSizes:
    """Algorithm 2 for ``runs`` runs.

    ``diverges(etas, run_ids, trial_ids)`` trains one fresh model per entry (trial ``k`` of run
    ``r`` with step size ``etas``) and returns a bool array: did its loss become NaN/inf within
    the horizon.  Each round submits the next ``block`` trials of every unfinished run at once;
    a run ends at its first diverging trial.  A run that has not diverged after ``max_trials``
    trials raises ``RuntimeError`` (``η`` would grow without bound).  ``progress(n)`` is called
    with the number of trials of each round.
    """
    if not (eta0 > 0 and beta > 1):
        raise ValueError(f"Algorithm 2 needs η_0 > 0 and β > 1, got η_0={eta0}, β={beta}")
    if runs < 1 or block < 1:
        raise ValueError(f"Algorithm 2 needs runs >= 1 and block >= 1, got runs={runs}, block={block}")
    next_trial = np.zeros(runs, dtype=np.int64)
    first_diverged = np.full(runs, -1, dtype=np.int64)
    while (first_diverged < 0).any():
        pending = np.flatnonzero(first_diverged < 0)
        if int(next_trial[pending].min()) >= max_trials:
            stuck = [int(r) for r in pending]
            raise RuntimeError(f"Algorithm 2: runs {stuck} did not diverge within {max_trials} trials "
                               f"(η up to {trial_step_size(eta0, beta, max_trials - 1):.6g}); raise max_trials")
        run_ids = np.repeat(pending, block)
        trial_ids = (next_trial[pending][:, None] + np.arange(block)[None, :]).reshape(-1)
        keep = trial_ids < max_trials
        run_ids, trial_ids = run_ids[keep], trial_ids[keep]
        outcome = np.asarray(diverges(trial_step_size(eta0, beta, trial_ids), run_ids, trial_ids), dtype=bool)
        if outcome.shape != run_ids.shape:
            raise ValueError(f"the divergence oracle returned shape {outcome.shape}, expected {run_ids.shape}")
        for run in pending:
            mine = run_ids == run
            hits = trial_ids[mine][outcome[mine]]
            if hits.size:
                first_diverged[run] = int(hits.min())
            else:
                next_trial[run] += block
        if progress is not None:
            progress(int(run_ids.size))
    return MaximalStepSizes(step_sizes=trial_step_size(eta0, beta, first_diverged).astype(np.float64),
                            trials=first_diverged + 1, eta0=float(eta0), beta=float(beta))


# --------------------------------------------------------------------------------------------
# Many MLPs trained at once: the trials of Algorithm 2


def torch_default_parameters(widths: Sequence[int], seed: int) -> list[torch.Tensor]:
    """The parameters ``[W_1, b_1, …, W_L, b_L]`` (float64) that
    ``eoslab.models.build_model({..., "init": "torch-default", "init_seed": seed})`` gives an MLP of
    these layer sizes: PyTorch's ``nn.Linear`` rule, ``U(−1/√fan_in, 1/√fan_in)`` for weights (its
    Kaiming-uniform with ``a = √5``) and biases, drawn in float32 in layer order from a generator
    seeded ``seed`` — bit-identical (tested), ~20× faster than building the module."""
    generator = torch.Generator().manual_seed(int(seed))
    gain = math.sqrt(2.0 / (1 + 5))  # torch.nn.init.calculate_gain("leaky_relu", √5)
    parameters = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
        weight = torch.empty(fan_out, fan_in).uniform_(-bound, bound, generator=generator)
        bias_bound = 1.0 / math.sqrt(fan_in)
        bias = torch.empty(fan_out).uniform_(-bias_bound, bias_bound, generator=generator)
        parameters += [weight.to(torch.float64), bias.to(torch.float64)]
    return parameters


def horizon_iterations(T: int, unit: str, num_samples: int, batch_size: int | None) -> int:
    """Algorithm 2's horizon ``T`` as a number of steps: ``T`` itself for ``unit="iterations"``
    (the loop ``for j = 1..T: perform a step``), ``T · ceil(n / b)`` for ``unit="epochs"``."""
    if unit == "iterations":
        return int(T)
    if unit == "epochs":
        per_epoch = 1 if batch_size is None or batch_size >= num_samples else math.ceil(num_samples / batch_size)
        return int(T) * per_epoch
    raise ValueError(f"horizon unit must be 'iterations' or 'epochs', got {unit!r}")


ACTIVATION_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "elu": torch.nn.functional.elu,
}


class DivergenceTrials:
    """A divergence oracle for :func:`maximal_step_sizes`: many MLPs trained by (S)GD at once.

    Every trial is an :class:`eoslab.models.MLP` with layer sizes ``widths``, activation
    ``activation`` and PyTorch-default initialisation from :func:`trial_seed` ``(seed, r, k, 0)``,
    trained on ``(X, Y)`` — shared by all runs (``(n, d)`` and ``(n, o)``), or one data set per
    run ``r`` (``(R, n, d)`` and ``(R, n, o)``, run ``r`` uses ``X[r]``) — with the mean-squared error ``scale · mean_{samples, outputs}(z − y)²``
    (``torch.nn.MSELoss`` for ``scale = 1``) by mini-batch gradient descent with its own constant
    step size, for ``iterations`` steps (Algorithm 2's ``T``) in batches of ``batch_size``
    (``None``: full batch; otherwise each epoch — ``ceil(n / batch_size)`` steps, the last batch
    possibly smaller — uses a fresh permutation drawn from the seed ``(seed, r, k, 1)``).
    :func:`horizon_iterations` converts a horizon in epochs.
    A trial diverges when the loss computed at some iteration — of the mini-batch that iteration
    uses — is NaN or ±inf.  The parameters of all trials are stacked (``(M, out, in)`` weights),
    so one batched forward/backward pass serves every trial; trials that diverged are dropped from
    the stack as it goes.
    """

    def __init__(self, widths: Sequence[int], activation: str, X: torch.Tensor, Y: torch.Tensor, *, iterations: int,
                 batch_size: int | None = None, seed: int = 0, scale: float = 1.0,
                 dtype: torch.dtype = torch.float64, max_models: int = 4096):
        if activation not in ACTIVATION_FUNCTIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATION_FUNCTIONS)}, got {activation!r}")
        if X.ndim == 2 and Y.ndim == 2:
            X, Y = X.unsqueeze(0), Y.unsqueeze(0)
            self.shared_data = True
        elif X.ndim == 3 and Y.ndim == 3:
            self.shared_data = False
        else:
            raise ValueError(f"X and Y must be (n, d) and (n, o), or (R, n, d) and (R, n, o); got {tuple(X.shape)}, "
                             f"{tuple(Y.shape)}")
        if X.shape[:2] != Y.shape[:2]:
            raise ValueError(f"X {tuple(X.shape)} and Y {tuple(Y.shape)} disagree on the runs or samples")
        if X.shape[2] != widths[0] or Y.shape[2] != widths[-1]:
            raise ValueError(f"layer sizes {list(widths)} do not fit inputs of dimension {X.shape[2]} and "
                             f"outputs of dimension {Y.shape[2]}")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if batch_size is not None and not 1 <= batch_size:
            raise ValueError(f"batch_size must be >= 1 or None (full batch), got {batch_size}")
        self.widths = list(widths)
        self.activation = ACTIVATION_FUNCTIONS[activation]
        self.X = X.to(dtype)
        self.Y = Y.to(dtype)
        self.n = X.shape[1]
        self.iterations = int(iterations)
        self.batch_size = None if batch_size is None or batch_size >= self.n else int(batch_size)
        self.seed = int(seed)
        self.scale = float(scale)
        self.dtype = dtype
        self.max_models = int(max_models)
        self.steps_per_epoch = 1 if self.batch_size is None else math.ceil(self.n / self.batch_size)
        self.models_trained = 0
        #: (run, trial) → the 0-based iteration whose loss was NaN/inf, for every diverged trial so far
        self.divergences: dict[tuple[int, int], int] = {}

    def __call__(self, etas: np.ndarray, run_ids: np.ndarray, trial_ids: np.ndarray) -> np.ndarray:
        """The oracle of :func:`maximal_step_sizes`: did each trial diverge."""
        out = np.zeros(len(etas), dtype=bool)
        for start in range(0, len(etas), self.max_models):
            part = slice(start, start + self.max_models)
            outcome = self.train(etas[part], run_ids[part], trial_ids[part])
            out[part] = outcome.diverged
            for r, k, at in zip(run_ids[part], trial_ids[part], outcome.diverged_at):
                if at >= 0:
                    self.divergences[(int(r), int(k))] = int(at)
        return out

    def initial_parameters(self, run: int, trial: int) -> list[torch.Tensor]:
        """``[W_1, b_1, …]`` of trial ``trial`` of run ``run`` before training (float64)."""
        return torch_default_parameters(self.widths, trial_seed(self.seed, int(run), int(trial), 0))

    def shuffling_generator(self, run: int, trial: int) -> torch.Generator:
        """The generator whose ``torch.randperm(n)`` calls order each epoch of a mini-batch trial."""
        return torch.Generator().manual_seed(trial_seed(self.seed, int(run), int(trial), 1))

    def _forward(self, params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        h = x
        layers = len(params) // 2
        for layer in range(layers):
            W, b = params[2 * layer], params[2 * layer + 1]
            h = torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2))
            if layer < layers - 1:
                h = self.activation(h)
        return h

    def train(self, etas, run_ids, trial_ids) -> TrialOutcome:
        """Train the trials ``(η, run, trial)`` side by side; see :class:`TrialOutcome`."""
        etas, run_ids, trial_ids = (np.asarray(a).reshape(-1) for a in (etas, run_ids, trial_ids))
        M = len(etas)
        if not (len(run_ids) == len(trial_ids) == M):
            raise ValueError(f"etas, run_ids and trial_ids must have the same length, got {M}, {len(run_ids)}, "
                             f"{len(trial_ids)}")
        if not self.shared_data and M and int(run_ids.max()) >= self.X.shape[0]:
            raise ValueError(f"run {int(run_ids.max())} has no data set (X holds data sets of {self.X.shape[0]} runs)")
        stacks = [torch.stack(tensors) for tensors in
                  zip(*(self.initial_parameters(r, k) for r, k in zip(run_ids, trial_ids)))]
        params = [p.to(self.dtype).requires_grad_(True) for p in stacks]
        final = [torch.full_like(p, float("nan")) for p in stacks]
        lr = torch.as_tensor(etas, dtype=self.dtype)
        active = torch.arange(M)                    # index (into the trials) of each model in the stack
        diverged_at = np.full(M, -1, dtype=np.int64)
        data_of = torch.zeros(M, dtype=torch.long) if self.shared_data else torch.as_tensor(run_ids, dtype=torch.long)
        generators = ([self.shuffling_generator(r, k) for r, k in zip(run_ids, trial_ids)]
                      if self.batch_size is not None else None)
        order = None
        x = y = None
        self.models_trained += M
        for step in range(self.iterations):
            if active.numel() == 0:
                break
            sets = data_of[active]
            if self.batch_size is None:
                if x is None or x.shape[0] != active.numel():
                    x, y = self.X[sets], self.Y[sets]
            else:
                position = step % self.steps_per_epoch
                if position == 0:  # a new epoch: a fresh permutation for every model
                    order = torch.stack([torch.randperm(self.n, generator=generators[int(i)]) for i in active])
                index = order[:, position * self.batch_size:(position + 1) * self.batch_size]
                x, y = self.X[sets[:, None], index], self.Y[sets[:, None], index]
            losses = self.scale * (self._forward(params, x) - y).pow(2).mean(dim=(1, 2))   # one loss per model
            grads = torch.autograd.grad(losses.sum(), params)  # the models are independent: per-model gradients
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.sub_(g * lr.view(-1, *([1] * (p.ndim - 1))))
            bad = ~torch.isfinite(losses.detach())
            if bool(bad.any()):
                diverged_at[active[bad].numpy()] = step
                keep = ~bad
                active, lr = active[keep], lr[keep]
                if order is not None:
                    order = order[keep]
                params = [p.detach()[keep].requires_grad_(True) for p in params]
                if self.batch_size is None:
                    x = y = None
        with torch.no_grad():
            for f, p in zip(final, params):
                f[active] = p.detach().to(f.dtype)
        return TrialOutcome(diverged=diverged_at >= 0, diverged_at=diverged_at, parameters=final)


@dataclass
class TrialOutcome:
    """What :meth:`DivergenceTrials.train` found for each trial.

    ``diverged`` (M,) bool; ``diverged_at`` (M,) the 0-based iteration whose loss was NaN/inf
    (−1: none); ``parameters`` ``[W_1, b_1, …]`` stacked ``(M, …)`` (float64) after the ``T``
    steps, NaN for the trials that diverged.
    """

    diverged: np.ndarray
    diverged_at: np.ndarray
    parameters: list[torch.Tensor]
