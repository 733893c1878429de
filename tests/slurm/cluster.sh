#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for testing the workflow's SLURM profile.
#
#   tests/slurm/cluster.sh run CMD [ARGS...]   bring the cluster up, run CMD inside it (SLURM_CONF
#                                              exported), tear everything down; exit status of CMD
#   tests/slurm/cluster.sh up                  bring it up and leave it running (prints how to use it)
#   tests/slurm/cluster.sh down                stop what `up` started
#
# What it does: installs slurm-wlm slurmdbd mariadb-server munge with apt-get when missing (root),
# then, all under one scratch directory in /tmp (EOSLAB_SLURM_DIR), starts its own munged (own key
# and socket), its own MariaDB (scratch datadir, own socket, TCP port on 127.0.0.1), slurmdbd,
# slurmctld and slurmd, with a slurm.conf for this host (hostname -s, CPUs from nproc, memory from
# /proc/meminfo) that has a default partition `cpu` and a partition `gpu` (same node, no gres), adds
# cluster/account/user with sacctmgr, and waits until sinfo shows the node idle.  Nothing is written
# outside the scratch directory but one link, /etc/slurm/slurm.conf (see link_default_conf); clients
# find the cluster through SLURM_CONF.  Every daemon is stopped by the PID it was started with (trap
# on exit for `run` and for a failed `up`), and the scratch directory is removed; the leftover of a
# run killed with SIGKILL is cleaned up by the next start (clean_stale_default_conf).  Any step that fails stops with a message and a non-zero status.
#
# Settings (environment): EOSLAB_SLURM_DIR (scratch; default /tmp/eoslab-slurm for up/down, a fresh
# mktemp dir for run), EOSLAB_SLURM_ACCOUNT (default eoslab), EOSLAB_SLURM_PORT_BASE (default 26810:
# slurmctld +0, slurmd +1, slurmdbd +2, MariaDB +3), EOSLAB_SLURM_KEEP=1 keeps the scratch dir (logs).
set -euo pipefail

CLUSTER=eoslab
ACCOUNT=${EOSLAB_SLURM_ACCOUNT:-eoslab}
PORT_BASE=${EOSLAB_SLURM_PORT_BASE:-26810}
CTLD_PORT=$PORT_BASE
SLURMD_PORT=$((PORT_BASE + 1))
DBD_PORT=$((PORT_BASE + 2))
DB_PORT=$((PORT_BASE + 3))
HOST=$(hostname -s)

die() { echo "cluster.sh: ERROR: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*" >&2; }

