"""The benchmark harness keeps working (at a tiny size; figures come from full-size runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = {"stage", "prompts", "wall_s", "cpu_s", "peak_rss_mb", "rows_per_s"}


def test_harness_writes_a_record_per_stage(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "benchmarks.run", "--prompts", "400", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = json.loads(out.read_text())
    stages = [r["stage"] for r in records]
    for stage in (
        "long_form",
        "stream",
        "simulate_latency",
        "evaluate_cold",
        "evaluate_warm",
        "dacr_replay",
        "linucb_replay",
        "online_interface",
        "constrained_oracle_lp",
        "budget_sweep",
        "workflow_rerun_lambda",
    ):
        assert stage in stages
    for record in records:
        assert KEYS <= set(record) and record["prompts"] == 400 and record["wall_s"] > 0
    replay = next(r for r in records if r["stage"] == "dacr_replay")
    assert replay["rows_per_s"] > 0 and replay["peak_rss_mb"] > 0
    interface = next(r for r in records if r["stage"] == "online_interface")
    assert isinstance(interface["overhead_us_per_decision"], float)
    assert "linucb over" in proc.stderr and "identical True" in proc.stderr
    assert "| stage | prompts |" in proc.stdout
