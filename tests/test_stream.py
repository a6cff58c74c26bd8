from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dacr.stream import (
    arrival_offsets,
    assign_split,
    build_stream,
    holdout_mask,
    load_multiplier,
    parse_bursts,
    rate_breakpoints,
)


@pytest.fixture
def queries() -> pd.DataFrame:
    domains = (
        ["grade-school-math"] * 40 + ["mbpp"] * 10 + ["mmlu-anatomy"] * 30 + ["hellaswag"] * 20
    )
    return pd.DataFrame(
        {
            "qid": [f"q{i:03d}" for i in range(len(domains))],
            "domain": domains,
            "prompt": [f"prompt {i}" for i in range(len(domains))],
        }
    )


def test_ood_split_holds_out_exactly_the_named_domains(queries):
    split = assign_split(queries, holdout=["grade-school-math", "mbpp"])
    assert (split == "test").sum() == 50
    assert set(queries.loc[split == "test", "domain"]) == {"grade-school-math", "mbpp"}


def test_unknown_holdout_domain_lists_the_available_ones(queries):
    with pytest.raises(ValueError, match=r"experiment 'x': holdout domain\(s\) \['gsm8k'\]") as err:
        assign_split(queries, holdout=["gsm8k"], experiment="x")
    assert "'grade-school-math'" in str(err.value) and "'mbpp'" in str(err.value)


def test_prefix_matching_is_explicit(queries):
    with pytest.raises(ValueError, match="match no domain"):
        holdout_mask(queries["domain"], ["mmlu"], "exact")
    assert holdout_mask(queries["domain"], ["mmlu"], "prefix").sum() == 30


def test_holding_out_everything_is_an_empty_train_error(queries):
    domains = sorted(queries["domain"].unique())
    with pytest.raises(ValueError, match="leaves the train split empty"):
        assign_split(queries, holdout=domains)


def test_iid_split_is_seeded_and_order_independent(queries):
    a = assign_split(queries, test_fraction=0.2, seed=3)
    shuffled = queries.sample(frac=1.0, random_state=1)
    b = pd.Series(assign_split(shuffled, test_fraction=0.2, seed=3), index=shuffled.index)
    assert (a == "test").sum() == 20
    assert (b.sort_index().to_numpy() == a).all()
    assert (assign_split(queries, test_fraction=0.2, seed=4) != a).any()


def test_split_needs_exactly_one_rule(queries):
    with pytest.raises(ValueError, match="exactly one of holdout"):
        assign_split(queries)


def test_bursts_parse_and_reject_bad_values():
    assert parse_bursts(["20@30", "5@2@100"])[1].start_s == 100.0
    assert parse_bursts("20@30,4@1")[1].qps == 4.0
    with pytest.raises(ValueError, match="'20/30' is not valid"):
        parse_bursts(["20/30"])


def test_rate_breakpoints_integrate_the_piecewise_rate():
    t, cum = rate_breakpoints(2.0, parse_bursts(["20@10", "5@4@100"]))
    assert t.tolist() == [0.0, 10.0, 100.0, 104.0]
    assert cum.tolist() == [0.0, 200.0, 380.0, 400.0]


def test_uniform_arrivals_follow_the_burst_shape():
    offsets = arrival_offsets(400, 2.0, parse_bursts(["20@10"]), "uniform")
    assert offsets[199] == pytest.approx(10.0)  # 200 arrivals in the 10 s burst
    assert np.diff(offsets[:200]) == pytest.approx(np.full(199, 0.05))
    assert np.diff(offsets[200:]) == pytest.approx(np.full(199, 0.5))


def test_poisson_arrivals_have_the_configured_rate():
    rng = np.random.default_rng(0)
    offsets = arrival_offsets(20000, 4.0, (), "poisson", rng)
    assert 20000 / offsets[-1] == pytest.approx(4.0, rel=0.03)
    assert (np.diff(offsets) >= 0).all()


def test_lat_mult_rises_in_bursts_and_is_one_below_capacity():
    offsets = arrival_offsets(400, 2.0, parse_bursts(["20@10"]), "uniform")
    mult = load_multiplier(offsets, capacity_qps=4.0, window_s=5.0)
    # Inside the burst: 100 arrivals in 5 s against 20 -> 5x; afterwards 2 qps < 4 -> 1.
    assert mult[150] == pytest.approx(5.0)
    assert (mult[260:] == 1.0).all()
    assert mult.min() >= 1.0


def test_stream_is_deterministic_and_pins_timestamps(queries):
    split = assign_split(queries, holdout=["mbpp", "hellaswag"])
    kwargs = dict(rate_qps=5.0, burst=["10@2"], start_ts=1.7e9, seed=11, time_warp=2.0)
    a = build_stream(queries, split, **kwargs)
    b = build_stream(queries, split, **kwargs)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 30 and set(a["split"]) == {"test"}
    assert a["ts"].to_numpy() == pytest.approx(1.7e9 + a["offset_s"].to_numpy() / 2.0)
    c = build_stream(queries, split, **{**kwargs, "seed": 12})
    assert not a["qid"].equals(c["qid"])


def test_stream_options_train_all_grouped_and_max_queries(queries):
    split = assign_split(queries, holdout=["mbpp"])
    train = build_stream(queries, split, which="train", start_ts=0.0)
    assert set(train["split"]) == {"train"} and len(train) == 90
    everything = build_stream(queries, split, which="all", order="grouped", max_queries=15)
    assert len(everything) == 15
    assert everything["domain"].tolist() == ["grade-school-math"] * 15
    with pytest.raises(ValueError, match="stream.split='dev' is not valid"):
        build_stream(queries, split, which="dev")
