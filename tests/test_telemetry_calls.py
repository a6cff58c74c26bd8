"""Single calls of dacr.telemetry against the fake OpenAI server: retries, errors and their
messages, streaming, usage and cost, concurrency and the back-off that frees its slot."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dacr.profile import prices_per_1m
from dacr.telemetry import (
    LOG_COLUMNS,
    CollectionFailedError,
    MissingAPIKeyError,
    collect_latency,
    cost_usd,
    pick_model,
    read_jsonl_records,
)
from tests.openai_server import (
    PROMPT_OVERHEAD_TOKENS,
    ModelBehaviour,
    models_config,
    serve,
    stream_events,
)

KEY_ENV = "DACR_TEST_KEY"
SECRET = "sk-test-do-not-log-0123456789"
GPT35, MISTRAL, CLAUDE = "gpt-3.5-turbo-1106", "mistralai/mistral-7b-chat", "claude-v2"
# Fast back-off so retry tests take milliseconds, except where Retry-After is the point.
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)


def cfg_for(base_url: str, served: dict[str, str]) -> dict:
    return models_config(base_url, served, KEY_ENV)


def only_row(path) -> dict:
    rows = read_jsonl_records(path)
    assert len(rows) == 1
    return rows[0]


def test_429_is_retried_after_the_retry_after_header(tmp_path):
    behaviour = ModelBehaviour(faults=["429"], retry_after="1")
    with serve({"m-a": behaviour}) as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(stream_events(1), cfg_for(srv.base_url, {GPT35: "m-a"}), out, **FAST)
        row = only_row(out)
        assert row["ok"] is True
        assert row["attempts"] == 2
        assert row["total_s"] >= 1.0
        assert srv.state.total_requests("m-a") == 2


def test_500_is_retried_until_success(tmp_path):
    with serve({"m-a": ModelBehaviour(faults=["500", "500"])}) as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(stream_events(1), cfg_for(srv.base_url, {GPT35: "m-a"}), out, **FAST)
        row = only_row(out)
        assert (row["ok"], row["attempts"], row["error"], row["message"]) == (True, 3, None, None)


@pytest.mark.parametrize(
    ("fault", "stream", "error", "message"),
    [
        ("500", False, "InternalServerError", "The server had an error"),
        ("429", False, "RateLimitError", "Rate limit reached"),
        ("slow", False, "APITimeoutError", "no complete answer within timeout_s=0.3 s"),
        ("slow", True, "APITimeoutError", "no complete answer within timeout_s=0.3 s"),
        ("reset", False, "APIConnectionError", "Connection error."),
        ("badjson", False, "JSONDecodeError", "Expecting value"),
        ("badjson", True, "JSONDecodeError", "Expecting"),
    ],
)
def test_permanent_failure_is_logged_with_its_message(tmp_path, fault, stream, error, message):
    behaviour = ModelBehaviour(always=fault, slow_s=3.0, retry_after="0")
    with serve({"m-a": behaviour}) as srv:
        out, ledger = tmp_path / "lat.jsonl", tmp_path / "ledger.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        with pytest.raises(CollectionFailedError) as info:
            collect_latency(
                stream_events(2),
                cfg,
                out,
                ledger_path=ledger,
                max_retries=2,
                timeout_s=0.3,
                stream=stream,
                **FAST,
            )
        rows = read_jsonl_records(ledger)
        assert sorted(r["qid"] for r in rows) == ["q000", "q001"]
        for row in rows:
            assert (row["ok"], row["error"], row["attempts"], row["latency_s"]) == (
                False,
                error,
                3,
                None,
            )
            assert row["message"].startswith(message)
        assert srv.state.total_requests("m-a") == 6
    summary = info.value.summary
    assert (summary["failed"], summary["failed_pairs"], summary["errors"]) == (2, 2, {error: 2})
    assert not out.exists()


def test_non_retryable_4xx_fails_at_once_with_the_server_message(tmp_path):
    behaviour = ModelBehaviour(always="400", message="max_tokens is too large: 99999")
    with serve({"m-a": behaviour}) as srv:
        ledger = tmp_path / "ledger.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        with pytest.raises(CollectionFailedError, match="max_tokens is too large: 99999"):
            collect_latency(stream_events(1), cfg, tmp_path / "lat.jsonl", ledger_path=ledger)
        row = only_row(ledger)
        assert (row["ok"], row["error"], row["status"], row["attempts"], row["message"]) == (
            False,
            "BadRequestError",
            400,
            1,
            "max_tokens is too large: 99999",
        )


def test_long_server_messages_are_cut_to_300_characters(tmp_path):
    behaviour = ModelBehaviour(always="400", message="x" * 1000)
    with serve({"m-a": behaviour}) as srv:
        ledger = tmp_path / "ledger.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        with pytest.raises(CollectionFailedError):
            collect_latency(stream_events(1), cfg, tmp_path / "lat.jsonl", ledger_path=ledger)
    assert only_row(ledger)["message"] == "x" * 297 + "..."


def test_latency_is_close_to_the_injected_delay(tmp_path):
    with serve({"m-a": ModelBehaviour(delay_s=0.3)}) as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(stream_events(3), cfg_for(srv.base_url, {GPT35: "m-a"}), out)
        latencies = [r["latency_s"] for r in read_jsonl_records(out)]
        assert len(latencies) == 3
        assert all(0.3 <= x <= 0.3 + 0.5 for x in latencies)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_streaming_reports_time_to_first_token(tmp_path, api):
    with serve({"m-a": ModelBehaviour(delay_s=0.2)}) as srv:
        out = tmp_path / "lat.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        collect_latency(stream_events(1), cfg, out, stream=True, api=api)
        row = only_row(out)
        assert row["ok"] is True
        assert 0.2 <= row["ttft_s"] <= row["latency_s"]
        assert row["completion_tokens"] == 20
        assert srv.state.requests[0]["body"]["stream"] is True


def test_non_streaming_rows_have_no_ttft(tmp_path):
    with serve() as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(stream_events(1), cfg_for(srv.base_url, {GPT35: "m-a"}), out)
        assert only_row(out)["ttft_s"] is None


@pytest.mark.parametrize(("api", "stream"), [("chat", False), ("chat", True), ("responses", False)])
def test_cost_is_computed_from_usage_and_prices(tmp_path, api, stream):
    with serve({"m-a": ModelBehaviour(completion_tokens=13)}) as srv:
        out = tmp_path / "lat.jsonl"
        events = stream_events(2)
        cfg = cfg_for(srv.base_url, {CLAUDE: "m-a"})
        collect_latency(events, cfg, out, api=api, stream=stream)
        price_in, price_out = prices_per_1m()[CLAUDE]
        by_qid = {r["qid"]: r for r in read_jsonl_records(out)}
        for ev in events:
            row = by_qid[ev["qid"]]
            p_tok = len(ev["prompt"].split()) + PROMPT_OVERHEAD_TOKENS
            assert (row["prompt_tokens"], row["completion_tokens"]) == (p_tok, 13)
            assert row["cost_usd"] == (p_tok * price_in + 13 * price_out) / 1e6
            assert row["cost_usd"] == cost_usd(p_tok, 13, price_in, price_out)


def test_rows_have_the_documented_columns_ids_and_endpoint(tmp_path):
    with serve() as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(stream_events(2), cfg_for(srv.base_url, {GPT35: "served-x"}), out)
        rows = read_jsonl_records(out)
        assert [r["qid"] for r in rows] == ["q000", "q001"]
        for row in rows:
            assert tuple(row) == LOG_COLUMNS
            assert (row["model"], row["served_as"], row["provider"]) == (GPT35, "served-x", "local")
            assert row["base_url"] == srv.base_url
        assert {r["model"] for r in srv.state.requests} == {"served-x"}


def test_concurrency_limit_is_respected(tmp_path):
    with serve({"m-a": ModelBehaviour(delay_s=0.1)}) as srv:
        out = tmp_path / "lat.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        collect_latency(stream_events(24), cfg, out, concurrency=3)
        assert srv.state.max_in_flight == 3
        assert len(read_jsonl_records(out)) == 24


def test_a_call_backing_off_gives_its_slot_to_the_next_call(tmp_path):
    # One slot; the first pair (m-a) fails twice. Holding the slot through its back-off,
    # the server would see a, a, a, b; released, b goes out while a waits.
    behaviours = {"m-a": ModelBehaviour(faults=["500", "500"]), "m-b": ModelBehaviour()}
    with serve(behaviours) as srv:
        cfg = cfg_for(srv.base_url, {GPT35: "m-a", MISTRAL: "m-b"})
        opts = {"concurrency": 1, "backoff_base_s": 0.4, "backoff_max_s": 0.4}
        collect_latency(stream_events(1), cfg, tmp_path / "lat.jsonl", **opts)
        assert [r["model"] for r in srv.state.requests] == ["m-a", "m-b", "m-a", "m-a"]
        assert srv.state.max_in_flight == 1
    rows = {r["model"]: r for r in read_jsonl_records(tmp_path / "lat.jsonl")}
    assert (rows[GPT35]["attempts"], rows[MISTRAL]["attempts"]) == (3, 1)


def test_every_model_is_measured_per_event_with_all(tmp_path):
    with serve() as srv:
        out = tmp_path / "lat.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a", MISTRAL: "m-b", CLAUDE: "m-c"})
        summary = collect_latency(stream_events(4), cfg, out)
        pairs = {(r["qid"], r["model"]) for r in read_jsonl_records(out)}
        assert len(pairs) == 12
        assert summary["ok"] == 12


def test_one_model_per_event_is_deterministic_across_runs_and_processes(tmp_path):
    models = [GPT35, MISTRAL, CLAUDE]
    events = stream_events(30)
    with serve() as srv:
        cfg = cfg_for(srv.base_url, {m: m for m in models})
        chosen = []
        for run in range(2):
            out = tmp_path / f"lat{run}.jsonl"
            collect_latency(events, cfg, out, per_event_models="one", seed=7)
            chosen.append(sorted((r["qid"], r["model"]) for r in read_jsonl_records(out)))
    assert chosen[0] == chosen[1]
    assert len(chosen[0]) == 30
    assert len({m for _, m in chosen[0]}) > 1
    code = (
        "import json, sys; from dacr.telemetry import pick_model; "
        "print(json.dumps([pick_model(q, sys.argv[2:], 7) for q in json.loads(sys.argv[1])]))"
    )
    qids = [ev["qid"] for ev in events]
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(qids), *models],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert list(zip(qids, json.loads(proc.stdout), strict=True)) == chosen[0]
    assert [pick_model(q, list(reversed(models)), 7) for q in qids] == [m for _, m in chosen[0]]


def test_missing_api_key_env_fails_before_any_call(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with serve() as srv:
        ledger = tmp_path / "ledger.jsonl"
        with pytest.raises(MissingAPIKeyError, match=rf"{KEY_ENV}.*'local'"):
            collect_latency(
                stream_events(2),
                cfg_for(srv.base_url, {GPT35: "m-a"}),
                tmp_path / "lat.jsonl",
                ledger_path=ledger,
            )
        assert srv.state.total_requests() == 0
    assert read_jsonl_records(ledger) == []


def test_api_key_is_never_written_to_logs_or_output(tmp_path, caplog):
    caplog.set_level("DEBUG")
    with serve({"m-a": ModelBehaviour(faults=["500"])}) as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(stream_events(2), cfg_for(srv.base_url, {GPT35: "m-a"}), out, **FAST)
    assert SECRET not in out.read_text()
    assert SECRET not in caplog.text


def test_a_wrong_key_fails_with_the_server_message_and_the_key_scrubbed(tmp_path, caplog):
    caplog.set_level("DEBUG")
    with serve({"m-a": ModelBehaviour(always="401")}) as srv:
        ledger = tmp_path / "ledger.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        with pytest.raises(CollectionFailedError) as info:
            collect_latency(stream_events(2), cfg, tmp_path / "lat.jsonl", ledger_path=ledger)
        assert srv.state.total_requests() == 2  # 401 is not retried
    expected = "Incorrect API key provided: [REDACTED]. Check your key."
    assert [r["message"] for r in read_jsonl_records(ledger)] == [expected, expected]
    assert "2 x AuthenticationError (status 401)" in str(info.value)
    assert expected in str(info.value)
    assert expected in caplog.text
    for text in (ledger.read_text(), caplog.text, str(info.value)):
        assert SECRET not in text


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"pacing": "fast"}, r"telemetry\.pacing='fast' is not valid; valid: \['asap', 'stream'\]"),
        ({"per_event_models": "two"}, r"per_event_models='two' is not valid"),
        ({"breaker_failures": 0}, r"telemetry\.breaker_failures must be an integer >= 1, got 0"),
        ({"max_failed_share": 1.5}, r"max_failed_share must be a finite number in \[0, 1\]"),
        ({"timeout_s": 0}, r"telemetry\.timeout_s must be a finite number > 0, got 0"),
        ({"time_warp": 2.0}, r"unknown telemetry option\(s\) \['time_warp'\]; valid: "),
    ],
)
def test_bad_options_are_rejected_before_any_call(tmp_path, options, expected):
    cfg = cfg_for("http://127.0.0.1:9/v1", {GPT35: "m-a"})
    with pytest.raises(ValueError, match=expected):
        collect_latency(stream_events(1), cfg, tmp_path / "x.jsonl", **options)


def test_repeated_qids_are_rejected(tmp_path):
    cfg = cfg_for("http://127.0.0.1:9/v1", {GPT35: "m-a"})
    with pytest.raises(ValueError, match="repeats event 0"):
        collect_latency(stream_events(1) * 2, cfg, tmp_path / "x.jsonl")


def test_stream_pacing_needs_numeric_timestamps(tmp_path):
    events = stream_events(2)
    events[1]["ts"] = "soon"
    cfg = cfg_for("http://127.0.0.1:9/v1", {GPT35: "m-a"})
    with pytest.raises(ValueError, match=r"event 1 \(qid 'q001'\): key 'ts'.*'soon'"):
        collect_latency(events, cfg, tmp_path / "x.jsonl", pacing="stream")
