from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from dacr.io import read_parquet_metadata
from dacr.routerbench import (
    LONG_COLUMNS,
    detect_schema,
    parse_text,
    run_long_form,
    to_long,
)
from tests.conftest import DATA, joined

MODELS = 11


def _row(long: pd.DataFrame, qid: str, model: str) -> pd.Series:
    hit = long[(long["qid"] == qid) & (long["model"] == model)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_seven_real_rows_give_hand_computed_long_values(real_csv, real_wide, tmp_path):
    path = tmp_path / "routerbench_0shot.pkl"
    real_wide.to_pickle(path)
    long = run_long_form(path, tmp_path / "long.parquet")

    assert list(long.columns) == list(LONG_COLUMNS)
    assert len(long) == 7 * MODELS
    csv_row = real_csv.set_index("sample_id").loc["mbpp.dev.325"]
    got = _row(long, "mbpp.dev.325", "gpt-4-1106-preview")
    assert got["quality"] == float(csv_row["gpt-4-1106-preview"])
    assert got["cost"] == float(csv_row["gpt-4-1106-preview|total_cost"])
    assert got["prompt"] == "Write a function to compute the n-th power of each number in a list."
    assert got["response"] == joined(csv_row["gpt-4-1106-preview|model_response"])
    assert got["domain"] == "mbpp" and got["family"] == "mbpp"
    assert got["prompt_chars"] == len(got["prompt"])
    # Per-model mean quality over the seven rows, as computed from the CSV directly.
    for model in ("claude-v1", "mistralai/mistral-7b-chat", "WizardLM/WizardLM-13B-V1.2"):
        expected = real_csv[model].astype(float).mean()
        assert long.loc[long["model"] == model, "quality"].mean() == pytest.approx(expected)
    # Total cost per model equals the CSV's cost column sum.
    expected_cost = real_csv["claude-v2|total_cost"].sum()
    assert long.loc[long["model"] == "claude-v2", "cost"].sum() == pytest.approx(expected_cost)


def test_oracle_column_agrees_with_cheapest_correct_model(real_csv):
    long = to_long(real_csv)
    for qid, oracle in zip(
        real_csv["sample_id"], real_csv["oracle_model_to_route_to"], strict=True
    ):
        rows = long[long["qid"] == qid]
        best = rows[rows["quality"] == rows["quality"].max()]
        assert best.loc[best["cost"].idxmin(), "model"] == oracle


def test_raw_layout_gives_the_same_long_form_as_wide():
    wide = to_long(pd.read_pickle(DATA / "routerbench_0shot_7rows.pkl"))
    raw = to_long(pd.read_pickle(DATA / "routerbench_raw_7rows.pkl"))
    pd.testing.assert_frame_equal(wide, raw)


def test_long_parquet_is_accepted_as_input(tmp_path):
    first = run_long_form(DATA / "routerbench_raw_7rows.pkl", tmp_path / "a.parquet")
    second = run_long_form(tmp_path / "a.parquet", tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(first, second)


def test_schemas_are_detected(real_csv):
    assert detect_schema(real_csv) == "wide"
    assert detect_schema(pd.read_pickle(DATA / "routerbench_raw_7rows.pkl")) == "raw"
    with pytest.raises(ValueError, match="matches no dataset layout"):
        detect_schema(pd.DataFrame({"a": [1]}))


def test_family_domain_level_maps_mmlu_subjects(real_csv):
    long = to_long(real_csv, domain_level="family")
    assert set(long["domain"]) == {"mmlu", "mbpp", "hellaswag", "chinese"}
    with pytest.raises(ValueError, match=r"domain_level='subject'.*eval_name"):
        to_long(real_csv, domain_level="subject")


def test_parse_text_joins_lists_and_keeps_other_values():
    out = parse_text(pd.Series(["['a', 'b']", "plain", "[not a list", "['x']", None]))
    assert out[:4].tolist() == ["a\nb", "plain", "[not a list", "x"]
    assert pd.isna(out[4])


def test_parse_text_handles_the_real_files_unescaped_quotes(real_csv):
    prompt = real_csv.set_index("sample_id").loc["hellaswag.val.5145", "prompt"]
    text = parse_text(pd.Series([prompt]))[0]
    assert text.startswith("[header] How to make lavender breath freshener")
    assert "Farmer's markets are another great source.\nA) These" in text
    assert text.endswith("without explanation.\nAnswer:")
    loose = parse_text(pd.Series(["['it's', 'b\\'s']"]))[0]
    assert loose == "it's\nb's"


def test_test_match_rows_are_dropped(real_csv, caplog):
    df = pd.concat([real_csv, real_csv.iloc[[0]].assign(sample_id="t.0", eval_name="test-match")])
    with caplog.at_level(logging.INFO):
        long = to_long(df)
    assert "test-match" not in set(long["eval_name"])
    assert long["qid"].nunique() == 7
    assert "dropped 11 'test-match' smoke rows" in caplog.text


def test_nan_scores_are_dropped_per_pair_with_a_logged_count(real_wide, caplog):
    df = real_wide.copy()
    df.loc[0, "claude-v2"] = np.nan
    df.loc[1, "claude-v2"] = np.nan
    with caplog.at_level(logging.WARNING):
        long = to_long(df)
    assert len(long) == 7 * MODELS - 2
    assert "dropped 2 (qid, model) rows with no score" in caplog.text
    assert (long["quality"].notna()).all()


def test_missing_column_is_named(real_csv):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['claude-v2\|total_cost'\]"):
        to_long(real_csv.drop(columns=["claude-v2|total_cost"]))
    raw = pd.read_pickle(DATA / "routerbench_raw_7rows.pkl")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['cost'\]"):
        to_long(raw.drop(columns=["cost"]).assign(model_response="x"))


def test_non_numeric_score_names_column_and_value(real_csv):
    df = real_csv.astype({"claude-v1": object})
    df.loc[3, "claude-v1"] = "correct"
    msg = r"column 'claude-v1': 1 value\(s\) are not numbers, e.g. 'correct'"
    with pytest.raises(ValueError, match=msg):
        to_long(df)


def test_out_of_range_quality_and_negative_cost_are_errors(real_csv):
    df = real_csv.copy()
    df.loc[2, "claude-v1"] = 1.5
    with pytest.raises(ValueError, match=r"quality must lie in \[0, 1\].*quality=1\.5"):
        to_long(df)
    df = real_csv.copy()
    df.loc[2, "claude-v1|total_cost"] = -0.01
    with pytest.raises(ValueError, match=r"cost must be a finite number >= 0.*cost=-0\.01"):
        to_long(df)


def test_identical_duplicates_are_dropped_and_conflicting_ones_refused():
    raw = pd.read_pickle(DATA / "routerbench_raw_7rows.pkl")
    doubled = pd.concat([raw, raw.iloc[:3]], ignore_index=True)
    assert len(to_long(doubled)) == 77
    conflict = doubled.copy()
    conflict.loc[len(conflict) - 1, "performance"] = "0.5"
    with pytest.raises(ValueError, match="duplicate \\(qid, model\\) rows disagree"):
        to_long(conflict)


def test_empty_table_and_non_dataframe_are_errors(real_csv):
    with pytest.raises(ValueError, match="has no rows"):
        to_long(real_csv.iloc[:0])
    with pytest.raises(TypeError, match="expected a pandas DataFrame, got dict"):
        to_long({"sample_id": []})


def test_metadata_records_dataset_and_source(tmp_path):
    run_long_form(
        DATA / "routerbench_raw_7rows.pkl",
        tmp_path / "long.parquet",
        source={"source": "file"},
    )
    meta = read_parquet_metadata(tmp_path / "long.parquet")
    assert meta["dataset"] == "routerbench"
    assert meta["rows"] == 77 and meta["qids"] == 7
    assert meta["source"] == {"source": "file"}
    assert len(meta["input_sha256"]) == 64


def test_synthetic_marker_in_the_file_wins_over_the_label(tmp_path):
    df = pd.read_pickle(DATA / "routerbench_raw_7rows.pkl")
    df.attrs["dacr_dataset"] = "synthetic"
    df.to_pickle(tmp_path / "synth.pkl")
    run_long_form(tmp_path / "synth.pkl", tmp_path / "a.parquet", dataset="routerbench")
    assert read_parquet_metadata(tmp_path / "a.parquet")["dataset"] == "synthetic"
    run_long_form(tmp_path / "a.parquet", tmp_path / "b.parquet", dataset="routerbench")
    assert read_parquet_metadata(tmp_path / "b.parquet")["dataset"] == "synthetic"
