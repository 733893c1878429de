"""Top-k Hessian eigenpairs: eoslab's block LOBPCG vs PyHessian vs curvlinops + scipy eigsh.

Same MLP (default 3072→512×5→10, float64, the paper's network), same random
data, same loss (mean cross-entropy).  Each solver runs in its own subprocess
(so peak RSS is its own) from a cold start and must reach the same *residual*
tolerance, ``max_j ‖A v_j − λ_j v_j‖ ≤ tol · |λ_1|``:

* eoslab: ``top_eigenpairs(HessianOperator, k, tol=tol)`` (that is its stopping rule);
* curvlinops: ``scipy.sparse.linalg.eigsh(HessianLinearOperator.to_scipy(), k, which="LA", tol=tol)``
  (ARPACK stops at ``‖r_j‖ ≤ tol·|λ_j|``, which is at least as strict);
* PyHessian: ``hessian.eigenvalues(top_n=k, tol=...)`` stops on the relative change
  of each eigenvalue, not on residuals; we run it with ``tol_pyhessian`` (default
  tol²/10, since eigenvalue errors scale like squared residuals) and report
  the residuals it actually reached.

``--scenario warm`` measures what the trainer does at every iteration instead:
the pairs are first solved tightly (untimed), the network takes one
exponential Euler step, and each solver is timed on the new Hessian starting
from the previous answer — eoslab from the previous Ritz block, ARPACK from
one vector (the sum of the previous eigenvectors; it takes only one), and
PyHessian, which has no warm start, from scratch.

Afterwards every solver's eigenpairs are checked with one independent
operator (eoslab's Hessian product, itself tested against dense autograd):
the table prints wall time, Hessian-vector products, the achieved maximum
relative residual, the largest eigenvalue difference to eoslab, peak RSS, and
the wall-time ratios.

Run it in a separate environment that has the peers (curvlinops pulls a
different torch build)::

    python -m venv /tmp/benchvenv && . /tmp/benchvenv/bin/activate
    pip install torch==2.13.0 -e '.[bench]'
    python benchmarks/bench_top_eigenpairs.py --num-samples 512
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch


def make_problem(args):
    from eoslab.models import build_model

    model = build_model({"input_dim": args.input_dim, "output_dim": args.classes, "depth": args.depth,
                         "width": args.width, "init_seed": args.seed})
    gen = torch.Generator().manual_seed(args.seed + 1)
    X = torch.randn(args.num_samples, args.input_dim, dtype=torch.float64, generator=gen)
    y = torch.randint(0, args.classes, (args.num_samples,), generator=gen)
    return model, X, y


def warm_start(args, model, X, y):
    """Solve tightly, take one exponential Euler step (in place); return the previous block."""
    from eoslab.criteria import CrossEntropy
    from eoslab.curvature import HessianOperator
    from eoslab.eigensolvers import top_eigenpairs
    from eoslab.integrators import exponential_euler_step

    operator = HessianOperator(model, CrossEntropy(), X, y, chunk_size=args.chunk_size)
    result = top_eigenpairs(operator, args.k + 1, tol=1e-8, max_iterations=500,
                            generator=torch.Generator().manual_seed(args.seed))
    gradient = operator.loss_and_gradient().gradient
    theta = operator.space.flatten(operator.space.values(model))
    theta, _ = exponential_euler_step(theta, gradient, result.eigenvalues, result.eigenvectors[:, :args.k], 1.0)
    operator.space.assign(model, theta)
    return result.block


def run_eoslab(args, model, X, y, previous=None):
    from eoslab.criteria import CrossEntropy
    from eoslab.curvature import HessianOperator
    from eoslab.eigensolvers import top_eigenpairs

    operator = HessianOperator(model, CrossEntropy(), X, y, chunk_size=args.chunk_size)
    result = top_eigenpairs(operator, args.k, tol=args.tol, max_iterations=500, initial=previous,
                            generator=torch.Generator().manual_seed(args.seed))
    return result.eigenvalues, result.eigenvectors, operator.num_matvecs, {"iterations": result.iterations,
                                                                            "converged": result.converged}


def run_curvlinops(args, model, X, y, previous=None):
    from curvlinops import HessianLinearOperator
    from scipy.sparse.linalg import eigsh

    params = [p for p in model.parameters()]
    data = [(X[i:i + args.chunk_size], y[i:i + args.chunk_size]) for i in range(0, X.shape[0], args.chunk_size)]
    operator = HessianLinearOperator(model, torch.nn.CrossEntropyLoss(), params, data,
                                     check_deterministic=False, num_data=X.shape[0])
    scipy_operator = operator.to_scipy(dtype=np.float64)
    counter = {"matvecs": 0}
    matvec = scipy_operator.matvec

    from scipy.sparse.linalg import LinearOperator

    def counted(v):
        counter["matvecs"] += 1
        return matvec(v)

    counted_operator = LinearOperator(scipy_operator.shape, matvec=counted, dtype=np.float64)
    v0 = (previous[:, :args.k].sum(1).numpy() if previous is not None
          else np.random.default_rng(args.seed).standard_normal(scipy_operator.shape[0]))
    evals, evecs = eigsh(counted_operator, k=args.k, which="LA", tol=args.tol, v0=v0)
    order = np.argsort(evals)[::-1]
    return (torch.from_numpy(evals[order].copy()), torch.from_numpy(evecs[:, order].copy()), counter["matvecs"], {})


def run_pyhessian(args, model, X, y, previous=None):
    from pyhessian import hessian

    torch.set_default_dtype(torch.float64)  # PyHessian draws its vectors with the default dtype
    torch.manual_seed(args.seed)
    h = hessian(model, torch.nn.CrossEntropyLoss(), data=(X, y), cuda=X.is_cuda)
    counter = {"matvecs": 0}
    module = sys.modules["pyhessian.hessian"]  # the package re-exports the class under this name

    original = module.hessian_vector_product

    def counted(*a, **kw):
        counter["matvecs"] += 1
        return original(*a, **kw)

    module.hessian_vector_product = counted
    evals, evecs = h.eigenvalues(maxIter=args.pyhessian_max_iter, tol=args.tol_pyhessian, top_n=args.k)
    V = torch.stack([torch.cat([t.reshape(-1) for t in v]) for v in evecs], dim=1)
    evals = torch.tensor(evals, dtype=torch.float64)
    order = torch.argsort(evals, descending=True)
    return evals[order], V[:, order], counter["matvecs"], {}


SOLVERS = {"eoslab": run_eoslab, "curvlinops": run_curvlinops, "pyhessian": run_pyhessian}


def child(args):
    """Run one solver, then score its eigenpairs with eoslab's operator; print JSON."""
    from eoslab.criteria import CrossEntropy
    from eoslab.curvature import HessianOperator

    torch.set_num_threads(args.threads)
    model, X, y = make_problem(args)
    previous = warm_start(args, model, X, y) if args.scenario == "warm" else None
    start = time.perf_counter()
    evals, evecs, matvecs, extra = SOLVERS[args.solver](args, model, X, y, previous)
    seconds = time.perf_counter() - start
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    torch.set_default_dtype(torch.float64)
    checker = HessianOperator(model, CrossEntropy(), X, y, chunk_size=args.chunk_size)
    evecs = evecs / evecs.norm(dim=0)
    residual = (checker @ evecs - evecs * evals).norm(dim=0)
    print(json.dumps({"solver": args.solver, "seconds": seconds, "matvecs": matvecs,
                      "eigenvalues": evals.tolist(), "max_rel_residual": float(residual.max() / evals.abs().max()),
                      "peak_rss_mb": peak_rss_mb, **extra}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=512)
    parser.add_argument("--input-dim", type=int, default=3072)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--k", type=int, default=11)
    parser.add_argument("--tol", type=float, default=1e-4, help="residual tolerance relative to |λ_1|")
    parser.add_argument("--tol-pyhessian", type=float, default=None, help="default tol**2 / 10")
    parser.add_argument("--pyhessian-max-iter", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--solvers", default="eoslab,curvlinops,pyhessian")
    parser.add_argument("--scenario", choices=("cold", "warm"), default="cold")
    parser.add_argument("--solver", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tol_pyhessian is None:
        args.tol_pyhessian = args.tol ** 2 / 10
    if args.solver:
        return child(args)

    from eoslab.models import count_parameters

    model, _, _ = make_problem(args)
    print(f"MLP {args.input_dim}→{args.width}×{args.depth - 1}→{args.classes}, P = {count_parameters(model):,}, "
          f"N = {args.num_samples}, float64, top-{args.k} Hessian eigenpairs, residual tol {args.tol:g}·|λ1|, "
          f"{args.threads} threads, torch {torch.__version__}, {args.scenario} start")
    results = {}
    for solver in args.solvers.split(","):
        command = [sys.executable, __file__, "--solver", solver] + sys.argv[1:]
        output = subprocess.run(command, capture_output=True, text=True)
        if output.returncode != 0:
            print(f"{solver}: failed\n{output.stderr[-2000:]}")
            continue
        results[solver] = json.loads(output.stdout.strip().splitlines()[-1])
        print(f"  {solver}: done in {results[solver]['seconds']:.1f} s", flush=True)
    base = results.get("eoslab")
    print(f"\n{'solver':<12}{'seconds':>10}{'HVPs':>8}{'max rel res':>13}{'max |Δλ| vs eoslab':>20}"
          f"{'peak RSS MB':>13}{'time / eoslab':>15}")
    for solver, r in results.items():
        diff = (float(np.max(np.abs(np.array(r["eigenvalues"]) - np.array(base["eigenvalues"]))))
                if base else float("nan"))
        ratio = r["seconds"] / base["seconds"] if base else float("nan")
        print(f"{solver:<12}{r['seconds']:>10.1f}{r['matvecs']:>8}{r['max_rel_residual']:>13.2e}{diff:>20.2e}"
              f"{r['peak_rss_mb']:>13.0f}{ratio:>14.1f}×")
    if base:
        print("\neoslab eigenvalues:", " ".join(f"{v:.6g}" for v in base["eigenvalues"]))


if __name__ == "__main__":
    main()
