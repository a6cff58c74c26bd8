"""Failed pairs never make a finished-looking log: the run fails with counts by error class and
an example server message, the ledger keeps the successes, and a rerun sends only the rest."""

from __future__ import annotations

import pytest

from dacr.telemetry import CollectionFailedError, collect_latency, read_jsonl_records
from tests.openai_server import ModelBehaviour, models_config, serve, stream_events

KEY_ENV = "DACR_TEST_KEY"
GPT35, MISTRAL = "gpt-3.5-turbo-1106", "mistralai/mistral-7b-chat"
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")


def cfg_for(base_url: str, served: dict[str, str]) -> dict:
    return models_config(base_url, served, KEY_ENV)


def test_all_500s_fail_the_run_with_counts_and_the_server_message(tmp_path):
    with serve({"m-a": ModelBehaviour(always="500", message="upstream model crashed")}) as srv:
        out, ledger = tmp_path / "lat.jsonl", tmp_path / "ledger.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        with pytest.raises(CollectionFailedError) as info:
            collect_latency(stream_events(4), cfg, out, ledger_path=ledger, max_retries=1, **FAST)
        assert srv.state.total_requests() == 8
    text = str(info.value)
    assert "4 of 4 (qid, model) pairs have no successful measurement" in text
    assert "4 x InternalServerError (status 500)" in text
    assert "'upstream model crashed'" in text
    assert f"by model: {{'{GPT35}': 4}}" in text
    assert f"{out} was not written" in text
    assert not out.exists()
    assert [r["message"] for r in read_jsonl_records(ledger)] == ["upstream model crashed"] * 4


def test_errors_of_several_classes_are_counted_apart(tmp_path):
    behaviour = ModelBehaviour(prompt_faults={"number 0 ": "404", "number 1 ": "500"})
    with serve({"m-a": behaviour}) as srv:
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        with pytest.raises(CollectionFailedError) as info:
            collect_latency(stream_events(3), cfg, tmp_path / "lat.jsonl", max_retries=0)
    text = str(info.value)
    assert "2 of 3 (qid, model) pairs" in text
    assert "1 x NotFoundError (status 404), e.g. qid q000" in text
    assert "'The model does not exist'" in text
    assert "1 x InternalServerError (status 500), e.g. qid q001" in text
    assert info.value.summary["errors"] == {"NotFoundError": 1, "InternalServerError": 1}


def test_a_failed_run_removes_an_older_output(tmp_path):
    out = tmp_path / "lat.jsonl"
    out.write_text('{"qid": "old", "model": "x", "ok": true}\n')
    with serve({"m-a": ModelBehaviour(always="400")}) as srv:
        with pytest.raises(CollectionFailedError):
            collect_latency(stream_events(1), cfg_for(srv.base_url, {GPT35: "m-a"}), out)
    assert not out.exists()


def test_a_rerun_sends_only_the_failed_pairs_and_then_writes_the_log(tmp_path):
    with serve({"m-a": ModelBehaviour(always="500")}) as srv:
        out, ledger = tmp_path / "lat.jsonl", tmp_path / "ledger.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a", MISTRAL: "m-b"})
        with pytest.raises(CollectionFailedError) as info:
            collect_latency(stream_events(3), cfg, out, ledger_path=ledger, max_retries=0)
        first = info.value.summary
        assert sorted(r["ok"] for r in read_jsonl_records(ledger)) == [False] * 3 + [True] * 3
        srv.state.behaviours["m-a"] = ModelBehaviour()
        second = collect_latency(stream_events(3), cfg, out, ledger_path=ledger, max_retries=0)
        assert srv.state.total_requests("m-b") == 3
        assert srv.state.total_requests("m-a") == 6
    assert (first["ok"], first["failed"], first["failed_pairs"]) == (3, 3, 3)
    assert (second["already_ok"], second["sent"], second["ok"], second["failed_pairs"]) == (
        3,
        3,
        3,
        0,
    )
    rows = read_jsonl_records(out)
    assert [(r["qid"], r["model"]) for r in rows] == [
        (f"q00{i}", m) for i in range(3) for m in (GPT35, MISTRAL)
    ]
    assert all(r["ok"] for r in rows)
    assert len(read_jsonl_records(ledger)) == 6  # compacted: the failures are gone


def test_max_failed_share_accepts_a_few_failures_and_writes_them(tmp_path):
    behaviour = ModelBehaviour(prompt_faults={"number 2 ": "500"})
    with serve({"m-a": behaviour}) as srv:
        out = tmp_path / "lat.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        summary = collect_latency(stream_events(4), cfg, out, max_retries=0, max_failed_share=0.25)
    rows = read_jsonl_records(out)
    assert [(r["qid"], r["ok"]) for r in rows] == [
        ("q000", True),
        ("q001", True),
        ("q002", False),
        ("q003", True),
    ]
    assert rows[2]["message"] == "The server had an error"
    assert (summary["failed_pairs"], summary["errors"]) == (1, {"InternalServerError": 1})


def test_max_failed_share_below_the_failures_still_fails(tmp_path):
    behaviour = ModelBehaviour(prompt_faults={"number 2 ": "500"})
    with serve({"m-a": behaviour}) as srv:
        out = tmp_path / "lat.jsonl"
        cfg = cfg_for(srv.base_url, {GPT35: "m-a"})
        with pytest.raises(CollectionFailedError, match=r"max_failed_share=0\.2 allows 0\)"):
            collect_latency(stream_events(4), cfg, out, max_retries=0, max_failed_share=0.2)
    assert not out.exists()
