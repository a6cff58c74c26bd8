"""A one-node SLURM cluster for the session (slurm_up.sh / slurm_down.sh) and its timings.

The cluster lives in its own directory and on its own ports (not the defaults of
slurm_up.sh), so a cluster a developer started by hand is never touched; only the daemons
recorded in that directory are stopped at the end. Timings are printed after the run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TIMINGS = pytest.StashKey[dict[str, float]]()
PLUGIN_PINS = (
    "snakemake-executor-plugin-slurm==2.8.0 snakemake-executor-plugin-slurm-jobstep==0.6.1"
)
TEST_DIR = os.environ.get("DACR_SLURM_TEST_DIR", "/tmp/dacr-slurm-test")
TEST_PORTS = {"DACR_SLURM_CTLD_PORT": "16927", "DACR_SLURM_SLURMD_PORT": "16928"}
SLURM_BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "srun", "munged")


@dataclass(frozen=True)
class Cluster:
    """The running test cluster: its directory and the environment that reaches it."""

    directory: Path
    env: dict[str, str]

    def jobs(self, name: str) -> dict[str, tuple[str, str]]:
        """SLURM job id -> (state, comment) of every job named ``name``, finished or not.

        There is no accounting (sacct) on this cluster: finished jobs stay in squeue for
        MinJobAge (600 s, slurm_up.sh), far longer than a test.
        """
        out = subprocess.run(
            ["squeue", "-h", "-t", "all", "--name", name, "-o", "%i|%T|%k"],
            capture_output=True,
            text=True,
            check=True,
            env=self.env,
        ).stdout
        rows = (line.split("|", 2) for line in out.splitlines() if line.strip())
        return {jobid: (state, comment) for jobid, state, comment in rows}


def record_time(config: pytest.Config, what: str, seconds: float) -> None:
    """Keep a wall time for the summary printed at the end of the session."""
    config.stash.setdefault(TIMINGS, {})[what] = seconds


def pytest_terminal_summary(terminalreporter, config):
    timings = config.stash.get(TIMINGS, None)
    if not timings:
        return
    terminalreporter.section("SLURM cluster timings (wall)")
    for what, seconds in timings.items():
        terminalreporter.write_line(f"{what:<40} {seconds:7.1f} s")


# Set to 1 where installing SLURM's Debian packages and starting its daemons is unwanted.
SKIP_ENV = "DACR_SKIP_CLUSTER"


def cannot_run_reason() -> str | None:
    """Why this machine cannot host the test cluster, or None if it can."""
    if not sys.platform.startswith("linux"):
        return "the SLURM test cluster needs Linux"
    if shutil.which("bash") is None:
        return "slurm_up.sh needs bash"
    if os.geteuid() != 0:
        return (
            "slurm_up.sh must run as root (slurmd starts jobs as their owner, and the "
            "Debian packages slurmctld slurmd slurm-client munge may need installing)"
        )
    sbin = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    have_slurm = all(shutil.which(b, path=sbin) for b in SLURM_BINARIES)
    if not have_slurm and shutil.which("apt-get") is None:
        return "SLURM is not installed and there is no apt-get to install it"
    return None


def snakemake_env(cluster_dir: Path) -> dict[str, str]:
    """Environment for snakemake and the SLURM clients: this cluster, this virtualenv.

    The wrappers in <cluster>/bin set SLURM_CONF even where the job-step plugin removed it
    (nested srun); the directory of this interpreter comes next so every job and script
    finds the same python and snakemake (sbatch --export=ALL hands PATH to the jobs).
    ``sys.executable`` is not resolved: a virtualenv's python is a symlink.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        # a CI job that itself runs inside a SLURM allocation must not leak into ours
        if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))
    }
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([str(cluster_dir / "bin"), venv_bin, env.get("PATH", "")])
    env["SLURM_CONF"] = str(cluster_dir / "etc" / "slurm.conf")
    return env


def run_script(name: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(HERE / name)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest):
    """Bring the cluster up for the session (installing SLURM if needed) and down after."""
    reason = cannot_run_reason()
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        reason = f"{SKIP_ENV}=1: not installing or starting SLURM on this machine"
    if reason and os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"CI must run the SLURM tests, but {reason}")
    if reason:
        pytest.skip(reason)
    missing = [
        m
        for m in ("snakemake_executor_plugin_slurm", "snakemake_executor_plugin_slurm_jobstep")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed in {sys.prefix}; "
            f"pip install -e '.[dev]' (dev extras pin {PLUGIN_PINS})"
        )
    directory = Path(TEST_DIR)
    script_env = {**os.environ, **TEST_PORTS, "DACR_SLURM_DIR": str(directory)}
    start = time.monotonic()
    # generous: the first run on a fresh machine installs the Debian packages
    up = run_script("slurm_up.sh", script_env, timeout=900)
    if up.returncode != 0:
        pytest.fail(f"slurm_up.sh failed ({up.returncode}):\n{up.stderr[-4000:]}")
    record_time(request.config, "cluster up (slurm_up.sh)", time.monotonic() - start)
    yield Cluster(directory=directory, env=snakemake_env(directory))
    start = time.monotonic()
    down = run_script("slurm_down.sh", script_env, timeout=300)
    record_time(request.config, "cluster down (slurm_down.sh)", time.monotonic() - start)
    assert down.returncode == 0, f"slurm_down.sh failed:\n{down.stderr[-4000:]}"
