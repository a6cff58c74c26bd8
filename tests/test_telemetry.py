"""Tests of dacr.telemetry against the fake OpenAI server in tests/openai_server.py."""

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

from dacr.profile import model_ids, prices_per_1m
from dacr.telemetry import (
    LOG_COLUMNS,
    MissingAPIKeyError,
    collect_latency,
    cost_usd,
    load_models_config,
    pick_model,
    read_jsonl_records,
    read_latency_log,
    run_collect,
)

try:  # tests/ on sys.path (pytest's default rootdir-relative import)
    from openai_server import PROMPT_OVERHEAD_TOKENS, ModelBehaviour, serve
except ImportError:  # tests/ imported as a package
    from tests.openai_server import PROMPT_OVERHEAD_TOKENS, ModelBehaviour, serve

KEY_ENV = "DACR_TEST_KEY"
SECRET = "sk-test-do-not-log-0123456789"
GPT35, MISTRAL, CLAUDE = "gpt-3.5-turbo-1106", "mistralai/mistral-7b-chat", "claude-v2"
REPO = Path(__file__).resolve().parents[1]
# Fast back-off so retry tests take milliseconds, except where Retry-After is the point.
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)


def models_cfg(base_url: str, served: dict[str, str]) -> dict:
    """Config mapping RouterBench ids to served names on the local server."""
    prices = prices_per_1m()
    return {
        "providers": {"local": {"base_url": base_url, "api_key_env": KEY_ENV}},
        "models": {
            rb: {
                "provider": "local",
                "served_as": name,
                "price_in_per_1m": prices[rb][0],
                "price_out_per_1m": prices[rb][1],
            }
            for rb, name in served.items()
        },
    }


def make_events(n: int, *, ts_step: float = 0.0) -> list[dict]:
    return [
        {
            "ts": 1_700_000_000.0 + i * ts_step,
            "qid": f"q{i:03d}",
            "domain": "math",
            "prompt": f"prompt number {i} about several things",
            "split": "test",
            "lat_mult": 1.0,
        }
        for i in range(n)
    ]


def only_row(path: Path) -> dict:
    rows = read_jsonl_records(path)
    assert len(rows) == 1
    return rows[0]


def test_429_is_retried_after_the_retry_after_header(tmp_path):
    behaviour = ModelBehaviour(faults=["429"], retry_after="1")
    with serve({"m-a": behaviour}) as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(make_events(1), models_cfg(srv.base_url, {GPT35: "m-a"}), out, **FAST)
        row = only_row(out)
        assert row["ok"] is True
        assert row["attempts"] == 2
        assert row["total_s"] >= 1.0
        assert srv.state.total_requests("m-a") == 2


def test_500_is_retried_until_success(tmp_path):
    with serve({"m-a": ModelBehaviour(faults=["500", "500"])}) as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(make_events(1), models_cfg(srv.base_url, {GPT35: "m-a"}), out, **FAST)
        row = only_row(out)
        assert (row["ok"], row["attempts"], row["error"]) == (True, 3, None)


@pytest.mark.parametrize(
    ("fault", "stream", "error"),
    [
        ("500", False, "InternalServerError"),
        ("429", False, "RateLimitError"),
        ("slow", False, "APITimeoutError"),
        ("slow", True, "APITimeoutError"),
        ("reset", False, "APIConnectionError"),
        ("badjson", False, "JSONDecodeError"),
        ("badjson", True, "JSONDecodeError"),
    ],
)
def test_permanent_failure_is_logged_not_dropped(tmp_path, fault, stream, error):
    behaviour = ModelBehaviour(always=fault, slow_s=3.0, retry_after="0")
    with serve({"m-a": behaviour}) as srv:
        out = tmp_path / "lat.jsonl"
        cfg = models_cfg(srv.base_url, {GPT35: "m-a"})
        summary = collect_latency(
            make_events(2), cfg, out, max_retries=2, timeout_s=0.3, stream=stream, **FAST
        )
        rows = read_jsonl_records(out)
        assert [r["qid"] for r in sorted(rows, key=lambda r: r["qid"])] == ["q000", "q001"]
        for row in rows:
            assert row["ok"] is False
            assert row["error"] == error
            assert row["attempts"] == 3
            assert row["latency_s"] is None
        assert srv.state.total_requests("m-a") == 6
        assert (summary["failed"], summary["errors"]) == (2, {error: 2})


