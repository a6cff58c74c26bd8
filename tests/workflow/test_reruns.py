"""A config change reruns exactly what it affects (Snakemake's own dry run is the judge)."""

from __future__ import annotations

import copy
import time

import pytest
import yaml

from tests.workflow.conftest import ROOT, planned_jobs, run_snakemake, write_config

pytestmark = pytest.mark.workflow
EXP = "ood_gsm_mbpp"
TARGET = f"results/{EXP}/metrics.csv"
BASE = {
    "dataset": {"source": "synthetic", "synthetic": {"n_prompts": 500, "seed": 3}},
    "experiments": {EXP: {"holdout": ["grade-school-math", "mbpp"], "lambdas": [1, 10]}},
}


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    work = tmp_path_factory.mktemp("reruns")
    start = time.perf_counter()
    run_snakemake(work, TARGET, "--configfile", write_config(work, BASE))
    full = time.perf_counter() - start
    return work, full


def plan(work, config, *targets):
    extra = write_config(work, config, name="changed.yaml")
    proc = run_snakemake(work, *(targets or (TARGET,)), "-n", "--configfile", extra)
    return planned_jobs(proc)


def rules_of(jobs):
    return sorted({rule for rule, _ in jobs})


def test_changing_nothing_reruns_nothing(done):
    work, _ = done
    assert plan(work, BASE) == []


def test_changing_one_lambda_reruns_only_that_lambda_and_the_aggregate(done):
    work, _ = done
    config = copy.deepcopy(BASE)
    config["experiments"][EXP]["lambdas"] = [1, 5]
    jobs = plan(work, config)
    assert rules_of(jobs) == ["aggregate_metrics", "evaluate_lambda"]
    assert [w["lam"] for r, w in jobs if r == "evaluate_lambda"] == ["5"]


def test_adding_an_experiment_reruns_nothing_that_exists(done):
    work, _ = done
    config = copy.deepcopy(BASE)
    config["experiments"]["iid_new"] = {"test_fraction": 0.2, "lambdas": [1]}
    jobs = plan(work, config, TARGET, "results/iid_new/metrics.csv")
    assert jobs
    # its setup is iid's (the same split and stream), built on first use; nothing of EXP reruns
    assert {w.get("experiment") for _, w in jobs} <= {"iid_new", "iid"}


def test_an_experiment_with_the_same_setup_reuses_its_stream_features_and_predictors(done):
    work, _ = done
    config = copy.deepcopy(BASE)
    # "zz_budget" sorts after the existing experiment, which keeps the setup files
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["experiments"][EXP]
    config["experiments"]["zz_budget"] = {
        **BASE["experiments"][EXP],
        "stream": default["stream"],  # EXP's stream comes from config.yaml, merged
        "dacr": {"budget_cost": 0.0003},
        "decision_info": "oracle",
    }
    jobs = plan(work, config, TARGET, "results/zz_budget/metrics.csv")
    setup = {"build_stream", "simulate_latency", "build_features", "fit_predictors"}
    assert jobs and not setup & set(rules_of(jobs))
    assert {w.get("experiment") for _, w in jobs} == {"zz_budget"}
    # a different stream is a different setup
    config["experiments"]["zz_budget"]["stream"] = {"rate_qps": 3.0}
    jobs = plan(work, config, TARGET, "results/zz_budget/metrics.csv")
    assert setup <= set(rules_of(jobs))


def test_changing_a_dacr_budget_reruns_the_budget_policies_and_aggregates_only(done):
    work, _ = done
    config = copy.deepcopy(BASE)
    config["dacr"] = {"budget_cost": 0.002}
    jobs = plan(work, config)
    # DACR at every λ, and the job of the constrained oracle and the budget baselines
    assert rules_of(jobs) == ["aggregate_metrics", "evaluate_baselines", "evaluate_lambda"]
    assert sorted(w["lam"] for r, w in jobs if r == "evaluate_lambda") == ["1", "10"]


def test_changing_the_dataset_seed_reruns_everything(done):
    work, _ = done
    config = copy.deepcopy(BASE)
    config["dataset"]["synthetic"]["seed"] = 4
    jobs = rules_of(plan(work, config))
    for rule in (
        "make_synthetic_routerbench",
        "build_long_form",
        "build_stream",
        "simulate_latency",
        "build_features",
        "fit_predictors",
        "evaluate_baselines",
        "evaluate_lambda",
        "aggregate_metrics",
    ):
        assert rule in jobs


def test_changing_the_tau_reruns_predictors_and_policies_but_not_features(done):
    work, _ = done
    config = {**copy.deepcopy(BASE), "tau_seconds": 5.0}
    jobs = rules_of(plan(work, config))
    assert "fit_predictors" in jobs and "evaluate_baselines" in jobs
    assert "build_features" not in jobs and "build_stream" not in jobs


def test_changing_the_dataset_source_rebuilds_the_long_form(done):
    work, _ = done
    config = copy.deepcopy(BASE)
    path = str(ROOT / "tests" / "data" / "generic_4models_3domains.csv")
    config["dataset"] = {"source": "file", "path": path}
    jobs = rules_of(plan(work, config))
    assert "build_long_form" in jobs and "make_synthetic_routerbench" not in jobs
    assert "evaluate_lambda" in jobs


def test_a_missing_dataset_file_fails_even_when_a_long_form_exists(done):
    work, _ = done
    config = {**copy.deepcopy(BASE), "dataset": {"source": "file", "path": "gone/data.pkl"}}
    extra = write_config(work, config, name="gone.yaml")
    proc = run_snakemake(work, TARGET, "-n", "--configfile", extra, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "config key dataset.path: dataset file 'gone/data.pkl' does not exist" in out
    assert (work / "results" / "data" / "routerbench_long.parquet").exists()  # kept, not used
