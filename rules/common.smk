# Helpers for every stage: input and params functions (get_*) and path formatting.
import json
import re

import dacr

LONG_FORM = "results/data/routerbench_long.parquet"


def get_experiment_pattern():
    """Regex alternation of the configured experiment names (the {experiment} wildcard)."""
    names = sorted(config["experiments"])
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


def get_final_outputs():
    """Targets of the default target (all)."""
    return [LONG_FORM]


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
    if not ds.get("path"):
        raise ValueError(
            "config dataset.source is 'file' but dataset.path is not set; "
            "give a .pkl in a RouterBench layout or a long .parquet"
        )
    return ds["path"]


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


def get_dacr_version():
    """dacr's version: a params entry, so a library upgrade reruns what it computes."""
    return dacr.__version__
