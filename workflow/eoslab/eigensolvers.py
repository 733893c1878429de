"""Top eigenpairs of symmetric operators given only block products ``A @ V``.

:func:`top_eigenpairs` is a locally optimal block preconditioned conjugate
gradient method (LOBPCG, Knyazev 2001 — the method the paper also cites) without
a preconditioner, in plain torch so it runs where the operator runs (CPU or
GPU).  It returns the ``k`` *algebraically* largest eigenpairs ordered
``λ_1 ≥ λ_2 ≥ … ≥ λ_k`` (an indefinite matrix such as ``H`` of Eq. 2 never has a
large negative eigenvalue reported as its top one), judges convergence on the
residuals ``‖A v_j − λ_j v_j‖ ≤ tol · max_j |λ_j|`` of the ``k`` wanted pairs,
warm-starts from previous eigenvectors, and reports iterations, products and
residuals.  A few extra "guard" columns (default 2) are carried in the block
because they speed up convergence of the ``k``-th pair; they are not returned.

Numerics.  Each iteration does a Rayleigh–Ritz projection on the span of
``[X, W, P]`` (current Ritz vectors, residuals of unconverged columns, previous
search directions).  The basis is orthonormalised implicitly: after scaling its
columns to unit norm we diagonalise its Gram matrix and drop directions whose
Gram eigenvalue is below ``n·eps`` of the largest (SVQB, Stathopoulos & Wu
2002), which keeps the method stable when directions become dependent near
convergence.  Products ``A S`` are carried along with ``S``, so each iteration
costs one product per *unconverged* column (soft locking) and no more.

Why LOBPCG (measured, see ``benchmarks/README.md``): with a warm start from the
previous training step it usually converges in 1–3 iterations, it needs only
block products (which our operators compute much faster per column than single
products), and it targets algebraic rather than magnitude order.

:func:`magnitude_subspace_iteration` reproduces the paper's Supplement 7.1
procedure instead: block power iteration with QR, which finds the eigenvalues
of largest *absolute value* and so occasionally reports a negative top
eigenvalue; :func:`negative_top_as_nan` applies the paper's rule of treating
such values as NaN and counts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

MatMat = Callable[[torch.Tensor], torch.Tensor]

#: Which eigenvalues count as "top": the algebraically largest, or those of largest |λ| (the paper's).
ORDERS = ("algebraic", "magnitude")


def _as_matmat(operator) -> MatMat:
    if callable(getattr(operator, "matmat", None)):
        return operator.matmat
    if isinstance(operator, torch.Tensor):
        return lambda V: operator @ V
    if callable(operator):
        return operator
    raise TypeError("operator must have .matmat, be a tensor, or be a callable V -> A @ V")


@dataclass
class EigenResult:
    """Top eigenpairs and how they were found.

    ``eigenvalues`` (k,), descending; ``eigenvectors`` (P, k), orthonormal
    columns; ``residual_norms`` (k,) = ``‖A v_j − λ_j v_j‖``; ``block`` (P, k+guard)
    is the full Ritz block to pass back as ``initial`` for a warm start.
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    residual_norms: torch.Tensor
    iterations: int
    matvecs: int
    converged: bool
    block: torch.Tensor = field(repr=False)


def _orthonormal_basis(S: torch.Tensor, AS: torch.Tensor | None = None, drop: float | None = None):
    """SVQB: orthonormalise the columns of ``S`` (dropping near-dependent directions).

    Returns ``(S B, A S B, B)`` where ``B`` maps coefficients; ``AS`` may be None.
    """
    norms = S.norm(dim=0)
    keep = norms > 0
    S, norms = S[:, keep], norms[keep]
    if AS is not None:
        AS = AS[:, keep]
    scale = 1.0 / norms
    gram = (S.T @ S) * scale[:, None] * scale[None, :]
    gram = 0.5 * (gram + gram.T)
    evals, evecs = torch.linalg.eigh(gram)
    eps = torch.finfo(S.dtype).eps if drop is None else drop
    good = evals > evals[-1] * max(S.shape[1], 1) * eps * 10
    B = scale[:, None] * (evecs[:, good] / evals[good].sqrt())
    return S @ B, (AS @ B if AS is not None else None), B


