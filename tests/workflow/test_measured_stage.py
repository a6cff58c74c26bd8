"""Measured latency and LLM domain labels through the workflow, against a loopback
OpenAI-compatible server: the same rules a user runs against real providers."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from dacr.profile import model_ids
from tests.openai_server import ModelBehaviour, label_answer, models_config, serve
from tests.workflow.conftest import run_snakemake, write_config

pytestmark = pytest.mark.workflow
EXP = "meas"


def _models_file(tmp_path, base_url):
    path = tmp_path / "models.yaml"
    served = {m: m for m in model_ids()}
    path.write_text(yaml.safe_dump(models_config(base_url, served, "DACR_TEST_KEY")))
    return str(path)


def test_measured_latency_and_llm_labels_reach_the_metrics(tmp_path):
    behaviours = {"labeller": ModelBehaviour(answer=label_answer)}
    with serve(behaviours) as server:
        config = {
            "dataset": {"source": "synthetic", "synthetic": {"n_prompts": 120, "seed": 5}},
            "telemetry": {
                "models_file": _models_file(tmp_path, server.base_url),
                "concurrency": 16,
                "max_retries": 1,
            },
            "labels": {
                "base_url": server.base_url,
                "model": "labeller",
                "api_key_env": "DACR_TEST_KEY",
            },
            "bootstrap_resamples": 20,
            "experiments": {
                EXP: {
                    "holdout": ["grade-school-math", "mbpp"],
                    "lambdas": [1],
                    "latency": "measured",
                    "domain_labels": "llm",
                    "stream": {"split": "all"},
                }
            },
        }
        extra = write_config(tmp_path, config)
        target = f"results/{EXP}/metrics.csv"
        run_snakemake(tmp_path, target, "--configfile", extra, env={"DACR_TEST_KEY": "sk-local"})
        n_requests = server.state.total_requests()
    base = tmp_path / "results" / EXP
    stream = pd.read_json(base / "stream.jsonl", lines=True)
    log = [json.loads(line) for line in (base / "latency_measured.jsonl").read_text().splitlines()]
    assert len(log) == 11 * len(stream) and all(row["ok"] for row in log)
    assert not (base / "latency_measured.jsonl.partial").exists()
    assert n_requests >= len(log)
    labelled = pd.read_json(base / "stream_labeled.jsonl", lines=True)
    assert set(labelled["llm_domain"]) <= {"math", "code", "knowledge_qa", "translation", "other"}
    by_domain = pd.read_csv(base / "metrics_by_domain.csv")
    assert set(by_domain["domain"]) <= set(labelled["llm_domain"])
    metrics = pd.read_csv(base / target.split("/")[-1])
    assert metrics["p95_latency_s"].notna().all()
    assert "sk-local" not in (tmp_path / "logs" / EXP / "collect_latency.log").read_text()
