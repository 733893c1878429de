#!/usr/bin/env bash
# One command for the CUDA checks of issue 12, well inside 10 minutes on one GPU:
#
#   1. the engine tests on the GPU: pytest --device cuda on the curvature, eigensolver,
#      integrator, decomposition and training tests (tests/conftest.py's --device option);
#   2. the tiny pipeline (config/tiny.yaml's jacobian_alignment section; device auto = cuda),
#      checking that training and analysis ran on cuda;
#   3. the paper-size benchmarks: seconds per exponential Euler step with the block Krylov
#      solver and with ARPACK Lanczos (products per step, peak GPU memory, achieved FP64
#      FLOP/s), and one snapshot analysis at N = 6250.
#
# Every table and log goes into one folder: $OUT if set, else results/gpu_suite.
#
#   bash benchmarks/gpu_suite.sh                 # on a CUDA machine
#   DEVICE=cpu SMOKE=1 bash benchmarks/gpu_suite.sh   # CPU smoke test of the same steps (small sizes)
#   SKIP_TINY=1 ...                                    # leave out the tiny pipeline
#
# Determinism: CUBLAS_WORKSPACE_CONFIG is set so that cuBLAS picks deterministic reductions;
# the resume test (bit-identical logs after a kill) is run on the GPU too and reports whether that
# CPU promise also holds there (benchmarks/README.md, "CUDA").
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-results/gpu_suite}
DEVICE=${DEVICE:-cuda}
SMOKE=${SMOKE:-0}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export CUBLAS_WORKSPACE_CONFIG=:4096:8
export PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python}
status=0
summary="$OUT/summary.md"
: > "$summary"

step() {  # step NAME COMMAND...: run, log to $OUT/NAME.txt, record the exit code and wall time
    local name=$1; shift
    local started=$SECONDS
    echo "== $name: $*"
    "$@" > "$OUT/$name.txt" 2>&1
    local rc=$?
    echo "| $name | exit $rc | $((SECONDS - started)) s |" >> "$summary"
    tail -n 25 "$OUT/$name.txt"
    [ $rc -eq 0 ] || status=1
}

"$PYTHON" - <<'EOF' > "$OUT/environment.txt" 2>&1
import platform, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "python", platform.python_version())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0), f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
EOF
cat "$OUT/environment.txt"

# 1. Engine tests on the device.
step tests "$PYTHON" -m pytest -q -p no:cacheprovider --device "$DEVICE" \
    tests/test_curvature.py tests/test_eigensolvers.py tests/test_integrators.py tests/test_decomposition.py \
    "tests/test_decompose_api.py::test_decompose_matches_dense_computation" \
    tests/test_training.py --junitxml="$OUT/tests.xml"

# 2. The tiny pipeline, jacobian_alignment only, into $OUT/tiny (device auto: cuda when available).
"$PYTHON" - "$OUT" <<'EOF'
import sys, yaml
tiny = yaml.safe_load(open("config/tiny.yaml"))
yaml.safe_dump({"results": f"{sys.argv[1]}/tiny", "jacobian_alignment": tiny["jacobian_alignment"]},
               open(f"{sys.argv[1]}/tiny_config.yaml", "w"), sort_keys=False)
EOF
if [ "${SKIP_TINY:-0}" != 1 ]; then
step tiny_pipeline snakemake -c2 all --configfile "$OUT/tiny_config.yaml" --directory "$ROOT"
step tiny_devices "$PYTHON" - "$OUT" "$DEVICE" <<'EOF'
import json, pathlib, sys
runs = sorted(pathlib.Path(sys.argv[1], "tiny").rglob("run.json"))
devices = {json.loads(p.read_text())["device"] for p in runs}
print(f"{len(runs)} training runs; devices {sorted(devices)}")
sys.exit(0 if runs and all(d.startswith(sys.argv[2]) for d in devices) else 1)
EOF
fi

# 3. Paper-size benchmarks (SMOKE=1: small sizes, for a CPU check of this script).
if [ "$SMOKE" = 1 ]; then
    SIZE=(--num-samples 128 --chunk-size 128 --input-dim 256 --width 64)
    SNAP=(--num-samples 128 --paper-samples 4 --input-dim 256 --width 64)
else
    SIZE=(--num-samples 6250 --chunk-size 6250)
    SNAP=(--num-samples 6250 --paper-samples 32)
fi
for method in krylov lanczos; do
    step "exp_euler_$method" "$PYTHON" benchmarks/bench_exp_euler_step.py --device "$DEVICE" --method "$method" \
        --tol 1e-6 --steps 3 "${SIZE[@]}" --json "$OUT/exp_euler_$method.json"
done
step exp_euler_krylov_loose "$PYTHON" benchmarks/bench_exp_euler_step.py --device "$DEVICE" --method krylov \
    --tol 1e-3 --guard 0 --steps 3 "${SIZE[@]}" --json "$OUT/exp_euler_krylov_loose.json"
step snapshot_analysis "$PYTHON" benchmarks/bench_snapshot_analysis.py --device "$DEVICE" "${SNAP[@]}"

"$PYTHON" - "$OUT" <<'EOF' >> "$summary"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print("\n| exp. Euler step | P | N | s / step (median) | products / step | FP64 GFLOP/s | peak GPU GiB |")
print("|---|---:|---:|---:|---:|---:|---:|")
for path in sorted(out.glob("exp_euler_*.json")):
    r = json.loads(path.read_text())
    steps = r["steps"][1:] or r["steps"]
    med = sorted(s["seconds"] for s in steps)[len(steps) // 2]
    prod = sorted(s["products"] for s in steps)[len(steps) // 2]
    gfl = sorted(s["gflops"] for s in steps)[len(steps) // 2]
    print(f"| {r['method']} tol {r['tol']:g} guard {r['guard']} | {r['P']:,} | {r['N']} | {med:.3f} | {prod} | "
          f"{gfl:.0f} | {r.get('peak_gpu_gib', float('nan')):.2f} |")
EOF
cat "$summary"
echo "tables and logs in $OUT"
exit $status
