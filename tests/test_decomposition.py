"""The layerwise decomposition (Eqs. 3–8) against brute force on tiny MLPs.

Brute force here means: the full parameter Jacobian ``∂f/∂θ`` from
``torch.func.jacrev``, the paper's symmetric square root ``R`` of ``H_z l``
from an eigendecomposition (not the closed form the package uses), ``K = R ∂f/∂θ``
split into layer blocks, pre-activation and layerwise Jacobians from autograd,
and operator norms from ``torch.linalg.svdvals``.
"""

from __future__ import annotations

import pytest
import torch
from torch.func import jacrev, vmap

from conftest import ACTIVATION_NAMES, CRITERION_NAMES, TinyProblem
from eoslab.decomposition import (DIRECT_GRAM_MAX, forward_record, layerwise_decomposition, layerwise_jacobian_norms,
                                  layerwise_jacobians, preactivation_jacobians)
from eoslab.eigensolvers import batched_top_eigenvalues


def symmetric_sqrt(H: torch.Tensor) -> torch.Tensor:
    """The unique PSD square root of each PSD matrix (the paper's R, via eigendecomposition)."""
    w, V = torch.linalg.eigh(H)
    return V @ torch.diag_embed(w.clamp_min(0).sqrt()) @ V.transpose(-1, -2)


def norm2(M: torch.Tensor) -> torch.Tensor:
    """Squared operator norms of a batch of matrices."""
    return torch.linalg.svdvals(M)[..., 0] ** 2


class BruteForce:
    """Every quantity of Eqs. 3–7 from explicit matrices, for a TinyProblem."""

    def __init__(self, p: TinyProblem):
        model, X, L = p.model, p.X, p.model.depth
        self.L = L
        with torch.no_grad():
            # Activations by hand: x^0 = X, x̂^i = A^i x^{i-1} + b^i, x^i = σ(x̂^i).
            inputs, pres = [], []
            h = X
            for i, linear in enumerate(model.linears):
                inputs.append(h)
                pre = h @ linear.weight.T + linear.bias
                pres.append(pre)
                h = model.activation(pre) if i < L - 1 else pre
        z = pres[-1]
        H = p.criterion.output_hessian(z, p.y)
        R = symmetric_sqrt(H)
        assert torch.allclose(R @ R, H, atol=1e-13)
        # K = R ∂f/∂θ and its layer blocks.
        Jtheta = p.dense_jacobian().detach()                                  # (N, O, P)
        K = R @ Jtheta
        offsets, start = [], 0
        for name, n in zip(p.space.names, p.space.numels):
            offsets.append((name, start, start + n))
            start += n
        blocks = []
        for i in range(1, L + 1):
            names = model.layer_parameter_names(i)
            cols = torch.cat([torch.arange(a, b) for name, a, b in offsets if name in names])
            blocks.append(K[:, :, cols])
        self.EK2 = float(norm2(K).mean())
        self.EK2_layer = [float(norm2(Ki).mean()) for Ki in blocks]
        N = X.shape[0]
        # λ₁(G) from the dense G and from the Gram matrix of the stacked K (Lemma 7.1).
        self.lambda_G_dense = float(torch.linalg.eigvalsh(p.dense_gauss_newton().detach())[-1])
        stacked = K.reshape(-1, K.shape[-1]) / N ** 0.5
        self.lambda_G_gram = float(torch.linalg.eigvalsh(stacked @ stacked.T)[-1])
        # Pre-activation Jacobians J_i = ∂f/∂x̂^i by autograd through the rest of the network.

        def rest(i):  # f as a function of x̂^i: x^i = σ(x̂^i), then layers i+1..L
            def f(h):
                out = h
                for j in range(i, L):
                    out = model.linears[j](model.activation(out))
                return out
            return f

        self.J = [vmap(jacrev(rest(i)))(pres[i - 1]).detach() for i in range(1, L + 1)]
        # Layerwise Jacobians M_i = ∂x̂^{i+1}/∂x̂^i by autograd.

        def step(i):
            return lambda h: model.linears[i](model.activation(h))

        self.M = [vmap(jacrev(step(i)))(pres[i - 1]).detach() for i in range(1, L)]
        a = [1 + (x ** 2).sum(dim=1) for x in inputs]
        Delta = [a[i].sqrt().reshape(-1, 1, 1) * (R @ self.J[i]) for i in range(L)]
        self.Delta_norm2 = [float(norm2(D).mean()) for D in Delta]
        self.chi2 = [float((a[i] / a[i + 1]).mean()) for i in range(L - 1)]
        self.EJ2 = [float(norm2(M).mean()) for M in self.M]
        self.EDeltaJ2 = [float(norm2(Delta[i + 1] @ self.M[i]).mean()) for i in range(L - 1)]
        self.r_DeltaJ = [self.EDeltaJ2[i] / (self.Delta_norm2[i + 1] * self.EJ2[i]) for i in range(L - 1)]
        chi = [(a[i] / a[i + 1]).sqrt() for i in range(L - 1)]
        self.r_chi = [float(norm2(Delta[i]).mean()) / (self.chi2[i] * float(
            norm2(Delta[i] / chi[i].reshape(-1, 1, 1)).mean())) for i in range(L - 1)]


