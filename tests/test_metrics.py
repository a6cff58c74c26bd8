from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dacr.calibration_scores import ece
from dacr.metrics import (
    ZERO_ROUTER,
    Mean,
    Quantile,
    aiq_code,
    aiq_paper,
    aiq_table,
    apgr,
    bootstrap_aiq,
    bootstrap_ci,
    cpt,
    frontier_distance,
    holm,
    ndch,
    paired_bootstrap,
    pareto_frontier,
    pgr,
    reliability_curve,
    reliability_table,
    resample_counts,
    router_curves,
)
from dacr.metrics.bootstrap_aiq import _aiq_from_points

# ---------------------------------------------------------------------------------------------
# RouterBench's published AIQ, restated as a slow reference (O(n^3)).
#
# get_non_descreasing_convex_hull_of: sort by cost; every point strictly between two others is
# lifted onto the highest chord spanning it (a point below a chord is replaced by the chord's
# value -- the same area as dropping it); the cheapest point is kept as is; the most expensive
# point is kept if it is not lower than the last interior point; then every point lower than its
# predecessor is removed. calc_AIQ: c_max is the largest cost over the compared routers' hulls,
# each hull is extended flat to c_max, and AIQ = trapezoid area / c_max.
# Deviations, both where the published code is undefined: (1) of points with equal cost the best
# one is used (the code lifts interior duplicates to their best, but at the two end costs keeps
# whichever np.argsort puts first); (2) with fewer than three distinct costs the code raises
# IndexError -- here the last point is compared with the first instead.
# ---------------------------------------------------------------------------------------------


def _reference_hull(cost, quality):
    best = {}
    for c, q in zip(cost, quality, strict=True):
        best[c] = max(best.get(c, -np.inf), q)
    xs = sorted(best)
    ys = [best[x] for x in xs]
    n = len(xs)
    curve = [(xs[0], ys[0])]
    for k in range(1, n - 1):
        value = ys[k]
        for i in range(k):
            for j in range(k + 1, n):
                chord = ys[i] + (ys[j] - ys[i]) * (xs[k] - xs[i]) / (xs[j] - xs[i])
                value = max(value, chord)
        curve.append((xs[k], value))
    if n > 1 and ys[-1] >= curve[-1][1]:
        curve.append((xs[-1], ys[-1]))
    keep = [0] + [i for i in range(1, len(curve)) if curve[i][1] >= curve[i - 1][1]]
    return [curve[i] for i in keep]


def _reference_aiq(curves):
    hulls = [_reference_hull(c, q) for c, q in curves]
    c_max = max(h[-1][0] for h in hulls)
    out = []
    for h in hulls:
        h = [*h, (c_max, h[-1][1])]
        area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(h, h[1:], strict=False))
        out.append(area / c_max)
    return out, c_max


def _random_curve(rng):
    m = int(rng.integers(1, 13))
    kind = rng.integers(3)
    if kind == 0:  # continuous
        cost = rng.uniform(0.01, 5.0, m)
    elif kind == 1:  # a coarse grid: duplicate costs
        cost = rng.integers(1, 6, m) * 0.5
    else:  # a log grid like a lambda sweep
        cost = np.exp(rng.uniform(-6, 1, m))
    if rng.uniform() < 0.3:  # collinear points
        quality = 0.2 + 0.1 * cost
    else:
        quality = np.sort(rng.uniform(0, 1, m)) if rng.uniform() < 0.5 else rng.uniform(0, 1, m)
    if rng.uniform() < 0.2:  # duplicate qualities
        quality = np.round(quality, 1)
    return cost, quality


def test_aiq_code_agrees_with_routerbench_reference_on_random_point_sets():
    rng = np.random.default_rng(2024)
    for _ in range(200):
        curves = [_random_curve(rng) for _ in range(int(rng.integers(1, 4)))]
        expected, c_max = _reference_aiq(curves)
        table = aiq_table({f"r{i}": c for i, c in enumerate(curves)})
        assert table["c_max"].iloc[0] == pytest.approx(c_max, abs=1e-12)
        np.testing.assert_allclose(table["aiq_code"], expected, rtol=0, atol=1e-9)


