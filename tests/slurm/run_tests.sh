#!/usr/bin/env bash
# The SLURM profile run for real (issue 23), inside the one-node cluster of tests/slurm/cluster.sh:
#
#   tests/slurm/cluster.sh run tests/slurm/run_tests.sh        (what .ci/run does)
#
# The project's profiles/slurm with only its placeholders filled (account, CPU and GPU partition: a
# copy under results/slurm-test/profile/, checked to differ from the project's in those lines only)
# and conda switched off on the command line (--sdm env-modules; no rule declares modules, so jobs
# run in the active Python environment):
# 1. The sbatch command line the plugin builds for one paper-config training job (GPU request),
#    recorded under results/slurm-test/ (the node has no GPU: SLURM refuses it, which is expected).
# 2. Faults (tests/slurm/faults.yaml): `scontrol requeue` of a training job after its first
#    checkpoint (the job comes back and resumes; a run finished before is untouched), `scancel` of
#    another (Snakemake's retry resubmits it and it resumes), and a training job over a one-minute
#    time limit (--set-resources train:runtime=1: TIMEOUT in Snakemake's output and the SLURM job
#    log, the retry resumes).
# 3. The tiny config's jacobian_alignment study, every rule a real sbatch job; sacct must list one
#    COMPLETED job per job Snakemake ran, and every output must equal a local run's (training logs
#    and analysis frames exactly, same tables).
#
# Needs SLURM_CONF (set by cluster.sh run) and the project's virtual environment active.
# Outputs under results/slurm-test/; a summary in results/slurm-test/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { echo "run_tests.sh: FAIL: $*" >&2; exit 1; }
say() { echo "run_tests.sh: $*"; }

[ -n "${SLURM_CONF:-}" ] || die "SLURM_CONF is not set: run me as  tests/slurm/cluster.sh run $0"
sinfo -h >/dev/null || die "sinfo cannot reach the cluster (SLURM_CONF=$SLURM_CONF)"
command -v snakemake >/dev/null || die "snakemake not found: activate the project's virtual environment"

OUT=results/slurm-test
rm -rf "$OUT"
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
ACCOUNT=${EOSLAB_SLURM_ACCOUNT:-eoslab}

note "Slurm: $(sinfo -V); executor plugin: $(python -c 'import importlib.metadata as m; print(m.version("snakemake-executor-plugin-slurm"), "| jobstep", m.version("snakemake-executor-plugin-slurm-jobstep"), "| snakemake", m.version("snakemake"))')"
note "node: $(sinfo -h -N -o '%N %c CPUs %m MB' | sort -u | head -n1); partitions: $(sinfo -h -o %P | tr '\n' ' ')"

# ---- the project's profile, placeholders filled ------------------------------------------------
PROFILE=$OUT/profile
mkdir -p "$PROFILE"
sed -e "s/\"YOUR_ACCOUNT\"/\"$ACCOUNT\"/" -e 's/"YOUR_CPU_PARTITION"/"cpu"/' -e 's/"YOUR_GPU_PARTITION"/"gpu"/' \
    profiles/slurm/config.yaml >"$PROFILE/config.yaml.tmp"
mv "$PROFILE/config.yaml.tmp" "$PROFILE/config.yaml"
changed=$(diff profiles/slurm/config.yaml "$PROFILE/config.yaml" | grep -c '^>' || true)
diff profiles/slurm/config.yaml "$PROFILE/config.yaml" | grep '^[<>]' | grep -vq 'slurm_account\|slurm_partition' \
    && die "the filled profile differs from profiles/slurm in more than the placeholders"
grep -q YOUR_ "$PROFILE/config.yaml" && die "placeholders left in $PROFILE/config.yaml"
note "profile: profiles/slurm with $changed placeholder lines filled (account $ACCOUNT, partitions cpu and gpu)"
# --sdm env-modules: no conda here (the README's no-conda switch).  The status-check interval is
# the only other command-line setting: the plugin's default first check after 40 s (growing by 10 s
# while nothing finishes) would make the short tiny jobs wait on polling, not on SLURM.
SM=(snakemake --profile "$PROFILE" --sdm env-modules --slurm-init-seconds-before-status-checks 5)

