"""Tests of dacr.labels against the fake OpenAI server in tests/openai_server.py."""

from __future__ import annotations

import json

import pytest

from dacr.labels import TAXONOMY, label_domains, normalise_label, prompt_digest, run_label
from dacr.telemetry import MissingAPIKeyError, read_jsonl_records

try:  # tests/ on sys.path (pytest's default rootdir-relative import)
    from openai_server import ModelBehaviour, label_answer, serve
except ImportError:  # tests/ imported as a package
    from tests.openai_server import ModelBehaviour, label_answer, serve

KEY_ENV = "DACR_TEST_LABEL_KEY"
LABELLER = "labeller"
PROMPTS = {
    "Compute the integral of x^2 from 0 to 1.": "math",
    "Write a python function that reverses a list.": "code",
    "I like banana bread, do you?": "other",
    "Please translate 'good morning' into French.": "translation",
    "Who was the first president of Finland?": "knowledge_qa",
}


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-label-test")


@pytest.fixture
def server():
    with serve({LABELLER: ModelBehaviour(answer=label_answer)}) as srv:
        yield srv


def events_for(prompts) -> list[dict]:
    return [
        {"ts": 100.0 + i, "qid": f"q{i}", "domain": "x", "prompt": p, "split": "test"}
        for i, p in enumerate(prompts)
    ]


def label(srv, events, cache_path, **kw) -> list[dict]:
    return label_domains(
        events,
        base_url=srv.base_url,
        model=LABELLER,
        api_key_env=KEY_ENV,
        cache_path=cache_path,
        **kw,
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Math.", "math"),
        (" Code\n", "code"),
        ("Knowledge QA", "knowledge_qa"),
        ("dialogue/chat", "dialogue_chat"),
        ("'summarization'", "summarization"),
        ("RAG!", "rag"),
        ("banana", "other"),
        ("", "other"),
        ("math and code", "other"),
    ],
)
def test_normalise_label_maps_answers_onto_the_taxonomy(answer, expected):
    assert normalise_label(answer) == expected


def test_labels_are_mapped_and_unknown_answers_become_other(server, tmp_path):
    events = events_for(PROMPTS)
    out = label(server, events, tmp_path / "cache.jsonl")
    assert [e["llm_domain"] for e in out] == list(PROMPTS.values())
    assert all(e["llm_domain"] in TAXONOMY for e in out)
    assert [{k: v for k, v in e.items() if k != "llm_domain"} for e in out] == events


def test_request_is_temperature_zero_with_the_taxonomy_in_the_system_prompt(server, tmp_path):
    label(server, events_for(["Compute the integral of x."]), tmp_path / "cache.jsonl")
    body = server.state.requests[0]["body"]
    assert body["temperature"] == 0
    assert body["messages"][0]["role"] == "system"
    assert all(name in body["messages"][0]["content"] for name in TAXONOMY)
    assert body["messages"][1] == {"role": "user", "content": "Compute the integral of x."}


def test_identical_prompts_are_asked_once(server, tmp_path):
    prompts = ["Compute the integral of x.", "Compute the integral of x.", "banana?"]
    out = label(server, events_for(prompts), tmp_path / "cache.jsonl")
    assert [e["llm_domain"] for e in out] == ["math", "math", "other"]
    assert server.state.total_requests() == 2


def test_cache_hit_sends_no_second_request(server, tmp_path):
    cache = tmp_path / "cache.jsonl"
    events = events_for(PROMPTS)
    first = label(server, events, cache)
    n_requests = server.state.total_requests()
    second = label(server, events, cache)
    assert second == first
    assert server.state.total_requests() == n_requests == len(PROMPTS)
    rows = read_jsonl_records(cache)
    assert {r["sha256"] for r in rows} == {prompt_digest(p) for p in PROMPTS}


def test_rerun_resumes_from_a_partial_cache(server, tmp_path):
    cache = tmp_path / "cache.jsonl"
    prompts = list(PROMPTS)
    label(server, events_for(prompts[:2]), cache)
    with open(cache, "a") as fh:
        fh.write('{"sha256": "abc", "mod')  # a write cut short by a crash
    out = label(server, events_for(prompts), cache)
    assert [e["llm_domain"] for e in out] == list(PROMPTS.values())
    assert server.state.total_requests() == len(prompts)
    assert all(server.state.counts[(LABELLER, p)] == 1 for p in prompts)
    assert len(read_jsonl_records(cache)) == len(prompts)


def test_failures_raise_after_caching_the_answers_obtained(tmp_path):
    bad = "Who was the first president of Finland?"
    behaviour = ModelBehaviour(answer=label_answer, prompt_faults={bad: "500"})
    with serve({LABELLER: behaviour}) as srv:
        cache = tmp_path / "cache.jsonl"
        with pytest.raises(RuntimeError, match=r"1 of 5 prompts could not be labelled"):
            label(srv, events_for(PROMPTS), cache, max_retries=0)
        assert len(read_jsonl_records(cache)) == 4
        srv.state.behaviours[LABELLER] = ModelBehaviour(answer=label_answer)
        out = label(srv, events_for(PROMPTS), cache)
        assert out[-1]["llm_domain"] == "knowledge_qa"
        assert srv.state.total_requests() == 6


def test_missing_api_key_env_fails_before_any_call(server, tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(MissingAPIKeyError, match=KEY_ENV):
        label(server, events_for(PROMPTS), tmp_path / "cache.jsonl")
    assert server.state.total_requests() == 0


def test_run_label_writes_the_labelled_stream(server, tmp_path):
    stream = tmp_path / "stream.jsonl"
    events = events_for(PROMPTS)
    stream.write_text("".join(json.dumps(e) + "\n" for e in events))
    out = tmp_path / "stream_labeled.jsonl"
    counts = run_label(
        stream,
        out,
        tmp_path / "cache.jsonl",
        base_url=server.base_url,
        model=LABELLER,
        api_key_env=KEY_ENV,
    )
    rows = read_jsonl_records(out)
    assert [r["llm_domain"] for r in rows] == list(PROMPTS.values())
    assert [r["qid"] for r in rows] == [e["qid"] for e in events]
    assert sum(counts.values()) == len(PROMPTS)
