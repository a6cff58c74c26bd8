"""A dataset of one's own (4 models, 3 domains, not RouterBench) runs the whole workflow."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.generic_data import PATH
from tests.workflow.conftest import run_snakemake, write_config

pytestmark = pytest.mark.workflow
EXP = "mine"


def test_a_generic_dataset_runs_end_to_end(tmp_path):
    config = {
        "dataset": {"source": "file", "path": str(PATH)},
        "bootstrap_resamples": 100,
        "experiments": {
            EXP: {
                "holdout": ["python"],
                "latency": "from_data",
                "lambdas": [1, 50],
                "dacr": {"budget_cost": 0.0004},
            }
        },
        "custom_policies": {
            "embedding_threshold": {
                "class": "examples.routers.embedding_threshold:EmbeddingThresholdRouter"
            }
        },
    }
    targets = [f"results/{EXP}/{name}" for name in ("summary.md", "budget_compliance.csv")]
    run_snakemake(
        tmp_path,
        *targets,
        f"results/{EXP}/plots/regret.png",
        "--configfile",
        write_config(tmp_path, config),
    )
    metrics = pd.read_csv(tmp_path / f"results/{EXP}/metrics.csv")
    singles = sorted(p for p in metrics["policy"] if p.startswith("single:"))
    assert singles == ["single:large-x", "single:medium-70b", "single:small-8b", "single:tiny-1b"]
    assert set(metrics["dataset"]) == {"custom"}
    assert {"dacr", "linucb", "embedding_threshold", "constrained_oracle"} <= set(metrics["policy"])
    by_domain = pd.read_csv(tmp_path / f"results/{EXP}/metrics_by_domain.csv")
    assert set(by_domain["domain"]) == {"python"}
    # the measured latencies of the table, scaled by the stream's load, reached the metrics
    eff = pd.read_json(tmp_path / f"results/{EXP}/latency_eff.jsonl", lines=True)
    table = pd.read_csv(PATH).set_index(["qid", "model"])["latency_s"]
    joined = eff.set_index(["qid", "model"])
    ratio = joined["latency_s"] / table.reindex(joined.index)
    assert ratio.min() == pytest.approx(1.0) and (ratio >= 1.0 - 1e-12).all()
    assert "Custom data" in (tmp_path / f"results/{EXP}/summary.md").read_text()
