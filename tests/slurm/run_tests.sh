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
# 2. Faults, in one Snakemake run of tests/slurm/faults.yaml: `scontrol requeue` of a training job
#    after its first checkpoint (SLURM reruns the same job id), `scancel` of another (Snakemake's
#    retry resubmits it), and a training job whose limit is lowered to one minute after its first checkpoint (TIMEOUT in Snakemake's
#    output and the SLURM job log; the retry gets 30 minutes).  In each, the trainer wrote a
#    checkpoint on SIGTERM and the next attempt resumed from exactly that iteration; a run that had
#    finished before is untouched.
# 3. The tiny config's jacobian_alignment study, every rule a real sbatch job; sacct must list one
#    COMPLETED job per job Snakemake ran, and every output must equal a local run's (training logs
#    and analysis frames exactly, same tables).  The local run goes on in the background meanwhile.
# Every Snakemake run and every wait has a wall-clock deadline; any failed check stops the script
# with "run_tests.sh: FAIL: ..." (or check.py's "FAIL") and a non-zero status.
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

# Every Snakemake run has a wall-clock deadline: a job whose end Snakemake never notices (as with
# the plugin's sacct status check after scancel) would otherwise hang the test without a word.
# At the deadline Snakemake gets SIGINT (it cancels its SLURM jobs), SIGKILL 60 s later; the exit
# status is then 124 (or 137).  deadline_failed LOG SECONDS DESCRIPTION explains such an end.
deadline() { local limit=$1; shift; timeout --signal=INT --kill-after=60 "$limit" "$@"; }
# Background Snakemake runs (each under `deadline`, which passes SIGINT on) and helpers: stopped
# when this script ends early; cluster.sh then cancels whatever SLURM jobs are left.
BACKGROUND_INT=() BACKGROUND_TERM=()
stop_background() {
    local pid
    for pid in ${BACKGROUND_INT[@]+"${BACKGROUND_INT[@]}"}; do kill -INT "$pid" 2>/dev/null || true; done
    for pid in ${BACKGROUND_TERM[@]+"${BACKGROUND_TERM[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap stop_background EXIT
deadline_failed() {
    local log=$1 limit=$2 what=$3 rc=$4
    echo "--- last lines of $log:" >&2; tail -n 40 "$log" >&2
    echo "--- squeue:" >&2; squeue -o '%i %P %k %T %M %R' >&2 || true
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        die "$what: Snakemake did not finish within its deadline of $limit s (log $log)"
    fi
    die "$what: Snakemake failed with exit status $rc (log $log)"
}

# ---- 1. the sbatch line of a paper-config training job -----------------------------------------
say "sbatch command line for one paper-config train job (GPU request)"
PAPER=$OUT/paper
python tests/slurm/check.py study-config config/paper/jacobian_alignment.yaml jacobian_alignment "$PAPER" "$OUT/paper.yaml"
size=$(python -c "import yaml; c = yaml.safe_load(open('$OUT/paper.yaml'))['jacobian_alignment']; print([r for r in c['experiments'] if r['dataset'] == 'dice'][0]['sizes'][0])")
target=$PAPER/jacobian_alignment/runs/dice/cross_entropy/n${size}_s0_i0/finished.json
# The training job's inputs stand in as empty files: the job is only submitted, never run.
mkdir -p "$PAPER/jacobian_alignment/data/dice"
touch "$PAPER/jacobian_alignment/data/dice/train_n${size}_s0.npz" "$PAPER/jacobian_alignment/data/dice/train_n${size}_s0.json"
# Snakemake fails here by design (SLURM refuses the GPU request); the deadline still applies.
rc=0
deadline 300 "${SM[@]}" --configfile "$OUT/paper.yaml" --allowed-rules train --verbose --retries 0 "$target" \
    >"$OUT/paper-train-sbatch.log" 2>&1 || rc=$?
[ "$rc" != 124 ] && [ "$rc" != 137 ] || deadline_failed "$OUT/paper-train-sbatch.log" 300 "paper sbatch line" "$rc"
grep -m1 -o "sbatch call: sbatch .*" "$OUT/paper-train-sbatch.log" | sed -e 's/^sbatch call: //' -e 's/ --wrap=.*//' >"$OUT/paper-train-sbatch.txt" \
    || die "no sbatch call in $OUT/paper-train-sbatch.log"
grep -q -- "--gpus=1" "$OUT/paper-train-sbatch.txt" || die "the paper train job's sbatch line has no --gpus=1: $(cat "$OUT/paper-train-sbatch.txt")"
note "paper train job: $(cat "$OUT/paper-train-sbatch.txt") --wrap=\"…\""
note "  SLURM's answer on this GPU-less node: $(grep -o "error message was '[^']*'" "$OUT/paper-train-sbatch.log" | head -n1)"
# ---- 3a. the local reference run of section 3, in the background --------------------------------
# The tiny jacobian_alignment config run locally (snakemake -c2), the reference for the same config
# through SLURM (3b).  It runs while the fault trials and the SLURM run go on: those mostly wait on
# SLURM (job start-up, status checks), and one thread per job keeps the results independent of the
# load (README: threads and bit-identical reruns).
# One config file for both runs, the SLURM run's results root set by --config: the claims table
# names the config file it was built from.
python tests/slurm/check.py study-config config/tiny.yaml jacobian_alignment "$OUT/local" "$OUT/tiny.yaml"
expected=$(snakemake -n --quiet rules all --configfile "$OUT/tiny.yaml" --config "results=$OUT/slurm" | awk '$1 == "total" {t = $2} $1 == "all" {a = $2} END {print t - a}')
[ "${expected:-0}" -gt 0 ] || die "the dry run of the tiny jacobian_alignment config shows no jobs"
say "local run of the tiny jacobian_alignment config (snakemake -c2), in the background"
local_start=$(date +%s)
deadline 1200 snakemake -c2 all --configfile "$OUT/tiny.yaml" >"$OUT/tiny-local.log" 2>&1 &
local_pid=$!
BACKGROUND_INT+=("$local_pid")

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

say "fault trials in one Snakemake run of tests/slurm/faults.yaml: (a) requeue, (b) scancel, (c) time limit"
# (c): every train job is submitted with 30 minutes; once the mse run has a checkpoint, its job's
# limit is lowered to one minute (scontrol update), so SLURM ends it by TIMEOUT mid-training however
# long the job took to start (a one-minute limit at submission raced the start-up on a loaded
# machine: the job could end before the trainer wrote anything).  Its retry keeps 30 minutes.
# train:slurm_partition is repeated so that the train jobs surely stay on the gpu partition.
LIMIT_EXPR="30"
targets=("$RUNS/cross_entropy/n16_s0_i0/finished.json" "$RUNS/cross_entropy/n32_s0_i0/finished.json"
         "$RUNS/cross_entropy/n64_s0_i0/finished.json" "$RUNS/mse/n128_s0_i0/finished.json")
# Targets before --config (which takes every word up to the next option).
deadline 900 "${SM[@]}" "${targets[@]}" --configfile tests/slurm/faults.yaml \
    --set-resources "train:runtime=$LIMIT_EXPR" train:slurm_partition=gpu --config "results=$FAULTS" \
    >"$OUT/faults.log" 2>&1 &
sm_pid=$!
BACKGROUND_INT+=("$sm_pid")
# Each SIGTERM'd trainer records status 'interrupted' with the iteration of the checkpoint it wrote;
# the next attempt overwrites it with 'running' (and Snakemake clears the rule's log before each
# attempt), so a watcher keeps the first 'interrupted' status.json of each long run.
mkdir -p "$OUT/interrupted"
(
    while kill -0 "$sm_pid" 2>/dev/null; do
        for run in cross_entropy/n32 cross_entropy/n64 mse/n128; do
            kept=$OUT/interrupted/${run/\//_}.json
            [ -e "$kept" ] && continue
            status_file=$RUNS/${run}_s0_i0/status.json
            grep -qs '"status": "interrupted"' "$status_file" && cp "$status_file" "$kept.tmp" \
                && grep -qs '"status": "interrupted"' "$kept.tmp" && mv "$kept.tmp" "$kept"
        done
        sleep 0.25
    done
) &
watcher_pid=$!
BACKGROUND_TERM+=("$watcher_pid")
# (a) requeue the first long cross-entropy run seen mid-training, (b) scancel the other one as soon
# as it is mid-training; (c) needs nothing from us.  One polling loop for both: SLURM may run either
# long run first, or both together, and a run is ~20 s from its first checkpoint to its end.
# n16's files are recorded when it has finished, whenever that is.
# What the trainer writes (log, status, snapshots: their times) and finished.json's content.  Not
# finished.json's time: Snakemake touches a remote job's outputs when it registers the job's end
# (check_and_touch_output), which can come after this point.
n16_state() {
    local run=$RUNS/cross_entropy/n16_s0_i0
    stat -c '%Y %n' "$run/log.parquet" "$run/status.json" "$run"/snapshots/*
    sha256sum "$run/finished.json"
}
finished_before="" requeued="" other="" requeue_job="" cancel_job="" limited_job="" faults_done=0
act() {
    if [ -z "$finished_before" ] && finished cross_entropy 16; then
        finished_before=$(n16_state)
        n16_when=$([ $faults_done = 0 ] && echo "before the faults" || echo "after a fault")
    fi
    local size job
    for size in 32 64; do
        [ "$size" = "$requeued" ] || [ "$size" = "$other" ] && continue
        mid_training cross_entropy "$size" || continue
        job=$(job_of cross_entropy "$size")
        [ -n "$job" ] || continue
        if [ -z "$requeued" ]; then
            requeued=$size requeue_job=$job
            scontrol requeue "$requeue_job" || die "scontrol requeue $requeue_job failed"
            note "(a) scontrol requeue $requeue_job: training dice/cross_entropy/n$size, after its first checkpoint"
        else
            other=$size cancel_job=$job
            scancel "$cancel_job" || die "scancel $cancel_job failed"
            note "(b) scancel $cancel_job: training dice/cross_entropy/n$size, after its first checkpoint"
        fi
        faults_done=1
    done
    if [ -z "$limited_job" ] && mid_training mse 128; then
        job=$(job_of mse 128)
        if [ -n "$job" ]; then
            limited_job=$job
            scontrol update JobId="$job" TimeLimit=1 || die "scontrol update JobId=$job TimeLimit=1 failed"
            note "(c) scontrol update JobId=$job TimeLimit=1: training dice/mse/n128, after its first checkpoint"
            faults_done=1
        fi
    fi
    [ -n "$requeued" ] && [ -n "$other" ] && [ -n "$limited_job" ]
}
wait_until 600 "the long runs hit mid-training (requeue: ${requeued:-none yet}; time limit: ${limited_job:-none yet})" act
rc=0; wait "$sm_pid" || rc=$?
[ "$rc" = 0 ] || deadline_failed "$OUT/faults.log" 900 "the fault trials" "$rc"
if [ -z "$finished_before" ]; then finished_before=$(n16_state); n16_when="after the faults"; fi
kill "$watcher_pid" 2>/dev/null || true
wait "$watcher_pid" 2>/dev/null || true

mse_max=$(python -c "import yaml; print([e for e in yaml.safe_load(open('tests/slurm/faults.yaml'))['jacobian_alignment']['experiments'] if e['criterion'] == 'mse'][0]['max_iterations'])")
for run in cross_entropy/n16:max_iterations:20 cross_entropy/n32:converged: cross_entropy/n64:converged: mse/n128:max_iterations:$mse_max; do
    IFS=: read -r name want_status want_iteration <<<"$run"
    got=$(python -c "import json; s = json.load(open('$RUNS/${name}_s0_i0/status.json')); print(s['status'], s['iteration'])")
    [ "${got% *}" = "$want_status" ] || die "run $name ended as '$got', expected status $want_status"
    [ -z "$want_iteration" ] || [ "${got#* }" = "$want_iteration" ] || die "run $name ended as '$got', expected iteration $want_iteration"
done
[ "$(n16_state)" = "$finished_before" ] \
    || die "the finished run n16 was rewritten: before: $(echo $finished_before); after: $(echo $(n16_state))"

# resumed_as_checkpointed NAME TRIAL: the run was SIGTERM'd with a checkpoint at iteration N, and
# its last attempt resumed from iteration N (its log; Snakemake keeps the last attempt's only).
resumed_as_checkpointed() {
    local kept=$OUT/interrupted/${1/\//_}.json log=$LOGS/${1}_s0_i0.log at from
    [ -e "$kept" ] || die "$2: no status 'interrupted' was seen for run $1: its trainer did not write a checkpoint on SIGTERM"
    at=$(python -c "import json; print(json.load(open('$kept'))['iteration'])")
    from=$(grep -ho "resuming .* from iteration [0-9]*" "$log" | tail -n1 | awk '{print $NF}')
    [ -n "$from" ] || die "$2: run $1 did not resume (no 'resuming' in $log)"
    [ "$from" = "$at" ] || die "$2: run $1 resumed from iteration $from, but its SIGTERM checkpoint was at iteration $at"
    echo "$at"
}
at_a=$(resumed_as_checkpointed "cross_entropy/n$requeued" "(a) requeue")
at_b=$(resumed_as_checkpointed "cross_entropy/n$other" "(b) scancel")
# (c) time limit: SLURM signals the job's steps and srun then ends the step, so the trainer may be
# killed before its SIGTERM handler has written a checkpoint (seen on an idle CI machine; on a loaded
# one it usually writes it).  Either way the retry must resume, not restart: from the SIGTERM
# checkpoint if there is one, else from the last periodic checkpoint, with the killed trainer
# recorded as died at that iteration in status.json.
resumed_after_time_limit() {
    local kept=$OUT/interrupted/mse_n128.json log=$LOGS/mse/n128_s0_i0.log from at previous
    from=$(grep -ho "resuming .* from iteration [0-9]*" "$log" | tail -n1 | awk '{print $NF}')
    [ -n "$from" ] && [ "$from" -gt 0 ] \
        || die "(c) time limit: run mse/n128 did not resume from a checkpoint (no 'resuming … from iteration N > 0' in $log)"
    if [ -e "$kept" ]; then
        at=$(python -c "import json; print(json.load(open('$kept'))['iteration'])")
        [ "$from" = "$at" ] || die "(c) time limit: run mse/n128 resumed from iteration $from, but its SIGTERM checkpoint was at iteration $at"
        echo "SIGTERM checkpoint at iteration $at; the retry (30-minute limit) resumed from it"
    else
        previous=$(python -c "import json; p = json.load(open('$RUNS/mse/n128_s0_i0/status.json')).get('previous') or {}; print(p.get('status'), p.get('iteration'))")
        [ "$previous" = "died $from" ] || die "(c) time limit: no SIGTERM checkpoint, and status.json's previous trainer ($previous) is not the died one at the iteration the retry resumed from ($from)"
        echo "killed before its SIGTERM handler wrote a checkpoint (recorded by the retry as died at iteration $from); the retry (30-minute limit) resumed from its last checkpoint, iteration $from"
    fi
}
how_c=$(resumed_after_time_limit)

requeue_states=$(sacct -n -X -D -P -j "$requeue_job" -o State | tr '\n' ' ')
echo "$requeue_states" | grep -q REQUEUED || die "sacct does not show job $requeue_job requeued: $requeue_states"
echo "$requeue_states" | grep -q COMPLETED || die "the requeued job $requeue_job did not complete: $requeue_states"
grep -q "SLURM-job '$cancel_job' failed, SLURM status is: 'CANCELLED'" "$OUT/faults.log" \
    || die "Snakemake's output does not report job $cancel_job CANCELLED (it would wait for it forever: profiles/slurm, slurm-status-command)"
# Submissions (SLURM job id and the log Snakemake named for it) of one run's train jobs, in order.
submissions() { grep -o "submitted with SLURM jobid [0-9]* (log: [^)]*/rule_train/$1/[0-9]*\.log)" "$OUT/faults.log" | sed 's/.*jobid \([0-9]*\) (log: \(.*\))/\1 \2/'; }
retry_job=$(submissions "dice_cross_entropy_${other}_0_0" | awk -v c="$cancel_job" '$1 > c {print $1}' | tail -n1)
[ -n "$retry_job" ] || die "no retry of the cancelled job $cancel_job was submitted"
note "(a) requeued job $requeue_job: sacct states $requeue_states; SIGTERM checkpoint at iteration $at_a, the requeued job resumed from it"
note "(b) Snakemake: SLURM-job '$cancel_job' failed, SLURM status is: 'CANCELLED'; retried as job $retry_job, which resumed from the SIGTERM checkpoint at iteration $at_b"
note "(a, b) run n16, finished $n16_when, untouched to the end; n32 and n64 converged"

# (c): the first attempt of the mse run ended by TIMEOUT, with SLURM's message in its job log.
read -r timeout_job slurm_log <<<"$(submissions dice_mse_128_0_0 | head -n1)"
[ -n "${timeout_job:-}" ] || die "(c) no train job of the mse run was submitted (log $OUT/faults.log)"
[ "$timeout_job" = "$limited_job" ] || die "(c) the mse run's first job was $timeout_job, but the limit was lowered on $limited_job"
grep -q "SLURM-job '$timeout_job' failed, SLURM status is: 'TIMEOUT'" "$OUT/faults.log" \
    || die "(c) Snakemake does not report job $timeout_job (the mse run's first attempt, limit lowered to 1 minute) as TIMEOUT (log $OUT/faults.log)"
# The log path comes from Snakemake's submission line: job ids restart with each test cluster, so a
# log of an earlier cluster may carry the same number.
[ -f "$slurm_log" ] && [ "$slurm_log" -nt "$OUT/profile/config.yaml" ] \
    || die "(c) no SLURM log of job $timeout_job written by this run ($slurm_log)"
grep -q "DUE TO TIME LIMIT" "$slurm_log" || die "(c) the SLURM log of job $timeout_job ($slurm_log) does not say DUE TO TIME LIMIT"
cp "$slurm_log" "$OUT/timeout-job-$timeout_job.log"
note "(c) job $timeout_job (limit lowered to 1 minute): Snakemake: $(grep -o "SLURM-job '$timeout_job' failed, SLURM status is: 'TIMEOUT'" "$OUT/faults.log" | head -n1); its SLURM log: $(grep -o 'CANCELLED AT .* DUE TO TIME LIMIT' "$slurm_log" | head -n1)"
note "(c) $how_c, and ended at max_iterations $mse_max"

# ---- 3b. tiny jacobian_alignment through SLURM, compared with the local run ---------------------
say "the tiny jacobian_alignment config through SLURM (${SM[*]})"
start=$(date +%s)
rc=0
deadline 1200 "${SM[@]}" all --configfile "$OUT/tiny.yaml" --config "results=$OUT/slurm" >"$OUT/tiny-slurm.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || deadline_failed "$OUT/tiny-slurm.log" 1200 "the tiny run through SLURM" "$rc"
slurm_s=$(( $(date +%s) - start ))
rc=0; wait "$local_pid" || rc=$?
[ "$rc" = 0 ] || deadline_failed "$OUT/tiny-local.log" 1200 "the local tiny run" "$rc"
# Its duration up to its last log line (it ended before this wait, possibly long before).
local_s=$(( $(stat -c %Y "$OUT/tiny-local.log") - local_start ))
note "tiny jacobian_alignment ($expected jobs): through SLURM ${slurm_s} s (after the fault trials); locally ${local_s} s (beside the fault trials)"
python tests/slurm/check.py sacct "$OUT/tiny-slurm.log" "$expected" | tee -a "$SUMMARY"
python tests/slurm/check.py compare "$OUT/local/jacobian_alignment" "$OUT/slurm/jacobian_alignment" | tee -a "$SUMMARY"
grep -q "slurm_partition=gpu" "$OUT/tiny-slurm.log" || die "no job went to the gpu partition (train/analyze)"

say "all SLURM checks passed; summary in $SUMMARY"
