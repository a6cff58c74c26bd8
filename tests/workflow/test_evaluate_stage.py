from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.workflow.conftest import run_snakemake, write_config

pytestmark = pytest.mark.workflow
EXP = "ood_gsm_mbpp"
METRICS = f"results/{EXP}/metrics.csv"
MANIFEST = f"results/{EXP}/manifest.json"
PLOTS = (
    "quality_cost",
    "violation_cost",
    "latency_cdf",
    "reliability",
    "dacr_trace",
    "domain_heatmap",
    "regret",
)
REPORT_FILES = (
    *(f"results/{EXP}/plots/{name}.png" for name in PLOTS),
    f"results/{EXP}/summary.md",
    f"results/{EXP}/router_summary.csv",
    f"results/{EXP}/comparisons.csv",
    f"results/{EXP}/budget_compliance.csv",
)
SMALL = {
    "dataset": {"source": "synthetic", "synthetic": {"n_prompts": 600, "seed": 3}},
    "lambdas": [1, 10],
    "experiments": {EXP: {"holdout": ["grade-school-math", "mbpp"], "lambdas": [1, 10]}},
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, request):
    work = tmp_path_factory.mktemp("evaluate")
    demo = str(request.config.rootpath / "config" / "demo.yaml")
    extra = write_config(work, SMALL)
    run_snakemake(work, METRICS, MANIFEST, *REPORT_FILES, "--configfile", demo, extra)
    return work


def test_demo_reaches_metrics_with_every_policy(demo_run):
    metrics = pd.read_csv(demo_run / METRICS)
    policies = set(metrics["policy"])
    expected = {"random", "cheapest", "always_strong", "oracle", "cascade", "routellm"}
    expected |= {"mixllm", "llmrec", "knn", "dacr"}
    expected |= {"constrained_oracle", "mixllm_budget", "llmrec_budget", "linucb"}
    expected |= {"embedding_threshold", "external_score"}  # the demo's custom routers
    assert expected <= policies
    assert sum(p.startswith("single:") for p in policies) == 11
    free = metrics[metrics["policy"].isin(["random", "oracle", "cascade"])]
    assert free["lambda_cost"].isna().all()
    assert sorted(metrics.loc[metrics["policy"] == "dacr", "lambda_cost"]) == [1.0, 10.0]
    assert set(metrics["dataset"]) == {"synthetic"}
    assert set(metrics["decision_info"]) == {"predicted"}
    bounds = metrics.loc[metrics["upper_bound"], "policy"]
    assert sorted(bounds) == ["constrained_oracle", "oracle"]


def test_oracle_quality_bounds_every_policy(demo_run):
    metrics = pd.read_csv(demo_run / METRICS)
    oracle = metrics.loc[metrics["policy"] == "oracle", "mean_quality"].item()
    assert (metrics["mean_quality"] <= oracle + 1e-12).all()


def test_no_policy_that_keeps_both_budgets_beats_the_constrained_oracle(demo_run):
    table = pd.read_csv(demo_run / f"results/{EXP}/budget_compliance.csv")
    assert table["feasible"].all()
    lp = table["constrained_oracle_quality"].iloc[0]
    keeping = table.loc[table["meets_budget"] & (table["policy"] != "constrained_oracle")]
    assert len(keeping) and (keeping["mean_quality"] <= lp + 1e-9).all()
    assert (keeping["regret"] >= -1e-9).all()


def test_dacr_keeps_its_violation_budget_honestly(demo_run):
    table = pd.read_csv(demo_run / f"results/{EXP}/budget_compliance.csv")
    dacr = table.loc[table["policy"] == "dacr"]
    assert len(dacr) == 2
    assert (dacr["slo_violation_rate"] <= dacr["budget_viol"] + 0.02).all()
    assert (dacr["cost_ratio"] <= 1.05).all()
    per_query = pd.read_parquet(demo_run / f"results/{EXP}/per_query.parquet")
    mine = per_query.loc[per_query["policy"] == "dacr"]
    # its own violation forecasts for the calls it made are not blind (they were 1e-4 for 45 %)
    gap = (mine["pred_violation"] - mine["slo_violation"]).groupby(mine["lambda_cost"]).mean()
    assert (gap.abs() < 0.05).all()


