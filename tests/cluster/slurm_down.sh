#!/usr/bin/env bash
# Stop the one-node SLURM cluster started by slurm_up.sh; a no-op when it is not running.
#
#   bash tests/cluster/slurm_down.sh            # cancel its jobs, stop slurmd, slurmctld, munged
#   bash tests/cluster/slurm_down.sh --purge    # ... and delete $DACR_SLURM_DIR
#
# Only this cluster's processes are stopped: the pids recorded in $DACR_SLURM_DIR/run/*.pid,
# if they still run the expected binary with this cluster's directory on their command line,
# and any other munged/slurmctld/slurmd whose command line names that directory (pid files
# lost); job-step daemons (slurmstepd) left behind by our slurmd are found by this cluster's
# SLURM_CONF in their environment. Nothing is killed by name alone.
set -euo pipefail

DIR=${DACR_SLURM_DIR:-/tmp/dacr-slurm}
PURGE=0
case "${1:-}" in
"") ;;
--purge) PURGE=1 ;;
*)
    echo "usage: $0 [--purge]" >&2
    exit 2
    ;;
esac
export PATH="$PATH:/usr/sbin:/sbin"
CONF="$DIR/etc/slurm.conf"

log() { echo "slurm_down: $*" >&2; }

# shellcheck source=tests/cluster/slurm_lib.sh
. "$(dirname "$0")/slurm_lib.sh"

stop_pid() {
    # TERM, wait up to $2 seconds, then KILL
    local pid=$1 wait_s=$2
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq $((wait_s * 10))); do
        [ -d "/proc/$pid" ] || return 0
        sleep 0.1
    done
    log "pid $pid ignored TERM for ${wait_s}s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
}

stop_daemon() {
    # every instance: a daemon started twice (lost pid files) is found by own_pids
    local name=$1 comm_re=$2 pid
    for _ in $(seq 10); do
        pid=$(pid_of "$name" "$comm_re") || break
        log "stopping $name (pid $pid)"
        stop_pid "$pid" 30
        rm -f "$DIR/run/$name.pid" "$DIR/run/$name.daemon.pid"
    done
    rm -f "$DIR/run/$name.pid" "$DIR/run/$name.daemon.pid"
}

stepd_pids() {
    # slurmstepd processes forked by our slurmd (they inherit its SLURM_CONF)
    local p
    for p in /proc/[0-9]*; do
        grep -qx 'slurmstepd' "$p/comm" 2>/dev/null || continue
        tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF" || continue
        echo "${p#/proc/}"
    done
}

if [ -d "$DIR/run" ]; then
    if pid_of slurmctld 'slurmctld(-wlm)?' >/dev/null && [ -f "$CONF" ]; then
        # cancel this cluster's jobs first so no job step outlives its daemons
        if SLURM_CONF="$CONF" squeue -h -o %i 2>/dev/null | grep -q .; then
            log "cancelling jobs"
            SLURM_CONF="$CONF" scancel --full --quiet --partition=debug 2>/dev/null || true
            for _ in $(seq 100); do
                SLURM_CONF="$CONF" squeue -h -t active -o %i 2>/dev/null | grep -q . || break
                sleep 0.1
            done
        fi
    fi
    stop_daemon slurmd 'slurmd(-wlm)?'
    for pid in $(stepd_pids); do
        log "stopping leftover slurmstepd (pid $pid)"
        stop_pid "$pid" 5
    done
    stop_daemon slurmctld 'slurmctld(-wlm)?'
    stop_daemon munged 'munged'
    log "cluster in $DIR is down"
else
    log "nothing to stop in $DIR"
fi

if [ "$PURGE" -eq 1 ] && [ -d "$DIR" ]; then
    # refuse to delete anything but a dedicated directory made by slurm_up.sh
    if [ -f "$DIR/etc/slurm.conf" ] && grep -q 'written by tests/cluster/slurm_up.sh' "$CONF"; then
        rm -rf "$DIR"
        log "removed $DIR"
    else
        log "not purging $DIR: it was not made by slurm_up.sh"
    fi
fi