def test_vectorised_bootstrap_aiq_equals_scalar_aiq_on_random_point_sets():
    rng = np.random.default_rng(7)
    for _ in range(50):
        m1, m2 = (int(v) for v in rng.integers(1, 9, 2))
        b = 3
        cost = np.concatenate(
            [rng.integers(1, 6, (b, m1)) * 0.5, rng.uniform(0.1, 3, (b, m2))], axis=1
        )
        quality = rng.uniform(0, 1, (b, m1 + m2))
        routers = {"a": np.arange(m1), "b": np.arange(m1, m1 + m2)}
        got = _aiq_from_points(cost, quality, routers, None, None, max_cells=1 << 16)
        for r in range(b):
            table = aiq_table({k: (cost[r, v], quality[r, v]) for k, v in routers.items()})
            for i, k in enumerate(routers):
                assert got[f"{k}/aiq_code"][r] == pytest.approx(table["aiq_code"][i], abs=1e-12)
                assert got[f"{k}/aiq_paper"][r] == pytest.approx(table["aiq_paper"][i], abs=1e-12)


# ---------------------------------------------------------------------------------------------
# NDCH and AIQ by hand
# ---------------------------------------------------------------------------------------------

COST = [1.0, 2.0, 3.0]
QUALITY = [0.2, 0.6, 0.7]  # concave; area on [1, 4] flat after 3: 0.4 + 0.65 + 0.7 = 1.75


def test_ndch_keeps_a_concave_curve():
    ch, qh = ndch(COST, QUALITY)
    np.testing.assert_array_equal(ch, COST)
    np.testing.assert_array_equal(qh, QUALITY)


def test_ndch_drops_collinear_dominated_falling_and_duplicate_points():
    cost = [3.5, 1.5, 2.5, *COST, 2.0, 1.0]
    quality = [0.65, 0.4, 0.5, *QUALITY, 0.1, 0.0]  # collinear, below, falling, duplicates
    ch, qh = ndch(cost, quality)
    np.testing.assert_array_equal(ch, COST)
    np.testing.assert_array_equal(qh, QUALITY)


