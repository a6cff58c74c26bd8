#!/usr/bin/env bash
# Bring up a one-node SLURM cluster (munged + slurmctld + slurmd) for tests/cluster.
#
#   bash tests/cluster/slurm_up.sh          # idempotent: starts only what is not running
#   . "${DACR_SLURM_DIR:-/tmp/dacr-slurm}/env.sh"   # then sinfo, sbatch, snakemake --profile ...
#   bash tests/cluster/slurm_down.sh [--purge]
#
# Everything lives under $DACR_SLURM_DIR (default /tmp/dacr-slurm): its own munge key and
# socket, slurm.conf, state, logs and pid files, on its own ports, so a packaged SLURM or
# munge on the machine is never touched and nothing under /etc is written. Installs the
# Debian packages (slurmctld slurmd slurm-client munge) if they are missing (root only).
#
# Two settings matter for Snakemake's SLURM executor plugin (2.8.0) on this cluster:
# - no slurmdbd, so `sacct` fails; the profile sets `slurm-status-command: squeue`, which
#   the plugin only trusts when MinJobAge >= 3 x its init seconds: MinJobAge=600 below.
# - the job-step plugin strips every SLURM_* variable (SLURM_CONF too) before its nested
#   `srun`, and our slurm.conf is not at the compiled-in default path. $DIR/bin holds
#   wrappers (srun, sbatch, squeue, ...) that set SLURM_CONF; env.sh puts them first on
#   PATH, and sbatch --export=ALL hands that PATH to the jobs.
#
# Environment: DACR_SLURM_DIR, DACR_SLURM_CTLD_PORT (16917), DACR_SLURM_SLURMD_PORT (16918),
# DACR_SLURM_WAIT_S (60: how long to wait for the node to become idle).
set -euo pipefail

DIR=${DACR_SLURM_DIR:-/tmp/dacr-slurm}
CTLD_PORT=${DACR_SLURM_CTLD_PORT:-16917}
SLURMD_PORT=${DACR_SLURM_SLURMD_PORT:-16918}
WAIT_S=${DACR_SLURM_WAIT_S:-60}
PACKAGES=(slurmctld slurmd slurm-client munge)
export PATH="$PATH:/usr/sbin:/sbin"

