# Helpers for every stage: input and params functions (get_*) and path formatting.
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import yaml

import dacr
from dacr.provenance import code_digest, config_hash, report_mismatches, source_digest
from dacr.configcheck import check_paths

LONG_FORM = "results/data/routerbench_long.parquet"
PLOTS = (
    "quality_cost",
    "violation_cost",
    "latency_cdf",
    "reliability",
    "dacr_trace",
    "domain_heatmap",
    "regret",
)


def get_experiment_pattern():
    """Regex alternation of the configured experiment names (the {experiment} wildcard)."""
    names = sorted(config["experiments"])
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def get_final_outputs():
    """Targets of the default target (all)."""
    out = [LONG_FORM]
    for experiment in sorted(config["experiments"]):
        out += get_stage_outputs(experiment)
    return out


def get_synthetic_path():
    """Where the embedded synthetic RouterBench is written (format in the name)."""
    fmt = config["dataset"]["synthetic"]["format"]
    return f"resources/synthetic/routerbench_synthetic_{fmt}.pkl"


def get_download_path():
    """Where the Hugging Face file is cached: resources/routerbench/<revision>/<file>."""
    ds = config["dataset"]
    return f"resources/routerbench/{ds['revision']}/{ds['hf_file']}"


def get_dataset_file(wildcards):
    """The RouterBench file that feeds the long form, by dataset.source."""
    ds = config["dataset"]
    if ds["source"] == "synthetic":
        return get_synthetic_path()
    if ds["source"] == "huggingface":
        return get_download_path()
    return ds["path"]  # checked by dacr.configcheck.check_paths at parse time


def get_dataset_label():
    """'synthetic' for the embedded generator, else 'routerbench'."""
    return "synthetic" if config["dataset"]["source"] == "synthetic" else "routerbench"


def get_dataset_provenance():
    """The dataset config slice the long form depends on, stored in its metadata."""
    ds = config["dataset"]
    keys = {
        "huggingface": ("source", "hf_repo", "hf_file", "revision", "sha256"),
        "file": ("source", "path", "trust_pickle"),
        "synthetic": ("source", "synthetic"),
    }[ds["source"]]
    return json.dumps({k: ds[k] for k in keys}, sort_keys=True)


def get_code_version(*modules):
    """dacr's version plus a digest of the library code a rule runs (its modules and what
    they import). A params entry, so Snakemake reruns a job when that code changes (it does
    not see library code otherwise), and only those jobs."""
    return code_digest(modules)


def get_replay_marker():
    """The marker of DACR's compiled replay for this code version (a new version compiles
    anew; numba keeps the compiled code in the package's __pycache__)."""
    return f"resources/compiled/dacr_replay.{get_code_version('route')}.ok"


def get_experiment(wildcards):
    """The validated config block of the {experiment} wildcard."""
    return config["experiments"][wildcards.experiment]


def drop_default_experiments():
    """With default_experiments: false, keep only the experiments the user's own config
    files or --config name (config/config.yaml's are defaults, merged in first)."""
    if config["default_experiments"]:
        return
    named = set()
    for path in workflow.config_settings.configfiles or []:
        text = yaml.safe_load(Path(path).read_text()) or {}
        named |= set((text.get("experiments") or {}).keys())
    named |= set(
        ((workflow.config_settings.config or {}).get("experiments") or {}).keys()
    )
    for name in list(config["experiments"]):
        if name not in named:
            del config["experiments"][name]


drop_default_experiments()


def expand_lodo_experiments():
    """Add one sub-experiment ``<name>__<family>`` per family of each ``lodo`` experiment."""
    for name, exp in list(config["experiments"].items()):
        for family in exp.get("lodo") or []:
            sub = {k: v for k, v in exp.items() if k != "lodo"}
            sub.update(holdout=[family], holdout_by="family", lodo=None)
            config["experiments"][f"{name}__{family}"] = sub


# Sub-experiments exist before any wildcard is resolved.
expand_lodo_experiments()


# Keys that decide an experiment's split, stream, latency, features and predictors: experiments
# that agree on all of them share one set of those files (its "setup").
SETUP_KEYS = (
    "holdout",
    "test_fraction",
    "holdout_match",
    "holdout_by",
    "stream",
    "latency",
    "latency_log",
    "latency_impute",
    "domain_labels",
)
SETUP_EVAL_KEYS = ("features", "predictor", "calibration", "tau_seconds", "knn_k")


