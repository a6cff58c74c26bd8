"""Bad inputs and faults as users meet them, each with the message it must give.

Every case asserts that the error names where (file, key or column), the bad value and what is
valid, and, where the step writes a file, that nothing is left under the output's name. The
workflow-level cases (a run that stops before any job, a failed job leaving no output) are in
tests/workflow/; the collector's outages in tests/test_telemetry*.py.
"""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake.utils import validate

from dacr.configcheck import ConfigError, check_config, path_problems
from dacr.io import load_npz, read_csv, read_jsonl, read_parquet, write_json, write_npz
from dacr.latency import latency_matrix, load_latency_config, read_latency_log
from dacr.provenance import report_mismatches
from dacr.route.custom import CustomPolicyError, import_class
from dacr.routerbench import run_long_form
from dacr.stream import assign_split, parse_bursts

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
BASE = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
GENERIC = pd.read_csv(ROOT / "tests" / "data" / "generic_4models_3domains.csv", dtype={"qid": str})
X = {"holdout": ["mbpp"]}  # a valid experiment to hang stream and latency keys on


def merged(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# --------------------------------------------------------------------------------------------
# The config: one paragraph per mistake, before any job
# --------------------------------------------------------------------------------------------

CONFIG_CASES = {
    "top-level typo": ({"sed": 1}, ["'sed' is not a known key", "did you mean 'seed'?"]),
    "evaluation key typo": (
        {"tau_secnds": 5},
        ["'tau_secnds' is not a known key", "did you mean 'tau_seconds'?"],
    ),
    "experiment key typo": (
        {"experiments": {"x": {"holdouts": ["mbpp"]}}},
        ["'experiments.x.holdouts' is not a known key", "did you mean 'holdout'?"],
    ),
    "dacr key typo": (
        {"dacr": {"budget_cots": 0.1}},
        ["'dacr.budget_cots' is not a known key", "did you mean 'budget_cost'?"],
    ),
    "seed not a number": ({"seed": "abc"}, ["'seed': 'abc' is not of type integer"]),
    "domain level": (
        {"domain_level": "subject"},
        ["'domain_level': 'subject' is not valid", "['eval_name', 'family']"],
    ),
    "dataset source": (
        {"dataset": {"source": "hf"}},
        ["'dataset.source': 'hf' is not valid", "'huggingface', 'file', 'synthetic'"],
    ),
    "hub file": (
        {"dataset": {"hf_file": "x.csv"}},
        ["'dataset.hf_file': 'x.csv' is not valid", "routerbench_0shot.pkl"],
    ),
    "synthetic size": (
        {"dataset": {"synthetic": {"n_prompts": 0}}},
        ["'dataset.synthetic.n_prompts': 0 must be >= 100"],
    ),
    "holdout and test_fraction": (
        {"experiments": {"x": {"holdout": ["mbpp"], "test_fraction": 0.2}}},
        ["'experiments.x': give exactly one of holdout", "found ['holdout', 'test_fraction']"],
    ),
    "neither holdout nor test_fraction": (
        {"experiments": {"x": {}}},
        ["'experiments.x': give exactly one of holdout", "found []"],
    ),
    "lodo and holdout": (
        {"experiments": {"x": {"lodo": ["mmlu", "mbpp"], "holdout": ["mbpp"]}}},
        ["give exactly one of", "found ['holdout', 'lodo']"],
    ),
    "test fraction over one": (
        {"experiments": {"x": {"test_fraction": 1.5}}},
        ["'experiments.x.test_fraction': 1.5 must be < 1"],
    ),
    "holdout match": (
        {"experiments": {"x": {**X, "holdout_match": "regex"}}},
        ["'experiments.x.holdout_match': 'regex' is not valid", "['exact', 'prefix']"],
    ),
    "lambdas not a list": ({"lambdas": "five"}, ["'lambdas': 'five' is not of type array"]),
    "negative lambda": ({"lambdas": [-1]}, ["'lambdas.0': -1 must be >= 0"]),
    "empty lambdas": ({"lambdas": []}, ["'lambdas': [] should be non-empty"]),
    "lambda word from --config": (
        {"lambdas": ["1", "x"]},
        ["'lambdas.1': 'x' is not of type number"],
    ),
    "experiment lambdas": (
        {"experiments": {"x": {**X, "lambdas": [1, "ten"]}}},
        ["'experiments.x.lambdas.1': 'ten' is not of type number"],
    ),
    "zero rate": (
        {"experiments": {"x": {**X, "stream": {"rate_qps": 0}}}},
        ["'experiments.x.stream.rate_qps': 0 must be > 0"],
    ),
    "zero time warp": (
        {"experiments": {"x": {**X, "stream": {"time_warp": 0}}}},
        ["'experiments.x.stream.time_warp': 0 must be > 0"],
    ),
    "burst form": (
        {"experiments": {"x": {**X, "stream": {"burst": ["12/30"]}}}},
        ["'experiments.x.stream.burst.0': '12/30' does not have the expected form", "'20@30'"],
    ),
    "stream split": (
        {"experiments": {"x": {**X, "stream": {"split": "val"}}}},
        ["'experiments.x.stream.split': 'val' is not valid", "['test', 'train', 'all']"],
    ),
    "latency mode": (
        {"experiments": {"x": {**X, "latency": "guess"}}},
        ["'experiments.x.latency': 'guess' is not valid", "'measured', 'from_data'"],
    ),
    "violation budget over one": (
        {"dacr": {"budget_viol": 1.5}},
        ["'dacr.budget_viol': 1.5 must be <= 1"],
    ),
    "negative cost budget": ({"dacr": {"budget_cost": -1}}, ["'dacr.budget_cost': -1 must be > 0"]),
    "negative delay": ({"dacr": {"delay": -1}}, ["'dacr.delay': -1 must be >= 0"]),
    "dual mode": (
        {"dacr": {"dual": "exact"}},
        ["'dacr.dual': 'exact' is not valid", "['normalized', 'raw']"],
    ),
    "feedback clock": (
        {"dacr": {"feedback_clock": "wall"}},
        ["'dacr.feedback_clock': 'wall' is not valid", "['stream', 'index']"],
    ),
    "decision info": (
        {"decision_info": "cheat"},
        ["'decision_info': 'cheat' is not valid", "['predicted', 'oracle']"],
    ),
    "negative tau": ({"tau_seconds": -1}, ["'tau_seconds': -1 must be > 0"]),
    "negative bootstrap": ({"bootstrap_resamples": -5}, ["'bootstrap_resamples': -5 must be >= 0"]),
    "feature kind": (
        {"features": {"kind": "bert"}},
        ["'features.kind': 'bert' is not valid", "'tfidf_svd'"],
    ),
    "predictor kind": (
        {"predictor": {"kind": "svm"}},
        ["'predictor.kind': 'svm' is not valid", "['logistic', 'hgb']"],
    ),
    "calibration method": (
        {"calibration": {"method": "beta"}},
        ["'calibration.method': 'beta' is not valid", "'platt', 'isotonic'"],
    ),
    "one threshold": ({"curve_thresholds": [0.5]}, ["'curve_thresholds': [0.5] is too short"]),
    "routellm curve": (
        {"routellm_curve": "even"},
        ["'routellm_curve': 'even' is not valid", "['quantile', 'threshold']"],
    ),
    "linucb alpha": ({"linucb": {"alpha": -1}}, ["'linucb.alpha': -1 must be >= 0"]),
    "embedder backend": (
        {"embedder": {"backend": "tf"}},
        ["'embedder.backend': 'tf' is not valid", "['torch', 'onnx']"],
    ),
    "telemetry concurrency": (
        {"telemetry": {"concurrency": 0}},
        ["'telemetry.concurrency': 0 must be >= 1"],
    ),
    "telemetry pacing": (
        {"telemetry": {"pacing": "fast"}},
        ["'telemetry.pacing': 'fast' is not valid", "['stream', 'asap']"],
    ),
    "custom router without class": (
        {"custom_policies": {"mine": {"params": {}}}},
        ["'custom_policies.mine': 'class' is a required property"],
    ),
    "default experiments flag": (
        {"default_experiments": "no"},
        ["'default_experiments': 'no' is not of type boolean"],
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_a_bad_config_is_one_readable_paragraph(case):
    override, expected = CONFIG_CASES[case]
    with pytest.raises(ConfigError) as err:
        check_config(merged(BASE, override), SCHEMA)
    message = str(err.value)
    for part in expected:
        assert part in message, (part, message)
    assert str(SCHEMA) in message  # which schema says so
    assert len(message.splitlines()) <= 4  # a paragraph, not the schema and the config


def test_numbers_from_the_command_line_are_numbers():
    config = check_config(merged(BASE, {"lambdas": ["1", "5.5"], "seed": "7"}), SCHEMA)
    assert config["lambdas"] == [1, 5.5] and config["seed"] == 7


# --------------------------------------------------------------------------------------------
# Paths the user typed: each must exist where the config is read
# --------------------------------------------------------------------------------------------


def _full(over: dict) -> dict:
    config = check_config(merged(BASE, over), SCHEMA)
    validate(config, str(SCHEMA))  # fills the defaults, as the Snakefile does
    return config


PATH_CASES = {
    "file source without a path": (
        {"dataset": {"source": "file"}},
        ["config key dataset.path: not set", ".pkl", ".csv"],
    ),
    "dataset file missing": (
        {"dataset": {"source": "file", "path": "data/nope.pkl"}},
        ["config key dataset.path: dataset file 'data/nope.pkl' does not exist"],
    ),
    "latency parameters missing": (
        {"simulate_latency": {"config_file": "config/latenzy.yaml"}},
        ["config key simulate_latency.config_file", "latenzy.yaml' does not exist"],
    ),
    "latency log missing": (
        {"experiments": {"x": {**X, "latency": "measured", "latency_log": "logs/lat.jsonl"}}},
        ["config key experiments.x.latency_log: latency log 'logs/lat.jsonl' does not exist"],
    ),
    "model map missing": (
        {
            "experiments": {"x": {**X, "latency": "measured"}},
            "telemetry": {"models_file": "config/modles.yaml"},
        },
        ["config key telemetry.models_file: model map", "modles.yaml' does not exist"],
    ),
    "custom router module missing": (
        {"custom_policies": {"mine": {"class": "my_routers.nope:Router"}}},
        ["config key custom_policies.mine.class: module 'my_routers.nope'", "PYTHONPATH"],
    ),
}


@pytest.mark.parametrize("case", sorted(PATH_CASES))
def test_a_missing_path_names_its_key_and_the_path(case):
    override, expected = PATH_CASES[case]
    problems = path_problems(_full(override), ROOT)
    assert len(problems) == 1, problems
    for part in expected:
        assert part in problems[0], (part, problems[0])


def test_the_shipped_configs_have_no_path_problems():
    assert path_problems(_full({}), ROOT) == []
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    assert path_problems(_full(demo), ROOT) == []


# --------------------------------------------------------------------------------------------
# Dataset files: the long form refuses them, naming file, column and example rows
# --------------------------------------------------------------------------------------------


def _edit(column: str, row: int, value) -> pd.DataFrame:
    df = GENERIC.copy()
    df[column] = df[column].astype(object)
    df.loc[row, column] = value
    return df


DATA_CASES = {
    "missing cost column": (
        GENERIC.drop(columns="cost"),
        ".csv",
        ["missing column(s) ['cost']", "needs ['qid', 'prompt', 'domain', 'model'"],
    ),
    "cost not a number": (
        _edit("cost", 3, "abc"),
        ".csv",
        ["column 'cost'", "'cost': 'abc'", "expected numbers"],
    ),
    "quality above one": (
        _edit("quality", 5, 1.5),
        ".csv",
        ["column 'quality'", "'quality': 1.5", "in [0, 1]"],
    ),
    "missing quality": (
        _edit("quality", 2, np.nan),
        ".csv",
        ["column 'quality'", "no missing values"],
    ),
    "negative cost": (
        _edit("cost", 5, -1.0),
        ".csv",
        ["column 'cost'", "'cost': -1.0", ">= 0"],
    ),
    "infinite cost": (_edit("cost", 0, np.inf), ".csv", ["'cost': inf", "finite number"]),
    "repeated pair": (
        pd.concat([GENERIC, GENERIC.iloc[:1]]),
        ".csv",
        ["rows repeat a (qid, model) pair", "'qid': 'ari-000', 'model': 'tiny-1b'"],
    ),
    "one model": (
        GENERIC.loc[GENERIC["model"] == "tiny-1b"],
        ".csv",
        ["column 'model': only ['tiny-1b'] found", "at least two models"],
    ),
    "a query lacks a model": (
        GENERIC.drop(index=[1]),
        ".csv",
        ["1 queries lack some of the 4 models", "'missing': ['small-8b']"],
    ),
    "two prompts for a query": (
        _edit("prompt", 1, "another prompt"),
        ".csv",
        ["column 'prompt'", "more than one prompt", "'qid': 'ari-000'"],
    ),
    "empty prompt": (_edit("prompt", 0, np.nan), ".csv", ["column 'prompt'", "empty value"]),
    "latency with a unit": (
        _edit("latency_s", 0, "1.45s"),
        ".csv",
        ["column 'latency_s'", "'latency_s': '1.45s'", "expected numbers"],
    ),
    "negative latency": (
        _edit("latency_s", 0, -1.0),
        ".csv",
        ["column 'latency_s'", "-1.0", "> 0 (seconds)"],
    ),
    "fractional tokens": (
        _edit("prompt_tokens", 0, 2.5),
        ".csv",
        ["column 'prompt_tokens'", "2.5", "whole number"],
    ),
    "no known layout": (
        pd.DataFrame({"a": [1], "b": [2]}),
        ".csv",
        ["matches no dataset layout", "RouterBench wide needs"],
    ),
    "rows missing": (
        "qid,prompt,domain,model,quality,cost\n",
        ".csv",
        ["the table has no rows"],
    ),
    "empty file": ("", ".csv", ["not a readable CSV file", "No columns"]),
    "spreadsheet": ("x", ".xlsx", ["unsupported file type '.xlsx'", ".parquet, .csv or .tsv"]),
    "truncated parquet": (b"PAR1\x00\x00", ".parquet", ["not a readable parquet file"]),
    "pickle of a list": (pickle.dumps([1, 2]), ".pkl", ["expected a pandas DataFrame"]),
    "truncated pickle": (b"\x80\x05garbage", ".pkl", ["not a readable pickle"]),
    "pickle with code": (
        pickle.dumps(Path("x")),
        ".pkl",
        ["refused to unpickle global pathlib.PosixPath", "dataset.trust_pickle: true"],
    ),
}


def _write_input(tmp_path: Path, content, suffix: str) -> Path:
    path = tmp_path / f"input{suffix}"
    if isinstance(content, pd.DataFrame):
        content.to_csv(path, index=False)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_a_bad_dataset_file_is_refused_naming_it(case, tmp_path):
    content, suffix, expected = DATA_CASES[case]
    source = _write_input(tmp_path, content, suffix)
    out = tmp_path / "long.parquet"
    with pytest.raises((ValueError, TypeError, pickle.UnpicklingError)) as err:
        run_long_form(source, out)
    message = str(err.value)
    assert str(source) in message, message
    for part in expected:
        assert part in message, (part, message)
    assert not out.exists()
    assert not list(tmp_path.glob(".long.parquet.*"))  # no temporary file left either


def test_an_unknown_domain_level_names_the_valid_ones(tmp_path):
    source = _write_input(tmp_path, GENERIC, ".csv")
    with pytest.raises(ValueError, match=r"domain_level='subject' is not valid.*'family'"):
        run_long_form(source, tmp_path / "long.parquet", domain_level="subject")
    assert not (tmp_path / "long.parquet").exists()


# --------------------------------------------------------------------------------------------
# Latency inputs
# --------------------------------------------------------------------------------------------

LOG_ROW = {"qid": "q1", "model": "m", "ok": True, "latency_s": 1.2}
LATENCY_LOG_CASES = {
    "latency with a unit": (
        [{**LOG_ROW, "latency_s": "1.45s"}],
        ["latency_s", "'1.45s'", "number"],
    ),
    "negative latency": ([{**LOG_ROW, "latency_s": -2}], ["latency_s", "-2", ">= 0"]),
    "no latency column": ([{"qid": "q1", "model": "m", "ok": True}], ["['latency_s']"]),
    "not JSON": ('{"qid": "q1",\n', ["not valid JSON lines"]),
    "empty log": ("", ["missing column(s)", "'latency_s'"]),
}


@pytest.mark.parametrize("case", sorted(LATENCY_LOG_CASES))
def test_a_bad_latency_log_names_the_file_and_the_value(case, tmp_path):
    rows, expected = LATENCY_LOG_CASES[case]
    path = tmp_path / "latency.jsonl"
    path.write_text(rows if isinstance(rows, str) else "".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError) as err:
        read_latency_log(path)
    message = str(err.value)
    assert str(path) in message
    for part in expected:
        assert part in message, (part, message)


LATENCY_CONFIG_CASES = {
    "negative start-up time": (
        "models:\n  m: {t_init_s: -1, speed_tps: 10}\n",
        ["models.m.t_init_s=-1 must be a number > 0"],
    ),
    "wrong parameter names": (
        "models:\n  m: {ttft_s: 1, tps: 10}\n",
        ["models.m must have exactly t_init_s and speed_tps"],
    ),
    "not YAML": ("models: [\n", ["not valid YAML"]),
    "unknown block": (
        "modles:\n  m: {t_init_s: 1, speed_tps: 10}\n",
        ["unknown key(s) ['modles']"],
    ),
}


@pytest.mark.parametrize("case", sorted(LATENCY_CONFIG_CASES))
def test_a_bad_latency_parameter_file_names_the_file_and_key(case, tmp_path):
    text, expected = LATENCY_CONFIG_CASES[case]
    path = tmp_path / "latency.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        load_latency_config(path)
    assert str(path) in str(err.value)
    for part in expected:
        assert part in str(err.value), (part, str(err.value))


def test_latency_of_models_the_dataset_lacks_is_counted_in_a_warning(caplog):
    log = pd.DataFrame(
        {
            "qid": ["a", "a", "a"],
            "model": ["m1", "m2", "ghost"],
            "latency_s": [1.0, 2.0, 3.0],
            "ok": True,
        }
    )
    with caplog.at_level("WARNING"):
        matrix = latency_matrix(["a"], ["m1", "m2"], log, source="lat.jsonl")
    assert matrix.tolist() == [[1.0, 2.0]]
    assert "lat.jsonl: 1 row(s) name models the dataset lacks" in caplog.text
    assert "'ghost'" in caplog.text


# --------------------------------------------------------------------------------------------
# Intermediates: truncated, corrupt or missing files say which and what to do
# --------------------------------------------------------------------------------------------


def _truncated_npz(tmp_path: Path) -> Path:
    path = write_npz({"a": np.arange(100)}, tmp_path / "predictions.npz")
    path.write_bytes(path.read_bytes()[:60])
    return path


def _truncated_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "per_query.parquet"
    GENERIC.to_parquet(path)
    path.write_bytes(path.read_bytes()[:200])
    return path


def _empty_csv(tmp_path: Path) -> Path:
    path = tmp_path / "metrics.csv"
    path.write_text("")
    return path


INTERMEDIATE_CASES = {
    "truncated npz": (lambda p: load_npz(_truncated_npz(p)), "predictions.npz", "delete it"),
    "missing npz": (lambda p: load_npz(p / "features.npz"), "features.npz", "must run first"),
    "truncated parquet": (
        lambda p: read_parquet(_truncated_parquet(p)),
        "per_query.parquet",
        "delete it",
    ),
    "missing parquet": (
        lambda p: read_parquet(p / "split.parquet"),
        "split.parquet",
        "must run first",
    ),
    "parquet without a column": (
        lambda p: read_parquet(_write_parquet(p), ["qid", "lambda_cost"]),
        "missing column(s) ['lambda_cost']",
        "found ['qid'",
    ),
    "empty csv": (lambda p: read_csv(_empty_csv(p)), "metrics.csv", "delete it"),
    "truncated jsonl": (lambda p: read_jsonl(_jsonl(p, '{"a": 1}\n{"a": ')), "s.jsonl", "JSON"),
    "jsonl without a column": (
        lambda p: read_jsonl(_jsonl(p, '{"a": 1}\n'), required=["ts"]),
        "missing column(s) ['ts']",
        "found ['a']",
    ),
    "npz under another suffix": (
        lambda p: write_npz({"a": np.arange(2)}, p / "features.npy"),
        "features.npy",
        "must end in .npz",
    ),
}


def _write_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "x.parquet"
    GENERIC[["qid"]].to_parquet(path)
    return path


def _jsonl(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.jsonl"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(INTERMEDIATE_CASES))
def test_a_bad_intermediate_names_the_file_and_the_way_out(case, tmp_path):
    call, first, second = INTERMEDIATE_CASES[case]
    with pytest.raises((ValueError, OSError)) as err:
        call(tmp_path)
    assert first in str(err.value) and second in str(err.value), str(err.value)


def test_a_file_that_cannot_be_written_is_named(tmp_path):
    (tmp_path / "results").write_text("a file where a folder should be")
    with pytest.raises(OSError, match=r"results/x\.json: cannot create its folder"):
        write_json({"a": 1}, tmp_path / "results" / "x.json")


# --------------------------------------------------------------------------------------------
# Splits, streams, routers of one's own, reports
# --------------------------------------------------------------------------------------------

QUERIES = pd.DataFrame(
    {
        "qid": [f"q{i}" for i in range(10)],
        "domain": ["math"] * 5 + ["code"] * 5,
        "family": ["math"] * 5 + ["code"] * 5,
        "prompt": [f"p{i}" for i in range(10)],
    }
)
SPLIT_CASES = {
    "unknown holdout domain": (
        {"holdout": ["mbpp"]},
        ["experiment 'x'", "holdout domain(s) ['mbpp'] match no domain", "['code', 'math']"],
    ),
    "everything held out": (
        {"holdout": ["math", "code"]},
        ["holdout=['math', 'code'] leaves the train split empty", "hold out fewer domains"],
    ),
    "test fraction too small": (
        {"test_fraction": 0.01},
        ["test_fraction=0.01 leaves the test split empty", "raise test_fraction"],
    ),
}


@pytest.mark.parametrize("case", sorted(SPLIT_CASES))
def test_a_split_that_cannot_be_made_says_why(case):
    kwargs, expected = SPLIT_CASES[case]
    with pytest.raises(ValueError) as err:
        assign_split(QUERIES, experiment="x", **kwargs)
    for part in expected:
        assert part in str(err.value), (part, str(err.value))


@pytest.mark.parametrize("burst", ["12/30", "0@30", "12@-5", "fast"])
def test_a_bad_burst_shows_the_form(burst):
    with pytest.raises(ValueError, match=rf"burst '{burst}' is not valid.*'20@30@120'"):
        parse_bursts([burst])


ROUTER_CASES = {
    "module missing": ("nosuch.mod:Router", "cannot import module 'nosuch.mod'"),
    "class missing": (
        "examples.routers.embedding_threshold:Nope",
        "has no class 'Nope'; its classes: ['EmbeddingThresholdRouter']",
    ),
    "no class part": (
        "examples.routers.embedding_threshold",
        "is not valid; write 'package.module:Class'",
    ),
    "not a router": ("collections:OrderedDict", "lacks ['select_one', 'update_one']"),
}


@pytest.mark.parametrize("case", sorted(ROUTER_CASES))
def test_a_bad_custom_router_names_the_policy_and_what_is_wrong(case):
    class_path, expected = ROUTER_CASES[case]
    with pytest.raises(CustomPolicyError) as err:
        import_class("mine", class_path, ROOT)
    assert f"custom_policies.mine.class='{class_path}'" in str(err.value)
    assert expected in str(err.value)


def test_a_report_of_results_from_another_config_is_refused(tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"config_sha256": "1" * 64}))
    problems = report_mismatches({"ood": (manifest, "2" * 64)})
    assert problems == [
        f"ood: {manifest} was built from config slice 111111111111, this config gives 222222222222"
    ]
