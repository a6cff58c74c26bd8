from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dacr.evaluate import summarize
from dacr.io import write_parquet
from dacr.routerbench import to_long
from dacr.splits import load_splits, split_matrices, strong_and_weak
from dacr.stream import run_stream
from dacr.synth import generate_wide


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    base = tmp_path_factory.mktemp("eval")
    long = to_long(generate_wide(400, seed=5))
    write_parquet(long, base / "long.parquet", metadata={"dataset": "synthetic"})
    run_stream(
        base / "long.parquet",
        base / "stream.jsonl",
        base / "split.parquet",
        experiment="e",
        holdout=["hellaswag"],
        test_fraction=None,
        holdout_match="exact",
        seed=1,
        stream={"start_ts": 0.0},
    )
    return base


def test_load_splits_gives_stream_order_and_disjoint_splits(files):
    train, test, events, models = load_splits(
        files / "long.parquet", files / "split.parquet", files / "stream.jsonl", "e"
    )
    assert list(test.qids) == events["qid"].tolist()
    assert not set(train.qids) & set(test.qids)
    assert set(test.domains) == {"hellaswag"}
    assert train.quality.shape == (len(train.qids), 11) and len(models) == 11


def test_a_test_qid_in_train_is_refused(files, tmp_path):
    split = pd.read_parquet(files / "split.parquet")
    first_test = pd.read_json(files / "stream.jsonl", lines=True)["qid"].iloc[0]
    split.loc[split["qid"] == first_test, "split"] = "train"
    split.to_parquet(tmp_path / "split.parquet")
    with pytest.raises(ValueError, match="1 test qids are also in train"):
        load_splits(files / "long.parquet", tmp_path / "split.parquet", files / "stream.jsonl", "e")


def test_llm_labels_replace_the_test_domains(files, tmp_path):
    rows = [json.loads(line) for line in (files / "stream.jsonl").read_text().splitlines()]
    for i, row in enumerate(rows):
        row["llm_domain"] = "commonsense" if i % 2 else "reasoning"
    labelled = tmp_path / "stream_labeled.jsonl"
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, test, _, _ = load_splits(
        files / "long.parquet", files / "split.parquet", labelled, "e", domain_labels="llm"
    )
    assert set(test.domains) == {"commonsense", "reasoning"}
    with pytest.raises(ValueError, match="has no llm_domain column"):
        load_splits(
            files / "long.parquet", files / "split.parquet", files / "stream.jsonl", "e", "llm"
        )


def test_a_model_missing_for_a_query_is_an_error(files):
    long = pd.read_parquet(files / "long.parquet").astype({"qid": str, "model": str})
    qids = long["qid"].unique()[:3]
    models = sorted(long["model"].unique())
    gap = long.drop(long[(long["qid"] == qids[1]) & (long["model"] == models[0])].index)
    with pytest.raises(ValueError, match=r"1 \(qid, model\) pairs have no quality"):
        split_matrices(gap, qids, models, "train")


def test_strong_weak_and_cost_order_by_hand():
    from dacr.splits import SplitMatrices

    q = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])  # means 1.0, 0.5, 0.5
    c = np.array([[3.0, 1.0, 2.0], [3.0, 1.0, 2.0]])
    split = SplitMatrices(np.array(["a", "b"]), np.array(["d", "d"]), np.array(["", ""]), q, c)
    strong, weak, order = strong_and_weak(split)
    assert (strong, weak) == (0, 1)
    assert order.tolist() == [1, 2, 0]


def test_summarize_by_hand():
    per_query = pd.DataFrame(
        {
            "policy": ["a", "a", "b"],
            "lambda_cost": [np.nan, np.nan, 1.0],
            "quality": [1.0, 0.0, 0.5],
            "cost": [0.1, 0.3, 0.2],
            "latency_s": [1.0, 3.0, 2.0],
            "slo_violation": [0.0, 1.0, 0.0],
        }
    )
    out = summarize(per_query, ["policy", "lambda_cost"]).set_index("policy")
    assert out.loc["a", "n"] == 2
    assert out.loc["a", "mean_quality"] == 0.5
    assert out.loc["a", "total_cost"] == pytest.approx(0.4)
    assert out.loc["a", "p50_latency_s"] == 2.0
    assert out.loc["a", "slo_violation_rate"] == 0.5
    assert np.isnan(out.loc["a", "lambda_cost"]) and out.loc["b", "lambda_cost"] == 1.0
