"""Known-answer tests of the synthetic RouterBench (dacr.synth) against the real file formats."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from dacr import synth
from dacr.profile import eval_counts, family_of, load_profile, model_ids

DATA = Path(__file__).parent / "data"
REAL_WIDE = DATA / "routerbench_0shot_7rows.pkl"
REAL_RAW = DATA / "routerbench_raw_7rows.pkl"
N_REAL = 36497
PROFILE = load_profile()
LAYOUT = PROFILE["wide_columns_0shot"]

# Tolerances of the statistical checks (fixed seeds, so every check is a known answer).
TOL_OVERALL = 0.03  # per-model overall accuracy, absolute
TOL_MC = 0.04  # multiple-choice aggregate vs the profile's 2-decimal estimate, absolute
TOL_GSM_MBPP = 0.08  # GSM8K (~2,400 rows) and MBPP (~140 rows) per-model accuracy, absolute
TOL_COST = 0.35  # mean cost per query, relative
TOL_FRACTIONAL = 0.03  # share of score cells strictly between 0 and 1, absolute
MIN_CORRELATION = 0.1  # mean pairwise correlation of binary scores
MIN_AUC = 0.6  # bag-of-words prediction of gpt-4 correctness (the generator gives ~0.7)


def _cost_cols(models: list[str]) -> list[str]:
    return [m + LAYOUT["cost_suffix"] for m in models]


def _binary_rows(wide: pd.DataFrame) -> np.ndarray:
    fractional = PROFILE["fractional_score_evals_0shot"]["evals"]
    return ~wide["eval_name"].isin(fractional).to_numpy()


@pytest.fixture(scope="module")
def real_wide() -> pd.DataFrame:
    return pd.read_pickle(REAL_WIDE)


@pytest.fixture(scope="module")
def wide_12k() -> pd.DataFrame:
    return synth.generate_wide(12000, seed=11)


@pytest.fixture(scope="module")
def scores_12k(wide_12k: pd.DataFrame) -> np.ndarray:
    return wide_12k[model_ids()].to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def wide_small() -> pd.DataFrame:
    return synth.generate_wide(600, seed=3)


# --- layout ------------------------------------------------------------------------------------
def test_wide_columns_and_dtypes_equal_the_real_sample(wide_small, real_wide):
    assert list(wide_small.columns) == list(real_wide.columns)
    assert wide_small.dtypes.equals(real_wide.dtypes)
    assert wide_small.columns.dtype == real_wide.columns.dtype
    assert isinstance(wide_small.index, pd.RangeIndex)
    assert wide_small.index.equals(pd.RangeIndex(len(wide_small)))


def test_score_cells_are_python_floats_like_the_real_file(wide_small, real_wide):
    for frame in (wide_small, real_wide):
        cells = frame[model_ids()].to_numpy().ravel()
        assert {type(v) for v in cells} == {float}


def test_prompts_and_responses_are_list_reprs_of_str(wide_small):
    resp_cols = [m + LAYOUT["response_suffix"] for m in model_ids()]
    for text in [*wide_small["prompt"], *wide_small[resp_cols].to_numpy().ravel()]:
        parsed = ast.literal_eval(text)
        assert isinstance(parsed, list)
        assert all(isinstance(part, str) for part in parsed)
        assert str(parsed) == text


def test_sample_ids_follow_the_real_pattern_and_are_unique(wide_small):
    parts = wide_small["sample_id"].str.rsplit(".", n=2, expand=True)
    assert (parts[0] == wide_small["eval_name"]).all()
    assert set(parts[1]) <= {"val", "dev"}
    assert parts[2].str.fullmatch(r"\d+").all()
    assert wide_small["sample_id"].is_unique
    assert "mmlu-" in "".join(wide_small["sample_id"])


# --- eval allocation ---------------------------------------------------------------------------
def _real_counts() -> dict[str, int]:
    counts = dict(eval_counts())  # real eval names, MMLU subjects prefixed
    counts[synth.TEST_MATCH] = 3
    return counts


def test_allocation_at_real_size_reproduces_the_real_counts():
    alloc = synth.allocate_eval_counts(N_REAL)
    assert alloc == _real_counts()
    assert len(alloc) == 86


@pytest.mark.parametrize("n_prompts", [100, 257, 3000, 12000])
def test_allocation_sums_to_n_and_keeps_a_test_match_row(n_prompts):
    alloc = synth.allocate_eval_counts(n_prompts)
    assert sum(alloc.values()) == n_prompts
    assert alloc[synth.TEST_MATCH] >= 1


def test_allocation_below_100_prompts_does_not_force_test_match():
    assert synth.allocate_eval_counts(99)[synth.TEST_MATCH] == 0


def test_full_size_generation_has_the_real_shape_and_eval_counts():
    wide = synth.generate_wide(N_REAL, seed=0)
    assert wide.shape == (N_REAL, 37)
    assert wide["eval_name"].value_counts().to_dict() == _real_counts()


# --- marginals ---------------------------------------------------------------------------------
def test_overall_accuracy_per_model_matches_profile(scores_12k):
    target = np.array([PROFILE["accuracy_0shot"]["overall_mean"][m] for m in model_ids()])
    np.testing.assert_allclose(scores_12k.mean(axis=0), target, atol=TOL_OVERALL)


@pytest.mark.parametrize("eval_name", ["grade-school-math", "mbpp"])
def test_gsm_and_mbpp_accuracy_per_model_match_profile(wide_12k, scores_12k, eval_name):
    rows = (wide_12k["eval_name"] == eval_name).to_numpy()
    target = np.array([PROFILE["accuracy_0shot"][eval_name][m] for m in model_ids()])
    np.testing.assert_allclose(scores_12k[rows].mean(axis=0), target, atol=TOL_GSM_MBPP)


def test_multiple_choice_accuracy_matches_profile_estimate(wide_12k, scores_12k):
    fams = ("mmlu", "hellaswag", "winogrande", "arc-challenge")
    rows = wide_12k["eval_name"].map(family_of).isin(fams).to_numpy()
    estimate = PROFILE["accuracy_0shot"]["mc_aggregate_mmlu_hellaswag_winogrande_arc"]
    target = np.array([estimate[m] for m in model_ids()])
    np.testing.assert_allclose(scores_12k[rows].mean(axis=0), target, atol=TOL_MC)


def test_mean_cost_per_model_matches_profile(wide_12k):
    target = np.array([PROFILE["cost_0shot"]["mean_usd_per_query"][m] for m in model_ids()])
    mean_cost = wide_12k[_cost_cols(model_ids())].mean().to_numpy()
    np.testing.assert_allclose(mean_cost, target, rtol=TOL_COST)


def test_cost_follows_prices_and_token_counts(wide_small):
    # Known answer: a one-letter MC answer is 1 token, so cost = (prompt_tokens * p_in + p_out).
    rows = (wide_small["gpt-4-1106-preview|model_response"] == "['A']").to_numpy()
    prompt_chars = wide_small.loc[rows, "prompt"].map(lambda s: len(ast.literal_eval(s)[0]))
    tokens = np.ceil(prompt_chars.to_numpy() / synth.CHARS_PER_TOKEN)
    expected = (tokens * 10.0 + 1 * 30.0) / 1e6
    np.testing.assert_allclose(wide_small.loc[rows, "gpt-4-1106-preview|total_cost"], expected)


def test_share_of_fractional_cells_matches_profile(scores_12k):
    share = np.mean((scores_12k > 0) & (scores_12k < 1))
    target = PROFILE["fractional_score_evals_0shot"]["fraction_of_cells"]
    assert abs(share - target) <= TOL_FRACTIONAL


def test_score_grids_per_eval(wide_12k, scores_12k):
    evals = wide_12k["eval_name"]
    gsm = scores_12k[(evals == "grade-school-math").to_numpy()]
    assert set(np.unique(gsm)) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    mtbench = scores_12k[evals.str.startswith("mtbench").to_numpy()]
    assert mtbench.size > 0
    np.testing.assert_allclose(mtbench * 10, np.rint(mtbench * 10), atol=1e-12)
    binary = scores_12k[_binary_rows(wide_12k)]
    assert set(np.unique(binary)) == {0.0, 1.0}


# --- oracle ------------------------------------------------------------------------------------
def test_oracle_rule_reproduces_the_real_rows(real_wide):
    scores = real_wide[model_ids()].to_numpy(dtype=np.float64)
    costs = real_wide[_cost_cols(model_ids())].to_numpy()
    labels = synth.oracle_labels(scores, costs)
    assert list(labels) == list(real_wide["oracle_model_to_route_to"])


def test_oracle_column_is_the_cheapest_model_with_the_top_score(wide_12k):
    scores = wide_12k[model_ids()].astype(np.float64)
    costs = wide_12k[_cost_cols(model_ids())].set_axis(model_ids(), axis=1)
    is_top = scores.eq(scores.max(axis=1), axis=0)
    cheapest = costs.where(is_top).idxmin(axis=1)
    expected = cheapest.where(scores.max(axis=1) > 0, "no_model_correct")
    assert wide_12k["oracle_model_to_route_to"].tolist() == expected.tolist()
    assert (wide_12k["oracle_model_to_route_to"] == "no_model_correct").sum() > 0


# --- determinism and options -------------------------------------------------------------------
def test_same_seed_gives_identical_frame_and_pickle_bytes(wide_small):
    again = synth.generate_wide(600, seed=3)
    assert again.equals(wide_small)
    assert pickle.dumps(again, protocol=5) == pickle.dumps(wide_small, protocol=5)


def test_different_seed_gives_a_different_frame(wide_small):
    assert not synth.generate_wide(600, seed=4).equals(wide_small)


def test_family_subset_keeps_only_those_families():
    wide = synth.generate_wide(500, seed=1, families=["mbpp", "grade-school-math"])
    assert len(wide) == 500
    assert set(wide["eval_name"].map(family_of)) == {"mbpp", "grade-school-math"}


def test_family_subset_with_test_match_keeps_smoke_rows():
    wide = synth.generate_wide(300, seed=1, families=["chinese", "test-match"])
    assert set(wide["eval_name"].map(family_of)) == {"chinese", "test-match"}


def test_unknown_family_raises_naming_it():
    with pytest.raises(ValueError, match="astrology") as err:
        synth.generate_wide(200, seed=1, families=["mmlu", "astrology"])
    assert "grade-school-math" in str(err.value)


@pytest.mark.parametrize("bad", [{"n_prompts": 0, "seed": 1}, {"n_prompts": 10, "seed": -1}])
def test_bad_size_or_seed_raises(bad):
    with pytest.raises(ValueError):
        synth.generate_wide(**bad)


# --- signal for routers ------------------------------------------------------------------------
def test_models_are_positively_correlated(wide_12k, scores_12k):
    binary = scores_12k[_binary_rows(wide_12k)]
    corr = np.corrcoef(binary.T)
    assert corr[np.triu_indices_from(corr, k=1)].mean() > MIN_CORRELATION


def test_prompt_text_predicts_gpt4_correctness(wide_12k, scores_12k):
    rows = _binary_rows(wide_12k)
    prompts = wide_12k.loc[rows, "prompt"].to_numpy()
    correct = scores_12k[rows, model_ids().index("gpt-4-1106-preview")].astype(int)
    half = prompts.size // 2
    model = make_pipeline(CountVectorizer(), LogisticRegression(max_iter=2000))
    model.fit(prompts[:half], correct[:half])
    auc = roc_auc_score(correct[half:], model.predict_proba(prompts[half:])[:, 1])
    assert auc >= MIN_AUC


# --- long layout and writing -------------------------------------------------------------------
def test_wide_to_raw_reproduces_the_real_raw_sample(real_wide):
    assert synth.wide_to_raw(real_wide).equals(pd.read_pickle(REAL_RAW))


def test_wide_to_raw_round_trips_scores_and_costs(wide_small):
    raw = synth.wide_to_raw(wide_small)
    real_raw = pd.read_pickle(REAL_RAW)
    n_models = len(model_ids())
    assert list(raw.columns) == list(real_raw.columns)
    assert raw.dtypes.equals(real_raw.dtypes)
    assert len(raw) == n_models * len(wide_small)
    assert raw["index"].tolist() == list(range(len(raw)))
    assert (raw.groupby("sample_id", sort=False).size() == n_models).all()
    assert raw["model_name"].tolist()[:n_models] == LAYOUT["score_cols"]
    assert {type(v) for v in raw["performance"]} == {str}
    wide_scores = wide_small[LAYOUT["score_cols"]].to_numpy(dtype=np.float64).ravel()
    np.testing.assert_array_equal(raw["performance"].astype(float).to_numpy(), wide_scores)
    wide_costs = wide_small[_cost_cols(LAYOUT["score_cols"])].to_numpy().ravel()
    np.testing.assert_array_equal(raw["cost"].to_numpy(), wide_costs)


def test_wide_to_raw_rejects_a_frame_without_the_wide_columns():
    with pytest.raises(ValueError, match="missing columns"):
        synth.wide_to_raw(pd.DataFrame({"sample_id": ["a"]}))


@pytest.mark.parametrize(("fmt", "n_cols"), [("wide", 37), ("long", 8)])
def test_write_synthetic_writes_a_loadable_pickle(tmp_path, fmt, n_cols):
    out = synth.write_synthetic(tmp_path / "sub" / f"rb_{fmt}.pkl", 150, seed=5, fmt=fmt)
    assert out == tmp_path / "sub" / f"rb_{fmt}.pkl"
    frame = pd.read_pickle(out)
    assert frame.shape[1] == n_cols
    assert len(frame) == 150 * (1 if fmt == "wide" else len(model_ids()))
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary left behind


def test_write_synthetic_rejects_an_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="parquet") as err:
        synth.write_synthetic(tmp_path / "x.pkl", 150, seed=5, fmt="parquet")
    assert "wide" in str(err.value)
    assert "long" in str(err.value)
    assert not (tmp_path / "x.pkl").exists()
