from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.workflow.conftest import run_snakemake, write_config

pytestmark = pytest.mark.workflow
EXP = "ood_gsm_mbpp"
METRICS = f"results/{EXP}/metrics.csv"
MANIFEST = f"results/{EXP}/manifest.json"
SMALL = {
    "dataset": {"source": "synthetic", "synthetic": {"n_prompts": 600, "seed": 3}},
    "lambdas": [1, 10],
    "experiments": {EXP: {"holdout": ["grade-school-math", "mbpp"], "lambdas": [1, 10]}},
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, request):
    work = tmp_path_factory.mktemp("evaluate")
    demo = str(request.config.rootpath / "config" / "demo.yaml")
    run_snakemake(work, METRICS, MANIFEST, "--configfile", demo, write_config(work, SMALL))
    return work


def test_demo_reaches_metrics_with_every_policy(demo_run):
    metrics = pd.read_csv(demo_run / METRICS)
    policies = set(metrics["policy"])
    expected = {"random", "cheapest", "always_strong", "oracle", "cascade", "routellm"}
    expected |= {"mixllm", "llmrec", "knn", "dacr"}
    assert expected <= policies
    assert sum(p.startswith("single:") for p in policies) == 11
    free = metrics[metrics["policy"].isin(["random", "oracle", "cascade"])]
    assert free["lambda_cost"].isna().all()
    assert sorted(metrics.loc[metrics["policy"] == "dacr", "lambda_cost"]) == [1.0, 10.0]
    assert set(metrics["dataset"]) == {"synthetic"}
    assert set(metrics["decision_info"]) == {"predicted"}
    assert metrics.loc[metrics["policy"] == "oracle", "upper_bound"].item()


def test_oracle_quality_bounds_every_policy(demo_run):
    metrics = pd.read_csv(demo_run / METRICS)
    oracle = metrics.loc[metrics["policy"] == "oracle", "mean_quality"].item()
    assert (metrics["mean_quality"] <= oracle + 1e-12).all()


def test_no_test_query_reaches_training_or_calibration(demo_run):
    split = pd.read_parquet(demo_run / f"results/{EXP}/split.parquet")
    per_query = pd.read_parquet(demo_run / f"results/{EXP}/per_query.parquet")
    train = set(split.loc[split["split"] == "train", "qid"])
    tested = set(per_query["qid"])
    assert tested and not tested & train
    assert set(split.loc[split["qid"].isin(tested), "domain"]) == {"grade-school-math", "mbpp"}
    with np.load(demo_run / f"results/{EXP}/features.npz") as feats:
        assert not set(feats["train_qids"]) & tested


def test_all_tables_are_written(demo_run):
    base = demo_run / "results" / EXP
    calib = pd.read_csv(base / "calibration_ece.csv")
    assert set(calib["stage"]) == {"raw", "calibrated", "online_end"}
    assert {"model", "domain", "ece", "brier", "n"} <= set(calib.columns)
    by_domain = pd.read_csv(base / "metrics_by_domain.csv")
    assert set(by_domain["domain"]) == {"grade-school-math", "mbpp"}
    trace = pd.read_parquet(base / "dacr_trace.parquet")
    assert {
        "t",
        "lambda_cost",
        "mu_c",
        "mu_l",
        "running_mean_cost",
        "running_violation_rate",
    } <= set(trace.columns)
    per_query = pd.read_parquet(base / "per_query.parquet")
    assert len(per_query) == len(per_query[["policy", "lambda_cost", "t"]].drop_duplicates())


def test_two_runs_give_byte_identical_metrics(demo_run, tmp_path, request):
    demo = str(request.config.rootpath / "config" / "demo.yaml")
    run_snakemake(tmp_path, METRICS, "--configfile", demo, write_config(tmp_path, SMALL))
    assert (tmp_path / METRICS).read_bytes() == (demo_run / METRICS).read_bytes()
    for name in ("metrics_by_domain.csv", "calibration_ece.csv"):
        assert (tmp_path / "results" / EXP / name).read_bytes() == (
            demo_run / "results" / EXP / name
        ).read_bytes()


def test_a_lambda_change_reruns_only_that_lambda_and_the_aggregate(demo_run):
    changed = {**SMALL, "experiments": {EXP: {**SMALL["experiments"][EXP], "lambdas": [1, 5]}}}
    extra = write_config(demo_run, changed, name="changed.yaml")
    demo = str(demo_run / "test.yaml")
    proc = run_snakemake(demo_run, METRICS, "-n", "--quiet", "rules", "--configfile", demo, extra)
    jobs = proc.stdout
    assert "evaluate_lambda" in jobs and "aggregate_metrics" in jobs
    for rule in ("build_features", "fit_predictors", "evaluate_baselines", "build_stream"):
        assert rule not in jobs


def test_manifest_records_provenance(demo_run):
    import json

    manifest = json.loads((demo_run / MANIFEST).read_text())
    assert manifest["dataset"] == "synthetic" and manifest["synthetic"] is True
    assert manifest["decision_info"] == "predicted"
    assert manifest["config"]["experiment"]["holdout"] == ["grade-school-math", "mbpp"]
    assert manifest["config"]["dataset"]["synthetic"]["n_prompts"] == 600
    assert len(manifest["config_sha256"]) == 64 and len(manifest["dataset_sha256"]) == 64
    assert manifest["packages"]["numpy"] == np.__version__
    assert manifest["started_at"] <= manifest["finished_at"]