def test_non_retryable_4xx_fails_at_once(tmp_path):
    with serve({"m-a": ModelBehaviour(always="400")}) as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(make_events(1), models_cfg(srv.base_url, {GPT35: "m-a"}), out, **FAST)
        row = only_row(out)
        assert (row["ok"], row["error"], row["status"], row["attempts"]) == (
            False,
            "BadRequestError",
            400,
            1,
        )


def test_latency_is_close_to_the_injected_delay(tmp_path):
    with serve({"m-a": ModelBehaviour(delay_s=0.3)}) as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(make_events(3), models_cfg(srv.base_url, {GPT35: "m-a"}), out)
        latencies = [r["latency_s"] for r in read_jsonl_records(out)]
        assert len(latencies) == 3
        assert all(0.3 <= x <= 0.3 + 0.5 for x in latencies)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_streaming_reports_time_to_first_token(tmp_path, api):
    with serve({"m-a": ModelBehaviour(delay_s=0.2)}) as srv:
        out = tmp_path / "lat.jsonl"
        cfg = models_cfg(srv.base_url, {GPT35: "m-a"})
        collect_latency(make_events(1), cfg, out, stream=True, api=api)
        row = only_row(out)
        assert row["ok"] is True
        assert 0.2 <= row["ttft_s"] <= row["latency_s"]
        assert row["completion_tokens"] == 20
        assert srv.state.requests[0]["body"]["stream"] is True


def test_non_streaming_rows_have_no_ttft(tmp_path):
    with serve() as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(make_events(1), models_cfg(srv.base_url, {GPT35: "m-a"}), out)
        assert only_row(out)["ttft_s"] is None


@pytest.mark.parametrize(("api", "stream"), [("chat", False), ("chat", True), ("responses", False)])
def test_cost_is_computed_from_usage_and_prices(tmp_path, api, stream):
    with serve({"m-a": ModelBehaviour(completion_tokens=13)}) as srv:
        out = tmp_path / "lat.jsonl"
        events = make_events(2)
        cfg = models_cfg(srv.base_url, {CLAUDE: "m-a"})
        collect_latency(events, cfg, out, api=api, stream=stream)
        price_in, price_out = prices_per_1m()[CLAUDE]
        by_qid = {r["qid"]: r for r in read_jsonl_records(out)}
        for ev in events:
            row = by_qid[ev["qid"]]
            p_tok = len(ev["prompt"].split()) + PROMPT_OVERHEAD_TOKENS
            assert (row["prompt_tokens"], row["completion_tokens"]) == (p_tok, 13)
            assert row["cost_usd"] == (p_tok * price_in + 13 * price_out) / 1e6
            assert row["cost_usd"] == cost_usd(p_tok, 13, price_in, price_out)


def test_rows_have_the_documented_columns_and_ids(tmp_path):
    with serve() as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(make_events(2), models_cfg(srv.base_url, {GPT35: "served-x"}), out)
        for row in read_jsonl_records(out):
            assert tuple(row) == LOG_COLUMNS
            assert (row["model"], row["served_as"], row["provider"]) == (GPT35, "served-x", "local")
        assert {r["model"] for r in srv.state.requests} == {"served-x"}


def test_concurrency_limit_is_respected(tmp_path):
    with serve({"m-a": ModelBehaviour(delay_s=0.1)}) as srv:
        out = tmp_path / "lat.jsonl"
        cfg = models_cfg(srv.base_url, {GPT35: "m-a"})
        collect_latency(make_events(24), cfg, out, concurrency=3)
        assert srv.state.max_in_flight == 3
        assert len(read_jsonl_records(out)) == 24


def test_every_model_is_measured_per_event_with_all(tmp_path):
    with serve() as srv:
        out = tmp_path / "lat.jsonl"
        cfg = models_cfg(srv.base_url, {GPT35: "m-a", MISTRAL: "m-b", CLAUDE: "m-c"})
        summary = collect_latency(make_events(4), cfg, out)
        pairs = {(r["qid"], r["model"]) for r in read_jsonl_records(out)}
        assert len(pairs) == 12
        assert summary["ok"] == 12


def test_one_model_per_event_is_deterministic_across_runs_and_processes(tmp_path):
    models = [GPT35, MISTRAL, CLAUDE]
    events = make_events(30)
    with serve() as srv:
        cfg = models_cfg(srv.base_url, {m: m for m in models})
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