def test_ndch_keeps_both_ends_of_a_flat_top():
    ch, qh = ndch([0, 1, 2, 3], [0, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(ch, [0, 1, 3])
    np.testing.assert_array_equal(qh, [0, 0.5, 0.5])


def test_ndch_of_a_falling_curve_is_its_cheapest_best_point():
    ch, qh = ndch([0, 1, 2, 0], [0.8, 0.5, 0.1, 1.0])
    np.testing.assert_array_equal(ch, [0])
    np.testing.assert_array_equal(qh, [1.0])


def test_ndch_rejects_nan_naming_it():
    with pytest.raises(ValueError, match=r"quality\[1\] = nan"):
        ndch([1, 2], [0.5, np.nan])
    with pytest.raises(ValueError, match="no points"):
        ndch([], [])


def test_aiq_by_hand_both_normalisations():
    assert aiq_code(COST, QUALITY, c_max=4) == pytest.approx(1.75 / 4)
    assert aiq_paper(COST, QUALITY, c_min=1, c_max=4) == pytest.approx(1.75 / 3)
    # a range starting below the router's cheapest point counts zero quality there
    assert aiq_paper(COST, QUALITY, c_min=0, c_max=4) == pytest.approx(1.75 / 4)
    # default range: the router's own hull, [1, 3]
    assert aiq_code(COST, QUALITY) == pytest.approx(1.05 / 3)
    assert aiq_paper(COST, QUALITY) == pytest.approx(1.05 / 2)


def test_aiq_ignores_collinear_and_dominated_points():
    cost = [*COST, 1.5, 2.5, 3.5]
    quality = [*QUALITY, 0.4, 0.5, 0.65]
    assert aiq_code(cost, quality, c_max=4) == pytest.approx(1.75 / 4)
    assert aiq_paper(cost, quality, c_min=1, c_max=4) == pytest.approx(1.75 / 3)


def test_aiq_of_a_single_point():
    assert aiq_code([2.0], [0.6], c_max=4) == pytest.approx(0.6 * 2 / 4)
    assert aiq_code([2.0], [0.6]) == 0.0  # no width of its own
    assert aiq_paper([2.0], [0.6], c_min=1, c_max=4) == pytest.approx(0.6 * 2 / 3)
    with pytest.raises(ValueError, match="c_min < c_max"):
        aiq_paper([2.0], [0.6])


def test_aiq_table_uses_the_compared_set_range_and_the_zero_router():
    metrics = pd.DataFrame(
        {
            "policy": ["a", "a", "a", "b", "b", "single:x", "single:y", "single:z", "random"],
            "lambda_cost": [1.0, 0.5, 0.1, 1.0, 0.1, np.nan, np.nan, np.nan, np.nan],
            "mean_cost": [1.0, 2.0, 3.0, 0.5, 2.0, 0.5, 4.0, 2.0, 1.0],
            "mean_quality": [0.2, 0.6, 0.7, 0.3, 0.5, 0.1, 0.8, 0.4, 0.3],
        }
    )
    curves = router_curves(metrics)
    assert list(curves) == ["a", "b", ZERO_ROUTER]
    np.testing.assert_array_equal(curves["a"][0], [3.0, 2.0, 1.0])  # sorted by lambda
    table = aiq_table(curves).set_index("router")
    assert (table["c_min"] == 0.5).all() and (table["c_max"] == 4.0).all()
    # a: 1.75 over [1, 4]; b: 0.6 + 1.0; zero router: (0.5, .1)-(4, .8), (2, .4) collinear
    np.testing.assert_allclose(table["aiq_code"], [1.75 / 4, 1.6 / 4, 1.575 / 4])
    np.testing.assert_allclose(table["aiq_paper"], [1.75 / 3.5, 1.6 / 3.5, 1.575 / 3.5])


def test_aiq_code_and_paper_differ_only_in_the_normaliser():
    curves = {"a": (COST, QUALITY), "b": ([0.5, 2.0], [0.3, 0.5])}
    table = aiq_table(curves)
    c_min, c_max = table["c_min"][0], table["c_max"][0]
    np.testing.assert_allclose(table["aiq_paper"], table["aiq_code"] * c_max / (c_max - c_min))


# ---------------------------------------------------------------------------------------------
# RouteLLM
# ---------------------------------------------------------------------------------------------


def test_pgr_and_its_error_on_equal_anchors():
    np.testing.assert_allclose(pgr([0.5, 0.6, 0.7], 0.5, 0.7), [0, 0.5, 1])
    with pytest.raises(ValueError, match="q_strong == q_weak == 0.6"):
        pgr([0.6], 0.6, 0.6)


def test_linear_pgr_has_apgr_one_half_and_cpt50_one_half():
    share = np.linspace(0, 1, 11)
    quality = 0.5 + 0.2 * share
    assert apgr(share, quality, 0.5, 0.7) == pytest.approx(0.5)
    assert cpt(share, quality, 0.5, 0.7, 0.5) == pytest.approx(0.5)


def test_endpoints_are_added_when_the_sweep_lacks_them():
    # only the middle point: (0, 0) and (1, 1) are added -> still linear
    assert apgr([0.5], [0.6], 0.5, 0.7) == pytest.approx(0.5)


def test_concave_pgr_by_hand():
    # PGR 0, .6, .9, 1 at shares 0, .2, .5, 1 (endpoints added):
    # area .2*.3 + .3*.75 + .5*.95 = .76; PGR .5 is reached at share .2 * .5 / .6
    share, pgr_values = [0.2, 0.5], np.array([0.6, 0.9])
    quality = 0.4 + 0.5 * pgr_values
    assert apgr(share, quality, 0.4, 0.9) == pytest.approx(0.76)
    assert cpt(share, quality, 0.4, 0.9, 0.5) == pytest.approx(1 / 6)
    assert cpt(share, quality, 0.4, 0.9, 0.0) == 0.0


def test_cpt_is_nan_when_pgr_never_reaches_the_target():
    assert np.isnan(cpt([0.5, 1.0], [0.55, 0.65], 0.5, 0.7, 0.9))


def test_strong_share_outside_unit_interval_is_an_error():
    with pytest.raises(ValueError, match="strong_share = 1.5"):
        apgr([1.5], [0.6], 0.5, 0.7)


# ---------------------------------------------------------------------------------------------
# Pareto frontier
# ---------------------------------------------------------------------------------------------

POINTS = pd.DataFrame(
    {
        "policy": list("ABCDEFGH"),
        "mean_cost": [1.0, 2.0, 2.0, 3.0, 4.0, 1.0, 2.5, 5.0],
        "mean_quality": [0.5, 0.7, 0.6, 0.65, 0.9, 0.5, 0.72, 0.85],
    }
)


def test_pareto_frontier_mask_with_ties():
    # C is dominated by B (same cost), D by G, H by E; A and F are exact duplicates
    mask = pareto_frontier(POINTS)
    assert POINTS["policy"][mask].tolist() == ["A", "B", "E", "F", "G"]


def test_frontier_distance_to_the_hull_of_the_frontier():
    # hull A(1,.5) B(2,.7) E(4,.9), flat after; G sits .03 below chord B-E
    gap = frontier_distance(POINTS)
    np.testing.assert_allclose(gap, [0, 0, 0.1, 0.15, 0, 0, 0.03, 0.05], atol=1e-12)


def test_frontier_distance_to_the_staircase_is_zero_on_the_frontier():
    gap = frontier_distance(POINTS, reference="staircase")
    np.testing.assert_allclose(gap, [0, 0, 0.1, 0.07, 0, 0, 0, 0.05], atol=1e-12)
    assert (gap[pareto_frontier(POINTS)] == 0).all()


def test_pareto_frontier_names_a_missing_column():
    with pytest.raises(KeyError, match="cost_usd"):
        pareto_frontier(POINTS, cost_col="cost_usd")


# ---------------------------------------------------------------------------------------------
# Reliability
# ---------------------------------------------------------------------------------------------


def test_reliability_curve_bins_by_hand():
    p = np.array([0.05, 0.1, 0.5, 0.52, 0.99, 1.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.5])
    curve = reliability_curve(p, y, n_bins=10)
    assert len(curve) == 10
    filled = curve.loc[curve["n"] > 0]
    assert filled["bin"].tolist() == [0, 1, 5, 9]
    np.testing.assert_allclose(filled["p_mean"], [0.05, 0.1, 0.51, 0.995])
    np.testing.assert_allclose(filled["y_mean"], [0.0, 1.0, 0.5, 0.75])
    assert filled["n"].tolist() == [1, 1, 2, 2]
    assert curve.loc[curve["n"] == 0, "p_mean"].isna().all()


def test_reliability_curve_gives_the_ece():
    rng = np.random.default_rng(3)
    p, y = rng.uniform(size=500), rng.uniform(size=500)
    curve = reliability_curve(p, y).dropna()
    gap = (curve["n"] * (curve["p_mean"] - curve["y_mean"]).abs()).sum() / 500
    assert gap == pytest.approx(ece(p, y))


def test_reliability_curve_rejects_out_of_range_predictions():
    with pytest.raises(ValueError, match="1.2"):
        reliability_curve([0.5, 1.2], [1, 0])


def test_reliability_table_stacks_models_and_stages():
    rng = np.random.default_rng(0)
    Q = rng.uniform(size=(50, 2))
    table = reliability_table({"raw": Q, "calibrated": Q}, Q, ["m1", "m2"], n_bins=5)
    assert len(table) == 2 * 2 * 5
    assert table.groupby(["model", "stage"])["n"].sum().eq(50).all()


# ---------------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------------


def _per_query(n=300, seed=0, lams=(0.1, 1.0, 10.0), latency=True):
    """A small per-query table: every policy and lambda answers the same queries."""
    rng = np.random.default_rng(seed)
    qids = np.array([f"q{i:04d}" for i in range(n)])
    domain = np.where(rng.uniform(size=n) < 0.3, "math", "code")
    frames = []

    def add(policy, lam, quality, cost):
        lat = rng.lognormal(0, 0.5, n) if latency else np.full(n, np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "policy": policy,
                    "lambda_cost": lam,
                    "t": np.arange(n),
                    "qid": qids,
                    "domain": domain,
                    "quality": quality,
                    "cost": cost,
                    "latency_s": lat,
                    "slo_violation": (lat > 2.0).astype(float) if latency else lat,
                }
            )
        )

    for j, (q, c) in enumerate([(0.4, 0.1), (0.6, 1.0), (0.8, 5.0)]):
        add(f"single:m{j}", np.nan, (rng.uniform(size=n) < q).astype(float), rng.gamma(4, c / 4, n))
    add("random", np.nan, (rng.uniform(size=n) < 0.6).astype(float), rng.gamma(4, 0.5, n))
    for policy, edge in (("dacr", 0.05), ("mixllm", 0.0)):
        for lam in lams:
            q = 0.75 - 0.05 * np.log10(lam) + edge
            add(policy, lam, (rng.uniform(size=n) < q).astype(float), rng.gamma(4, 1 / lam / 4, n))
    return pd.concat(frames, ignore_index=True)


