"""The paper's layerwise decomposition of ``E‖K‖²_max`` (Eqs. 3–8) from one forward pass.

Notation (Section 2.2, ``L`` linear layers, ``L = 6`` in the paper).  Layer
``i`` has weight ``Aⁱ`` and bias ``bⁱ``, input ``x^{i−1}`` (``x⁰`` is the data
point), pre-activation ``x̂ⁱ = Aⁱ x^{i−1} + bⁱ``, activation ``xⁱ = σ(x̂ⁱ)`` for
``i < L`` and output ``f = x̂ᴸ``.  Per sample:

* ``Jᵢ = ∂f/∂x̂ⁱ`` (``O × nᵢ``), the pre-activation Jacobians: ``J_L = I`` and
  ``Jᵢ = J_{i+1} Mᵢ`` with the **layerwise Jacobian**
  ``Mᵢ = ∂x̂^{i+1}/∂x̂ⁱ = A^{i+1} diag(σ′(x̂ⁱ))`` (``n_{i+1} × nᵢ``, ``i = 1 … L−1``).
  The paper writes ``σ′(x_kⁱ)``; the chain rule needs ``σ′(x̂_kⁱ)``.
* ``aᵢ = 1 + ‖x^{i−1}‖²``, ``Δⁱ = √aᵢ · R Jᵢ`` (``Δᴸ = √a_L · R``), and
  ``KⁱKⁱᵀ = ΔⁱΔⁱᵀ`` (Eq. 4 and the identity below it), so
  ``‖Kⁱ‖² = ‖Δⁱ‖² = aᵢ · sᵢ`` with ``sᵢ = λ₁(R Jᵢ Jᵢᵀ Rᵀ)``, an ``O × O`` eigenvalue.
* ``KKᵀ = Σᵢ KⁱKⁱᵀ = Σᵢ aᵢ R Jᵢ Jᵢᵀ Rᵀ`` (Eq. 4) gives ``‖K‖²`` from one more ``O × O``
  eigenvalue: the ``O × P`` parameter Jacobian is never formed.
* ``χⁱ = √(aᵢ / a_{i+1})`` for ``i = 1 … L−1`` (Eq. 5), so that ``Δⁱ = χⁱ Δ^{i+1} Mᵢ``
  and ``Δⁱ/χⁱ = Δ^{i+1}Mᵢ = √a_{i+1} R Jᵢ``: ``‖Δ^{i+1}Mᵢ‖² = a_{i+1} sᵢ``.
* ``‖Mᵢ‖² = λ₁(diag(dᵢ) (A^{i+1})ᵀA^{i+1} diag(dᵢ))`` with ``dᵢ = σ′(x̂ⁱ)``: the Gram
  ``(A^{i+1})ᵀA^{i+1}`` is shared by all samples, so a batched Lanczos iteration
  (:func:`eoslab.eigensolvers.batched_top_eigenvalues`) needs one ``(b × nᵢ) @ (nᵢ × nᵢ)``
  product per step for a chunk of ``b`` samples.  When ``n_{i+1}`` is small (the
  output layer) the ``n_{i+1} × n_{i+1}`` Gram ``A diag(dᵢ²) Aᵀ`` is formed and
  diagonalised directly.

Networks.  Everything above needs only the linear layers in data-flow order and one elementwise
activation ``σᵢ`` between layers ``i`` and ``i+1``, read by :func:`eoslab.adapters.layer_stack`
from the project's :class:`eoslab.models.MLP` (unchanged results, to the bit) or from any
``nn.Sequential`` of ``nn.Linear`` layers and elementwise activations: the widths ``nᵢ`` may
differ, ``σᵢ`` may differ per layer, and a layer without bias has ``aᵢ = ‖x^{i−1}‖²`` (the ``1``
in ``aᵢ`` is the bias's column of ``∂f/∂θⁱ``).  The public entry point is :func:`eoslab.decompose`.

Expectations are over the training set ``T``.  With the alignment ratio
``r(M₁, M₂) = E‖M₁M₂‖² / (E‖M₁‖² · E‖M₂‖²)``:

* Eq. 6, for ``i = 1 … L−1``:
  ``E‖Δⁱ‖² = E(χⁱ)² · E‖Δ^{i+1}‖² · E‖Mᵢ‖² · r(Δ^{i+1}, Mᵢ) · r(χⁱI, Δⁱ/χⁱ)`` with
  ``r(Δ^{i+1}, Mᵢ) = E‖Δ^{i+1}Mᵢ‖² / (E‖Δ^{i+1}‖² E‖Mᵢ‖²)`` and
  ``r(χⁱI, Δⁱ/χⁱ) = E‖Δⁱ‖² / (E(χⁱ)² E‖Δ^{i+1}Mᵢ‖²)``.
* Eq. 7, for ``k = 1 … L−1``: ``E‖Δᵏ‖² = Π_χᵏ · P_{χ,Δ/χ}ᵏ · Π_Jᵏ · P_{Δ,J}ᵏ · E‖Δᴸ‖²``
  where **every product runs over i = k … L−1** (the paper's ``Π_χᵏ`` printed with
  upper limit ``L`` would need a ``χᴸ``, which does not exist).  The product
  telescopes, so the identity holds to rounding error by construction of the
  ratios; what it checks is that the components are assembled consistently.
* Eq. 3: ``ρ(K) = λ₁(G) / E‖K‖²`` (``λ₁(G)`` comes from the curvature engine).
* Eq. 8: ``E‖K¹‖² − Σ_{i≥2} E‖Kⁱ‖² ≤ E‖K‖² ≤ Σᵢ E‖Kⁱ‖²``.

Per-sample values are accumulated as sums over chunks of samples; memory is
``O(chunk · O · width · L)`` for the Jacobians plus ``O(chunk · steps · width)``
for the Lanczos bases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import jvp

from .adapters import LayerStack, layer_stack
from .criteria import Criterion
from .eigensolvers import batched_top_eigenvalues

#: Below this output width of Mᵢ the Gram ``A diag(d²) Aᵀ`` is diagonalised directly.
DIRECT_GRAM_MAX = 64


@dataclass
class ForwardRecord:
    """One forward pass, kept layer by layer (lists indexed from layer 1 at position 0)."""

    inputs: list[torch.Tensor]       # x^{i−1}, i = 1..L, each (N, n_{i−1})
    preactivations: list[torch.Tensor]  # x̂^i, i = 1..L (x̂^L = f)
    derivatives: list[torch.Tensor]  # σ′(x̂^i), i = 1..L−1

    @property
    def output(self) -> torch.Tensor:
        return self.preactivations[-1]


def forward_record(model: nn.Module | LayerStack, x: torch.Tensor) -> ForwardRecord:
    """Run the MLP on ``x`` keeping every layer's input, pre-activation and ``σ′``."""
    layers = layer_stack(model)
    inputs, preactivations, derivatives = [], [], []
    h = x
    for i, linear in enumerate(layers.linears):
        inputs.append(h)
        pre = linear(h)
        preactivations.append(pre)
        if i < layers.depth - 1:
            # σ is elementwise, so its Jacobian-vector product with ones is σ′(x̂) entrywise.
            h, derivative = jvp(layers.activations[i], (pre,), (torch.ones_like(pre),))
            derivatives.append(derivative)
    return ForwardRecord(inputs, preactivations, derivatives)