def test_every_reported_policy_is_under_the_honesty_contract_test(demo_run):
    from tests.route.test_contract import COVERED

    names = {
        p if not p.startswith("single:") else "single:m0"
        for p in pd.read_csv(demo_run / METRICS)["policy"]
    }
    covered = {p if not p.startswith("single:") else "single:m0" for p in COVERED}
    assert names <= covered, sorted(names - covered)


def test_custom_routers_and_linucb_reach_every_table(demo_run):
    base = demo_run / "results" / EXP
    summary = pd.read_csv(base / "router_summary.csv").set_index("router")
    for router in ("external_score", "linucb"):
        row = summary.loc[router]
        assert row["aiq_code_ci_low"] <= row["aiq_code"] <= row["aiq_code_ci_high"]
    assert {"embedding_threshold", "external_score", "linucb"} <= set(
        pd.read_csv(base / "metrics_by_domain.csv")["policy"]
    )
    assert {"external_score", "linucb"} <= set(pd.read_csv(base / "comparisons.csv")["baseline"])
    regret = pd.read_parquet(base / "regret_curve.parquet")
    final = regret.groupby(["policy", "lambda_cost"], dropna=False)["cumulative_regret"].last()
    assert final.loc[("dacr", 1.0)] > 0 and ("linucb", 1.0) in final.index
    assert (base / "plots" / "regret.png").stat().st_size > 10_000


def test_no_test_query_reaches_training_or_calibration(demo_run):
    split = pd.read_parquet(demo_run / f"results/{EXP}/split.parquet")
    per_query = pd.read_parquet(demo_run / f"results/{EXP}/per_query.parquet")
    train = set(split.loc[split["split"] == "train", "qid"])
    tested = set(per_query["qid"])
    assert tested and not tested & train
    assert set(split.loc[split["qid"].isin(tested), "domain"]) == {"grade-school-math", "mbpp"}
    with np.load(demo_run / f"results/{EXP}/features.npz") as feats:
        assert not set(feats["train_qids"]) & tested


def test_every_table_says_it_was_made_from_synthetic_data(demo_run):
    import pyarrow.parquet as pq

    from dacr.io import read_parquet_metadata

    base = demo_run / "results" / EXP
    tables = sorted(base.rglob("*.csv")) + sorted(base.rglob("*.parquet"))
    assert len(tables) >= 19  # 11 tables, 2 per λ job, the baselines, split and curves
    for path in tables:
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        assert set(frame["dataset"]) == {"synthetic"}, path
        if path.suffix == ".parquet":
            assert read_parquet_metadata(path)["dataset"] == "synthetic", path
            assert pq.read_schema(path).metadata
    assert "synthetic" in (base / "policies" / "budget_info.json").read_text()


def test_all_tables_are_written(demo_run):
    base = demo_run / "results" / EXP
    calib = pd.read_csv(base / "calibration_ece.csv")
    assert set(calib["stage"]) == {"raw", "calibrated", "online_end"}
    assert {"target", "model", "domain", "ece", "brier", "n"} <= set(calib.columns)
    stages = calib.groupby("target")["stage"].unique()
    for target in ("quality", "violation"):
        assert set(stages[target]) == {"raw", "calibrated", "online_end"}
    by_domain = pd.read_csv(base / "metrics_by_domain.csv")
    assert set(by_domain["domain"]) == {"grade-school-math", "mbpp"}
    trace = pd.read_parquet(base / "dacr_trace.parquet")
    assert {
        "t",
        "lambda_cost",
        "offset_s",
        "load",
        "mu_c",
        "mu_l",
        "running_mean_cost",
        "running_cost_ratio",
        "running_violation_rate",
        "budget_cost",
        "budget_viol",
    } <= set(trace.columns)
    compliance = pd.read_csv(base / "budget_compliance.csv")
    assert set(compliance["policy"]) == {
        "dacr",
        "mixllm_budget",
        "llmrec_budget",
        "constrained_oracle",
    }
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


