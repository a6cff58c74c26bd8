"""The resume ledger: rows survive crashes, a resume compacts it to one row per pair, and only
successes measured at the current endpoint count as done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dacr.telemetry import (
    CollectOptions,
    collect_latency,
    compact_rows,
    default_ledger_path,
    read_jsonl_records,
    read_latency_log,
    request_signature,
    run_collect,
)
from dacr.telemetry.ledger import is_current_success
from tests.openai_server import ModelBehaviour, models_config, serve, stream_events

KEY_ENV = "DACR_TEST_KEY"
GPT35, MISTRAL = "gpt-3.5-turbo-1106", "mistralai/mistral-7b-chat"
OTHER_URL = "http://127.0.0.1:1/v1"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")


def cfg_for(base_url: str, served: dict[str, str]) -> dict:
    return models_config(base_url, served, KEY_ENV)


DEFAULT_REQUEST = "api=chat stream=false max_tokens=256"


def row(
    qid: str,
    ok: bool,
    base_url: str,
    *,
    served_as: str = "m-a",
    error=None,
    request: str = DEFAULT_REQUEST,
) -> dict:
    return {
        "qid": qid,
        "model": GPT35,
        "served_as": served_as,
        "ok": ok,
        "error": error,
        "latency_s": 0.1 if ok else None,
        "base_url": base_url,
        "request": request,
    }


def test_compaction_keeps_the_current_success_else_the_latest_row():
    here = "http://here/v1"
    endpoints = {GPT35: {"provider": "p", "base_url": here, "served_as": "m-a"}}
    rows = [
        row("a", False, here, error="RateLimitError"),
        row("a", True, here),
        row("a", False, here, error="InternalServerError"),
        row("b", True, OTHER_URL),  # measured at another endpoint: not a success here
        row("b", False, here, error="APITimeoutError"),
        row("c", True, here, served_as="m-old"),  # another served model: not a success
        row("d", False, here, error="RateLimitError"),
        row("d", True, OTHER_URL),
    ]
    kept = compact_rows(rows, endpoints)
    assert [(r["qid"], r["ok"], r["error"], r["base_url"]) for r in kept] == [
        ("a", True, None, here),
        ("b", False, "APITimeoutError", here),
        ("c", True, None, here),
        ("d", True, None, OTHER_URL),
    ]


def test_a_resume_compacts_the_ledger_and_resends_pairs_measured_elsewhere(tmp_path):
    with serve() as srv:
        ledger = tmp_path / "ledger.jsonl"
        stale = [row("q000", False, srv.base_url, error="InternalServerError")] * 3
        stale += [row("q000", True, srv.base_url), row("q001", True, OTHER_URL)]
        stale += [row("q002", False, OTHER_URL, error="RateLimitError")] * 2
        ledger.write_text("".join(json.dumps(r) + "\n" for r in stale))
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        summary = collect_latency(stream_events(3), cfg, tmp_path / "lat.jsonl", ledger_path=ledger)
        assert sorted(r["prompt"].split()[2] for r in srv.state.requests) == ["1", "2"]
    assert (summary["already_ok"], summary["sent"]) == (1, 2)
    expected = [("q000", True, srv.base_url), ("q001", True, srv.base_url)]
    expected.append(("q002", True, srv.base_url))
    for path in (ledger, tmp_path / "lat.jsonl"):
        rows = read_jsonl_records(path)
        assert [(r["qid"], r["ok"], r["base_url"]) for r in rows] == expected


def test_the_request_signature_names_api_streaming_and_max_tokens():
    assert request_signature(CollectOptions()) == DEFAULT_REQUEST
    opts = CollectOptions.from_kwargs({"api": "responses", "stream": True, "max_tokens": 64})
    assert request_signature(opts) == "api=responses stream=true max_tokens=64"


def test_turning_on_streaming_measures_every_pair_again_with_its_time_to_first_token(tmp_path):
    with serve() as srv:
        ledger = tmp_path / "ledger.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        first = collect_latency(stream_events(3), cfg, tmp_path / "a.jsonl", ledger_path=ledger)
        assert first["sent"] == 3
        assert all(r["ttft_s"] is None for r in read_jsonl_records(tmp_path / "a.jsonl"))
        again = collect_latency(stream_events(3), cfg, tmp_path / "b.jsonl", ledger_path=ledger)
        assert (again["already_ok"], again["sent"]) == (3, 0)  # same options: nothing resent
        streamed = collect_latency(
            stream_events(3), cfg, tmp_path / "c.jsonl", ledger_path=ledger, stream=True
        )
        assert (streamed["already_ok"], streamed["sent"]) == (0, 3)
        assert [r["body"]["stream"] for r in srv.state.requests[3:]] == [True] * 3
    rows = read_jsonl_records(tmp_path / "c.jsonl")
    assert all(r["ttft_s"] is not None for r in rows)
    assert {r["request"] for r in rows} == {"api=chat stream=true max_tokens=256"}
    # the ledger keeps one row per pair: the success under the current options
    assert len(read_jsonl_records(ledger)) == 3


def test_rows_logged_before_the_request_options_were_recorded_are_measured_again():
    old = {k: v for k, v in row("q000", True, "u").items() if k != "request"}
    endpoints = {GPT35: {"base_url": "u", "served_as": "m-a", "request": DEFAULT_REQUEST}}
    assert compact_rows([old], endpoints) == [old]
    assert not is_current_success(old, endpoints)
    assert is_current_success(row("q000", True, "u"), endpoints)


def test_the_default_ledger_is_a_hidden_file_beside_the_output(tmp_path):
    assert default_ledger_path(tmp_path / "latency_measured.jsonl") == (
        tmp_path / ".latency_measured.ledger.jsonl"
    )


def test_truncated_last_line_is_repaired_and_logged_pairs_are_skipped(tmp_path):
    with serve() as srv:
        out, ledger = tmp_path / "lat.jsonl", tmp_path / "ledger.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        collect_latency(stream_events(1), cfg, out, ledger_path=ledger)
        with open(ledger, "a") as fh:
            fh.write('{"qid": "q001", "model": "gpt-3.5-tu')
        collect_latency(stream_events(3), cfg, out, ledger_path=ledger)
        assert sorted(r["qid"] for r in read_jsonl_records(ledger)) == ["q000", "q001", "q002"]
        assert ledger.read_bytes().endswith(b"\n")
        assert srv.state.total_requests() == 3


def test_reader_keeps_last_failure_when_a_pair_never_succeeded(tmp_path):
    out = tmp_path / "lat.jsonl"
    rows = [
        {"qid": "a", "model": GPT35, "ok": False, "error": "RateLimitError", "attempts": 1},
        {"qid": "a", "model": GPT35, "ok": True, "error": None, "attempts": 1},
        {"qid": "a", "model": GPT35, "ok": False, "error": "InternalServerError", "attempts": 2},
        {"qid": "b", "model": GPT35, "ok": False, "error": "RateLimitError", "attempts": 1},
        {"qid": "b", "model": GPT35, "ok": False, "error": "APITimeoutError", "attempts": 5},
    ]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"qid": "c"')
    table = read_latency_log(out)
    assert table["qid"].tolist() == ["a", "b"]
    assert table["ok"].tolist() == [True, False]
    assert table["error"].isna().tolist() == [True, False]
    assert table["error"].iloc[1] == "APITimeoutError"


def _wait_for_lines(path: Path, n: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {n} lines within {timeout_s} s")


def test_resume_after_kill_9_loses_and_duplicates_nothing(tmp_path):
    events = stream_events(60)
    stream = tmp_path / "stream.jsonl"
    stream.write_text("".join(json.dumps(ev) + "\n" for ev in events))
    behaviours = {"m-a": ModelBehaviour(delay_s=0.05), "m-b": ModelBehaviour(delay_s=0.05)}
    with serve(behaviours) as srv:
        models_file = tmp_path / "models.yaml"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a", MISTRAL: "m-b"})
        models_file.write_text(yaml.safe_dump(cfg))
        out, ledger = tmp_path / "latency.jsonl", tmp_path / "ledger.jsonl"
        code = (
            "import sys; from dacr.telemetry import run_collect; "
            "run_collect(sys.argv[1], sys.argv[2], sys.argv[3], ledger_path=sys.argv[4], "
            "concurrency=4)"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(stream), str(models_file), str(out), str(ledger)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_lines(ledger, 10)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        assert not out.exists()
        logged_before = len(read_jsonl_records(ledger))
        assert 10 <= logged_before < 120
        summary = run_collect(stream, models_file, out, ledger_path=ledger, concurrency=4)
    assert summary["already_ok"] == logged_before
    rows = read_jsonl_records(out)
    expected = [(ev["qid"], m) for ev in events for m in (GPT35, MISTRAL)]
    assert [(r["qid"], r["model"]) for r in rows] == expected
    assert all(r["ok"] for r in rows)
    assert len(read_jsonl_records(ledger)) == 120
