from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.workflow.conftest import run_snakemake

pytestmark = pytest.mark.workflow
EXP = "ood_gsm_mbpp"


def test_demo_stream_and_simulated_latency(tmp_path, demo_config):
    target = f"results/{EXP}/latency_eff.jsonl"
    run_snakemake(tmp_path, target, "--configfile", demo_config)
    base = tmp_path / "results" / EXP
    stream = pd.read_json(base / "stream.jsonl", lines=True)
    split = pd.read_parquet(base / "split.parquet")
    eff = pd.read_json(base / "latency_eff.jsonl", lines=True, dtype={"qid": str})
    raw = pd.read_json(base / "latency_base.jsonl", lines=True, dtype={"qid": str})
    assert set(stream["domain"]) == {"grade-school-math", "mbpp"}
    assert set(stream["split"]) == {"test"}
    assert (np.diff(stream["ts"]) >= 0).all()
    # The config's burst (12 qps for 30 s from t=60 s, capacity 4 qps) triples latency.
    in_burst = stream["offset_s"].between(70, 88)
    assert stream.loc[in_burst, "lat_mult"].median() >= 2.7  # Poisson arrivals: ~3 +- noise
    assert stream.loc[in_burst, "lat_mult"].min() >= 2.0
    assert stream.loc[stream["offset_s"] < 55, "lat_mult"].max() < 1.5
    # Every (qid, model) of the stream and of the train split, 11 models each.
    wanted = set(stream["qid"].astype(str)) | set(split.loc[split["split"] == "train", "qid"])
    assert set(eff["qid"]) == wanted and len(eff) == 11 * len(wanted)
    merged = eff.merge(raw, on=["qid", "model"], suffixes=("_eff", "_base"))
    ratio = merged["latency_s_eff"] / merged["latency_s_base"]
    assert np.allclose(ratio, merged["lat_mult"])
    assert (raw["latency_s"] > 0).all()
