"""What logging ``λ_min`` of the training-loss Hessian costs the trainer (issue 10, item 2).

Runs ``--steps`` exponential Euler steps exactly as ``eoslab train`` does (same
operator, solver, warm starts and options) on a data file and times, per step,
the gradient, the top-(k+1) eigensolve, and the ``λ_min`` estimate
(:func:`eoslab.eigensolvers.bottom_eigenpair`: Lanczos on ``−𝓗`` off the top
eigenvectors, warm-started from the previous step).  Reports medians over the
steps after the first ``--skip`` (the cold start) and the ``λ_min`` share of
the step, plus how often ``|λ_min| > λ_1`` (the paper's "negative top
eigenvalue" event, Supplement 7.1).

    python benchmarks/bench_lambda_min.py --data DATA.npz --width 64 --steps 60
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--skip", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--eig-method", default="auto")
    parser.add_argument("--eig-tol", type=float, default=1e-6)
    parser.add_argument("--lambda-min-tol", type=float, default=1e-3)
    parser.add_argument("--lambda-min-max-products", type=int, default=20)
    parser.add_argument("--reuse-graph", default="true", choices=("true", "false"))
    args = parser.parse_args()

    from eoslab.arrays import load_arrays
    from eoslab.criteria import get_criterion
    from eoslab.curvature import HessianOperator
    from eoslab.eigensolvers import bottom_eigenpair, top_eigenpairs
    from eoslab.integrators import exponential_euler_step
    from eoslab.models import build_model
    from eoslab.training import LAMBDA_MIN_MIN_PRODUCTS, resolve_eig_method

    data = load_arrays(args.data)
    X = torch.as_tensor(data.X, dtype=torch.float64)
    y = torch.as_tensor(data.y)
    model = build_model({"input_dim": data.input_dim, "output_dim": data.num_classes, "depth": args.depth,
                         "width": args.width})
    op = HessianOperator(model, get_criterion("cross_entropy"), X, y, reuse_graph=args.reuse_graph == "true")
    method = resolve_eig_method(args.eig_method, X.device)
    k = data.num_classes
    gen = torch.Generator().manual_seed(0)
    theta = op.space.flatten(op.space.values(model))
    block = min_block = None
    rows = []
    for step in range(args.steps):
        t0 = time.perf_counter()
        result = op.loss_and_gradient()
        t1 = time.perf_counter()
        eig = top_eigenpairs(op, k + 1, initial=block, tol=args.eig_tol, method=method, generator=gen)
        block = eig.block
        t2 = time.perf_counter()
        bottom = bottom_eigenpair(op, initial=min_block, deflate=eig.eigenvectors, tol=args.lambda_min_tol,
                                  scale=abs(float(eig.eigenvalues[0])), max_products=args.lambda_min_max_products,
                                  min_products=min(LAMBDA_MIN_MIN_PRODUCTS, args.lambda_min_max_products),
                                  generator=gen)
        min_block = bottom.block
        t3 = time.perf_counter()
        theta, _ = exponential_euler_step(theta, result.gradient, eig.eigenvalues, eig.eigenvectors[:, :k], args.lr)
        op.space.assign(model, theta)
        op.refresh()
        t4 = time.perf_counter()
        rows.append({"grad": t1 - t0, "eig": t2 - t1, "min": t3 - t2, "step": t4 - t0 - (t3 - t2),
                     "eig_products": eig.matvecs, "min_products": bottom.matvecs,
                     "lambda_1": float(eig.eigenvalues[0]), "lambda_min": float(bottom.eigenvalues[0]),
                     "min_residual": float(bottom.residual_norms[0]), "min_converged": bottom.converged})
    used = rows[args.skip:]

    def med(key):
        return statistics.median(r[key] for r in used)

    print(f"{args.data}: depth {args.depth}, width {args.width}, P = {op.space.numel:,}, N = {X.shape[0]}, "
          f"k+1 = {k + 1}, eigensolver {method} (tol {args.eig_tol:g}), reuse_graph {args.reuse_graph}, "
          f"torch threads {torch.get_num_threads()}; medians over steps {args.skip}..{args.steps - 1}")
    print(f"step without λ_min: {1e3 * med('step'):.1f} ms (gradient {1e3 * med('grad'):.1f} ms, top eigenpairs "
          f"{1e3 * med('eig'):.1f} ms, {med('eig_products'):.0f} products)")
    print(f"λ_min: {1e3 * med('min'):.1f} ms, {med('min_products'):.0f} products "
          f"(+{100 * med('min') / med('step'):.0f}% of the step); converged in "
          f"{sum(r['min_converged'] for r in used)}/{len(used)} steps; median residual/|λ_1| "
          f"{statistics.median(r['min_residual'] / abs(r['lambda_1']) for r in used):.2g}")
    print(f"λ_min range {min(r['lambda_min'] for r in used):.4g} .. {max(r['lambda_min'] for r in used):.4g}; "
          f"λ_1 range {min(r['lambda_1'] for r in used):.4g} .. {max(r['lambda_1'] for r in used):.4g}; "
          f"|λ_min| > λ_1 in {sum(abs(r['lambda_min']) > r['lambda_1'] for r in used)} steps")


if __name__ == "__main__":
    main()