def test_resample_counts_keep_stratum_sizes():
    strata = np.array(["a"] * 7 + ["b"] * 3 + ["c"] * 5)
    counts = np.concatenate(list(resample_counts(strata, 50, np.random.default_rng(0))))
    assert counts.shape == (50, 15)
    for s, size in (("a", 7), ("b", 3), ("c", 5)):
        assert (counts[:, strata == s].sum(axis=1) == size).all()


def test_resample_counts_do_not_depend_on_the_chunk_size():
    strata = np.repeat(["a", "b", "c"], [40, 25, 35])
    whole = np.concatenate(list(resample_counts(strata, 60, np.random.default_rng(5))))
    chunks = list(resample_counts(strata, 60, np.random.default_rng(5), chunk_cells=700))
    assert len(chunks) > 1
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_quantile_from_counts_equals_quantile_of_the_expanded_resample():
    rng = np.random.default_rng(1)
    X = rng.lognormal(size=(40, 2))
    X[[3, 17], 1] = np.nan
    counts = np.concatenate(list(resample_counts(np.zeros(40), 20, rng)))
    got = Quantile("latency_s", 0.95).resample(counts, X)
    for r in range(20):
        for g in range(2):
            ok = ~np.isnan(X[:, g])
            expanded = np.repeat(X[ok, g], counts[r, ok].astype(int))
            assert got[r, g] == pytest.approx(np.quantile(expanded, 0.95))