def top_eigenpairs(operator, k: int, *, initial: torch.Tensor | None = None, tol: float = 1e-6,
                   max_iterations: int = 200, guard: int = 2, method: str = "krylov", max_basis: int | None = None, expand: int | None = None,
                   generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
                   device: torch.device | str | None = None, size: int | None = None,
                   order: str = "algebraic") -> EigenResult:
    """The ``k`` algebraically largest eigenpairs of the symmetric ``operator``.

    ``order="magnitude"`` asks instead for the ``k`` eigenvalues of largest
    *absolute value*, ordered ``|λ_1| ≥ |λ_2| ≥ …`` (signed values are
    returned) — the set the paper's power iteration converges to (Supplement
    7.1).  Every method supports it: the Rayleigh–Ritz step keeps the Ritz
    pairs of largest ``|θ|`` (a Krylov space approximates both ends of the
    spectrum), ARPACK runs with ``which="LM"``.

    ``operator`` has ``.matmat(V)`` (our curvature operators), is a dense
    tensor, or is a callable ``V -> A @ V``.  ``initial`` (P, m) warm-starts the
    block (e.g. ``previous_result.block``); missing columns are filled with
    Gaussian noise drawn from ``generator``.  ``method`` is ``"krylov"``
    (thick-restart block Krylov, the default), ``"lobpcg"``, or ``"lanczos"``
    (ARPACK's implicitly restarted Lanczos through scipy, one vector at a time,
    started from the sum of the initial block's columns); ``max_basis`` bounds
    the Krylov basis (default ``4·(k + guard)`` columns), ``expand`` how many
    residuals join it per iteration (default: all unconverged ones).
    ``size``/``dtype``/``device`` default to those of ``operator``
    (``.shape``/``.dtype``/``.device``) or of ``initial``.
    """
    if method not in ("krylov", "lobpcg", "lanczos"):
        raise ValueError(f"method must be 'krylov', 'lobpcg' or 'lanczos', got {method!r}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {list(ORDERS)}, got {order!r}")
    matmat = _as_matmat(operator)
    if size is None:
        size = initial.shape[0] if initial is not None else operator.shape[0]
    dtype = dtype or (initial.dtype if initial is not None else operator.dtype)
    device = device or (initial.device if initial is not None else operator.device)
    if not 1 <= k <= size:
        raise ValueError(f"k must be in 1..{size}, got {k}")
    if method == "lanczos":  # one start vector: the sum of the previous eigenvectors, or noise
        start = (initial.to(dtype=dtype, device=device)[:, :k].sum(dim=1) if initial is not None
                 else torch.randn(size, dtype=dtype, generator=generator).to(device))
        return _lanczos(matmat, start, k, tol, max_iterations, order)
    block_size = min(k + guard, size)
    if 3 * block_size > size:  # small problem: the Rayleigh–Ritz basis would span everything
        block_size = k
    def fill_with_noise(X: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(size, block_size - X.shape[1], dtype=dtype, generator=generator).to(device)
        return torch.cat([X, noise], dim=1)

    X = torch.empty(size, 0, dtype=dtype, device=device)
    if initial is not None:
        X = initial.to(dtype=dtype, device=device)[:, :block_size]
    if X.shape[1] < block_size:
        X = fill_with_noise(X)
    X, _, _ = _orthonormal_basis(X)
    if X.shape[1] < block_size:  # a degenerate warm start: refill with noise
        X, _, _ = _orthonormal_basis(fill_with_noise(X))
    if method == "lobpcg":
        return _lobpcg(matmat, X, k, tol, max_iterations, order)
    if max_basis is None:
        max_basis = 4 * block_size
    max_basis = max(min(max_basis, size), 2 * block_size)
    return _block_krylov(matmat, X, k, tol, max_iterations, max_basis, expand, order)


def _sorted_eigh(T: torch.Tensor, order: str = "algebraic") -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenpairs of the symmetric part of a small matrix, eigenvalues descending
    (``order="magnitude"``: by ``|θ|`` descending)."""
    theta, Y = torch.linalg.eigh(0.5 * (T + T.T))
    index = torch.argsort(theta if order == "algebraic" else theta.abs(), descending=True)
    return theta[index], Y[:, index]


def _converged(residual_norms: torch.Tensor, eigenvalues: torch.Tensor, tol: float) -> torch.Tensor:
    """The convergence rule of every solver here: ``‖A v_j − λ_j v_j‖ ≤ tol · max_j |λ_j|``."""
    scale = eigenvalues.abs().max().clamp_min(torch.finfo(eigenvalues.dtype).tiny)
    return residual_norms <= tol * scale


def _lanczos(matmat: MatMat, start: torch.Tensor, k: int, tol: float, max_iterations: int,
             order: str = "algebraic") -> EigenResult:
    """ARPACK (``scipy.sparse.linalg.eigsh``, ``which="LA"``, or ``"LM"`` for magnitude order) on single products.

    This path is host-side by construction: ARPACK's reverse-communication loop
    runs in Fortran on NumPy arrays, so on a GPU every product copies one
    vector to the host and back (and synchronises).  The block solvers stay on
    the operator's device.

    ARPACK stops when ``‖r_j‖ ≤ tol·|λ_j|`` for every wanted pair, which implies
    our rule.  Residuals are then recomputed explicitly with one block product
    (``k`` more products) so that what is reported is measured, not assumed.
    ``max_iterations`` bounds ARPACK's restarts.
    """
    import numpy as np
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    size, dtype, device = start.shape[0], start.dtype, start.device
    count = {"products": 0}

    def product(v: np.ndarray) -> np.ndarray:
        count["products"] += 1
        column = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).reshape(size, 1))
        return matmat(column.to(device=device, dtype=dtype)).to("cpu", torch.float64).numpy().reshape(v.shape)

    operator = LinearOperator((size, size), matvec=product, dtype=np.float64)
    v0 = start.to("cpu", torch.float64).numpy()
    converged = True
    try:
        evals, evecs = eigsh(operator, k=k, which="LA" if order == "algebraic" else "LM", tol=tol, v0=v0,
                             maxiter=max_iterations)
    except ArpackNoConvergence as error:
        evals, evecs, converged = error.eigenvalues, error.eigenvectors, False
    index = np.argsort(evals if order == "algebraic" else np.abs(evals))[::-1]
    evals = torch.from_numpy(evals[index].copy()).to(device=device, dtype=dtype)
    vectors = torch.from_numpy(evecs[:, index].copy()).to(device=device, dtype=dtype)
    res = (matmat(vectors) - vectors * evals).norm(dim=0)
    converged = converged and len(evals) == k and bool(_converged(res, evals, tol).all())
    return EigenResult(eigenvalues=evals, eigenvectors=vectors, residual_norms=res, iterations=1,
                       matvecs=count["products"] + vectors.shape[1], converged=converged, block=vectors)


def _block_krylov(matmat: MatMat, X: torch.Tensor, k: int, tol: float, max_iterations: int, max_basis: int,
                  expand: int | None = None, order: str = "algebraic") -> EigenResult:
    """Thick-restart Krylov–Rayleigh–Ritz (Lanczos with full reorthogonalisation).

    The orthonormal basis ``V`` grows by the orthogonalised residuals of the
    first ``expand`` unconverged Ritz pairs (each residual lies in the next
    Krylov space, so ``expand = 1`` is Lanczos and ``expand = m`` block
    Lanczos).  ``A V`` is stored, so the projection ``T = VᵀAV`` is exact (and
    updated incrementally) and no three-term recurrence is trusted.  Residuals
    are formed explicitly every iteration.  When ``V`` would exceed
    ``max_basis`` vectors it restarts from its leading ``max_basis // 2`` Ritz
    vectors.

    Memory traffic, not flops, bounds the dense part on a CPU (each pass over a
    basis of 50 vectors of 2.6M entries reads 1 GB), so ``V`` and ``AV`` live in
    preallocated row-major buffers (appending copies only the new rows) and a
    new block is orthogonalised once, with a second pass only where the first
    removed more than 30% of its norm (Daniel–Gragg–Kaufman–Stewart): Ritz
    residuals are orthogonal to ``V`` in exact arithmetic, so the second pass is
    rarely needed.  An iteration reads ``V`` and ``AV`` about five times.
    """
    m, size = X.shape[1], X.shape[0]
    expand = m if expand is None else max(1, min(expand, m))
    V = X.new_empty(max_basis, size)
    AV = X.new_empty(max_basis, size)
    V[:m] = X.T
    AV[:m] = matmat(X).T
    n = m
    T = V[:n] @ AV[:n].T
    matvecs, iterations, converged = m, 0, False
    while True:
        theta, Y = _sorted_eigh(T, order)
        evals, Ym = theta[:m], Y[:, :m]
        Xr, AXr = Ym.T @ V[:n], Ym.T @ AV[:n]                 # Ritz vectors as rows
        R = AXr - evals[:, None] * Xr
        res = R.norm(dim=1)
        done = _converged(res, evals, tol)
        if bool(done[:k].all()):
            converged = True
            break
        if iterations >= max_iterations:
            break
        iterations += 1
        W = R[~done][:expand]
        if n + W.shape[0] > max_basis:  # thick restart on the leading Ritz vectors
            q = max(m, max_basis // 2)
            keep = Y[:, :q]
            V[:q], AV[:q] = keep.T @ V[:n], keep.T @ AV[:n]
            T = torch.diag(theta[:q])
            n = q
        before = W.norm(dim=1)
        W = W - (W @ V[:n].T) @ V[:n]
        if bool((W.norm(dim=1) < 0.7 * before).any()):
            W = W - (W @ V[:n].T) @ V[:n]
        Wc, _, _ = _orthonormal_basis(W.T)
        if Wc.shape[1] == 0:
            break
        AW = matmat(Wc).T
        W = Wc.T
        w = W.shape[0]
        matvecs += w
        VtAW = V[:n] @ AW.T
        T = torch.cat([torch.cat([T, VtAW], 1), torch.cat([VtAW.T, W @ AW.T], 1)], 0)
        V[n:n + w], AV[n:n + w] = W, AW
        n += w
    vectors = Xr.T.contiguous()
    return EigenResult(eigenvalues=evals[:k].clone(), eigenvectors=vectors[:, :k].clone(),
                       residual_norms=res[:k].clone(), iterations=iterations, matvecs=matvecs, converged=converged,
                       block=vectors)


def _lobpcg(matmat: MatMat, X: torch.Tensor, k: int, tol: float, max_iterations: int,
            order: str = "algebraic") -> EigenResult:
    """LOBPCG without preconditioner (Knyazev 2001) with SVQB orthonormalisation."""
    matvecs = X.shape[1]
    AX = matmat(X)
    evals, C = _sorted_eigh(X.T @ AX, order)
    X, AX = X @ C, AX @ C
    P = AP = None
    iterations = 0
    converged = False
    while True:
        R = AX - X * evals
        res = R.norm(dim=0)
        done = _converged(res, evals, tol)
        if bool(done[:k].all()):
            converged = True
            break
        if iterations >= max_iterations:
            break
        iterations += 1
        active = ~done
        W = R[:, active]
        # Project W away from X for conditioning (X has orthonormal columns).
        W = W - X @ (X.T @ W)
        W, _, _ = _orthonormal_basis(W)
        if W.shape[1] == 0:
            break
        AW = matmat(W)
        matvecs += W.shape[1]
        blocks = [X, W] + ([P] if P is not None else [])
        ablocks = [AX, AW] + ([AP] if AP is not None else [])
        S = torch.cat(blocks, dim=1)
        AS = torch.cat(ablocks, dim=1)
        Q, AQ, B = _orthonormal_basis(S, AS)
        theta, Y = _sorted_eigh(Q.T @ AQ, order)
        evals, Y = theta[:X.shape[1]], Y[:, :X.shape[1]]
        coeffs = B @ Y                                   # coefficients in S
        n_x = X.shape[1]
        X_new, AX_new = S @ coeffs, AS @ coeffs
        # New search direction: the part of the update outside the old X.
        P = S[:, n_x:] @ coeffs[n_x:]
        AP = AS[:, n_x:] @ coeffs[n_x:]
        X, AX = X_new, AX_new
    return EigenResult(eigenvalues=evals[:k].clone(), eigenvectors=X[:, :k].clone(),
                       residual_norms=res[:k].clone(), iterations=iterations, matvecs=matvecs,
                       converged=converged, block=X.clone())


def bottom_eigenpair(operator, *, initial: torch.Tensor | None = None, deflate: torch.Tensor | None = None,
                     tol: float = 1e-3, scale: float | None = None, max_products: int = 30, basis: int = 10,
                     min_products: int = 1,
                     generator: torch.Generator | None = None, size: int | None = None,
                     dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> EigenResult:
    """The algebraically smallest eigenpair ``λ_min`` of the symmetric ``operator``.

    Single-vector thick-restart Lanczos (full reorthogonalisation) on ``−A``,
    whose top eigenvalue is ``−λ_min``, restricted to the orthogonal complement
    of the columns of ``deflate`` (e.g. the top eigenvectors already found):
    that removes the large end of the spectrum, so the Krylov space resolves
    the small end with a few products.  ``initial`` (a vector or a ``(P, 1)``
    block, e.g. the previous result's ``block``) warm-starts it.

    Stops when the residual ``‖A v − λ v‖`` (of the operator restricted to the
    complement) is at most ``tol · scale`` — ``scale`` defaults to ``|λ|``; the
    trainer passes ``|λ_1|`` so that the rule is the one of
    :func:`top_eigenpairs` — or after ``max_products`` products.  The
    reported ``residual_norms`` are those of the unrestricted operator.  The
    value is a Rayleigh quotient, hence never below the true ``λ_min`` of the
    complement; with a residual ``r`` some eigenvalue lies within ``r`` of it.
    At least ``min_products`` products are spent even when the warm start
    already meets the tolerance: with ``scale = |λ_1|`` a vector of the bulk
    (eigenvalues near 0) can meet it, and a few Lanczos steps are what let a
    large negative eigenvalue that has appeared since the last call dominate
    the Krylov space.  The basis holds at most ``basis`` vectors; a restart
    keeps the best ``basis // 2`` Ritz vectors and their products.
    """
    matmat = _as_matmat(operator)
    if size is None:
        size = initial.shape[0] if initial is not None else operator.shape[0]
    dtype = dtype or (initial.dtype if initial is not None else operator.dtype)
    device = device or (initial.device if initial is not None else operator.device)
    basis = max(2, min(basis, size))
    D = None if deflate is None or deflate.shape[1] == 0 else deflate.to(dtype=dtype, device=device)

    def project(V: torch.Tensor) -> torch.Tensor:
        return V if D is None else V - D @ (D.T @ V)

    def unit(v: torch.Tensor, Q: torch.Tensor) -> torch.Tensor | None:
        """``v`` projected off ``deflate`` and the basis ``Q`` (twice), normalised; None if it vanishes."""
        norm0 = v.norm()
        for _ in range(2):
            v = project(v)
            if Q.shape[1]:
                v = v - Q @ (Q.T @ v)
        norm = v.norm()
        if not bool(norm > 1e3 * torch.finfo(dtype).eps * norm0.clamp_min(torch.finfo(dtype).tiny)):
            return None
        return v / norm

    start = None
    if initial is not None:
        start = initial.to(dtype=dtype, device=device).reshape(size, -1)[:, :1]
    Q = torch.empty(size, 0, dtype=dtype, device=device)
    q = None if start is None else unit(start, Q)
    if q is None:
        q = unit(torch.randn(size, 1, dtype=dtype, generator=generator).to(device), Q)
    AQ = torch.empty(size, 0, dtype=dtype, device=device)   # A Q, unprojected
    products = restarts = 0
    converged = False
    while True:
        AQ = torch.cat([AQ, matmat(q)], dim=1)
        Q = torch.cat([Q, q], dim=1)
        products += 1
        T = -(Q.T @ AQ)                                     # Qᵀ(−A)Q; Q ⊥ deflate, so projecting A changes nothing
        theta, Y = _sorted_eigh(T)
        x, Ax = Q @ Y[:, :1], AQ @ Y[:, :1]
        value = -theta[0]
        r = project(Ax) - value * x                          # residual of the restricted operator
        rnorm = r.norm()
        limit = tol * (abs(float(value)) if scale is None else scale)
        if products >= min_products and float(rnorm) <= limit:
            converged = True
            break
        if products >= max_products:
            break
        if Q.shape[1] >= basis:                              # thick restart on the best Ritz vectors
            keep = Y[:, : basis // 2]
            Q, AQ = Q @ keep, AQ @ keep
            restarts += 1
        q = unit(r, Q)
        if q is None:                                        # invariant subspace: continue with a random direction
            q = unit(torch.randn(size, 1, dtype=dtype, generator=generator).to(device), Q)
            if q is None:
                break
    value = value.reshape(1)
    true_residual = (Ax - value * x).norm(dim=0)
    return EigenResult(eigenvalues=value, eigenvectors=x, residual_norms=true_residual, iterations=restarts + 1,
                       matvecs=products, converged=converged, block=x)


def magnitude_subspace_iteration(operator, k: int, *, initial: torch.Tensor | None = None,
                                 tol: float = 1e-6, max_iterations: int = 1000,
                                 generator: torch.Generator | None = None) -> EigenResult:
    """The paper's eigenvalue procedure (Supplement 7.1): block power iteration with QR.

    Finds the ``k`` eigenvalues of largest *absolute value*, ordered by
    ``|λ|`` descending, stopping when the eigenvalue estimates change by less
    than ``tol`` relative to the largest.  Eigenvalue estimates are the Rayleigh
    quotients ``v_jᵀ A v_j`` (signed; the paper reads them off the QR factor).
    """
    matmat = _as_matmat(operator)
    size = initial.shape[0] if initial is not None else operator.shape[0]
    dtype = initial.dtype if initial is not None else operator.dtype
    V = initial if initial is not None else torch.randn(size, k, dtype=dtype, generator=generator)
    V = V[:, :k]
    if hasattr(operator, "device"):
        V = V.to(operator.device)
    V, _ = torch.linalg.qr(V)
    previous = torch.full((k,), float("inf"), dtype=dtype, device=V.device)
    matvecs = 0
    converged = False
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        W = matmat(V)
        matvecs += k
        estimates = (V * W).sum(dim=0)
        change = (estimates - previous).abs().max()
        previous = estimates
        V, _ = torch.linalg.qr(W)
        if change <= tol * estimates.abs().max():
            converged = True
            break
    W = matmat(V)
    matvecs += k
    estimates = (V * W).sum(dim=0)
    order = torch.argsort(estimates.abs(), descending=True)
    estimates, V, W = estimates[order], V[:, order], W[:, order]
    res = (W - V * estimates).norm(dim=0)
    return EigenResult(eigenvalues=estimates, eigenvectors=V, residual_norms=res, iterations=iterations,
                       matvecs=matvecs, converged=converged, block=V)


def negative_top_as_nan(top_eigenvalues: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The paper's rule (Supplement 7.1): a negative top eigenvalue is NaN.

    ``top_eigenvalues`` holds one top eigenvalue per iteration/snapshot.
    Returns the masked copy and how many were negative.
    """
    negative = top_eigenvalues < 0
    return torch.where(negative, torch.full_like(top_eigenvalues, float("nan")), top_eigenvalues), int(negative.sum())


@dataclass
class BatchedTopEigenvalues:
    """Top eigenvalue of each matrix of a batch, with its measured residual."""

    values: torch.Tensor        # (B,)
    residual_norms: torch.Tensor  # (B,)  ‖A_b v_b − λ_b v_b‖ of the returned Ritz pair
    converged: torch.Tensor     # (B,) bool
    restarts: int               # Lanczos cycles run (the slowest matrix's)
    products: int               # matrix–vector products, summed over the batch


def batched_top_eigenvalues(apply: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], start: torch.Tensor, *,
                            tol: float = 1e-10, steps: int = 24, max_restarts: int = 100,
                            generator: torch.Generator | None = None) -> BatchedTopEigenvalues:
    """The algebraically largest eigenvalue of each of ``B`` symmetric ``n × n`` matrices.

    ``apply(V, index)`` returns ``A_b v_b`` for the rows ``v_b`` of ``V`` (shape
    ``(b, n)``) and the batch members ``index`` (a long tensor of length ``b``):
    the matrices are never formed, only applied together, so each step is one
    batched matrix–matrix product.  ``start`` ``(B, n)`` holds the start vectors.

    Thick-restart Lanczos, batched: each cycle grows an orthonormal basis ``Q`` of
    ``steps`` vectors per matrix by the (twice Gram–Schmidt orthogonalised)
    product of its newest vector, keeps the products ``W = AQ`` and takes the
    Rayleigh–Ritz pairs of ``QᵀW`` — so the eigenvalue is a Rayleigh quotient and
    the residual ``‖Av − λv‖`` is computed from stored products, not estimated.
    Matrices whose top residual is at most ``tol · |λ|`` stop; the others restart
    from their top ``steps // 2`` Ritz vectors (whose products are ``WS``, free)
    plus the top residual, which keeps convergence fast when the top
    eigenvalues are clustered.  A basis that becomes invariant (e.g. a
    rank-deficient layerwise Jacobian Gram) is continued with a random direction
    orthogonal to it, which keeps ``QᵀAQ`` exact.  The absolute eigenvalue error
    is at most ``‖r‖²/gap``.
    """
    B, n = start.shape
    m = max(1, min(steps, n))
    keep = m // 2
    dtype, device = start.dtype, start.device
    values = torch.zeros(B, dtype=dtype, device=device)
    residuals = torch.full((B,), float("inf"), dtype=dtype, device=device)
    converged = torch.zeros(B, dtype=torch.bool, device=device)
    tiny = torch.finfo(dtype).tiny
    eps = torch.finfo(dtype).eps

    def orthogonalize(w: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
        for _ in range(2):
            w = w - torch.einsum("bj,bjn->bn", torch.einsum("bjn,bn->bj", basis, w), basis)
        return w

    def next_direction(w: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
        scale = w.norm(dim=1)
        w = orthogonalize(w, basis)
        broken = w.norm(dim=1) <= 1e3 * eps * scale.clamp_min(tiny)
        if broken.any():
            noise = torch.randn(int(broken.sum()), n, dtype=dtype, generator=generator).to(device)
            w[broken] = orthogonalize(orthogonalize(noise, basis[broken]), basis[broken])
        return w / w.norm(dim=1, keepdim=True)

    active = torch.arange(B, device=device)
    kept_Q = kept_W = None
    q = start / start.norm(dim=1, keepdim=True).clamp_min(tiny)
    products = restarts = 0
    while active.numel() and restarts <= max_restarts:
        restarts += 1
        b = active.numel()
        Q = torch.empty(b, m, n, dtype=dtype, device=device)
        W = torch.empty(b, m, n, dtype=dtype, device=device)
        p = 0
        if kept_Q is not None:
            p = kept_Q.shape[1]
            Q[:, :p], W[:, :p] = kept_Q, kept_W
            q = next_direction(q, Q[:, :p])
        for j in range(p, m):
            Q[:, j] = q
            w = apply(q, active)
            W[:, j] = w
            products += b
            if j < m - 1:
                q = next_direction(w, Q[:, :j + 1])
        T = torch.einsum("bin,bjn->bij", Q, W)
        theta, S = torch.linalg.eigh(0.5 * (T + T.transpose(1, 2)))
        top, s = theta[:, -1], S[:, :, -1]
        v = torch.einsum("bj,bjn->bn", s, Q)
        r = torch.einsum("bj,bjn->bn", s, W) - top.unsqueeze(1) * v
        rnorm = r.norm(dim=1)
        values[active], residuals[active] = top, rnorm
        done = rnorm <= tol * top.abs()
        converged[active[done]] = True
        todo = ~done
        active = active[todo]
        if keep:
            S_keep = S[todo][:, :, -keep:]
            kept_Q = torch.einsum("bjk,bjn->bkn", S_keep, Q[todo])
            kept_W = torch.einsum("bjk,bjn->bkn", S_keep, W[todo])
            q = r[todo]
        else:
            q = v[todo]
    return BatchedTopEigenvalues(values=values, residual_norms=residuals, converged=converged,
                                 restarts=restarts, products=products)
