"""Seconds per exponential Euler step at the paper's size, and achieved FP64 FLOP/s.

The paper's largest run: MLP 3072→512×5→10 (P = 2,630,154), N = 6250 CIFAR-10
samples, float64, k = 10 so 11 Hessian eigenpairs per step.  Random inputs
stand in for CIFAR-10 (the cost does not depend on the values).  Steps:

1. one pass of loss + gradient over the data;
2. one block Hessian product with ``k+1+guard`` columns (seconds per column);
3. a cold eigensolve (tolerance ``--cold-tol``), then ``--steps`` exponential
   Euler steps, each with a warm-started eigensolve at ``--tol`` (the trainer's
   default 1e-6): the steady-state seconds per training step.

FLOP/s are model-based: a forward pass costs 2·N·P flops, a gradient 6·N·P and
a Hessian product column (reverse-over-reverse) about 12·N·P; the eigensolver's
dense algebra is not counted.  On a GPU the script uses it (``--device cuda``)
and reports the peak of ``torch.cuda.max_memory_allocated``.  ``--reuse-graph``
(default on, as in the trainer) shares the gradient's forward/backward pass with
the step's products; ``--json FILE`` writes the numbers for benchmarks/gpu_suite.sh.
Smaller problems for a smoke test: ``--input-dim``, ``--width``, ``--num-samples``.
"""

from __future__ import annotations

import argparse
import time

import torch


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=6250)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--chunk-size", type=int, default=6250)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--cold-tol", type=float, default=1e-4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--method", default="lanczos", choices=("krylov", "lanczos", "lobpcg"))
    parser.add_argument("--guard", type=int, default=2)
    parser.add_argument("--reuse-graph", default="true", choices=("true", "false"))
    parser.add_argument("--input-dim", type=int, default=3072)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args()

    from eoslab.criteria import CrossEntropy
    from eoslab.curvature import HessianOperator
    from eoslab.eigensolvers import top_eigenpairs
    from eoslab.integrators import exponential_euler_step
    from eoslab.models import build_model, count_parameters

    device = torch.device(args.device)
    N, k = args.num_samples, 10
    model = build_model({"input_dim": args.input_dim, "output_dim": 10, "width": args.width}, device=device)
    P = count_parameters(model)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(N, args.input_dim, dtype=torch.float64, generator=gen).to(device)
    y = torch.randint(0, 10, (N,), generator=gen).to(device)
    op = HessianOperator(model, CrossEntropy(), X, y, chunk_size=args.chunk_size,
                         reuse_graph=args.reuse_graph == "true")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"MLP {args.input_dim}→{args.width}×5→10, P = {P:,}, N = {N}, float64, {name}, torch {torch.__version__}, "
          f"eigensolver {args.method} (tol {args.tol:g}, guard {args.guard}), reuse_graph {args.reuse_graph}")
    record = {"P": P, "N": N, "device": name, "method": args.method, "tol": args.tol, "guard": args.guard,
              "reuse_graph": args.reuse_graph == "true", "torch": torch.__version__, "steps": []}

    op.loss_and_gradient()  # warm-up
    op.refresh()            # drop the kept graph (reuse_graph) so that the pass below is timed
    sync(device)
    t0 = time.perf_counter()
    result = op.loss_and_gradient()
    sync(device)
    t_grad = time.perf_counter() - t0
    print(f"loss + gradient: {t_grad:.3f} s  ({6 * N * P / t_grad / 1e9:.1f} GFLOP/s)")
    record.update(gradient_seconds=t_grad, gradient_gflops=6 * N * P / t_grad / 1e9)

    cols = k + 1 + 2
    V = torch.randn(P, cols, dtype=torch.float64, generator=gen).to(device)
    op.matmat(V[:, :2])  # warm-up
    sync(device)
    t0 = time.perf_counter()
    op.matmat(V)
    sync(device)
    t_block = time.perf_counter() - t0
    print(f"Hessian product, {cols} columns: {t_block:.3f} s = {t_block / cols:.3f} s/column "
          f"({12 * N * P * cols / t_block / 1e9:.1f} GFLOP/s)")
    record.update(block_columns=cols, block_seconds=t_block, block_gflops=12 * N * P * cols / t_block / 1e9)

    t0 = time.perf_counter()
    eig = top_eigenpairs(op, k + 1, tol=args.cold_tol, method=args.method, guard=args.guard,
                         generator=torch.Generator().manual_seed(0))
    sync(device)
    cold = time.perf_counter() - t0
    print(f"cold eigensolve (tol {args.cold_tol:g}): {cold:.1f} s, {eig.matvecs} products, "
          f"λ1 = {eig.eigenvalues[0]:.5g}, λ{k + 1} = {eig.eigenvalues[k]:.5g}")
    record.update(cold_seconds=cold, cold_products=eig.matvecs)
    theta = op.space.flatten(op.space.values(model))
    block = eig.block
    for step in range(args.steps):
        t0 = time.perf_counter()
        result = op.loss_and_gradient()
        eig = top_eigenpairs(op, k + 1, tol=args.tol, initial=block, method=args.method, guard=args.guard,
                             generator=torch.Generator().manual_seed(0))
        block = eig.block
        theta, info = exponential_euler_step(theta, result.gradient, eig.eigenvalues, eig.eigenvectors[:, :k], args.lr)
        op.space.assign(model, theta)
        op.refresh()
        sync(device)
        seconds = time.perf_counter() - t0
        flops = 6 * N * P + 12 * N * P * eig.matvecs
        print(f"step {step + 1}: {seconds:.1f} s, warm eigensolve {eig.matvecs} products in {eig.iterations} "
              f"iterations (converged {eig.converged}), Δt = {info.dt:.4g}, loss {result.loss:.5f} "
              f"({flops / seconds / 1e9:.1f} GFLOP/s)")
        record["steps"].append({"seconds": seconds, "products": eig.matvecs, "iterations": eig.iterations,
                                "converged": eig.converged, "dt": info.dt, "gflops": flops / seconds / 1e9,
                                "max_relative_residual": float(eig.residual_norms.max() / eig.eigenvalues.abs().max())})
    if device.type == "cuda":
        record["peak_gpu_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        print(f"peak GPU memory: {record['peak_gpu_gib']:.2f} GiB")
    if args.json:
        import json

        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=1)


if __name__ == "__main__":
    main()