# Print the tail of a log file (daemon logs, for failure messages).
show_log() { [ -f "$1" ] && { echo "--- last lines of $1:" >&2; tail -n 15 "$1" >&2; }; return 0; }

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    command -v munged >/dev/null || missing+=(munge)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]} and not root: install them (apt-get install ${missing[*]})"
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >"$D/apt.log" 2>&1 \
        || { apt-get update -q >>"$D/apt.log" 2>&1 && apt-get install -y -q "${missing[@]}" >>"$D/apt.log" 2>&1; } \
        || { tail -n 20 "$D/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
    # The packages' init scripts may start daemons of their own (policy-rc.d permitting): stop
    # those (they are not ours to leave running) — only processes whose PID files the packages wrote.
    local pidfile
    for pidfile in /run/munge/munged.pid /run/mysqld/mysqld.pid /run/slurmctld.pid /run/slurmd.pid /run/slurmdbd.pid; do
        [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Start a daemon in the background; record its PID in $D/pids/<name>.pid (the PID we kill later).
started() { echo "$2" >"$D/pids/$1.pid"; }

# wait_for SECONDS DESCRIPTION COMMAND...: run COMMAND every 0.5 s until it succeeds (0) or SECONDS
# of wall time have passed (1).
wait_for() {
    local deadline=$((SECONDS + $1)); shift 2
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

alive() { [ -s "$D/pids/$1.pid" ] && kill -0 "$(cat "$D/pids/$1.pid")" 2>/dev/null; }

stop_all() {
    local status=$?
    trap - EXIT INT TERM
    [ -d "${D:-}/pids" ] || exit "$status"
    local name pid i
    if alive slurmctld; then
        # Jobs still queued or running (a failed test) are cancelled first, so that no job
        # process (slurmstepd and its children) outlives the cluster.
        export SLURM_CONF="$D/etc/slurm.conf"
        if [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
            say "cancelling the jobs still in the queue"
            scancel --full --signal=KILL $(squeue -h -o %i) 2>/dev/null || scancel $(squeue -h -o %i) 2>/dev/null || true
            queue_empty() { [ -z "$(squeue -h -o %i 2>/dev/null)" ]; }
            wait_for 30 "empty queue" queue_empty \
                || say "WARNING: jobs still in the queue after 30 s: $(squeue -h -o '%i %T' | tr '\n' ' ')"
        fi
    fi
    if [ "$status" -ne 0 ]; then
        for name in slurmctld slurmd slurmdbd; do show_log "$D/log/$name.log"; done
    fi
    # Reverse start order: slurmd, slurmctld, slurmdbd, mariadb, munged.
    for name in slurmd slurmctld slurmdbd mariadb munged; do
        [ -s "$D/pids/$name.pid" ] || continue
        pid=$(cat "$D/pids/$name.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for ((i = 0; i < 80; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            if kill -0 "$pid" 2>/dev/null; then
                say "$name (PID $pid) ignored SIGTERM for 20 s; SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        rm -f "$D/pids/$name.pid"
    done
    stop_job_processes
    if [ -s "$D/pids/default-conf.link" ] && [ "$(readlink "$DEFAULT_CONF" || true)" = "$D/etc/slurm.conf" ]; then
        rm -f "$DEFAULT_CONF"
        rm -f "$D/pids/default-conf.link"
    fi
    if [ "${EOSLAB_SLURM_KEEP:-0}" = 1 ]; then
        say "kept $D (EOSLAB_SLURM_KEEP=1)"
    else
        rm -rf "$D"
    fi
    say "cluster stopped"
    exit "$status"
}

# Processes of this cluster's jobs still alive (their environment names our cluster and a job):
# none should be, once slurmd has stopped or the queue is empty; any that escaped SLURM's process
# tracking are named and killed (SIGKILL, by PID), and make the run fail.
job_processes() {
    local environ pid env
    for environ in /proc/[0-9]*/environ; do
        pid=${environ#/proc/}; pid=${pid%/environ}
        [ "$pid" != $$ ] || continue
        # Kernel threads and processes gone meanwhile have no readable environment.
        env=$( { tr '\0' '\n' <"$environ"; } 2>/dev/null) || continue
        grep -qx "SLURM_CLUSTER_NAME=$CLUSTER" <<<"$env" && grep -q "^SLURM_JOB_ID=" <<<"$env" || continue
        echo "$pid"
    done
}
stop_job_processes() {
    local pids pid
    pids=$(job_processes)
    [ -n "$pids" ] || return 0
    say "ERROR: processes of the cluster's jobs outlived them; killing them:"
    for pid in $pids; do ps -o pid=,etime=,args= -p "$pid" 2>/dev/null | cut -c1-200 >&2 || true; done
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
    [ "$status" -ne 0 ] || status=1
}

write_configs() {
    local cpus mem_mb
    cpus=$(nproc)
    # Leave ~10% (at least 512 MB) of the machine's memory to the OS.
    mem_mb=$(awk '/^MemTotal:/ {m = int($2 / 1024); r = int(m / 10); if (r < 512) r = 512; print m - r}' /proc/meminfo)
    [ "$mem_mb" -gt 512 ] || die "cannot read the memory size from /proc/meminfo"
    mkdir -p "$D/etc" "$D/state" "$D/spool" "$D/log" "$D/pids" "$D/run"
    cat >"$D/etc/slurm.conf" <<EOF
# One-node test cluster written by tests/slurm/cluster.sh ($(date -u +%FT%TZ)).
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire (default 120 s) is also how long a requeued job must wait before it may start
# again; 30 s keeps the requeue trial short (steps start within seconds here).
AuthInfo=socket=$D/munge/munge.socket,cred_expire=30
CredType=cred/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
PlugStackConfig=$D/etc/plugstack.conf
# No cgroups here: process-group tracking, no task binding, no per-job usage sampling.  Not
# proctrack/linuxproc: it finds a job's processes through their parents, and after "scontrol
# requeue" the job's Snakemake (whose batch shell had died on SIGTERM, reparenting it) escaped
# the SIGKILL and outlived the cluster.  pgid kills the job's whole process group.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# For slurmdbd connections the munge socket is given here (AuthInfo covers the other daemons).
AccountingStoragePass=$D/munge/munge.socket
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
ReturnToService=2
# SIGTERM, then SIGKILL after KillWait seconds (scancel, requeue, time limit): the trainer
# checkpoints on SIGTERM.
KillWait=15
OverTimeLimit=0
# The node's CPUs and memory are what this file says (no hardware check that could drain it).
SlurmdParameters=config_overrides
SchedulerParameters=defer_batch=0
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST Default=NO MaxTime=INFINITE State=UP
EOF
    : >"$D/etc/plugstack.conf"
    cat >"$D/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$D/munge/munge.socket
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$D/run/slurmdbd.pid
LogFile=$D/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=eoslab-test
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$D/etc/slurmdbd.conf"
    say "slurm.conf: node $HOST, CPUs=$cpus, RealMemory=$mem_mb MB, partitions cpu (default) and gpu"
}

# Inside a job, snakemake-executor-plugin-slurm-jobstep (0.6.1) runs the rule by `srun` with every
# SLURM_* variable but the job's identity removed from the environment, SLURM_CONF included, so
# that srun reads the default /etc/slurm/slurm.conf.  While the cluster runs, that path is a
# symbolic link to our slurm.conf; it must not exist beforehand (a real SLURM host: not ours to
# touch), and stop_all removes the link (only if it still points here).
DEFAULT_CONF=/etc/slurm/slurm.conf
# A test cluster whose script was killed with SIGKILL (a CI job cancelled, a session ended) had no
# chance to run stop_all: its link, its scratch dir and its munged (which daemonises into a session
# of its own, out of reach of a process-group kill) stay behind, and every later run would refuse
# to start.  Such a leftover is recognised as ours by the link's target — a slurm.conf whose first
# line this script wrote, beside a pids/default-conf.link — and cleaned up when none of its SLURM
# daemons is alive: leftover munged/mariadbd processes of it (PID from its pids/, process name and
# command line naming its scratch dir, so a reused PID is never touched) are stopped, the link and
# the dir removed.  A cluster whose SLURM daemons still run is another test cluster: left alone,
# with the command that stops it.
cluster_processes() {  # DIR NAME...: "name(pid) " for each live daemon of DIR among NAMEs
    local dir=$1 name pid comm; shift
    for name in "$@"; do
        [ -s "$dir/pids/$name.pid" ] || continue
        pid=$(cat "$dir/pids/$name.pid")
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
        case "$name:$comm" in
            mariadb:mariadbd|munged:munged)
                tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/" || continue ;;
            slurmd:slurmd|slurmctld:slurmctld|slurmdbd:slurmdbd) ;;
            *) continue ;;
        esac
        printf '%s(%s) ' "$name" "$pid"
    done
}
clean_stale_default_conf() {
    [ -L "$DEFAULT_CONF" ] || return 1
    local target dir running leftover entry pid
    target=$(readlink "$DEFAULT_CONF")
    case "$target" in /*/etc/slurm.conf) ;; *) return 1 ;; esac
    dir=${target%/etc/slurm.conf}
    if [ -e "$target" ]; then
        head -n 1 "$target" | grep -q '^# One-node test cluster written by tests/slurm/cluster.sh' || return 1
        [ -s "$dir/pids/default-conf.link" ] || return 1
        running=$(cluster_processes "$dir" slurmctld slurmd slurmdbd)
        [ -z "$running" ] || die "$DEFAULT_CONF belongs to a test cluster that is still running in $dir ($running); stop it with: EOSLAB_SLURM_DIR=$dir $0 down"
        leftover=$(cluster_processes "$dir" mariadb munged)
        for entry in $leftover; do
            pid=${entry#*(}; pid=${pid%)}
            kill -TERM "$pid" 2>/dev/null || true
        done
        leftovers_gone() { [ -z "$(cluster_processes "$1" mariadb munged)" ]; }
        wait_for 20 "leftover daemons gone" leftovers_gone "$dir" \
            || die "the leftover daemons of $dir ($(cluster_processes "$dir" mariadb munged)) did not stop on SIGTERM within 20 s"
    else
        # Dangling: its scratch dir is gone; only our own naming pattern is taken as ours.
        case "$dir" in /tmp/eoslab-slurm*) ;; *) return 1 ;; esac
    fi
    say "removing a leftover of a killed test cluster: $DEFAULT_CONF -> $target (no SLURM daemon of it alive${leftover:+; stopped its $leftover})"
    rm -f "$DEFAULT_CONF"
    if [ -d "$dir" ] && [ "$dir" != "$D" ]; then rm -rf "$dir"; fi
    return 0
}
link_default_conf() {
    if [ -L "$DEFAULT_CONF" ]; then clean_stale_default_conf || true; fi
    if [ -e "$DEFAULT_CONF" ] || [ -L "$DEFAULT_CONF" ]; then
        die "$DEFAULT_CONF exists (a SLURM installation or another test cluster on this machine); this script would need it for srun inside jobs, and leaves existing ones alone"
    fi
    mkdir -p "$(dirname "$DEFAULT_CONF")"
    ln -s "$D/etc/slurm.conf" "$DEFAULT_CONF"
    echo "$DEFAULT_CONF" >"$D/pids/default-conf.link"
}

start_munge() {
    # munged wants its key in a directory only it can read and its socket in a directory everyone
    # can enter: munge/ (0755) and munge/key/ (0700), owned by the munge user (the scratch dir is
    # 0755 so that this user can reach them).
    mkdir -p "$D/munge/key"
    dd if=/dev/urandom of="$D/munge/key/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$D/munge/key/munge.key"
    chown -R munge:munge "$D/munge" && chmod 0755 "$D/munge" && chmod 0700 "$D/munge/key"
    runuser -u munge -- /usr/sbin/munged --key-file="$D/munge/key/munge.key" --socket="$D/munge/munge.socket" \
        --pid-file="$D/munge/munged.pid" --log-file="$D/munge/munged.log" --seed-file="$D/munge/munged.seed" \
        || { show_log "$D/munge/munged.log"; die "munged did not start"; }
    wait_for 10 munged test -s "$D/munge/munged.pid" || die "munged wrote no PID file"
    started munged "$(cat "$D/munge/munged.pid")"
    munge -S "$D/munge/munge.socket" -n | unmunge -S "$D/munge/munge.socket" >/dev/null \
        || { show_log "$D/munge/munged.log"; die "munge credentials do not round-trip (munge -n | unmunge)"; }
    say "munged up (PID $(cat "$D/pids/munged.pid"))"
}

mysql_root() { mariadb --no-defaults -S "$D/mysql.sock" -u root "$@"; }

start_mariadb() {
    mariadb-install-db --no-defaults --user=root --datadir="$D/mysql" --auth-root-authentication-method=normal \
        --skip-test-db >"$D/log/mariadb-install.log" 2>&1 \
        || { show_log "$D/log/mariadb-install.log"; die "mariadb-install-db failed"; }
    mariadbd --no-defaults --user=root --datadir="$D/mysql" --socket="$D/mysql.sock" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --pid-file="$D/run/mariadb.pid" --log-error="$D/log/mariadb.log" \
        --innodb-buffer-pool-size=64M --skip-name-resolve >/dev/null 2>&1 &
    started mariadb $!
    wait_for 60 mariadb mysql_root -e "SELECT 1" \
        || { show_log "$D/log/mariadb.log"; die "MariaDB did not accept connections within 60 s"; }
    mysql_root -e "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'eoslab-test';
                   GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;" \
        || die "could not create the MariaDB user slurm"
    say "MariaDB up (PID $(cat "$D/pids/mariadb.pid"), 127.0.0.1:$DB_PORT)"
}

start_slurm() {
    export SLURM_CONF="$D/etc/slurm.conf"
    slurmdbd -D >"$D/log/slurmdbd.out" 2>&1 &
    started slurmdbd $!
    if ! wait_for 60 slurmdbd timeout 10 sacctmgr -n list cluster; then
        show_log "$D/log/slurmdbd.log"
        echo "--- sacctmgr -n list cluster:" >&2; timeout 10 sacctmgr -n list cluster >&2 || true
        die "slurmdbd did not answer sacctmgr within 60 s"
    fi
    sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true  # may exist already
    sacctmgr -n list cluster format=cluster | grep -qw "$CLUSTER" || die "sacctmgr could not add cluster $CLUSTER"
    slurmctld -D -i >"$D/log/slurmctld.out" 2>&1 &
    started slurmctld $!
    wait_for 60 slurmctld scontrol ping \
        || { show_log "$D/log/slurmctld.log"; show_log "$D/log/slurmctld.out"; die "slurmctld did not answer scontrol ping within 60 s"; }
    slurmd -D >"$D/log/slurmd.out" 2>&1 &
    started slurmd $!
    sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description=eoslab-tests Organization=eoslab >/dev/null \
        || die "sacctmgr could not add account $ACCOUNT"
    sacctmgr -i add user "$(id -un)" Account="$ACCOUNT" Cluster="$CLUSTER" >/dev/null \
        || die "sacctmgr could not add user $(id -un) to account $ACCOUNT"
    node_idle() { [ "$(sinfo -h -n "$HOST" -o %t | sort -u | tr -d '\n')" = idle ]; }
    if ! wait_for 60 "node idle" node_idle; then
        sinfo -N -l >&2 || true
        show_log "$D/log/slurmd.log"; show_log "$D/log/slurmctld.log"
        die "node $HOST is not idle in sinfo within 60 s"
    fi
    for name in slurmdbd slurmctld slurmd; do alive "$name" || die "$name died after start (logs in $D/log)"; done
    say "slurm up: $(sinfo -h -o '%P %t %c CPUs %m MB' | tr '\n' ';') ($(sinfo -V))"
}

bring_up() {
    [ "$(id -u)" -eq 0 ] || die "run as root (the daemons run as root or munge; SlurmUser=root)"
    mkdir -p "$D" && chmod 0755 "$D"
    [ ! -e "$D/pids" ] || die "$D already holds a cluster (pids/); run '$0 down' first or set EOSLAB_SLURM_DIR"
    mkdir -p "$D/pids"
    install_packages
    local port
    for port in "$CTLD_PORT" "$SLURMD_PORT" "$DBD_PORT" "$DB_PORT"; do
        port_in_use "$port" && die "TCP port $port is in use; set EOSLAB_SLURM_PORT_BASE to a free range"
    done
    write_configs
    link_default_conf
    start_munge
    start_mariadb
    start_slurm
    # What clients need; `up` users source this file.
    echo "export SLURM_CONF=$D/etc/slurm.conf" >"$D/env.sh"
}

cmd=${1:-}
case "$cmd" in
    run)
        shift
        [ $# -gt 0 ] || die "usage: $0 run CMD [ARGS...]"
        D=${EOSLAB_SLURM_DIR:-$(mktemp -d /tmp/eoslab-slurm.XXXXXX)}
        trap stop_all EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        bring_up
        export SLURM_CONF="$D/etc/slurm.conf" EOSLAB_SLURM_ACCOUNT="$ACCOUNT" EOSLAB_SLURM_DIR="$D"
        set +e
        "$@"
        rc=$?
        set -e
        exit "$rc"
        ;;
    up)
        D=${EOSLAB_SLURM_DIR:-/tmp/eoslab-slurm}
        trap stop_all EXIT
        bring_up
        trap - EXIT
        say "cluster up; use it with:  . $D/env.sh   (stop: $0 down)"
        ;;
    down)
        D=${EOSLAB_SLURM_DIR:-/tmp/eoslab-slurm}
        [ -d "$D/pids" ] || die "no cluster in $D (nothing to stop)"
        export SLURM_CONF="$D/etc/slurm.conf"
        stop_all
        ;;
    *)
        echo "usage: $0 run CMD [ARGS...] | up | down" >&2
        exit 2
        ;;
esac