def test_a_lambda_change_reruns_only_that_lambda_and_the_aggregate(demo_run, request):
    changed = {**SMALL, "experiments": {EXP: {**SMALL["experiments"][EXP], "lambdas": [1, 5]}}}
    extra = write_config(demo_run, changed, name="changed.yaml")
    demo = str(request.config.rootpath / "config" / "demo.yaml")
    small = str(demo_run / "test.yaml")
    proc = run_snakemake(
        demo_run, METRICS, "-n", "--quiet", "rules", "--configfile", demo, small, extra
    )
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


def test_metrics_carry_bootstrap_intervals(demo_run):
    metrics = pd.read_csv(demo_run / METRICS)
    for stat in ("mean_quality", "mean_cost", "p95_latency_s", "slo_violation_rate"):
        low, high = metrics[f"{stat}_ci_low"], metrics[f"{stat}_ci_high"]
        assert (low <= metrics[stat] + 1e-12).all() and (metrics[stat] <= high + 1e-12).all()
    assert (metrics["mean_quality_ci_high"] > metrics["mean_quality_ci_low"]).any()


def test_router_summary_comparisons_and_summary(demo_run):
    base = demo_run / "results" / EXP
    summary = pd.read_csv(base / "router_summary.csv").set_index("router")
    for router in ("dacr", "mixllm", "llmrec", "knn", "zero_router"):
        row = summary.loc[router]
        assert row["aiq_code_ci_low"] <= row["aiq_code"] <= row["aiq_code_ci_high"]
        assert 0 < row["aiq_code"] <= 1 and row["c_max"] > row["c_min"]
    assert {"apgr", "cpt50"} <= set(summary.columns)
    assert np.isfinite(summary.loc["routellm", "apgr"])
    comparisons = pd.read_csv(base / "comparisons.csv")
    assert set(comparisons["target"]) == {"dacr"}
    assert {"mixllm", "always_strong"} <= set(comparisons["baseline"])
    assert (comparisons["p_holm"] >= comparisons["p_value"] - 1e-12).all()
    text = (base / "summary.md").read_text()
    assert "| dacr | 1 |" in text and "Synthetic data" in text
    assert "## Budgets: B = 0.0055 USD per query, δ = 0.1" in text
    assert "- dacr λ=1: cost" in text


def test_plots_are_written_at_their_size(demo_run):
    import matplotlib.image as mpimg

    for name in PLOTS:
        path = demo_run / "results" / EXP / "plots" / f"{name}.png"
        image = mpimg.imread(path)
        assert image.shape[0] >= 400 and image.shape[1] >= 600, name


def test_snakemake_report_bundles_the_results(demo_run, request):
    demo = str(request.config.rootpath / "config" / "demo.yaml")
    extra = str(demo_run / "test.yaml")
    run_snakemake(
        demo_run,
        *REPORT_FILES,
        MANIFEST,
        "--report",
        "results/report.html",
        "--configfile",
        demo,
        extra,
    )
    html = (demo_run / "results" / "report.html").read_text(errors="replace")
    assert len(html) > 10_000
    assert "quality_cost.png" in html and "router_summary.csv" in html
    for table in ("metrics.csv", "metrics_by_domain.csv", "calibration_ece.csv", "manifest.json"):
        assert table in html, table