def preactivation_jacobians(model: nn.Module | LayerStack, record: ForwardRecord) -> list[torch.Tensor]:
    """``Jᵢ = ∂f/∂x̂ⁱ`` per sample, ``i = 1..L``, each ``(N, O, nᵢ)`` (backward recursion)."""
    layers = layer_stack(model)
    out = record.output
    N, O = out.shape
    J = torch.eye(O, dtype=out.dtype, device=out.device).expand(N, O, O)
    jacobians = [J]
    for i in range(layers.depth - 1, 0, -1):  # layer i = L−1 .. 1 (0-based i−1)
        weight = layers.linears[i].weight     # A^{i+1}
        J = torch.matmul(J, weight) * record.derivatives[i - 1].unsqueeze(1)
        jacobians.append(J)
    return jacobians[::-1]


def layerwise_jacobians(model: nn.Module | LayerStack, record: ForwardRecord, layer: int) -> torch.Tensor:
    """``Mᵢ = ∂x̂^{i+1}/∂x̂ⁱ = A^{i+1} diag(σ′(x̂ⁱ))`` per sample, ``(N, n_{i+1}, nᵢ)``.

    Materialised only for tests and small layers; the analysis uses its Gram.
    """
    weight = layer_stack(model).linears[layer].weight
    return weight.unsqueeze(0) * record.derivatives[layer - 1].unsqueeze(1)


def top_eigenvalue_psd(M: torch.Tensor) -> torch.Tensor:
    """``λ₁`` of each symmetric ``(…, m, m)`` matrix (clamped at 0: all ours are PSD)."""
    return torch.linalg.eigvalsh(0.5 * (M + M.transpose(-1, -2)))[..., -1].clamp_min(0)