def test_stream_pacing_replays_timestamps_with_time_warp(tmp_path):
    with serve() as srv:
        out = tmp_path / "lat.jsonl"
        events = make_events(5, ts_step=1.0)
        cfg = models_cfg(srv.base_url, {GPT35: "m-a"})
        collect_latency(events, cfg, out, pacing="stream", time_warp=4.0)
    sent = [r["sent_ts"] for r in sorted(read_jsonl_records(out), key=lambda r: r["qid"])]
    # 1 s apart in the stream, 0.25 s apart when replayed 4x faster: never early, and late
    # by less than the spacing even on a loaded machine.
    for k, t in enumerate(sent):
        assert k * 0.25 - 0.01 <= t - sent[0] <= k * 0.25 + 0.2


def test_asap_pacing_does_not_wait_for_timestamps(tmp_path):
    with serve() as srv:
        out = tmp_path / "lat.jsonl"
        cfg = models_cfg(srv.base_url, {GPT35: "m-a"})
        summary = collect_latency(make_events(5, ts_step=100.0), cfg, out, pacing="asap")
        assert summary["elapsed_s"] < 5.0


def test_missing_api_key_env_fails_before_any_call(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with serve() as srv:
        out = tmp_path / "lat.jsonl"
        with pytest.raises(MissingAPIKeyError, match=rf"{KEY_ENV}.*'local'"):
            collect_latency(make_events(2), models_cfg(srv.base_url, {GPT35: "m-a"}), out)
        assert srv.state.total_requests() == 0
    assert read_jsonl_records(out) == []


def test_api_key_is_never_written_to_logs_or_output(tmp_path, caplog):
    caplog.set_level("DEBUG")
    with serve({"m-a": ModelBehaviour(faults=["500"])}) as srv:
        out = tmp_path / "lat.jsonl"
        collect_latency(make_events(2), models_cfg(srv.base_url, {GPT35: "m-a"}), out, **FAST)
    assert SECRET not in out.read_text()
    assert SECRET not in caplog.text


def test_bad_options_are_rejected(tmp_path):
    cfg = models_cfg("http://127.0.0.1:9/v1", {GPT35: "m-a"})
    with pytest.raises(ValueError, match="pacing='fast'"):
        collect_latency(make_events(1), cfg, tmp_path / "x.jsonl", pacing="fast")
    with pytest.raises(ValueError, match="per_event_models='two'"):
        collect_latency(make_events(1), cfg, tmp_path / "x.jsonl", per_event_models="two")
    with pytest.raises(ValueError, match="repeats event 0"):
        collect_latency(make_events(1) * 2, cfg, tmp_path / "x.jsonl")


def test_stream_pacing_needs_numeric_timestamps(tmp_path):
    events = make_events(2)
    events[1]["ts"] = "soon"
    cfg = models_cfg("http://127.0.0.1:9/v1", {GPT35: "m-a"})
    with pytest.raises(ValueError, match=r"event 1 \(qid 'q001'\): key 'ts'.*'soon'"):
        collect_latency(events, cfg, tmp_path / "x.jsonl", pacing="stream")


# -- models.yaml -------------------------------------------------------------------------------
def test_shipped_models_yaml_maps_every_routerbench_model_at_published_prices():
    cfg = load_models_config(REPO / "config" / "models.yaml")
    assert sorted(cfg["models"]) == sorted(model_ids())
    for rb, spec in cfg["models"].items():
        assert (spec["price_in_per_1m"], spec["price_out_per_1m"]) == prices_per_1m()[rb]
        assert spec["provider"] in cfg["providers"]


def _valid_cfg() -> dict:
    return models_cfg("http://127.0.0.1:8000/v1", {GPT35: "m-a", MISTRAL: "m-b"})


def _set(cfg: dict, path: tuple, value) -> dict:
    node = cfg
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return cfg


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("models", GPT35, "provider"), "nowhere", rf"models\.{GPT35}\.provider.*'nowhere'"),
        (("models", GPT35, "served_as"), _DELETE, rf"missing key 'models\.{GPT35}\.served_as'"),
        (("models", GPT35, "price_in_per_1m"), -1.0, rf"models\.{GPT35}\.price_in_per_1m.*-1\.0"),
        (("models", MISTRAL, "price_out_per_1m"), "cheap", r"price_out_per_1m.*'cheap'"),
        (("models", MISTRAL, "price_out_per_1m"), True, r"price_out_per_1m.*True"),
        (("models", "gpt-5"), {"provider": "local"}, r"'models\.gpt-5' is not a RouterBench"),
        (("providers", "local", "api_key_env"), _DELETE, r"providers\.local\.api_key_env"),
        (("providers", "local", "base_url"), "ftp://x", r"providers\.local\.base_url.*ftp://x"),
        (("models", GPT35, "price_in"), 1.0, r"unknown key.*'price_in'"),
    ],
)
def test_models_yaml_errors_name_file_key_and_value(tmp_path, path, value, expected):
    cfg_file = tmp_path / "models.yaml"
    cfg_file.write_text(yaml.safe_dump(_set(_valid_cfg(), path, value)))
    with pytest.raises(ValueError, match=expected) as info:
        load_models_config(cfg_file)
    assert str(cfg_file) in str(info.value)