log() { echo "slurm_up: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

case "$DIR" in
/*) ;;
*) die "DACR_SLURM_DIR must be an absolute path, got '$DIR'" ;;
esac

# ---------------------------------------------------------------- packages
real_bin() {
    # the packaged binary, never our own wrapper in $DIR/bin
    PATH=$(echo "$PATH" | tr ':' '\n' | grep -vxF "$DIR/bin" | paste -sd:) command -v "$1"
}

missing_binaries() {
    local b
    for b in slurmctld slurmd sinfo sbatch squeue scancel scontrol srun munged mungekey; do
        real_bin "$b" >/dev/null || echo "$b"
    done
}

install_packages() {
    [ "$(id -u)" -eq 0 ] ||
        die "missing $(missing_binaries | paste -sd' '); as root run:" \
            "apt-get install -y --no-install-recommends ${PACKAGES[*]}"
    command -v apt-get >/dev/null || die "no apt-get: install ${PACKAGES[*]} by hand"
    # keep package scripts from starting the system-wide daemons (Docker images ship this
    # file; elsewhere it exists only while apt-get runs)
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    local rc=0
    log "installing ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >"$DIR/log/apt.log" 2>&1; then
        log "apt-get install failed; running apt-get update once and retrying"
        apt-get update -q >>"$DIR/log/apt.log" 2>&1 &&
            apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >>"$DIR/log/apt.log" 2>&1 ||
            rc=$?
    fi
    if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi
    [ "$rc" -eq 0 ] || die "apt-get failed (rc $rc), see $DIR/log/apt.log"
}

# ---------------------------------------------------------------- pid files
# A process is ours only if it runs the expected binary and its command line names this
# cluster's directory: a stale pid file can never make us (or slurm_down.sh) touch a process
# that another user or another cluster started, and a daemon whose pid file was lost is
# found again instead of being started twice.
# shellcheck source=tests/cluster/slurm_lib.sh
. "$(dirname "$0")/slurm_lib.sh"

start_daemon() {
    # start_daemon NAME COMM_RE CMD...: detached (own session, no inherited pipes) so callers
    # that capture our output are not kept waiting; the daemon's own pid is recorded
    local name=$1 comm_re=$2 pid
    shift 2
    if pid=$(pid_of "$name" "$comm_re"); then
        echo "$pid" >"$DIR/run/$name.pid"
        log "$name already running (pid $pid)"
        return 0
    fi
    rm -f "$DIR/run/$name.pid" "$DIR/run/$name.daemon.pid"
    SLURM_CONF="$DIR/etc/slurm.conf" setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 &
    echo $! >"$DIR/run/$name.pid"
    for _ in $(seq 50); do
        if pid=$(pid_of "$name" "$comm_re"); then
            log "$name started (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$DIR/log/$name.out" "$DIR/log/$name.log" 2>/dev/null >&2 || true
    die "$name did not start, see $DIR/log/$name.{out,log}"
}

# ---------------------------------------------------------------- config
write_if_changed() {
    # write stdin to $1 only if the content differs (running daemons keep a consistent file)
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    cat >"$tmp"
    if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

write_config() {
    local cpus mem_mb
    cpus=$(nproc)
    # leave 10 % of the memory to the OS and the daemons
    mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    write_if_changed "$DIR/etc/slurm.conf" <<EOF
# one-node test cluster written by tests/cluster/slurm_up.sh (Slurm 22.05, Debian 12)
ClusterName=dacr
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
CredType=cred/munge
StateSaveLocation=$DIR/state/ctld
SlurmdSpoolDir=$DIR/state/d
SlurmctldPidFile=$DIR/run/slurmctld.daemon.pid
SlurmdPidFile=$DIR/run/slurmd.daemon.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
# no slurmdbd: sacct fails, job status comes from squeue
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# squeue shows finished jobs for MinJobAge seconds; Snakemake's SLURM executor uses squeue
# for status only if MinJobAge >= 3 x slurm-init-seconds-before-status-checks
MinJobAge=600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

write_wrappers() {
    local b real
    for b in srun sbatch squeue scancel scontrol sinfo sacct sacctmgr salloc sstat sprio; do
        real=$(real_bin "$b") || continue
        write_if_changed "$DIR/bin/$b" <<EOF
#!/bin/sh
# $b for the cluster in $DIR (nested srun calls lose SLURM_CONF, see slurm_up.sh)
SLURM_CONF="$DIR/etc/slurm.conf" exec "$real" "\$@"
EOF
        chmod 755 "$DIR/bin/$b"
    done
    write_if_changed "$DIR/env.sh" <<EOF
# source me: SLURM client commands of the cluster in $DIR
export SLURM_CONF="$DIR/etc/slurm.conf"
case ":\$PATH:" in *":$DIR/bin:"*) ;; *) export PATH="$DIR/bin:\$PATH" ;; esac
EOF
}

node_state() {
    SLURM_CONF="$DIR/etc/slurm.conf" sinfo -h -N -n localhost -o '%T' 2>/dev/null | head -n1
}

# ---------------------------------------------------------------- main
umask 022
mkdir -p "$DIR"/{bin,etc,log,run,munge,state/ctld,state/d}
chmod 711 "$DIR/munge"

[ -z "$(missing_binaries)" ] || install_packages
[ -z "$(missing_binaries)" ] || die "still missing after install: $(missing_binaries | paste -sd' ')"

write_config
write_wrappers
if [ ! -s "$DIR/munge/munge.key" ]; then
    mungekey --create --keyfile="$DIR/munge/munge.key" --force
    chmod 600 "$DIR/munge/munge.key"
fi

start_daemon munged 'munged' "$(real_bin munged)" --foreground --force \
    --socket="$DIR/munge/munge.socket.2" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/run/munged.daemon.pid" --log-file="$DIR/log/munged.log" \
    --seed-file="$DIR/munge/munged.seed"
for _ in $(seq 50); do
    [ -S "$DIR/munge/munge.socket.2" ] && break
    sleep 0.1
done
start_daemon slurmctld 'slurmctld(-wlm)?' "$(real_bin slurmctld)" -D -f "$DIR/etc/slurm.conf"
start_daemon slurmd 'slurmd(-wlm)?' "$(real_bin slurmd)" -D -N localhost -f "$DIR/etc/slurm.conf"

state=""
for _ in $(seq $((WAIT_S * 5))); do
    state=$(node_state)
    case "$state" in
    idle | mixed | allocated) break ;;
    down* | drain*)
        # a node left down by an earlier, killed slurmd: ReturnToService=2 brings it back on
        # registration; resume it explicitly if it stays down
        SLURM_CONF="$DIR/etc/slurm.conf" scontrol update nodename=localhost state=resume \
            2>/dev/null || true
        ;;
    esac
    sleep 0.2
done
case "$state" in
idle | mixed | allocated) ;;
*) die "node not idle after ${WAIT_S}s (state '$state'), see $DIR/log/slurmctld.log, slurmd.log" ;;
esac
log "cluster up: node localhost $state; use: . $DIR/env.sh"