def test_snakemake_report_refuses_a_config_the_results_were_not_built_from(demo_run):
    proc = run_snakemake(demo_run, "--report", "results/other.html", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "the results do not match this config" in out
    assert f"{EXP}: results/{EXP}/manifest.json was built from config slice" in out
    assert not (demo_run / "results" / "other.html").exists()


def test_a_binding_budget_is_kept_and_swept(tmp_path, request):
    demo = str(request.config.rootpath / "config" / "demo.yaml")
    exp = "budget"
    config = {
        "dataset": {"source": "synthetic", "synthetic": {"n_prompts": 600, "seed": 3}},
        "bootstrap_resamples": 100,
        "experiments": {
            exp: {
                "holdout": ["grade-school-math", "mbpp"],
                "lambdas": [1, 10],
                "dacr": {"budget_cost": 0.0003, "budget_viol": 0.1},
                "budget_sweep": [0.0002, 0.0005],
            }
        },
    }
    names = ("summary.md", "budget_curve.parquet", "plots/budget_curve.png")
    targets = [f"results/{exp}/{name}" for name in names]
    run_snakemake(
        tmp_path, *targets, "--configfile", demo, write_config(tmp_path, config, "budget.yaml")
    )
    table = pd.read_csv(tmp_path / f"results/{exp}/budget_compliance.csv")
    dacr = table.loc[table["policy"] == "dacr"]
    assert (dacr["cost_ratio"] <= 1.05).all() and (dacr["slo_violation_rate"] <= 0.12).all()
    always_strong = pd.read_csv(tmp_path / f"results/{exp}/metrics.csv").set_index("policy")
    assert always_strong.loc["always_strong", "mean_cost"] > 5 * 0.0003  # the budget binds
    curve = pd.read_parquet(tmp_path / f"results/{exp}/budget_curve.parquet")
    assert sorted(set(curve["policy"])) == ["constrained_oracle", "dacr", "mixllm_budget"]
    assert sorted(curve["budget_cost"].unique()) == [0.0002, 0.0005]
    sweep_dacr = curve.loc[curve["policy"] == "dacr"]
    assert (sweep_dacr["cost_ratio"] <= 1.05).all()
    assert (tmp_path / f"results/{exp}/plots/budget_curve.png").stat().st_size > 10_000


def test_a_custom_router_whose_module_is_missing_fails_before_any_job(tmp_path, request):
    demo = str(request.config.rootpath / "config" / "demo.yaml")
    config = {**SMALL, "custom_policies": {"mine": {"class": "examples.routers.nothing:Router"}}}
    proc = run_snakemake(
        tmp_path, METRICS, "--configfile", demo, write_config(tmp_path, config), check=False
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "config key custom_policies.mine.class: module 'examples.routers.nothing'" in out
    assert not (tmp_path / "results").exists()


def test_a_bad_custom_router_class_fails_naming_the_policy(tmp_path, request):
    demo = str(request.config.rootpath / "config" / "demo.yaml")
    spec = {"class": "examples.routers.embedding_threshold:NoSuchRouter"}
    config = {**SMALL, "custom_policies": {"mine": spec}}
    proc = run_snakemake(
        tmp_path, METRICS, "--configfile", demo, write_config(tmp_path, config), check=False
    )
    assert proc.returncode != 0
    log = (tmp_path / "logs" / EXP / "evaluate_baselines.log").read_text()
    assert "custom_policies.mine.class='examples.routers.embedding_threshold:NoSuchRouter'" in log
    assert "NoSuchRouter" in log
    assert not (tmp_path / f"results/{EXP}/policies/baselines.parquet").exists()


def test_leave_one_domain_out_matrix(tmp_path, request):
    demo = str(request.config.rootpath / "config" / "demo.yaml")
    config = {
        "dataset": {"source": "synthetic", "synthetic": {"n_prompts": 400, "seed": 3}},
        "bootstrap_resamples": 50,
        "experiments": {"lodo": {"lodo": ["grade-school-math", "hellaswag"], "lambdas": [1]}},
    }
    target = "results/lodo/lodo_matrix.csv"
    run_snakemake(
        tmp_path,
        target,
        "results/lodo/lodo_heatmap.png",
        "--configfile",
        demo,
        write_config(tmp_path, config),
    )
    matrix = pd.read_csv(tmp_path / target, index_col=0)
    assert set(matrix.pop("dataset")) == {"synthetic"}
    assert list(matrix.index) == ["grade-school-math", "hellaswag"]
    assert {"dacr", "mixllm", "oracle"} <= set(matrix.columns)
    split = pd.read_parquet(tmp_path / "results/lodo__hellaswag/split.parquet")
    assert set(split.loc[split["split"] == "test", "family"]) == {"hellaswag"}
    assert (matrix["oracle"] >= matrix.drop(columns="oracle").max(axis=1) - 1e-12).all()