# ---- 1. the sbatch line of a paper-config training job -----------------------------------------
say "sbatch command line for one paper-config train job (GPU request)"
PAPER=$OUT/paper
python tests/slurm/check.py study-config config/paper/jacobian_alignment.yaml jacobian_alignment "$PAPER" "$OUT/paper.yaml"
size=$(python -c "import yaml; c = yaml.safe_load(open('$OUT/paper.yaml'))['jacobian_alignment']; print([r for r in c['experiments'] if r['dataset'] == 'dice'][0]['sizes'][0])")
target=$PAPER/jacobian_alignment/runs/dice/cross_entropy/n${size}_s0_i0/finished.json
# The training job's inputs stand in as empty files: the job is only submitted, never run.
mkdir -p "$PAPER/jacobian_alignment/data/dice"
touch "$PAPER/jacobian_alignment/data/dice/train_n${size}_s0.npz" "$PAPER/jacobian_alignment/data/dice/train_n${size}_s0.json"
"${SM[@]}" --configfile "$OUT/paper.yaml" --allowed-rules train --verbose --retries 0 "$target" \
    >"$OUT/paper-train-sbatch.log" 2>&1 || true
grep -m1 -o "sbatch call: sbatch .*" "$OUT/paper-train-sbatch.log" | sed -e 's/^sbatch call: //' -e 's/ --wrap=.*//' >"$OUT/paper-train-sbatch.txt" \
    || die "no sbatch call in $OUT/paper-train-sbatch.log"
grep -q -- "--gpus=1" "$OUT/paper-train-sbatch.txt" || die "the paper train job's sbatch line has no --gpus=1: $(cat "$OUT/paper-train-sbatch.txt")"
note "paper train job: $(cat "$OUT/paper-train-sbatch.txt") --wrap=\"…\""
note "  SLURM's answer on this GPU-less node: $(grep -o "error message was '[^']*'" "$OUT/paper-train-sbatch.log" | head -n1)"
# ---- 2. faults ---------------------------------------------------------------------------------
FAULTS=$OUT/faults
RUNS=$FAULTS/jacobian_alignment/runs/dice
LOGS=$FAULTS/jacobian_alignment/logs/train/dice
run_of() { echo "$1/n$2_s0_i0"; }   # criterion, size

# The SLURM job id running the train job of dice/<criterion>/n<size> (from the job comment the
# plugin sets: rule_train_wildcards_<values>), or nothing.
job_of() {
    squeue -h -t RUNNING -o '%i|%k' | awk -F'|' -v pat="^rule_train_wildcards_dice_$1_$2_0_0\$" '$2 ~ pat {print $1}'
}
# wait_until SECONDS DESCRIPTION COMMAND...
wait_until() {
    local deadline=$((SECONDS + $1)) what=$2; shift 2
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || die "timed out ($1 s) waiting for: $what"
        sleep 0.5
    done
}
mid_training() {  # criterion size: has a checkpoint, not finished, and its job is running
    [ -e "$RUNS/$(run_of "$1" "$2")/checkpoint.pt" ] && [ ! -e "$RUNS/$(run_of "$1" "$2")/finished.json" ] \
        && [ -n "$(job_of "$1" "$2")" ]
}
finished() { [ -e "$RUNS/$(run_of "$1" "$2")/finished.json" ]; }

say "fault trials (a) requeue and (b) scancel: tests/slurm/faults.yaml"
targets=("$RUNS/cross_entropy/n16_s0_i0/finished.json" "$RUNS/cross_entropy/n32_s0_i0/finished.json"
         "$RUNS/cross_entropy/n64_s0_i0/finished.json")
# Targets before --config (which takes every word up to the next option).
"${SM[@]}" "${targets[@]}" --configfile tests/slurm/faults.yaml --config "results=$FAULTS" \
    >"$OUT/faults-ab.log" 2>&1 &
