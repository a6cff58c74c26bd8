"""Open-loop pacing against a real clock: with pacing 'stream' each request reaches the server
no earlier than its timestamp (relative to the start), and the replay spans the timestamps.

``ts`` in a stream already includes the stream's ``time_warp`` (dacr.stream writes
``ts = start_ts + offset_s / time_warp``), so the replay must not warp again.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from dacr.stream import build_stream
from dacr.telemetry import collect_latency
from tests.openai_server import models_config, serve, stream_events

KEY_ENV = "DACR_TEST_KEY"
GPT35 = "gpt-3.5-turbo-1106"
# Lateness allowed per request on a loaded 2-core machine; early is never allowed.
LATE_S = 0.25


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")


def warped_stream() -> list[dict]:
    """Six Poisson arrivals over 3.46 s of simulated time, replayed twice as fast: their
    timestamps span 1.73 s (seed 5)."""
    queries = pd.DataFrame(
        {
            "qid": [f"q{i}" for i in range(6)],
            "domain": ["math"] * 6,
            "prompt": [f"prompt number {i} about things" for i in range(6)],
        }
    )
    stream = build_stream(
        queries,
        np.array(["test"] * 6),
        rate_qps=1.5,
        time_warp=2.0,
        start_ts=1_700_000_000.0,
        arrivals="poisson",
        seed=5,
    )
    return stream.to_dict("records")


def test_stream_pacing_sends_each_request_at_its_timestamp(tmp_path):
    events = warped_stream()
    ts = np.array(sorted(ev["ts"] for ev in events))
    offsets = ts - ts[0]
    assert offsets[-1] == pytest.approx(1.728, abs=0.001)  # the stream's own warp, once
    with serve() as srv:
        cfg = models_config(srv.base_url, {GPT35: "m-a"}, KEY_ENV)
        t_before = time.time()
        collect_latency(events, cfg, tmp_path / "lat.jsonl", pacing="stream", concurrency=2)
        received = np.array(sorted(r["t"] for r in srv.state.requests))
    assert len(received) == 6
    # Never early: the collector starts after t_before, and sends request i at offset i.
    assert np.all(received - t_before >= offsets)
    # On time: each request within LATE_S of its offset from the first.
    assert np.all(np.abs((received - received[0]) - offsets) <= LATE_S)
    assert received[-1] - received[0] == pytest.approx(offsets[-1], abs=LATE_S)


def test_asap_pacing_does_not_wait_for_timestamps(tmp_path):
    with serve() as srv:
        cfg = models_config(srv.base_url, {GPT35: "m-a"}, KEY_ENV)
        events = stream_events(5, ts_step=100.0)
        collect_latency(events, cfg, tmp_path / "lat.jsonl", pacing="asap")
        received = sorted(r["t"] for r in srv.state.requests)
    # 400 s of timestamps: sent together, not paced (a correctness check, not a speed one).
    assert received[-1] - received[0] < 100.0