def test_models_yaml_must_have_providers(tmp_path):
    cfg_file = tmp_path / "models.yaml"
    cfg_file.write_text("models: {}\n")
    with pytest.raises(ValueError, match=r"models\.yaml: key 'providers' must be a mapping"):
        load_models_config(cfg_file)


# -- resume ------------------------------------------------------------------------------------
def test_truncated_last_line_is_repaired_and_logged_pairs_are_skipped(tmp_path):
    with serve() as srv:
        out = tmp_path / "lat.jsonl"
        cfg = models_cfg(srv.base_url, {GPT35: "m-a"})
        collect_latency(make_events(1), cfg, out)
        with open(out, "a") as fh:
            fh.write('{"qid": "q001", "model": "gpt-3.5-tu')
        collect_latency(make_events(3), cfg, out)
        rows = read_jsonl_records(out)
        assert sorted(r["qid"] for r in rows) == ["q000", "q001", "q002"]
        assert out.read_bytes().endswith(b"\n")
        assert srv.state.total_requests() == 3


def test_failed_pairs_are_retried_on_rerun_and_the_reader_deduplicates(tmp_path):
    with serve({"m-a": ModelBehaviour(always="500")}) as srv:
        out = tmp_path / "lat.jsonl"
        cfg = models_cfg(srv.base_url, {GPT35: "m-a", MISTRAL: "m-b"})
        first = collect_latency(make_events(3), cfg, out, max_retries=0)
        srv.state.behaviours["m-a"] = ModelBehaviour()
        second = collect_latency(make_events(3), cfg, out, max_retries=0)
    assert (first["ok"], first["failed"]) == (3, 3)
    assert (second["already_ok"], second["sent"], second["ok"]) == (3, 3, 3)
    assert len(read_jsonl_records(out)) == 9
    table = read_latency_log(out)
    assert len(table) == 6
    assert table["ok"].all()
    assert not table.duplicated(["qid", "model"]).any()


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
    events = make_events(60)
    stream = tmp_path / "stream.jsonl"
    stream.write_text("".join(json.dumps(ev) + "\n" for ev in events))
    behaviours = {"m-a": ModelBehaviour(delay_s=0.05), "m-b": ModelBehaviour(delay_s=0.05)}
    with serve(behaviours) as srv:
        models_file = tmp_path / "models.yaml"
        cfg = models_cfg(srv.base_url, {GPT35: "m-a", MISTRAL: "m-b"})
        models_file.write_text(yaml.safe_dump(cfg))
        out = tmp_path / "latency.jsonl"
        code = (
            "import sys; from dacr.telemetry import run_collect; "
            "run_collect(sys.argv[1], sys.argv[2], sys.argv[3], concurrency=4)"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(stream), str(models_file), str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_lines(out, 10)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        logged_before = len(read_jsonl_records(out))
        assert 10 <= logged_before < 120
        summary = run_collect(stream, models_file, out, concurrency=4)
    assert summary["already_ok"] == logged_before
    rows = read_jsonl_records(out)
    ok_pairs = [(r["qid"], r["model"]) for r in rows if r["ok"]]
    expected = {(ev["qid"], m) for ev in events for m in (GPT35, MISTRAL)}
    assert len(ok_pairs) == len(set(ok_pairs)) == 120
    assert set(ok_pairs) == expected
    assert len(read_latency_log(out)) == 120