sm_pid=$!
trap 'kill -TERM $sm_pid 2>/dev/null || true' EXIT
# (a) once n16 has finished, requeue whichever long run is mid-training; (b) scancel the other.
wait_until 600 "run n16 finished" finished cross_entropy 16
finished_before=$(stat -c %Y "$RUNS/cross_entropy/n16_s0_i0/finished.json" "$RUNS/cross_entropy/n16_s0_i0/log.parquet")
pick() { mid_training cross_entropy 32 && { requeued=32; return 0; }; mid_training cross_entropy 64 && { requeued=64; return 0; }; return 1; }
wait_until 600 "a long run mid-training (checkpoint written, job running)" pick
other=$([ "$requeued" = 32 ] && echo 64 || echo 32)
requeue_job=$(job_of cross_entropy "$requeued")
scontrol requeue "$requeue_job" || die "scontrol requeue $requeue_job failed"
note "(a) scontrol requeue $requeue_job: training dice/cross_entropy/n$requeued after its checkpoint at iteration $(python -c "import torch; print(torch.load('$RUNS/cross_entropy/n${requeued}_s0_i0/checkpoint.pt', weights_only=True)['iteration'])" 2>/dev/null || echo '?')"
wait_until 600 "run n$other mid-training" mid_training cross_entropy "$other"
cancel_job=$(job_of cross_entropy "$other")
scancel "$cancel_job" || die "scancel $cancel_job failed"
note "(b) scancel $cancel_job: training dice/cross_entropy/n$other while running"
wait "$sm_pid" || { tail -n 40 "$OUT/faults-ab.log"; die "Snakemake failed in the requeue/scancel trial (log $OUT/faults-ab.log)"; }
trap - EXIT
for size in 16 32 64; do
    status=$(python -c "import json; print(json.load(open('$RUNS/cross_entropy/n${size}_s0_i0/status.json'))['status'])")
    [ "$size" = 16 ] && want=max_iterations || want=converged
    [ "$status" = "$want" ] || die "run n$size ended with status $status, expected $want"
done
grep -q "resuming" "$LOGS/cross_entropy/n${requeued}_s0_i0.log" || die "the requeued run n$requeued did not resume (no 'resuming' in its log)"
grep -q "resuming" "$LOGS/cross_entropy/n${other}_s0_i0.log" || die "the cancelled run n$other did not resume after the retry"
[ "$(stat -c %Y "$RUNS/cross_entropy/n16_s0_i0/finished.json" "$RUNS/cross_entropy/n16_s0_i0/log.parquet")" = "$finished_before" ] \
    || die "the run finished before the faults (n16) was rewritten"
requeue_states=$(sacct -n -X -D -P -j "$requeue_job" -o State | tr '\n' ' ')
echo "$requeue_states" | grep -q REQUEUED || die "sacct does not show job $requeue_job requeued: $requeue_states"
echo "$requeue_states" | grep -q COMPLETED || die "the requeued job $requeue_job did not complete: $requeue_states"
grep -q "SLURM-job '$cancel_job' failed, SLURM status is: 'CANCELLED'" "$OUT/faults-ab.log" \
    || die "Snakemake's output does not report job $cancel_job CANCELLED"
retry_job=$(grep -o "has been submitted with SLURM jobid [0-9]*" "$OUT/faults-ab.log" | awk '{print $NF}' | awk -v c="$cancel_job" '$1 > c' | tail -n1)
note "(a) requeued job $requeue_job: sacct states $requeue_states; its log: $(grep -h 'resuming' "$LOGS/cross_entropy/n${requeued}_s0_i0.log" | head -n1 | sed 's/.*resuming/resuming/')"
note "(a) run n16 (finished before the faults) untouched; n32, n64 converged"
note "(b) Snakemake: job $cancel_job CANCELLED, retried as job ${retry_job:-?}; its log: $(grep -h 'resuming' "$LOGS/cross_entropy/n${other}_s0_i0.log" | head -n1 | sed 's/.*resuming/resuming/')"

say "fault trial (c): a training job over its time limit (--set-resources train:runtime=1)"
long=$RUNS/mse/n128_s0_i0
# --retries 10 instead of the profile's 3: each one-minute attempt loses its start-up (a Snakemake
# job step parsing the workflow), which on a loaded 2-core machine can be most of the minute.
"${SM[@]}" --configfile tests/slurm/faults.yaml --config "results=$FAULTS" --set-resources train:runtime=1 \
    train:slurm_partition=gpu --retries 10 "$long/finished.json" >"$OUT/faults-c.log" 2>&1 \
    || { tail -n 40 "$OUT/faults-c.log"; die "Snakemake failed in the time-limit trial (log $OUT/faults-c.log)"; }
