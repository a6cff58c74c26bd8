# Shared by slurm_up.sh and slurm_down.sh (sourced; needs $DIR, the cluster's directory).
# shellcheck shell=bash

# A process is ours only if it runs the expected binary and its command line names this
# cluster's directory: a stale pid file can never make us touch a process that another user
# or another cluster started, and a daemon whose pid file was lost is found again instead of
# being started twice.
own_pids() {
    # own_pids COMM_RE: processes of that binary with this cluster's directory on their
    # command line (every daemon gets its config or socket path from $DIR)
    local comm_re=$1 p
    for p in /proc/[0-9]*; do
        grep -Eqx "$comm_re" "$p/comm" 2>/dev/null || continue
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$DIR/" || continue
        echo "${p#/proc/}"
    done
}

pid_of() {
    # pid_of NAME COMM_RE: the recorded pid if it is still this cluster's daemon, else one
    # found by own_pids (pid files lost or stale)
    local name=$1 comm_re=$2 pid file
    for file in "$DIR/run/$name.pid" "$DIR/run/$name.daemon.pid"; do
        [ -s "$file" ] || continue
        pid=$(tr -dc '0-9' <"$file")
        if [ -z "$pid" ] || [ ! -r "/proc/$pid/comm" ]; then continue; fi
        grep -Eqx "$comm_re" "/proc/$pid/comm" 2>/dev/null || continue
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DIR/" || continue
        echo "$pid"
        return 0
    done
    pid=$(own_pids "$comm_re" | head -n1)
    [ -n "$pid" ] && echo "$pid"
}