@pytest.mark.parametrize("q", [0.05, 0.5, 0.95, 1.0])
def test_quantile_from_counts_handles_resamples_outside_the_scanned_window(q):
    # row 0 draws only the smallest value, row 1 only the largest: the top (or bottom) window
    # holds none or all of the draws, so the full scan is needed
    rng = np.random.default_rng(4)
    n = 3000
    X = rng.normal(size=(n, 1))
    counts = np.zeros((3, n))
    counts[0, np.argmin(X[:, 0])] = n
    counts[1, np.argmax(X[:, 0])] = n
    counts[2] = rng.multinomial(n, np.full(n, 1 / n))
    got = Quantile("x", q).resample(counts, X)[:, 0]
    for r in range(3):
        expanded = np.repeat(X[:, 0], counts[r].astype(int))
        assert got[r] == pytest.approx(np.quantile(expanded, q))


def test_bootstrap_point_estimates_match_pandas():
    pq = _per_query()
    out = bootstrap_ci(pq, n_resamples=50, rng=np.random.default_rng(0))
    g = pq.groupby(["policy", "lambda_cost"], dropna=False, sort=True)
    np.testing.assert_allclose(out["mean_quality"], g["quality"].mean().to_numpy())
    np.testing.assert_allclose(out["mean_cost"], g["cost"].mean().to_numpy())
    np.testing.assert_allclose(out["p95_latency_s"], g["latency_s"].quantile(0.95).to_numpy())
    np.testing.assert_allclose(out["slo_violation_rate"], g["slo_violation"].mean().to_numpy())
    assert (out["mean_quality_ci_low"] <= out["mean_quality"]).all()
    assert (out["mean_quality"] <= out["mean_quality_ci_high"]).all()


