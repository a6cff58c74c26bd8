"""The demo workflow on a one-node SLURM cluster through profiles/slurm.

Runs the same small config once through ``--profile profiles/slurm`` and once through
``--profile profiles/local``, then checks that every job went through sbatch, that the
tables are byte-identical, and that a failing job ends the run instead of being waited on.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.cluster.conftest import ROOT, Cluster, record_time

pytestmark = pytest.mark.cluster

EXP = "ood_gsm_mbpp"
METRICS = f"results/{EXP}/metrics.csv"
TABLES = ("metrics.csv", "metrics_by_domain.csv", "calibration_ece.csv")
SMALL = {
    "dataset": {"source": "synthetic", "synthetic": {"n_prompts": 600, "seed": 3}},
    "lambdas": [1, 10],
    "experiments": {EXP: {"holdout": ["grade-school-math", "mbpp"], "lambdas": [1, 10]}},
}
BAD = "bad_holdout"
BAD_HOLDOUT = {"experiments": {BAD: {"holdout": ["no-such-domain"], "lambdas": [1]}}}
# rules that must be in the demo's DAG (others may join as the workflow grows)
CORE_RULES = {"make_synthetic_routerbench", "build_long_form", "build_stream", "fit_predictors"}
CORE_RULES |= {"build_features", "evaluate_lambda", "aggregate_metrics"}
# The test cluster is idle: the first status check 2 s after a submission instead of the
# profile's 40 s default (the only lab-specific flag; everything else is the profile).
LAB_FLAGS = ("--slurm-init-seconds-before-status-checks", "2")
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+)")
RUN_ID = re.compile(r"SLURM run ID: (\S+)")


@dataclass(frozen=True)
class Run:
    workdir: Path
    returncode: int
    log: str
    seconds: float

    @property
    def slurm_jobids(self) -> list[str]:
        return [jobid for _, jobid in SUBMITTED.findall(self.log)]

    @property
    def job_stats(self) -> dict[str, int]:
        """Rule -> number of jobs, from the "Job stats" table Snakemake prints first."""
        table = self.log.split("Job stats:", 1)[1].split("\ntotal", 1)[0]
        rows = (line.split() for line in table.splitlines()[3:] if line.strip())
        return {rule: int(count) for rule, count in rows}

    @property
    def slurm_run_id(self) -> str:
        match = RUN_ID.search(self.log)
        assert match, "no 'SLURM run ID' in the log: did the SLURM executor run at all?"
        return match.group(1)


def write_config(workdir: Path, config: dict, name: str) -> str:
    path = workdir / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


def snakemake(workdir: Path, *args: str, env: dict[str, str], timeout: float) -> Run:
    """Run the project's Snakefile in ``workdir``; targets first (``--configfile`` is nargs+).

    A run still going after ``timeout`` seconds is interrupted (SIGINT, then SIGKILL to its
    process group) and fails the test: that is how a job that is waited on forever shows.
    """
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(workdir), *args]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        pytest.fail(f"snakemake still running after {timeout:.0f} s:\n{out[-4000:]}")
    return Run(workdir, proc.returncode, out, time.monotonic() - start)


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> list[str]:
    """``--configfile`` arguments of the small demo config."""
    extra = write_config(tmp_path_factory.mktemp("config"), SMALL, "small.yaml")
    return ["--configfile", str(ROOT / "config" / "demo.yaml"), extra]


@pytest.fixture(scope="module")
def slurm_run(cluster: Cluster, configs, tmp_path_factory, request) -> Run:
    work = tmp_path_factory.mktemp("slurm")
    profile = str(ROOT / "profiles" / "slurm")
    run = snakemake(
        work, METRICS, "--profile", profile, *LAB_FLAGS, *configs, env=cluster.env, timeout=420
    )
    record_time(request.config, "workflow on SLURM (profiles/slurm)", run.seconds)
    assert run.returncode == 0, f"SLURM run failed ({run.returncode}):\n{run.log[-6000:]}"
    return run


@pytest.fixture(scope="module")
def local_run(cluster: Cluster, configs, tmp_path_factory, request) -> Run:
    # requested after slurm_run (argument order of the tests), so the two never share the
    # cores; same environment as the SLURM run, though no job goes to the cluster
    work = tmp_path_factory.mktemp("local")
    profile = str(ROOT / "profiles" / "local")
    run = snakemake(work, METRICS, "--profile", profile, *configs, env=cluster.env, timeout=420)
    record_time(request.config, "same workflow locally (profiles/local)", run.seconds)
    assert run.returncode == 0, f"local run failed ({run.returncode}):\n{run.log[-6000:]}"
    return run


def test_every_job_is_submitted_with_sbatch(slurm_run: Run, cluster: Cluster):
    rules = set(slurm_run.job_stats)
    assert CORE_RULES <= rules
    # the submitting process logs jobs it runs itself as "localrule", the others as "rule"
    # (members of a group job indented under it)
    assert not re.findall(r"^\s*localrule (\w+):", slurm_run.log, flags=re.M)
    assert set(re.findall(r"^\s*rule (\w+):", slurm_run.log, flags=re.M)) == rules
    # one SLURM job per job or group job, all COMPLETED according to SLURM itself
    jobids = slurm_run.slurm_jobids
    assert jobids and len(set(jobids)) == len(jobids)
    assert len(jobids) < sum(slurm_run.job_stats.values()), "profile groups not applied"
    jobs = cluster.jobs(slurm_run.slurm_run_id)
    assert set(jobs) == set(jobids)
    assert {state for state, _ in jobs.values()} == {"COMPLETED"}
    # the plugin names the rule (or the group and its member rules) in the job comment
    comments = " ".join(comment for _, comment in jobs.values())
    assert all(rule in comments for rule in rules), comments


def test_slurm_and_local_runs_write_byte_identical_tables(slurm_run: Run, local_run: Run):
    for name in TABLES:
        slurm_table = slurm_run.workdir / "results" / EXP / name
        local_table = local_run.workdir / "results" / EXP / name
        assert slurm_table.read_bytes() == local_table.read_bytes(), name


def test_a_failing_job_fails_the_run_instead_of_being_waited_on(
    slurm_run: Run, cluster: Cluster, configs, request
):
    # in the SLURM run's working directory, so only the new experiment's jobs run:
    # build_stream fails on the unknown holdout domain
    bad = write_config(slurm_run.workdir, BAD_HOLDOUT, "bad_holdout.yaml")
    profile = str(ROOT / "profiles" / "slurm")
    run = snakemake(
        slurm_run.workdir,
        f"results/{BAD}/metrics.csv",
        "--profile",
        profile,
        *LAB_FLAGS,
        *configs,
        bad,
        env=cluster.env,
        timeout=240,
    )
    record_time(request.config, "failing job on SLURM, until snakemake exits", run.seconds)
    assert run.returncode != 0
    assert "Error in rule build_stream" in run.log
    stream_log = (slurm_run.workdir / "logs" / BAD / "build_stream.log").read_text()
    assert "match no domain" in stream_log
    jobs = cluster.jobs(run.slurm_run_id)
    assert run.slurm_jobids and set(jobs) == set(run.slurm_jobids)
    assert {state for state, _ in jobs.values()} == {"FAILED"}
    assert f"SLURM-job '{run.slurm_jobids[0]}' failed" in run.log
