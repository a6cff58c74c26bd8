"""The circuit breaker: a provider that cannot be reached (refused, DNS, connect timeout) is
stopped after telemetry.breaker_failures consecutive attempts, naming provider, URL and error;
the other providers go on and every success is kept."""

from __future__ import annotations

import openai
import pytest

from dacr.telemetry import (
    CircuitBreaker,
    CollectionFailedError,
    collect_latency,
    is_unreachable,
    read_jsonl_records,
)
from tests.openai_server import (
    ModelBehaviour,
    blackhole,
    closed_port,
    models_config,
    serve,
    stream_events,
)

try:  # the transport the installed openai is built on
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx

KEY_ENV = "DACR_TEST_KEY"
GPT35, MISTRAL = "gpt-3.5-turbo-1106", "mistralai/mistral-7b-chat"
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05}


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")


def two_providers(live_url: str, dead_url: str) -> dict:
    """GPT35 on the live server, MISTRAL on provider 'dead'."""
    cfg = models_config(live_url, {GPT35: "m-a", MISTRAL: "m-b"}, KEY_ENV)
    cfg["providers"]["dead"] = {"base_url": dead_url, "api_key_env": KEY_ENV}
    cfg["models"][MISTRAL]["provider"] = "dead"
    return cfg


def test_a_closed_port_stops_the_provider_after_n_failed_connects(tmp_path):
    with closed_port() as url:
        ledger = tmp_path / "ledger.jsonl"
        cfg = models_config(url, {GPT35: "m-a"}, KEY_ENV)
        with pytest.raises(CollectionFailedError) as info:
            collect_latency(
                stream_events(8),
                cfg,
                tmp_path / "lat.jsonl",
                ledger_path=ledger,
                concurrency=1,
                max_retries=3,
                breaker_failures=5,
                **FAST,
            )
    # One attempt in flight at a time (a pair backing off frees the slot for the next), so
    # the breaker opens on exactly the 5th attempt and nothing is sent after it.
    rows = read_jsonl_records(ledger)
    assert sum(r["attempts"] for r in rows) == 5
    assert {r["error"] for r in rows} == {"APIConnectionError"}
    assert "[Errno 111] Connect call failed" in rows[0]["message"]
    text = str(info.value)
    assert f"provider 'local' at {url} is unreachable: 5 consecutive attempts" in text
    assert "[Errno 111] Connect call failed" in text
    summary = info.value.summary
    assert summary["sent"] == len(rows) <= 5
    assert summary["not_sent"] == 8 - len(rows)
    assert f"{8 - len(rows)} pair(s) not sent: their provider was stopped" in text
    assert summary["failed_pairs"] == 8
    assert not (tmp_path / "lat.jsonl").exists()


def test_a_connect_timeout_counts_as_unreachable(tmp_path):
    with blackhole() as url:
        cfg = models_config(url, {GPT35: "m-a"}, KEY_ENV)
        with pytest.raises(CollectionFailedError) as info:
            collect_latency(
                stream_events(3),
                cfg,
                tmp_path / "lat.jsonl",
                concurrency=1,
                max_retries=0,
                timeout_s=0.4,
                breaker_failures=2,
            )
    assert "2 consecutive attempts could not connect (last: APITimeoutError" in str(info.value)
    assert info.value.summary["not_sent"] == 1


def test_a_dead_provider_does_not_stop_the_live_one_and_a_rerun_sends_only_its_pairs(
    tmp_path,
):
    with serve() as srv, closed_port() as dead:
        out, ledger = tmp_path / "lat.jsonl", tmp_path / "ledger.jsonl"
        with pytest.raises(CollectionFailedError, match=f"provider 'dead' at {dead}"):
            collect_latency(
                stream_events(6),
                two_providers(srv.base_url, dead),
                out,
                ledger_path=ledger,
                concurrency=2,
                breaker_failures=3,
                **FAST,
            )
        ok = [r for r in read_jsonl_records(ledger) if r["ok"]]
        assert sorted(r["qid"] for r in ok) == [f"q00{i}" for i in range(6)]
        assert {r["model"] for r in ok} == {GPT35}
        # The endpoint is back (here: served by the live server): only MISTRAL goes out.
        summary = collect_latency(
            stream_events(6), two_providers(srv.base_url, srv.base_url), out, ledger_path=ledger
        )
        assert srv.state.total_requests("m-a") == 6
        assert srv.state.total_requests("m-b") == 6
    assert (summary["already_ok"], summary["sent"], summary["failed_pairs"]) == (6, 6, 0)
    assert len(read_jsonl_records(out)) == 12


def test_http_errors_do_not_trip_the_breaker(tmp_path):
    with serve({"m-a": ModelBehaviour(always="500")}) as srv:
        cfg = models_config(srv.base_url, {GPT35: "m-a"}, KEY_ENV)
        with pytest.raises(CollectionFailedError) as info:
            collect_latency(
                stream_events(5),
                cfg,
                tmp_path / "lat.jsonl",
                breaker_failures=1,
                max_retries=1,
                **FAST,
            )
        assert srv.state.total_requests() == 10
    assert info.value.summary["stopped"] == []
    assert info.value.summary["not_sent"] == 0


def _raised(exc: BaseException, cause: BaseException) -> BaseException:
    try:
        raise exc from cause
    except BaseException as err:
        return err


REQUEST = httpx.Request("POST", "http://example.invalid/v1/chat/completions")


@pytest.mark.parametrize(
    ("exc", "unreachable"),
    [
        (
            _raised(
                openai.APIConnectionError(request=REQUEST),
                httpx.ConnectError("[Errno -2] Name or service not known"),
            ),
            True,
        ),
        (_raised(openai.APITimeoutError(request=REQUEST), httpx.ConnectTimeout("")), True),
        (_raised(openai.APITimeoutError(request=REQUEST), httpx.ReadTimeout("")), False),
        (
            _raised(
                openai.APIConnectionError(request=REQUEST),
                httpx.RemoteProtocolError("Server disconnected without sending a response."),
            ),
            False,
        ),
        (TimeoutError(), False),
    ],
)
def test_only_failures_to_connect_count_as_unreachable(exc, unreachable):
    assert is_unreachable(exc) is unreachable


def test_the_breaker_needs_consecutive_failures_and_names_provider_url_and_error():
    refused = _raised(
        openai.APIConnectionError(request=REQUEST), ConnectionRefusedError(111, "refused")
    )
    breaker = CircuitBreaker("p", "http://h/v1", threshold=2)
    for exc in (refused, None, refused):
        breaker.record(exc, "refused")
    assert not breaker.is_open  # the success in between reset the count
    breaker.record(refused, "[Errno 111] refused")
    assert breaker.reason == (
        "provider 'p' at http://h/v1 is unreachable: 2 consecutive attempts could not connect "
        "(last: APIConnectionError: [Errno 111] refused)"
    )
