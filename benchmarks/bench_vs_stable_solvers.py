"""eoslab's exponential Euler step against the authors' own solver, ``stable-solvers`` 0.1 (issue 17).

Same network (the paper's MLP: depth 6, ELU, Xavier gain √2, float64; width
``--width``), same initial weights, same data (a dice subset file written by
``eoslab data subset``), same loss (mean cross-entropy), same method:
exponential Euler with ``k`` stiff directions, the top ``k+1`` Hessian
eigenpairs *by magnitude*, ``Δt = min(η, 1/|λ_{k+1}|)`` and stiff
coefficients capped at ``Δt`` — which is what
``stable_solvers.ExponentialEulerSolver`` does, and what eoslab does with
``eig_order: magnitude, stiff_cap: dt``.  Both start from the same
tightly converged eigenvectors at the initial weights (so that the peer's cold
power iteration is not what is timed).

Runs, **interleaved in one process** (one step of each solver in turn, so that
the load of a shared machine hits all of them alike):

* ``stable-solvers``: ``ExponentialEulerSolver(max_step_size=η, stiff_dim=k)``,
  warm-started block power iteration with QR, stopping when the eigenvalue
  estimates change by less than 1e-4 relative;
* one or more eoslab variants ``--eoslab METHOD:TOL[:GUARD]`` (the trainer's
  operator and solver, ``top_eigenpairs(..., order="magnitude")`` warm-started
  from the previous block, ``reuse_graph`` on unless ``--no-reuse-graph``);

then, not timed, a reference trajectory: the same method with eigenpairs
converged to a residual of ``--reference-tol`` (block Krylov).  Reports per
solver: median seconds per step (steps after the first ``--skip``), Hessian
products per step (columns; the peer's counted by wrapping its operator), and
the trajectory error against the reference at matched integration times
(the reference linearly interpolated at each run's ``t_u``): max relative
error of the loss and of ``λ_1`` over the steps, and the final weights'
error relative to the distance the reference moved, ``‖θ − θ_ref(t)‖ /
‖θ_ref(t) − θ_0‖``.

The peer needs its own environment (it must not replace this venv's torch)::

    python -m venv /tmp/ssvenv && /tmp/ssvenv/bin/pip install torch==2.13.0 stable-solvers==0.1 -e .
    OMP_NUM_THREADS=1 /tmp/ssvenv/bin/python benchmarks/bench_vs_stable_solvers.py --data DATA.npz --width 64
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch


def build_problem(args):
    from eoslab.arrays import load_arrays

    data = load_arrays(args.data)
    X = torch.as_tensor(data.X, dtype=torch.float64)
    y = torch.as_tensor(data.y)
    config = {"input_dim": data.input_dim, "output_dim": data.num_classes, "depth": args.depth,
              "width": args.width, "init_seed": args.init_seed}
    return config, X, y, data.num_classes


class EoslabRun:
    """The trainer's exponential Euler step (eoslab.training), with a chosen eigensolver."""

    def __init__(self, name, config, X, y, k, lr, method, tol, guard, initial_block, reuse_graph=True,
                 max_iterations=200, order="magnitude", cap="dt"):
        from eoslab.criteria import get_criterion
        from eoslab.curvature import HessianOperator
        from eoslab.models import build_model

        self.name, self.k, self.lr, self.method, self.tol, self.guard = name, k, lr, method, tol, guard
        self.max_iterations, self.order, self.cap = max_iterations, order, cap
        self.model = build_model(config)
        self.op = HessianOperator(self.model, get_criterion("cross_entropy"), X, y, chunk_size=X.shape[0],
                                  reuse_graph=reuse_graph)
        self.theta = self.op.space.flatten(self.op.space.values(self.model))
        self.block = initial_block
        self.generator = torch.Generator().manual_seed(0)
        self.t = 0.0
        self.history = []          # (t, loss, λ_1, θ) at the start of each step

    def step(self):
        from eoslab.eigensolvers import top_eigenpairs
        from eoslab.integrators import exponential_euler_step

        before = self.op.num_matvecs
        result = self.op.loss_and_gradient()
        eig = top_eigenpairs(self.op, self.k + 1, initial=self.block, tol=self.tol, method=self.method,
                             guard=self.guard, order=self.order, generator=self.generator,
                             max_iterations=self.max_iterations)
        self.block = eig.block
        self.history.append((self.t, result.loss, float(eig.eigenvalues[0]), self.theta.clone()))
        self.theta, info = exponential_euler_step(self.theta, result.gradient, eig.eigenvalues,
                                                  eig.eigenvectors[:, :self.k], self.lr, order=self.order,
                                                  cap=self.cap)
        self.op.space.assign(self.model, self.theta)
        self.op.refresh()
        self.t += info.dt
        return self.op.num_matvecs - before