def setup_signature(name):
    """What an experiment's setup files depend on, as canonical JSON."""
    exp = config["experiments"][name]
    ev = get_eval_config(types.SimpleNamespace(experiment=name))
    return json.dumps(
        {
            "experiment": {k: exp.get(k) for k in SETUP_KEYS},
            "evaluation": {k: ev[k] for k in SETUP_EVAL_KEYS},
        },
        sort_keys=True,
    )


def setup_owners():
    """experiment -> the experiment whose folder holds its setup files: the first by name of
    those with the same setup (leave-one-domain-out parents have none)."""
    first = {}
    owners = {}
    for name in sorted(config["experiments"]):
        if config["experiments"][name].get("lodo"):
            continue
        owners[name] = first.setdefault(setup_signature(name), name)
    return owners


def get_setup_owner_pattern():
    """Regex of the experiments that hold setup files (the setup rules' wildcard)."""
    names = sorted(set(setup_owners().values()))
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def get_setup_file(name):
    """An input function: ``name`` (e.g. predictions.npz) in the {experiment}'s setup folder."""

    def setup_file(wildcards):
        return f"results/{setup_owners()[wildcards.experiment]}/{name}"

    setup_file.__name__ = f"get_setup_{name.split('.')[0]}"
    return setup_file


def is_lodo(experiment):
    """Whether ``experiment`` is a leave-one-domain-out parent (it runs no stream itself)."""
    return bool(config["experiments"][experiment].get("lodo"))


def get_split_params(wildcards):
    """Everything the train/test split depends on."""
    exp = get_experiment(wildcards)
    if exp.get("lodo"):
        raise ValueError(
            f"experiment {wildcards.experiment!r} is leave-one-domain-out; ask for "
            f"results/{wildcards.experiment}/lodo_matrix.csv or a sub-experiment's files"
        )
    return {
        "holdout": exp.get("holdout"),
        "test_fraction": exp.get("test_fraction"),
        "holdout_match": exp["holdout_match"],
        "holdout_by": exp["holdout_by"],
        "seed": config["seed"],
    }


def get_stream_params(wildcards):
    """The experiment's stream block."""
    return dict(get_experiment(wildcards)["stream"])


def get_simulate_latency_params(wildcards):
    """simulate_latency settings with the seed resolved (null -> the global seed), and
    where the service time comes from: tokens, or the dataset's latency_s (from_data).
    """
    sim = dict(config["simulate_latency"])
    if sim["seed"] is None:
        sim["seed"] = config["seed"]
    sim.pop("config_file")
    from_data = get_experiment(wildcards)["latency"] == "from_data"
    sim["base_source"] = "data" if from_data else "tokens"
    return sim


def project_path(path):
    """A config file path: absolute as given, relative ones from the project root."""
    return path if os.path.isabs(path) else os.path.join(workflow.basedir, path)


def get_latency_config_file():
    """The per-model latency parameter file (an input, so editing it reruns the simulation)."""
    return project_path(config["simulate_latency"]["config_file"])


def get_telemetry_params():
    """collect_latency settings."""
    tel = dict(config["telemetry"])
    tel.pop("models_file")
    tel["seed"] = config["seed"]
    return tel


def get_models_file():
    """RouterBench id -> served model map (an input of collect_latency)."""
    return project_path(config["telemetry"]["models_file"])


def get_labels_params():
    """label_domain settings."""
    return dict(config["labels"])


def get_latency_file(wildcards):
    """The latency log the evaluation of {experiment} reads, by its `latency` setting."""
    exp = get_experiment(wildcards)
    if exp["latency"] == "none":
        return []
    if exp["latency"] in ("simulated", "from_data"):
        return f"results/{wildcards.experiment}/latency_eff.jsonl"
    return (
        exp["latency_log"] or f"results/{wildcards.experiment}/latency_measured.jsonl"
    )


def get_stage_outputs(experiment):
    """The evaluation tables, report files and plots of one experiment."""
    if is_lodo(experiment):
        return [
            f"results/{experiment}/lodo_matrix.csv",
            f"results/{experiment}/lodo_heatmap.png",
        ]
    plots = [f"results/{experiment}/plots/{name}.png" for name in PLOTS]
    return (
        plots
        + [
            f"results/{experiment}/{name}"
            for name in (
                "metrics.csv",
                "metrics_by_domain.csv",
                "calibration_ece.csv",
                "per_query.parquet",
                "dacr_trace.parquet",
                "manifest.json",
                "router_summary.csv",
                "comparisons.csv",
                "budget_compliance.csv",
                "summary.md",
            )
        ]
        + get_sweep_outputs(experiment)
    )


