"""config/models.yaml: validation with errors that name file, key and value, and the check
that every model of the dataset is mapped before any paid call."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from dacr.profile import model_ids, prices_per_1m
from dacr.telemetry import collect_latency, dataset_models, load_models_config, run_collect
from tests.openai_server import models_config, serve, stream_events

KEY_ENV = "DACR_TEST_KEY"
GPT35, MISTRAL, CLAUDE = "gpt-3.5-turbo-1106", "mistralai/mistral-7b-chat", "claude-v2"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")


def test_shipped_models_yaml_maps_every_routerbench_model_at_published_prices():
    cfg = load_models_config(REPO / "config" / "models.yaml")
    assert sorted(cfg["models"]) == sorted(model_ids())
    for rb, spec in cfg["models"].items():
        assert (spec["price_in_per_1m"], spec["price_out_per_1m"]) == prices_per_1m()[rb]
        assert spec["provider"] in cfg["providers"]


def _valid_cfg() -> dict:
    return models_config("http://127.0.0.1:8000/v1", {GPT35: "m-a", MISTRAL: "m-b"}, KEY_ENV)


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


def _inputs(tmp_path: Path, base_url: str, served: dict[str, str], dataset: list[str]):
    stream = tmp_path / "stream.jsonl"
    pd.DataFrame(stream_events(2)).to_json(stream, orient="records", lines=True)
    models_file = tmp_path / "models.yaml"
    models_file.write_text(yaml.safe_dump(models_config(base_url, served, KEY_ENV)))
    long = tmp_path / "long.parquet"
    pd.DataFrame({"qid": ["q000"] * len(dataset), "model": dataset}).to_parquet(long)
    return stream, models_file, long


def test_a_dataset_model_missing_from_models_yaml_fails_before_any_call(tmp_path):
    with serve() as srv:
        stream, models_file, long = _inputs(
            tmp_path, srv.base_url, {GPT35: "m-a"}, [GPT35, MISTRAL, CLAUDE]
        )
        with pytest.raises(ValueError) as info:
            run_collect(stream, models_file, tmp_path / "lat.jsonl", long_path=long)
        assert srv.state.total_requests() == 0
    assert str(info.value).startswith(
        f"{models_file}: no entry under 'models' for 2 model(s) of {long}: "
        f"['{CLAUDE}', '{MISTRAL}']"
    )
    assert f"Mapped now: ['{GPT35}']" in str(info.value)


def test_the_dataset_decides_which_mapped_models_are_measured(tmp_path):
    with serve() as srv:
        served = {GPT35: "m-a", MISTRAL: "m-b", CLAUDE: "m-c"}
        stream, models_file, long = _inputs(tmp_path, srv.base_url, served, [MISTRAL, GPT35])
        summary = run_collect(stream, models_file, tmp_path / "lat.jsonl", long_path=long)
        assert srv.state.total_requests("m-c") == 0
    assert summary["pairs"] == 4
    assert dataset_models(long) == [GPT35, MISTRAL]


def test_without_a_dataset_every_mapped_model_is_measured(tmp_path):
    with serve() as srv:
        stream, models_file, _ = _inputs(tmp_path, srv.base_url, {GPT35: "m-a", CLAUDE: "m-c"}, [])
        summary = run_collect(stream, models_file, tmp_path / "lat.jsonl")
    assert summary["pairs"] == 4


def test_a_deliberate_model_list_is_measured_and_must_be_mapped(tmp_path):
    with serve() as srv:
        cfg = models_config(srv.base_url, {GPT35: "m-a", CLAUDE: "m-c"}, KEY_ENV)
        out = tmp_path / "lat.jsonl"
        summary = collect_latency(stream_events(2), cfg, out, models=[CLAUDE])
        assert srv.state.total_requests("m-a") == 0
        with pytest.raises(ValueError, match=rf"1 model\(s\) of models: \['{MISTRAL}'\]"):
            collect_latency(stream_events(2), cfg, out, models=[MISTRAL, CLAUDE])
    assert summary["pairs"] == 2