timeout_job=$(grep -o "SLURM-job '[0-9]*' failed, SLURM status is: 'TIMEOUT'" "$OUT/faults-c.log" | head -n1 | grep -o "[0-9]*" | head -n1)
[ -n "$timeout_job" ] || die "no TIMEOUT in Snakemake's output (log $OUT/faults-c.log): the run was shorter than its 1-minute limit?"
slurm_log=$(ls .snakemake/slurm_logs/rule_train/*/"$timeout_job".log 2>/dev/null | head -n1)
[ -n "$slurm_log" ] && grep -q "DUE TO TIME LIMIT" "$slurm_log" || die "the SLURM log of job $timeout_job does not say DUE TO TIME LIMIT"
grep -q "SIGTERM: checkpoint written" "$LOGS/mse/n128_s0_i0.log" || die "the timed-out run wrote no checkpoint on SIGTERM"
grep -q "resuming" "$LOGS/mse/n128_s0_i0.log" || die "the retry after the time limit did not resume"
status=$(python -c "import json; s = json.load(open('$long/status.json')); print(s['status'], s['iteration'])")
[ "$status" = "max_iterations 250" ] || die "the time-limit run ended as '$status', expected 'max_iterations 250'"
cp "$slurm_log" "$OUT/timeout-job-$timeout_job.log"
note "(c) job $timeout_job: Snakemake: $(grep -o "SLURM-job '$timeout_job' failed, SLURM status is: 'TIMEOUT'" "$OUT/faults-c.log" | head -n1); SLURM job log: $(grep -o 'CANCELLED AT .* DUE TO TIME LIMIT' "$slurm_log" | head -n1); $(grep -c "DUE TO TIME LIMIT" "$OUT"/faults-c.log .snakemake/slurm_logs/rule_train/*/*.log 2>/dev/null | awk -F: '{s += $2} END {print s}') time-limit kills in all"
note "(c) training log: $(grep -h 'SIGTERM: checkpoint written' "$LOGS/mse/n128_s0_i0.log" | sed 's/.*SIGTERM/SIGTERM/' | tr '\n' ';') $(grep -h 'resuming' "$LOGS/mse/n128_s0_i0.log" | sed 's/.*resuming/resuming/' | tr '\n' ';') ended: $status"

# ---- 3. tiny jacobian_alignment: SLURM vs local ------------------------------------------------
python tests/slurm/check.py study-config config/tiny.yaml jacobian_alignment "$OUT/local" "$OUT/tiny-local.yaml"
python tests/slurm/check.py study-config config/tiny.yaml jacobian_alignment "$OUT/slurm" "$OUT/tiny-slurm.yaml"
expected=$(snakemake -n --quiet rules all --configfile "$OUT/tiny-slurm.yaml" | awk '$1 == "total" {t = $2} $1 == "all" {a = $2} END {print t - a}')
[ "${expected:-0}" -gt 0 ] || die "the dry run of the tiny jacobian_alignment config shows no jobs"

say "local run of the tiny jacobian_alignment config (snakemake -c2)"
start=$(date +%s)
snakemake -c2 all --configfile "$OUT/tiny-local.yaml" >"$OUT/tiny-local.log" 2>&1 \
    || { tail -n 30 "$OUT/tiny-local.log"; die "the local run failed (log $OUT/tiny-local.log)"; }
local_s=$(( $(date +%s) - start ))

say "the same config through SLURM (${SM[*]})"
start=$(date +%s)
"${SM[@]}" all --configfile "$OUT/tiny-slurm.yaml" >"$OUT/tiny-slurm.log" 2>&1 \
    || { tail -n 40 "$OUT/tiny-slurm.log"; die "the SLURM run failed (log $OUT/tiny-slurm.log)"; }
slurm_s=$(( $(date +%s) - start ))
note "tiny jacobian_alignment ($expected jobs): local ${local_s} s, through SLURM ${slurm_s} s"
python tests/slurm/check.py sacct "$OUT/tiny-slurm.log" "$expected" | tee -a "$SUMMARY"
python tests/slurm/check.py compare "$OUT/local/jacobian_alignment" "$OUT/slurm/jacobian_alignment" | tee -a "$SUMMARY"
grep -q "slurm_partition=gpu" "$OUT/tiny-slurm.log" || die "no job went to the gpu partition (train/analyze)"

say "all SLURM checks passed; summary in $SUMMARY"