class StableSolversRun:
    """``stable_solvers.ExponentialEulerSolver`` on the same network, data and initial weights."""

    def __init__(self, config, X, y, k, lr, initial_vectors=None):
        import stable_solvers
        from stable_solvers import operators

        from eoslab.models import build_model

        self.name = "stable-solvers 0.1"
        model = build_model(config)
        layers = []
        for i, linear in enumerate(model.linears):
            layers.append(torch.nn.Linear(linear.in_features, linear.out_features, dtype=torch.float64))
            if i < len(model.linears) - 1:
                layers.append(torch.nn.ELU())
        net = torch.nn.Sequential(*layers)
        # The same flat layout as eoslab's ParameterSpace (weight, bias per layer, in order).
        theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()
        dataset = torch.utils.data.TensorDataset(X, y)
        self.loss = stable_solvers.LossFunction(dataset=dataset, criterion=torch.nn.CrossEntropyLoss(reduction="none"),
                                                net=net, batch_size=X.shape[0], num_workers=0)
        self.solver = stable_solvers.ExponentialEulerSolver(params=theta, loss=self.loss, max_step_size=lr,
                                                            stiff_dim=k)
        if initial_vectors is not None:
            self.solver.eigvecs = initial_vectors.clone()
        else:                      # its own cold start: Gaussian block from the global generator
            torch.manual_seed(0)
        self.counter = {"columns": 0}
        original = operators.LossHessian.forward
        counter = self.counter

        def counted(op, m):
            counter["columns"] += m.shape[-1]
            return original(op, m)

        operators.LossHessian.forward = counted
        self.t = 0.0
        self.history = []

    def step(self):
        before = self.counter["columns"]
        theta = self.solver.params.clone()
        report = self.solver.step()
        self.history.append((self.t, report.loss, float(report.eigvals[0]), theta))
        self.t += report.dt
        return self.counter["columns"] - before


