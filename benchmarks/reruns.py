"""Wall time of incremental reruns after config changes, against the full run.

    python -m benchmarks.reruns --prompts 3000

Runs the real workflow (``--cores 2``) for one experiment to its metrics, then applies one
change at a time (each relative to the original config) and times the rerun Snakemake decides
on; prints a markdown table with the jobs each rerun ran.
"""

from __future__ import annotations

import argparse
import copy
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXP = "ood_gsm_mbpp"
TARGET = f"results/{EXP}/metrics.csv"


def _config(prompts: int) -> dict:
    return {
        "dataset": {"source": "synthetic", "synthetic": {"n_prompts": prompts, "seed": 42}},
        "experiments": {EXP: {"holdout": ["grade-school-math", "mbpp"], "lambdas": [1, 5, 10, 20]}},
    }


def _changes(prompts: int) -> dict[str, tuple[dict, list[str]]]:
    base = _config(prompts)
    lam = copy.deepcopy(base)
    lam["experiments"][EXP]["lambdas"] = [1, 5, 10, 30]
    added = copy.deepcopy(base)
    added["experiments"]["iid_extra"] = {"test_fraction": 0.2, "lambdas": [1]}
    budget = {**copy.deepcopy(base), "dacr": {"budget_cost": 0.002}}
    seed = copy.deepcopy(base)
    seed["dataset"]["synthetic"]["seed"] = 43
    return {
        "nothing changed": (base, [TARGET]),
        "one lambda changed": (lam, [TARGET]),
        "experiment added (existing target)": (added, [TARGET]),
        "DACR budget changed": (budget, [TARGET]),
        "dataset seed changed": (seed, [TARGET]),
    }


def _run(work: Path, config: dict, targets: list[str]) -> tuple[float, str]:
    path = work / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(work), "--cores", "2", *targets, "--configfile", str(path)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return wall, proc.stderr


def _jobs(log: str) -> str:
    table = log.split("Job stats:", 1)[1].split("\ntotal", 1)[0] if "Job stats:" in log else ""
    rows = re.findall(r"^(\w+)\s+(\d+)$", table, re.M)
    return ", ".join(f"{rule}×{n}" for rule, n in rows if rule != "all") or "none"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=3000)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dacr-reruns-") as tmp:
        work = Path(tmp)
        full, log = _run(work, _config(args.prompts), [TARGET])
        rows.append(("full run", full, _jobs(log)))
        for name, (config, targets) in _changes(args.prompts).items():
            wall, log = _run(work, config, targets)
            rows.append((name, wall, _jobs(log)))
            # back to the original state for the next change
            _run(work, _config(args.prompts), [TARGET])
    print(f"| change ({args.prompts} prompts) | wall s | jobs run |\n|---|---|---|")
    for name, wall, jobs in rows:
        print(f"| {name} | {wall:.1f} | {jobs} |")


if __name__ == "__main__":
    main()