def test_bootstrap_does_not_depend_on_row_order():
    pq = _per_query(n=120)
    a = bootstrap_ci(pq, n_resamples=40, rng=np.random.default_rng(9))
    b = bootstrap_ci(
        pq.sample(frac=1.0, random_state=1), n_resamples=40, rng=np.random.default_rng(9)
    )
    pd.testing.assert_frame_equal(a, b)


def test_bootstrap_does_not_depend_on_the_chunk_size():
    pq = _per_query(n=120)
    a = bootstrap_ci(pq, n_resamples=40, rng=np.random.default_rng(9))
    b = bootstrap_ci(pq, n_resamples=40, rng=np.random.default_rng(9), chunk_cells=500)
    pd.testing.assert_frame_equal(a, b)
    c = bootstrap_aiq(pq, n_resamples=40, rng=np.random.default_rng(9))
    d = bootstrap_aiq(pq, n_resamples=40, rng=np.random.default_rng(9), chunk_cells=500)
    pd.testing.assert_frame_equal(c, d)


def test_bootstrap_shares_resamples_across_policies():
    pq = _per_query(n=150)
    twin = pq.loc[pq["policy"] == "random"].assign(policy="random_twin")
    out = bootstrap_ci(pd.concat([pq, twin]), n_resamples=60, rng=np.random.default_rng(2))
    rows = out.set_index("policy").loc[["random", "random_twin"]]
    cols = ["mean_quality_ci_low", "mean_quality_ci_high", "p95_latency_s_ci_high"]
    np.testing.assert_array_equal(rows[cols].iloc[0], rows[cols].iloc[1])


def test_bootstrap_with_latency_off_gives_nan_latency_statistics():
    out = bootstrap_ci(
        _per_query(n=80, latency=False), n_resamples=20, rng=np.random.default_rng(0)
    )
    assert out[["p95_latency_s", "slo_violation_rate_ci_high"]].isna().all().all()
    assert out["mean_quality_ci_low"].notna().all()


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    sizes, rates = np.array([120, 80]), np.array([0.3, 0.7])
    truth = float((sizes * rates).sum() / sizes.sum())
    covered = 0
    for _ in range(200):
        domain = np.repeat(["a", "b"], sizes)
        quality = (rng.uniform(size=200) < np.repeat(rates, sizes)).astype(float)
        pq = pd.DataFrame(
            {"policy": "p", "qid": np.arange(200), "domain": domain, "quality": quality}
        )
        out = bootstrap_ci(
            pq, ["policy"], {"mean_quality": Mean("quality")}, n_resamples=400, rng=rng
        )
        covered += out["mean_quality_ci_low"][0] <= truth <= out["mean_quality_ci_high"][0]
    assert 0.90 <= covered / 200 <= 0.99


def test_bootstrap_rejects_duplicate_rows_and_inconsistent_strata():
    pq = _per_query(n=20)
    with pytest.raises(ValueError, match="more than once"):
        bootstrap_ci(pd.concat([pq, pq.head(1)]), n_resamples=5, rng=np.random.default_rng(0))
    bad = pq.copy()
    bad.loc[0, "domain"] = "other" if bad.loc[0, "domain"] != "other" else "x"
    with pytest.raises(ValueError, match="several 'domain' values"):
        bootstrap_ci(bad, n_resamples=5, rng=np.random.default_rng(0))


