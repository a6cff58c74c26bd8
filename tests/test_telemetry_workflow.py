"""Rule collect_latency through Snakemake, against the loopback server: a job with failed pairs
fails with the reason and leaves no output, its ledger survives, the rerun sends only the
failed pairs, and stream pacing replays the stream's (already warped) timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from dacr.profile import model_ids
from dacr.telemetry import read_jsonl_records
from tests.openai_server import ModelBehaviour, models_config, serve
from tests.workflow.conftest import run_snakemake, write_config

pytestmark = pytest.mark.workflow
EXP = "meas"
BROKEN = "claude-v2"
KEY_ENV = "DACR_TEST_KEY"


def _config(tmp_path, base_url: str) -> dict:
    models_file = tmp_path / "models.yaml"
    served = {m: m for m in model_ids()}
    models_file.write_text(yaml.safe_dump(models_config(base_url, served, KEY_ENV)))
    return {
        "dataset": {"source": "synthetic", "synthetic": {"n_prompts": 100, "seed": 5}},
        "telemetry": {
            "models_file": str(models_file),
            "concurrency": 11,
            "max_retries": 0,
            "pacing": "stream",
        },
        "experiments": {
            EXP: {
                "test_fraction": 0.12,
                "latency": "measured",
                # 12 events 0.2 s apart in simulated time, replayed twice as fast: their
                # timestamps are 0.1 s apart and span 1.1 s.
                "stream": {"rate_qps": 5.0, "arrivals": "uniform", "time_warp": 2.0},
            }
        },
    }


def test_failed_pairs_fail_the_job_and_the_rerun_sends_only_them(tmp_path):
    target = f"results/{EXP}/latency_measured.jsonl"
    base = tmp_path / "results" / EXP
    env = {KEY_ENV: "sk-local"}
    with serve({BROKEN: ModelBehaviour(always="500")}) as srv:
        extra = write_config(tmp_path, _config(tmp_path, srv.base_url))
        first = run_snakemake(tmp_path, target, "--configfile", extra, check=False, env=env)
        assert first.returncode != 0
        assert not (base / "latency_measured.jsonl").exists()
        log_text = (tmp_path / "logs" / EXP / "collect_latency.log").read_text()
        assert "12 of 132 (qid, model) pairs have no successful measurement" in log_text
        assert "12 x InternalServerError (status 500), e.g. qid" in log_text
        assert "'The server had an error'" in log_text
        ledger = read_jsonl_records(base / ".latency_ledger.jsonl")
        assert sum(r["ok"] for r in ledger) == 120
        n_before = srv.state.total_requests()

        srv.state.behaviours[BROKEN] = ModelBehaviour()
        run_snakemake(tmp_path, target, "--configfile", extra, env=env)
        resent = srv.state.requests[n_before:]
    assert {r["model"] for r in resent} == {BROKEN}
    assert len(resent) == 12
    rows = pd.read_json(base / "latency_measured.jsonl", lines=True)
    assert len(rows) == 132 and rows["ok"].all()
    assert set(rows["base_url"]) == {srv.base_url}
    stream = pd.read_json(base / "stream.jsonl", lines=True).sort_values("ts")
    offsets = (stream["ts"] - stream["ts"].iloc[0]).to_numpy()
    assert offsets[-1] == pytest.approx(1.1, abs=1e-6)
    received = np.sort([r["t"] for r in resent])
    assert np.all(np.abs((received - received[0]) - offsets) <= 0.25)
