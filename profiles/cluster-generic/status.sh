#!/usr/bin/env bash
# status.sh JOBID -> prints running, success or failed, for Snakemake's cluster-generic
# executor (cluster-generic-status-cmd in config.yaml).
#
# squeue first: it knows finished jobs for MinJobAge seconds (Slurm default 300) and needs no
# accounting; then sacct, for clusters with slurmdbd and jobs squeue has forgotten. If the
# controller cannot be reached, the job is reported running, so a transient outage does not
# fail jobs; Snakemake asks again at the next status check.
set -uo pipefail

jobid=${1%%;*} # sbatch --parsable prints "jobid;cluster" on multi-cluster setups
err=$(mktemp)
trap 'rm -f "$err"' EXIT

state=$(squeue -h -j "$jobid" -t all -o '%T' 2>"$err" | head -n1)
if [ -z "$state" ] && ! grep -qi 'invalid job id' "$err" && [ -s "$err" ]; then
    echo "status.sh: squeue failed for job $jobid: $(head -c 300 "$err")" >&2
    echo running
    exit 0
fi
if [ -z "$state" ]; then
    state=$(sacct -X -n -P -j "$jobid" -o State 2>/dev/null | head -n1 | cut -d' ' -f1)
fi
case "$state" in
COMPLETED) echo success ;;
PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED | REQUEUE_HOLD | \
    REQUEUE_FED | RESIZING | STAGE_OUT | SIGNALING | PREEMPTED | RESV_DEL_HOLD)
    echo running
    ;;
"")
    echo "status.sh: job $jobid unknown to squeue and sacct" >&2
    echo failed
    ;;
*) echo failed ;; # FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, BOOT_FAIL, DEADLINE
esac
