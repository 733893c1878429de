"""The layerwise decomposition of one snapshot: eoslab vs the paper's own method (Supplement 7.1).

Both compute, over ``N`` samples of the same MLP (default the paper's
3072→512×5→10, float64, random data), ``E‖K‖²``, ``E‖Kⁱ‖²`` for every layer,
``E(χⁱ)²``, ``E‖∂x̂^{i+1}/∂x̂ⁱ‖²`` and ``E‖Δ^{i+1} ∂x̂^{i+1}/∂x̂ⁱ‖²`` (from which every
ratio and product of Eqs. 6–7 is arithmetic):

* **paper**: the full per-sample parameter Jacobian ``∂f/∂θ`` (``O × P``) with
  ``torch.func`` (``vmap(jacrev)``, in chunks), the symmetric root ``R`` by
  eigendecomposition, ``K = R ∂f/∂θ``, eigenvalues of ``KKᵀ`` and of each layer
  block's ``KⁱKⁱᵀ``; the layerwise Jacobians by ``vmap(jacrev)`` and their top
  singular value by one ``torch.lobpcg`` call per sample and layer on ``MᵀM``;
  ``Δ^{i+1}`` from the bias block of ``K`` (``R ∂f/∂b^{i+1} = R J_{i+1}``) times ``√a``.
* **eoslab**: :func:`eoslab.decomposition.layerwise_decomposition` (one forward
  pass, one backward recursion of ``O × nᵢ`` Jacobians, ``O × O`` eigenvalues, and
  batched Lanczos on ``diag(d) AᵀA diag(d)``).

The Hessian/G/H eigenvalues are left out: both methods get them from the same
matrix-free products.  Each method runs in its own subprocess so its peak RSS
is its own; the parent prints wall times, peak RSS, the ratio, and the largest
relative difference between the two methods' results.  The paper's method
needs ``O·P·8`` bytes per sample in flight (210 MB at paper size), so it is
timed on ``--paper-samples`` samples and its time scaled linearly in ``N``.

    python benchmarks/bench_snapshot_analysis.py --num-samples 512 --paper-samples 32
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch


def make_problem(args, n):
    from eoslab.models import build_model

    model = build_model({"input_dim": args.input_dim, "output_dim": args.classes, "depth": args.depth,
                         "width": args.width, "init_seed": args.seed}, device=args.device)
    gen = torch.Generator().manual_seed(args.seed + 1)
    X = torch.randn(n, args.input_dim, dtype=torch.float64, generator=gen).to(args.device)
    y = torch.randint(0, args.classes, (n,), generator=gen).to(args.device)
    return model, X, y


def run_eoslab(args, model, criterion, X, y):
    from eoslab.decomposition import layerwise_decomposition

    d = layerwise_decomposition(model, criterion, X, y, chunk_size=args.chunk_size)
    return {"EK2": d.EK2, "EK2_layer": d.EK2_layer, "chi2": d.chi2, "EJ2": d.EJ2, "EDeltaJ2": d.EDeltaJ2}


def run_paper(args, model, criterion, X, y):
    from torch.func import functional_call, jacrev, vmap

    L = model.depth
    params = {n: p.detach() for n, p in model.named_parameters()}

    def f(p, x):
        return functional_call(model, p, (x.unsqueeze(0),)).squeeze(0)

    sums = {"EK2": 0.0, "EK2_layer": [0.0] * L, "chi2": [0.0] * (L - 1), "EJ2": [0.0] * (L - 1),
            "EDeltaJ2": [0.0] * (L - 1)}
    chunk = args.paper_chunk
    for start in range(0, X.shape[0], chunk):
        x, t = X[start:start + chunk], y[start:start + chunk]
        jac = vmap(jacrev(f), in_dims=(None, 0))(params, x)          # {name: (b, O, *shape)}
        z = functional_call(model, params, (x,)).detach()
        w, V = torch.linalg.eigh(criterion.output_hessian(z, t))
        R = V @ torch.diag_embed(w.clamp_min(0).sqrt()) @ V.transpose(1, 2)
        K_layers = []
        for i in range(L):
            block = torch.cat([jac[f"linears.{i}.weight"].flatten(2), jac[f"linears.{i}.bias"]], dim=2)
            K_layers.append(R @ block)
        KKt = sum(K @ K.transpose(1, 2) for K in K_layers)
        sums["EK2"] += float(torch.linalg.eigvalsh(KKt)[:, -1].sum())
        for i, K in enumerate(K_layers):
            sums["EK2_layer"][i] += float(torch.linalg.eigvalsh(K @ K.transpose(1, 2))[:, -1].sum())
        # activations for χ and the layerwise Jacobians
        h, acts, pres = x, [x], []
        for i, linear in enumerate(model.linears):
            pre = linear(h).detach()
            pres.append(pre)
            if i < L - 1:
                h = model.activation(pre)
                acts.append(h)
        a = [1 + (v ** 2).sum(dim=1) for v in acts]
        for i in range(L - 1):
            sums["chi2"][i] += float((a[i] / a[i + 1]).sum())
            nxt = model.linears[i + 1]

            def step(hh, nxt=nxt):
                return nxt(model.activation(hh))

            M = vmap(jacrev(step))(pres[i]).detach()                # (b, n_{i+1}, n_i)
            for b in range(M.shape[0]):
                MtM = M[b].T @ M[b]
                value, _ = torch.lobpcg(MtM, k=1, largest=True, tol=1e-10, niter=1000)
                sums["EJ2"][i] += float(value[0])
            # Δ^{i+1} = √a_{i+1} R ∂f/∂b^{i+1}
            Delta_next = a[i + 1].sqrt().reshape(-1, 1, 1) * (R @ jac[f"linears.{i + 1}.bias"])
            P = Delta_next @ M
            sums["EDeltaJ2"][i] += float(torch.linalg.eigvalsh(P @ P.transpose(1, 2))[:, -1].sum())
        del jac
    n = X.shape[0]
    return {k: (v / n if isinstance(v, float) else [u / n for u in v]) for k, v in sums.items()}


def child(args):
    from eoslab.criteria import get_criterion

    n = args.num_samples if args.method == "eoslab" else args.paper_samples
    model, X, y = make_problem(args, n)
    criterion = get_criterion("cross_entropy")
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = (run_eoslab if args.method == "eoslab" else run_paper)(args, model, criterion, X, y)
    if args.device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(json.dumps({"method": args.method, "samples": n, "seconds": seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda" else None,
                      "result": result}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=512)
    parser.add_argument("--paper-samples", type=int, default=32)
    parser.add_argument("--paper-chunk", type=int, default=8)
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--input-dim", type=int, default=3072)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--method", choices=("eoslab", "paper"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.method:
        return child(args)
    results = {}
    for method in ("paper", "eoslab"):
        command = [sys.executable, __file__, "--method", method] + sys.argv[1:]
        output = subprocess.run(command, capture_output=True, text=True)
        if output.returncode:
            sys.exit(f"{method} failed:\n{output.stderr}")
        results[method] = json.loads(output.stdout.strip().splitlines()[-1])
    paper, ours = results["paper"], results["eoslab"]
    per_sample_paper = paper["seconds"] / paper["samples"]
    per_sample_ours = ours["seconds"] / ours["samples"]
    print(f"MLP {args.input_dim}→{args.width}×{args.depth - 1}→{args.classes}, float64, device {args.device}")
    for r in (paper, ours):
        gpu = f", peak GPU {r['peak_gpu_mb']:.0f} MB" if r["peak_gpu_mb"] is not None else ""
        print(f"{r['method']:>7}: N = {r['samples']:5d}  {r['seconds']:9.2f} s  "
              f"({1000 * r['seconds'] / r['samples']:8.2f} ms/sample)  peak RSS {r['peak_rss_mb']:.0f} MB{gpu}")
    print(f"speed-up per sample (paper / eoslab): {per_sample_paper / per_sample_ours:.1f}x")
    # Accuracy: rerun eoslab on the paper's samples in-process and compare.
    model, X, y = make_problem(args, args.paper_samples)
    from eoslab.criteria import get_criterion
    check = run_eoslab(args, model, get_criterion("cross_entropy"), X, y)
    worst = 0.0
    for key, value in paper["result"].items():
        a = value if isinstance(value, list) else [value]
        b = check[key] if isinstance(check[key], list) else [check[key]]
        worst = max(worst, max(abs(u - v) / abs(v) for u, v in zip(a, b)))
    print(f"largest relative difference between the methods on {args.paper_samples} samples: {worst:.2e}")


if __name__ == "__main__":
    main()