def get_sweep_outputs(experiment):
    """The budget sweep's table and figure, when the experiment sets budget_sweep."""
    if not config["experiments"][experiment].get("budget_sweep"):
        return []
    return [
        f"results/{experiment}/budget_curve.parquet",
        f"results/{experiment}/plots/budget_curve.png",
    ]


EVAL_KEYS = (
    "tau_seconds",
    "lambdas",
    "lambda_lat",
    "cascade_threshold",
    "routellm_threshold",
    "decision_info",
    "knn_k",
    "features",
    "predictor",
    "calibration",
    "dacr",
    "linucb",
)


def get_eval_config(wildcards):
    """Evaluation settings of {experiment}: top-level defaults with its overrides on top."""
    exp = get_experiment(wildcards)
    out = {}
    for key in EVAL_KEYS:
        value, override = config[key], exp.get(key)
        if isinstance(value, dict) and override is not None:
            value = {**value, **override}
        elif override is not None:
            value = override
        out[key] = value
    return out


def format_lambda(value):
    """The one place a lambda becomes text (paths and wildcards): 1 -> '1', 0.5 -> '0.5'."""
    return np.format_float_positional(float(value), trim="-")


def get_lambda_paths(wildcards, pattern):
    """``pattern`` formatted for every lambda of {experiment}."""
    lams = get_eval_config(wildcards)["lambdas"]
    return [
        pattern.format(experiment=wildcards.experiment, lam=format_lambda(lam))
        for lam in lams
    ]


def get_lambda_per_query(wildcards):
    """Per-query tables of the lambda jobs of {experiment}."""
    return get_lambda_paths(
        wildcards, "results/{experiment}/policies/lambda_{lam}.parquet"
    )


def get_lambda_traces(wildcards):
    """DACR traces of the lambda jobs of {experiment}."""
    return get_lambda_paths(
        wildcards, "results/{experiment}/policies/dacr_trace_{lam}.parquet"
    )


def get_lambda_calibration(wildcards):
    """End-of-stream calibration tables of the lambda jobs of {experiment}."""
    return get_lambda_paths(
        wildcards, "results/{experiment}/policies/online_calibration_{lam}.csv"
    )


def get_embeddings_input(wildcards):
    """The cached sentence embeddings, when the experiment's features use them."""
    kind = get_eval_config(wildcards)["features"]["kind"]
    return "results/data/embeddings.npz" if "embedding" in kind else []


def get_features_params(wildcards):
    """Everything the features depend on."""
    return {"features": get_eval_config(wildcards)["features"], "seed": config["seed"]}


def get_predictor_params(wildcards):
    """Everything the predictors depend on."""
    ev, exp = get_eval_config(wildcards), get_experiment(wildcards)
    return {
        "holdout": exp.get("holdout"),
        "predictor": ev["predictor"],
        "calibration": ev["calibration"],
        "tau_seconds": ev["tau_seconds"],
        "latency_impute": exp["latency_impute"],
        "knn_k": ev["knn_k"],
        "seed": config["seed"],
        "domain_labels": exp["domain_labels"],
    }


def get_eval_stream(wildcards):
    """The stream the predictors read: LLM-labelled when domain_labels is llm."""
    name = (
        "stream_labeled"
        if get_experiment(wildcards)["domain_labels"] == "llm"
        else "stream"
    )
    return f"results/{wildcards.experiment}/{name}.jsonl"


def get_custom_policies():
    """custom_policies, each with the digest of its class's source file (so a change to a
    router's code reruns the jobs that run it)."""
    return {
        name: {**spec, "source": source_digest(spec["class"], workflow.basedir)}
        for name, spec in sorted(config["custom_policies"].items())
    }


def get_custom_long(wildcards):
    """The long form (prompts, domains) for the policy jobs, when custom policies exist."""
    return LONG_FORM if config["custom_policies"] else []


def get_baseline_params(wildcards):
    """Everything the lambda-free and budget policies depend on."""
    ev = get_eval_config(wildcards)
    keys = ("decision_info", "tau_seconds", "cascade_threshold", "routellm_threshold")
    return {
        **{k: ev[k] for k in keys},
        "budget_cost": ev["dacr"]["budget_cost"],
        "budget_viol": ev["dacr"]["budget_viol"],
        "dacr": ev["dacr"],
        "custom": get_custom_policies(),
        "seed": config["seed"],
    }