@torch.no_grad()
def layerwise_jacobian_norms(weight: torch.Tensor, derivative: torch.Tensor, *, gram: torch.Tensor | None = None,
                             tol: float = 1e-10, steps: int = 24, max_restarts: int = 100,
                             generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    """``‖A diag(d_b)‖²_max`` for every row ``d_b`` of ``derivative`` ``(b, n)``; ``weight`` is ``(m, n)``.

    Returns the squared norms ``(b,)`` and solver statistics.
    """
    m, n = weight.shape
    if m <= DIRECT_GRAM_MAX or n <= DIRECT_GRAM_MAX:
        if m <= n:
            grams = torch.einsum("in,bn,jn->bij", weight, derivative.square(), weight)
        else:
            grams = derivative.unsqueeze(2) * (weight.T @ weight) * derivative.unsqueeze(1)
        return top_eigenvalue_psd(grams), {"products": 0, "restarts": 0, "unconverged": 0,
                                           "max_relative_residual": 0.0}
    C = weight.T @ weight if gram is None else gram

    def apply(V, index):
        d = derivative[index]
        return d * ((d * V) @ C)

    start = torch.randn(derivative.shape, dtype=derivative.dtype, generator=generator).to(derivative.device)
    result = batched_top_eigenvalues(apply, start, tol=tol, steps=steps, max_restarts=max_restarts,
                                     generator=generator)
    relative = result.residual_norms / result.values.abs().clamp_min(torch.finfo(result.values.dtype).tiny)
    relative = torch.where(result.values == 0, torch.zeros_like(relative), relative)
    stats = {"products": result.products, "restarts": result.restarts,
             "unconverged": int((~result.converged).sum()), "max_relative_residual": float(relative.max())}
    return result.values.clamp_min(0), stats


@dataclass
class SampleSums:
    """Sums over samples of the per-sample quantities (divide by ``count`` for expectations).

    Lists are indexed by layer ``i`` at position ``i − 1``.
    """

    depth: int
    count: int = 0
    K2: float = 0.0                                       # Σ ‖K‖²
    Delta2: list[float] = field(init=False)               # Σ ‖Δⁱ‖² = Σ ‖Kⁱ‖², i = 1..L
    chi2: list[float] = field(init=False)                 # Σ (χⁱ)², i = 1..L−1
    DeltaJ2: list[float] = field(init=False)              # Σ ‖Δ^{i+1}Mᵢ‖², i = 1..L−1
    J2: list[float] = field(init=False)                   # Σ ‖Mᵢ‖², i = 1..L−1
    solver: dict = field(default_factory=lambda: {"products": 0, "unconverged": 0, "max_relative_residual": 0.0})

    def __post_init__(self):
        L = self.depth
        self.Delta2 = [0.0] * L
        self.chi2, self.DeltaJ2, self.J2 = [0.0] * (L - 1), [0.0] * (L - 1), [0.0] * (L - 1)


@torch.no_grad()
def accumulate_chunk(sums: SampleSums, model: nn.Module | LayerStack, criterion: Criterion, x: torch.Tensor,
                     y: torch.Tensor, *, grams: list[torch.Tensor] | None = None, tol: float = 1e-10,
                     steps: int = 24, max_restarts: int = 100, generator: torch.Generator | None = None) -> None:
    """Add one chunk of samples' ``‖K‖², ‖Δⁱ‖², (χⁱ)², ‖Δ^{i+1}Mᵢ‖², ‖Mᵢ‖²`` to ``sums``."""
    layers = layer_stack(model)
    L = layers.depth
    record = forward_record(layers, x)
    jacobians = preactivation_jacobians(layers, record)
    R = criterion.output_hessian_sqrt(record.output, y)                      # (b, O, O)
    # a_i = 1 + ‖x^{i−1}‖² (the 1 is the bias bⁱ's share of ∂f/∂θⁱ; a layer without bias has a_i = ‖x^{i−1}‖²)
    a = [1.0 + h.square().sum(dim=1) if layers.has_bias(i + 1) else h.square().sum(dim=1)
         for i, h in enumerate(record.inputs)]
    KKt = None
    s = []
    for i in range(L):
        RJ = torch.matmul(R, jacobians[i])                                   # (b, O, n_i)
        gram = torch.matmul(RJ, RJ.transpose(1, 2))                          # R Jᵢ Jᵢᵀ Rᵀ
        s.append(top_eigenvalue_psd(gram))
        term = a[i].reshape(-1, 1, 1) * gram
        KKt = term if KKt is None else KKt + term
    sums.K2 += float(top_eigenvalue_psd(KKt).sum())
    for i in range(L):
        sums.Delta2[i] += float((a[i] * s[i]).sum())
    for i in range(L - 1):
        sums.chi2[i] += float((a[i] / a[i + 1]).sum())
        sums.DeltaJ2[i] += float((a[i + 1] * s[i]).sum())
        weight = layers.linears[i + 1].weight
        norms, stats = layerwise_jacobian_norms(
            weight, record.derivatives[i], gram=None if grams is None else grams[i], tol=tol, steps=steps,
            max_restarts=max_restarts, generator=generator)
        sums.J2[i] += float(norms.sum())
        sums.solver["products"] += stats["products"]
        sums.solver["unconverged"] += stats["unconverged"]
        sums.solver["max_relative_residual"] = max(sums.solver["max_relative_residual"],
                                                   stats["max_relative_residual"])
    sums.count += x.shape[0]


@dataclass
class Decomposition:
    """Expectations and the components of Eqs. 3–7 (lists indexed by layer ``i`` at ``i − 1``)."""

    depth: int
    EK2: float
    EK2_layer: list[float]   # E‖Kⁱ‖² = E‖Δⁱ‖², i = 1..L
    chi2: list[float]        # E(χⁱ)², i = 1..L−1
    EDeltaJ2: list[float]    # E‖Δ^{i+1}Mᵢ‖², i = 1..L−1
    EJ2: list[float]         # E‖Mᵢ‖², i = 1..L−1
    r_chi: list[float]       # r(χⁱI, Δⁱ/χⁱ), i = 1..L−1
    r_DeltaJ: list[float]    # r(Δ^{i+1}, Mᵢ), i = 1..L−1
    Pi_chi: list[float]      # Π_χᵏ, k = 1..L−1
    P_chi: list[float]       # P_{χ,Δ/χ}ᵏ
    Pi_J: list[float]        # Π_Jᵏ
    P_DeltaJ: list[float]    # P_{Δ,J}ᵏ
    solver: dict

    @property
    def EDeltaL2(self) -> float:
        """``E‖Δᴸ‖²`` (the last factor of Eq. 7)."""
        return self.EK2_layer[-1]

    def eq7_product(self, k: int) -> float:
        """The right-hand side of Eq. 7 for layer ``k`` (1-based, ``k ≤ L−1``)."""
        j = k - 1
        return self.Pi_chi[j] * self.P_chi[j] * self.Pi_J[j] * self.P_DeltaJ[j] * self.EDeltaL2


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator != 0 else float("nan")


def decompose(sums: SampleSums) -> Decomposition:
    """Turn sums over samples into the expectations, ratios and products of Eqs. 3–7."""
    if sums.count == 0:
        raise ValueError("no samples were accumulated")
    L, n = sums.depth, sums.count
    EK2_layer = [v / n for v in sums.Delta2]
    chi2 = [v / n for v in sums.chi2]
    EDeltaJ2 = [v / n for v in sums.DeltaJ2]
    EJ2 = [v / n for v in sums.J2]
    r_DeltaJ = [_ratio(EDeltaJ2[i], EK2_layer[i + 1] * EJ2[i]) for i in range(L - 1)]
    r_chi = [_ratio(EK2_layer[i], chi2[i] * EDeltaJ2[i]) for i in range(L - 1)]

    def suffix_products(values: list[float]) -> list[float]:
        out, running = [0.0] * len(values), 1.0
        for i in range(len(values) - 1, -1, -1):
            running *= values[i]
            out[i] = running
        return out

    return Decomposition(depth=L, EK2=sums.K2 / n, EK2_layer=EK2_layer, chi2=chi2, EDeltaJ2=EDeltaJ2, EJ2=EJ2,
                         r_chi=r_chi, r_DeltaJ=r_DeltaJ, Pi_chi=suffix_products(chi2),
                         P_chi=suffix_products(r_chi), Pi_J=suffix_products(EJ2),
                         P_DeltaJ=suffix_products(r_DeltaJ), solver=dict(sums.solver))


def layerwise_decomposition(model: nn.Module | LayerStack, criterion: Criterion, X: torch.Tensor, y: torch.Tensor,
                            *, chunk_size: int = 512, tol: float = 1e-10, steps: int = 24, max_restarts: int = 100,
                            seed: int = 0) -> Decomposition:
    """Eqs. 3–7 over the data set ``(X, y)``, chunked over samples (see the module docstring).

    ``model``: the project's :class:`eoslab.models.MLP` or any network :func:`eoslab.adapters.layer_stack`
    reads (an ``nn.Sequential`` of ``nn.Linear`` layers and elementwise activations).
    """
    layers = layer_stack(model)
    generator = torch.Generator().manual_seed(seed)
    sums = SampleSums(layers.depth)
    with torch.no_grad():
        grams = [layers.linears[i + 1].weight.T @ layers.linears[i + 1].weight for i in range(layers.depth - 1)]
    for start in range(0, X.shape[0], chunk_size):
        accumulate_chunk(sums, layers, criterion, X[start:start + chunk_size], y[start:start + chunk_size],
                         grams=grams, tol=tol, steps=steps, max_restarts=max_restarts, generator=generator)
    return decompose(sums)