CASES = [(act, crit, depth) for act in ACTIVATION_NAMES for crit in CRITERION_NAMES for depth in (2, 3, 4)
         if (ACTIVATION_NAMES.index(act) + depth) % 2 == 0 or act == "elu"]


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.mark.parametrize("activation,criterion,depth", CASES)
def test_decomposition_matches_brute_force(activation, criterion, depth):
    p = TinyProblem(activation=activation, criterion=criterion, depth=depth, width=6, n=13, d=5, o=4, seed=depth)
    brute = BruteForce(p)
    d = layerwise_decomposition(p.model, p.criterion, p.X, p.y, chunk_size=5)
    L = depth
    assert rel(d.EK2, brute.EK2) < 1e-10
    for i in range(L):
        assert rel(d.EK2_layer[i], brute.EK2_layer[i]) < 1e-10, i
        # K^i (K^i)^T = Δ^i (Δ^i)^T (Eq. 4 and the identity under it)
        assert rel(brute.Delta_norm2[i], brute.EK2_layer[i]) < 1e-10, i
    for i in range(L - 1):
        assert rel(d.chi2[i], brute.chi2[i]) < 1e-12
        assert rel(d.EJ2[i], brute.EJ2[i]) < 1e-10
        assert rel(d.EDeltaJ2[i], brute.EDeltaJ2[i]) < 1e-10
        assert rel(d.r_DeltaJ[i], brute.r_DeltaJ[i]) < 1e-10
        assert rel(d.r_chi[i], brute.r_chi[i]) < 1e-10
        # Eq. 6 with the brute-force components.
        eq6 = brute.chi2[i] * brute.Delta_norm2[i + 1] * brute.EJ2[i] * brute.r_DeltaJ[i] * brute.r_chi[i]
        assert rel(eq6, brute.Delta_norm2[i]) < 1e-10
    # Eq. 7 for every k: the five components multiply to E‖Δᵏ‖² = E‖Kᵏ‖².
    for k in range(1, L):
        assert rel(d.eq7_product(k), d.EK2_layer[k - 1]) < 1e-10
        assert rel(d.eq7_product(k), brute.EK2_layer[k - 1]) < 1e-10
    assert d.EDeltaL2 == d.EK2_layer[-1]
    # Eq. 8: triangle bounds.
    others = sum(d.EK2_layer[1:])
    assert d.EK2_layer[0] - others <= d.EK2 * (1 + 1e-12)
    assert d.EK2 <= (d.EK2_layer[0] + others) * (1 + 1e-12)
    # Lemma 7.2 with the brute-force λ₁(G), from the dense G and the Gram matrix.
    assert rel(brute.lambda_G_gram, brute.lambda_G_dense) < 1e-10
    rho = brute.lambda_G_dense / d.EK2
    assert 0 <= rho <= 1 + 1e-12


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_jacobians_match_autograd(activation):
    p = TinyProblem(activation=activation, depth=4, width=7, n=9, d=3, o=5, seed=2)
    brute = BruteForce(p)
    with torch.no_grad():
        record = forward_record(p.model, p.X)
        J = preactivation_jacobians(p.model, record)
        for i in range(4):
            torch.testing.assert_close(J[i], brute.J[i], rtol=1e-12, atol=1e-13)
        for i in range(1, 4):
            torch.testing.assert_close(layerwise_jacobians(p.model, record, i), brute.M[i - 1], rtol=1e-12,
                                       atol=1e-13)


@pytest.mark.parametrize("activation", ["elu", "relu", "tanh"])
@pytest.mark.parametrize("width", [8, DIRECT_GRAM_MAX + 16])
def test_layerwise_jacobian_norms_match_svdvals(activation, width):
    """Both paths (direct Gram for small layers, batched Lanczos for wide ones) against svdvals."""
    p = TinyProblem(activation=activation, depth=3, width=width, n=11, d=4, o=3, seed=1)
    with torch.no_grad():
        record = forward_record(p.model, p.X)
        for i in (1, 2):
            M = layerwise_jacobians(p.model, record, i)
            expected = norm2(M)
            got, stats = layerwise_jacobian_norms(p.model.linears[i].weight, record.derivatives[i - 1],
                                                  generator=torch.Generator().manual_seed(0))
            torch.testing.assert_close(got, expected, rtol=1e-11, atol=0)
            assert stats["unconverged"] == 0


def test_batched_top_eigenvalues_known_spectra(device):
    gen = torch.Generator().manual_seed(0)
    n, B = 50, 6
    Q = torch.linalg.qr(torch.randn(B, n, n, dtype=torch.float64, generator=gen))[0]
    spectra = torch.rand(B, n, dtype=torch.float64, generator=gen)
    spectra[0] = 0.0                       # zero matrix
    spectra[1, 5:] = 0.0                   # rank 5: the Krylov space becomes invariant early
    spectra[2, 0] = spectra[2].max() * 1.0000001  # nearly degenerate top pair
    spectra[3] -= 0.5                      # indefinite: algebraic, not magnitude, order
    A = (Q @ torch.diag_embed(spectra) @ Q.transpose(1, 2)).to(device)
    spectra = spectra.to(device)
    result = batched_top_eigenvalues(lambda V, idx: torch.einsum("bij,bj->bi", A[idx], V),
                                     torch.randn(B, n, dtype=torch.float64, generator=gen).to(device), tol=1e-11,
                                     steps=10, generator=gen)
    assert bool(result.converged.all())
    torch.testing.assert_close(result.values, spectra.max(dim=1).values, rtol=1e-12, atol=1e-14)
    assert result.products > 0


def test_decomposition_does_not_depend_on_chunking():
    p = TinyProblem(depth=3, width=DIRECT_GRAM_MAX + 4, n=10, d=3, o=3, seed=3)
    a = layerwise_decomposition(p.model, p.criterion, p.X, p.y, chunk_size=10)
    b = layerwise_decomposition(p.model, p.criterion, p.X, p.y, chunk_size=3)
    for x, y in zip(a.EK2_layer + a.EJ2 + a.P_DeltaJ, b.EK2_layer + b.EJ2 + b.P_DeltaJ):
        assert rel(x, y) < 1e-11
