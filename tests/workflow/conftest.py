from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def run_snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run the project's Snakefile with its working directory in ``workdir``.

    Targets go first in ``args``: ``--config`` takes every following word as a key=value.
    """
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def write_config(workdir: Path, config: dict, name: str = "test.yaml") -> str:
    """Write an extra config file (``--config`` would turn nested numbers into strings)."""
    path = workdir / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


@pytest.fixture
def demo_config() -> str:
    return str(ROOT / "config" / "demo.yaml")


def planned_jobs(proc: subprocess.CompletedProcess) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run (``-n``) would run."""
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in proc.stdout.splitlines():
        text = line.strip()
        if text.startswith(("rule ", "localrule ")) and text.endswith(":"):
            jobs.append((text.split()[1].rstrip(":"), {}))
        elif text.startswith("wildcards:") and jobs:
            pairs = text[len("wildcards:") :].split(",")
            jobs[-1][1].update(p.strip().split("=", 1) for p in pairs)
    return [job for job in jobs if job[0] != "all"]