def test_bootstrap_aiq_point_estimate_equals_aiq_table():
    pq = _per_query()
    out = bootstrap_aiq(pq, n_resamples=100, rng=np.random.default_rng(0)).set_index("router")
    metrics = (
        pq.groupby(["policy", "lambda_cost"], dropna=False)[["cost", "quality"]]
        .mean()
        .reset_index()
        .rename(columns={"cost": "mean_cost", "quality": "mean_quality"})
    )
    table = aiq_table(router_curves(metrics)).set_index("router")
    assert list(out.index) == ["dacr", "mixllm", ZERO_ROUTER]
    np.testing.assert_allclose(out["aiq_code"], table.loc[out.index, "aiq_code"], atol=1e-12)
    np.testing.assert_allclose(out["aiq_paper"], table.loc[out.index, "aiq_paper"], atol=1e-12)
    assert (out["aiq_code_ci_low"] <= out["aiq_code"]).all()
    assert (out["aiq_code"] <= out["aiq_code_ci_high"]).all()
    assert (out["aiq_code_ci_high"] > out["aiq_code_ci_low"]).all()


def test_bootstrap_aiq_with_a_fixed_range():
    pq = _per_query(n=100)
    out = bootstrap_aiq(pq, n_resamples=30, rng=np.random.default_rng(0), c_min=0.0, c_max=20.0)
    assert (out["c_min"] == 0).all() and (out["c_max"] == 20).all()
    np.testing.assert_allclose(out["aiq_code"], out["aiq_paper"])


# ---------------------------------------------------------------------------------------------
# Paired comparisons
# ---------------------------------------------------------------------------------------------


def test_holm_known_example():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    out = holm([0.5, np.nan, 0.01])
    np.testing.assert_allclose(out[[0, 2]], [0.5, 0.02])
    assert np.isnan(out[1])
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])


def test_paired_bootstrap_pairs_by_lambda_and_against_lambda_free_baselines():
    pq = _per_query()
    out = paired_bootstrap(
        pq, "dacr", ["mixllm", "random"], "quality", n_resamples=200, rng=np.random.default_rng(0)
    )
    assert list(out.columns) == [
        "target",
        "target_lambda",
        "baseline",
        "baseline_lambda",
        "metric",
        "diff",
        "ci_low",
        "ci_high",
        "p_value",
        "p_holm",
    ]
    mix = out.loc[out["baseline"] == "mixllm"]
    assert (mix["target_lambda"] == mix["baseline_lambda"]).all() and len(mix) == 3
    rand = out.loc[out["baseline"] == "random"]
    assert rand["baseline_lambda"].isna().all() and len(rand) == 3
    np.testing.assert_allclose(out["p_holm"], holm(out["p_value"]))


def test_paired_difference_is_exact_when_the_baseline_is_shifted():
    pq = _per_query(n=200)
    base = pq.loc[pq["policy"] == "dacr"].assign(policy="base")
    base["quality"] -= 0.1
    out = paired_bootstrap(
        pd.concat([pq, base]), "dacr", ["base"], n_resamples=100, rng=np.random.default_rng(0)
    )
    np.testing.assert_allclose(out[["diff", "ci_low", "ci_high"]], 0.1, atol=1e-12)
    np.testing.assert_allclose(out["p_value"], 2 / 101)


def test_paired_bootstrap_p_value_is_large_without_a_difference():
    pq = _per_query(n=400, seed=4)
    twin = pq.loc[pq["policy"] == "dacr"].copy()
    rng = np.random.default_rng(8)
    # within each lambda: the same mean, but no pairing between the two policies
    twin["quality"] = twin.groupby("lambda_cost")["quality"].transform(
        lambda q: rng.permutation(q.to_numpy())
    )
    twin["policy"] = "twin"
    out = paired_bootstrap(
        pd.concat([pq, twin]), "dacr", ["twin"], n_resamples=300, rng=np.random.default_rng(1)
    )
    assert (out["ci_low"] < 0).all() and (out["ci_high"] > 0).all()
    assert (out["p_value"] > 0.2).all()


def test_paired_bootstrap_errors_name_the_problem():
    pq = _per_query(n=30, latency=False)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="target policy 'nope'"):
        paired_bootstrap(pq, "nope", rng=rng, n_resamples=5)
    with pytest.raises(ValueError, match="baselines \\['ghost'\\]"):
        paired_bootstrap(pq, "dacr", ["ghost"], rng=rng, n_resamples=5)
    with pytest.raises(ValueError, match="metric 'latency_s'"):
        paired_bootstrap(pq, "dacr", ["random"], "latency_s", rng=rng, n_resamples=5)