def trajectory_errors(run, reference):
    t_ref = np.array([h[0] for h in reference.history])
    loss_ref = np.array([h[1] for h in reference.history])
    lam_ref = np.array([h[2] for h in reference.history])
    theta_ref = torch.stack([h[3] for h in reference.history])
    theta0 = theta_ref[0]
    loss_err = lam_err = 0.0
    for t, loss, lam, theta in run.history:
        if t > t_ref[-1]:
            raise RuntimeError(f"{run.name}: t = {t} is past the reference's last time {t_ref[-1]}; "
                               "run the reference longer")
        loss_err = max(loss_err, abs(loss - np.interp(t, t_ref, loss_ref)) / abs(np.interp(t, t_ref, loss_ref)))
        lam_err = max(lam_err, abs(lam - np.interp(t, t_ref, lam_ref)) / abs(np.interp(t, t_ref, lam_ref)))
    t, _, _, theta = run.history[-1]
    j = int(np.searchsorted(t_ref, t))
    j = min(max(j, 1), len(t_ref) - 1)
    w = (t - t_ref[j - 1]) / (t_ref[j] - t_ref[j - 1])
    at_t = (1 - w) * theta_ref[j - 1] + w * theta_ref[j]
    theta_err = float((theta - at_t).norm() / (at_t - theta0).norm())
    return loss_err, lam_err, theta_err


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="training subset (.npz from 'eoslab data subset')")
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--init-seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.01, help="η, the cap on Δt (the peer's max_step_size)")
    parser.add_argument("--k", type=int, default=None, help="stiff dimension (default: the number of classes)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip", type=int, default=2, help="steps left out of the timing medians")
    parser.add_argument("--eoslab", action="append", default=None,
                        help="an eoslab variant METHOD:TOL[:GUARD] (repeatable; default lanczos:1e-6 and krylov:1e-4:0)")
    parser.add_argument("--no-peer", action="store_true", help="leave out stable-solvers")
    parser.add_argument("--order", default="magnitude", choices=("magnitude", "algebraic"),
                        help="eoslab's eigenpair order (algebraic: eoslab's default method, η cap; no peer then)")
    parser.add_argument("--no-reuse-graph", action="store_true")
    parser.add_argument("--peer-start", default="shared", choices=("shared", "cold"),
                        help="stable-solvers starts from eoslab's initial eigenvectors (shared) or from its own "
                             "random block (cold; its first step then runs power iteration from scratch)")
    parser.add_argument("--reference-tol", type=float, default=1e-10)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from eoslab.criteria import get_criterion
    from eoslab.curvature import HessianOperator
    from eoslab.eigensolvers import top_eigenpairs
    from eoslab.models import build_model

    config, X, y, classes = build_problem(args)
    k = args.k or classes
    variants = args.eoslab or ["lanczos:1e-6", "krylov:1e-4:0"]
    start_model = build_model(config)
    start_op = HessianOperator(start_model, get_criterion("cross_entropy"), X, y)
    t0 = time.perf_counter()
    cap = "dt" if args.order == "magnitude" else "lr"
    if args.order == "algebraic":
        args.no_peer = True
    start = top_eigenpairs(start_op, k + 1, tol=args.reference_tol, order=args.order, max_iterations=1000,
                           generator=torch.Generator().manual_seed(0))
    print(f"MLP {config['input_dim']}→{args.width}×{args.depth - 1}→{classes}, P = {start_op.space.numel:,}, "
          f"N = {X.shape[0]}, float64, k = {k}, η = {args.lr}, {args.order} order, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); initial eigenpairs "
          f"{[round(v, 3) for v in start.eigenvalues.tolist()]} ({time.perf_counter() - t0:.1f} s)")

    runs = []
    for spec in variants:
        parts = spec.split(":")
        method, tol = parts[0], float(parts[1])
        guard = int(parts[2]) if len(parts) > 2 else 2
        runs.append(EoslabRun(f"eoslab {method} tol {tol:g} guard {guard}", config, X, y, k, args.lr, method, tol,
                              guard, start.eigenvectors.clone(), reuse_graph=not args.no_reuse_graph,
                              order=args.order, cap=cap))
    if not args.no_peer:
        runs.append(StableSolversRun(config, X, y, k, args.lr,
                                     start.eigenvectors if args.peer_start == "shared" else None))
    seconds = {run.name: [] for run in runs}
    products = {run.name: [] for run in runs}
    for step in range(args.steps):
        for run in runs[step % len(runs):] + runs[:step % len(runs)]:   # rotate who goes first
            t0 = time.perf_counter()
            count = run.step()
            seconds[run.name].append(time.perf_counter() - t0)
            products[run.name].append(count)
    # Reference: the same method, eigenpairs converged tightly, a few steps past the others' last time.
    reference = EoslabRun("reference", config, X, y, k, args.lr, "krylov", args.reference_tol, 2,
                          start.eigenvectors.clone(), reuse_graph=True, max_iterations=1000, order=args.order,
                          cap=cap)
    horizon = max(run.t for run in runs)
    while reference.t <= horizon or len(reference.history) < 2:
        reference.step()
    reference.step()

    rows = []
    for run in runs:
        used = slice(args.skip, None)
        loss_err, lam_err, theta_err = trajectory_errors(run, reference)
        rows.append({"solver": run.name, "seconds_per_step": statistics.median(seconds[run.name][used]),
                     "products_per_step": statistics.median(products[run.name][used]),
                     "mean_products_per_step": float(np.mean(products[run.name][used])),
                     "loss_error": loss_err, "lambda_1_error": lam_err, "theta_error": theta_err,
                     "final_t": run.t, "final_loss": run.history[-1][1]})
    base = next((r for r in rows if r["solver"].startswith("stable")), rows[0])
    print(f"{args.steps} steps each, interleaved; medians over steps {args.skip}..{args.steps - 1}; "
          f"trajectory errors against the reference (krylov, tol {args.reference_tol:g}) at matched t")
    print("| solver | s / step | products / step (median, mean) | max rel. loss error | max rel. λ₁ error "
          "| final θ error | speed-up vs stable-solvers |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['solver']} | {r['seconds_per_step']:.3f} | {r['products_per_step']:.0f}, "
              f"{r['mean_products_per_step']:.1f} | {r['loss_error']:.1e} | {r['lambda_1_error']:.1e} | "
              f"{r['theta_error']:.1e} | {base['seconds_per_step'] / r['seconds_per_step']:.2f}× |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "rows": rows, "P": start_op.space.numel}, handle, indent=1)


if __name__ == "__main__":
    main()
