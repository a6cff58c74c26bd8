from __future__ import annotations

import pandas as pd
import pytest

from dacr.io import read_parquet_metadata
from tests.workflow.conftest import ROOT, run_snakemake, write_config

pytestmark = pytest.mark.workflow
LONG = "results/data/routerbench_long.parquet"


@pytest.mark.parametrize("fmt", ["wide", "long"])
def test_demo_data_stage_writes_the_long_form_offline(tmp_path, demo_config, fmt):
    synthetic = {"source": "synthetic", "synthetic": {"n_prompts": 300, "seed": 7, "format": fmt}}
    extra = write_config(tmp_path, {"dataset": synthetic})
    run_snakemake(tmp_path, LONG, "--configfile", demo_config, extra)
    long = pd.read_parquet(tmp_path / LONG)
    meta = read_parquet_metadata(tmp_path / LONG)
    assert meta["dataset"] == "synthetic"
    assert meta["source"]["source"] == "synthetic"
    assert long["model"].nunique() == 11
    assert long.groupby("qid").size().eq(11).all()
    assert "test-match" not in set(long["eval_name"])
    assert (tmp_path / "logs/data/build_long_form.log").read_text().count("rows=") == 1
    assert (tmp_path / "resources/synthetic" / f"routerbench_synthetic_{fmt}.pkl").exists()


def test_file_source_reads_a_real_format_pickle(tmp_path):
    path = ROOT / "tests" / "data" / "routerbench_0shot_7rows.pkl"
    extra = write_config(tmp_path, {"dataset": {"source": "file", "path": str(path)}})
    run_snakemake(tmp_path, LONG, "--configfile", extra)
    long = pd.read_parquet(tmp_path / LONG)
    assert len(long) == 77
    assert read_parquet_metadata(tmp_path / LONG)["dataset"] == "routerbench"


def test_bad_config_value_is_rejected_before_any_job(tmp_path):
    proc = run_snakemake(tmp_path, "-n", "--config", "domain_level=subject", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "config key 'domain_level': 'subject' is not valid; choose one of" in out
    assert "['eval_name', 'family']" in out
    assert len(out.splitlines()) < 40  # one paragraph, not the schema


def test_file_source_without_path_names_the_key(tmp_path):
    proc = run_snakemake(tmp_path, LONG, "-n", "--config", "dataset={source: file}", check=False)
    assert proc.returncode != 0
    assert "config key dataset.path: not set" in proc.stdout + proc.stderr