def get_lambda_params(wildcards):
    """Everything one lambda job depends on (the lambda itself is the wildcard)."""
    ev = get_eval_config(wildcards)
    keys = ("decision_info", "tau_seconds", "lambda_lat", "dacr", "linucb")
    return {
        **{k: ev[k] for k in keys},
        "custom": get_custom_policies(),
        "seed": config["seed"],
    }


def get_decision_info(wildcards):
    """The experiment's decision mode, written into its tables."""
    return get_eval_config(wildcards)["decision_info"]


def get_git_commit():
    """The project's git commit, when it is a git checkout (None otherwise)."""
    try:
        out = subprocess.run(
            ["git", "-C", workflow.basedir, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def get_manifest_config(wildcards):
    """The config slice an experiment's results depend on."""
    return {
        "setup_from": setup_owners()[wildcards.experiment],
        "seed": config["seed"],
        "domain_level": config["domain_level"],
        "dataset": config["dataset"],
        "experiment": get_experiment(wildcards),
        "evaluation": get_eval_config(wildcards),
        "simulate_latency": config["simulate_latency"],
    }


def get_curve_params(wildcards):
    """Everything the dense lambda and threshold sweeps depend on."""
    ev = get_eval_config(wildcards)
    lams = config["curve_lambdas"]
    if lams is None:
        lams = [0.0, *np.logspace(-1, 5, 29).tolist()]
    return {
        "curve_lambdas": [float(x) for x in lams],
        "thresholds": [float(x) for x in config["curve_thresholds"]],
        "routellm_curve": config["routellm_curve"],
        "decision_info": ev["decision_info"],
        "tau_seconds": ev["tau_seconds"],
        "lambda_lat": ev["lambda_lat"],
        "dacr": ev["dacr"],
        "linucb": ev["linucb"],
        "custom": get_custom_policies(),
        "seed": config["seed"],
    }


def get_bootstrap_params():
    """Resamples and seed of every bootstrap interval."""
    return {"n_resamples": config["bootstrap_resamples"], "seed": config["seed"]}


def get_sweep_params(wildcards):
    """Everything the budget sweep depends on."""
    ev, exp = get_eval_config(wildcards), get_experiment(wildcards)
    if not exp.get("budget_sweep"):
        raise ValueError(
            f"experiment {wildcards.experiment!r} has no budget_sweep; set "
            f"experiments.{wildcards.experiment}.budget_sweep: [B, ...] to sweep cost budgets"
        )
    return {
        "budgets": [float(b) for b in exp["budget_sweep"]],
        "decision_info": ev["decision_info"],
        "tau_seconds": ev["tau_seconds"],
        "dacr": ev["dacr"],
        "seed": config["seed"],
    }


def get_plot_params(wildcards):
    """Everything the figures depend on."""
    ev = get_eval_config(wildcards)
    return {
        "tau_seconds": ev["tau_seconds"],
        "dacr": ev["dacr"],
        "decision_info": ev["decision_info"],
        "seed": config["seed"],
    }


def get_lodo_families(wildcards):
    """The held-out families of a leave-one-domain-out experiment."""
    return list(get_experiment(wildcards)["lodo"])


def get_lodo_metrics(wildcards):
    """metrics.csv of every sub-experiment of a leave-one-domain-out experiment."""
    name = wildcards.experiment
    return [
        f"results/{name}__{family}/metrics.csv"
        for family in get_lodo_families(wildcards)
    ]


def check_report_config():
    """`snakemake --report` describes the results of the config it is given: refuse a config
    whose experiments were not built from it (the report would show jobs that never ran).
    """
    expected = {}
    for name in config["experiments"]:
        if not is_lodo(name):
            wc = types.SimpleNamespace(experiment=name)
            path = f"results/{name}/manifest.json"
            expected[name] = (path, config_hash(get_manifest_config(wc)))
    problems = report_mismatches(expected)
    if problems:
        files = workflow.config_settings.configfiles or ["config/config.yaml"]
        raise ValueError(
            "snakemake --report: the results do not match this config "
            f"(config files: {', '.join(map(str, files))}): "
            + "; ".join(problems)
            + ". Pass "
            "the config files the run used (e.g. --configfile config/demo.yaml), or run the "
            "workflow with this config first."
        )


# Every path the user typed exists, before any job; a report matches its results.
check_paths(config, workflow.basedir)
if "--report" in sys.argv:
    check_report_config()
