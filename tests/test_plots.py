from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from dacr.metrics import bootstrap_ci, reliability_table
from dacr.plots import (
    TitleInfo,
    plot_budget_curve,
    plot_dacr_trace,
    plot_domain_heatmap,
    plot_latency_cdf,
    plot_lodo_heatmap,
    plot_quality_cost,
    plot_regret,
    plot_reliability,
    plot_violation_cost,
)
from dacr.plots.budgets import load_windows

INFO = TitleInfo("demo", "synthetic", "predicted")
LAMS = (0.1, 1.0, 10.0)


def _per_query(n=200, seed=0, latency=True) -> pd.DataFrame:
    """A tiny seeded simulation in the per_query.parquet schema."""
    rng = np.random.default_rng(seed)
    qids = np.array([f"q{i:03d}" for i in range(n)])
    domain = rng.choice(["code", "math", "mmlu"], n)
    frames = []

    def add(policy, lam, q, cost_scale):
        lat = rng.lognormal(0.0, 0.6, n) if latency else np.full(n, np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "policy": policy,
                    "lambda_cost": lam,
                    "qid": qids,
                    "domain": domain,
                    "quality": (rng.uniform(size=n) < q).astype(float),
                    "cost": rng.gamma(4.0, cost_scale / 4, n),
                    "latency_s": lat,
                    "slo_violation": (lat > 2.0).astype(float) if latency else lat,
                }
            )
        )

    for j, (q, c) in enumerate([(0.45, 1e-4), (0.6, 1e-3), (0.8, 1e-2)]):
        add(f"single:model-{j}", np.nan, q, c)
    for name, q, c in [("random", 0.6, 3e-3), ("cheapest", 0.45, 1e-4), ("oracle", 0.9, 8e-4)]:
        add(name, np.nan, q, c)
    for name, edge in [("mixllm", 0.0), ("dacr", 0.04)]:
        for lam in LAMS:
            add(name, lam, 0.7 - 0.05 * np.log10(lam) + edge, 2e-3 / lam)
    return pd.concat(frames, ignore_index=True)


def _metrics(per_query: pd.DataFrame, by=("policy", "lambda_cost")) -> pd.DataFrame:
    g = per_query.groupby(list(by), dropna=False, sort=True)
    return pd.DataFrame(
        {
            "mean_quality": g["quality"].mean(),
            "mean_cost": g["cost"].mean(),
            "slo_violation_rate": g["slo_violation"].mean(),
        }
    ).reset_index()


def _trace(latency=True) -> pd.DataFrame:
    t = np.arange(300)
    frames = []
    for lam in LAMS:
        frames.append(
            pd.DataFrame(
                {
                    "t": t,
                    "lambda_cost": lam,
                    "offset_s": t / 2.0,
                    "load": np.where((t > 100) & (t < 160), 3.0, 1.0),
                    "mu_c": lam * (1 - np.exp(-t / 50)),
                    "mu_l": 0.5 * np.sin(t / 40) ** 2,
                    "running_mean_cost": 2e-3 / lam * (1 + np.exp(-t / 30)),
                    "running_cost_ratio": 2 / lam * (1 + np.exp(-t / 30)),
                    "running_violation_rate": 0.05 + 0.1 * np.exp(-t / 60) if latency else np.nan,
                    "budget_cost": 1e-3,
                    "budget_viol": 0.1,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _budget_curve() -> pd.DataFrame:
    budgets = np.array([1e-4, 3e-4, 1e-3])
    rows = []
    for name, q, spend, viol in (
        ("constrained_oracle", 0.8, 1.0, 0.1),
        ("dacr", 0.6, 0.98, 0.06),
        ("mixllm_budget", 0.62, 1.2, 0.3),
    ):
        for b in budgets:
            rows.append(
                {
                    "policy": name,
                    "budget_cost": b,
                    "budget_viol": 0.1,
                    "mean_cost": spend * b,
                    "mean_quality": q + 0.02 * np.log10(b / 1e-4),
                    "slo_violation_rate": viol,
                }
            )
    return pd.DataFrame(rows)


def _regret() -> pd.DataFrame:
    t = np.arange(200)
    frames = [
        pd.DataFrame({"policy": name, "lambda_cost": lam, "t": t, "cumulative_regret": slope * t})
        for name, lam, slope in (
            ("dacr", 1.0, 0.2),
            ("dacr", 10.0, 0.25),
            ("linucb", 1.0, 0.3),
            ("mine", np.nan, 0.4),
        )
    ]
    return pd.concat(frames, ignore_index=True)


def test_load_windows_are_the_runs_above_capacity():
    t = np.arange(10)
    load = np.array([1, 1, 2, 3, 1, 1, 1.5, 1.5, 1.5, 1])
    assert load_windows(t, load) == [(2, 3), (6, 8)]
    assert load_windows(t, np.ones(10)) == []


def _calib_curves() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    Q = (rng.uniform(size=(300, 3)) < 0.6).astype(float)
    raw = np.clip(0.6 + 0.3 * (Q - 0.6) + rng.normal(0, 0.2, Q.shape), 0, 1)
    cal = np.clip(0.6 + 0.5 * (Q - 0.6) + rng.normal(0, 0.1, Q.shape), 0, 1)
    stages = {"raw": raw, "calibrated": cal, "online_end": (raw + cal) / 2}
    return reliability_table(stages, Q, ["model-0", "model-1", "model-2"])


def _lodo() -> pd.DataFrame:
    return pd.DataFrame(
        [[0.61, 0.64, 0.70], [0.52, 0.55, 0.58], [0.73, 0.71, 0.78]],
        index=pd.Index(["code", "math", "mmlu"], name="held_out"),
        columns=["random", "mixllm", "dacr"],
    )


PQ = _per_query()
PQ_NO_LATENCY = _per_query(latency=False)
METRICS = _metrics(PQ)

CASES = {
    "quality_cost": (lambda p: plot_quality_cost(METRICS, p, INFO), (600, 1000)),
    "quality_cost_ci": (
        lambda p: plot_quality_cost(
            METRICS,
            p,
            INFO,
            ci=bootstrap_ci(PQ, n_resamples=100, rng=np.random.default_rng(0)),
        ),
        (600, 1000),
    ),
    "violation_cost": (lambda p: plot_violation_cost(METRICS, p, INFO, delta=0.1), (600, 1000)),
    "violation_cost_latency_off": (
        lambda p: plot_violation_cost(_metrics(PQ_NO_LATENCY), p, INFO),
        (600, 1000),
    ),
    "latency_cdf": (lambda p: plot_latency_cdf(PQ, 2.0, p, INFO), (600, 1300)),
    "latency_cdf_latency_off": (
        lambda p: plot_latency_cdf(PQ_NO_LATENCY, 2.0, p, INFO, lam=10.0),
        (600, 1300),
    ),
    "reliability": (lambda p: plot_reliability(_calib_curves(), p, INFO), (1000, 1400)),
    "dacr_trace": (lambda p: plot_dacr_trace(_trace(), p, INFO), (800, 1200)),
    "dacr_trace_latency_off": (
        lambda p: plot_dacr_trace(_trace(latency=False), p, INFO),
        (800, 1200),
    ),
    "budget_curve": (lambda p: plot_budget_curve(_budget_curve(), p, INFO), (550, 1300)),
    "regret": (lambda p: plot_regret(_regret(), p, INFO), (600, 1100)),
    "domain_heatmap": (
        lambda p: plot_domain_heatmap(_metrics(PQ, ("policy", "lambda_cost", "domain")), p, INFO),
        (800, 1400),
    ),
    "lodo_heatmap": (lambda p: plot_lodo_heatmap(_lodo(), p, INFO), (600, 1000)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plot_writes_a_png_of_the_expected_size(case, tmp_path):
    draw, (height, width) = CASES[case]
    out = draw(tmp_path / f"{case}.png")
    assert out == tmp_path / f"{case}.png"
    assert out.stat().st_size > 1000
    image = mpimg.imread(out)
    assert image.shape[:2] == (height, width)
    assert image[..., :3].std() > 0.01  # something was drawn
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


@pytest.mark.parametrize("case", sorted(CASES))
def test_plot_bytes_are_identical_across_calls(case, tmp_path):
    draw, _ = CASES[case]
    first = draw(tmp_path / "a.png").read_bytes()
    second = draw(tmp_path / "b.png").read_bytes()
    assert first == second


def test_png_carries_no_software_version(tmp_path):
    data = plot_lodo_heatmap(_lodo(), tmp_path / "x.png", INFO).read_bytes()
    assert b"matplotlib version" not in data and b"Software" not in data


def test_title_info_validates_and_labels_the_dataset():
    assert "RouterBench data" in TitleInfo("e1", "routerbench", "oracle").title("x")
    with pytest.raises(ValueError, match="dataset='mmlu'"):
        TitleInfo("e1", "mmlu", "oracle")
    with pytest.raises(ValueError, match="decision_info='guess'"):
        TitleInfo("e1", "synthetic", "guess")


def test_title_info_from_metrics():
    metrics = METRICS.assign(dataset="routerbench", decision_info="oracle")
    info = TitleInfo.from_metrics(metrics, "exp1")
    assert info == TitleInfo("exp1", "routerbench", "oracle")


def test_quality_cost_rejects_non_positive_costs_on_the_log_axis(tmp_path):
    bad = METRICS.copy()
    bad.loc[0, "mean_cost"] = 0.0
    with pytest.raises(ValueError, match="'mean_cost' has 1 values <= 0"):
        plot_quality_cost(bad, tmp_path / "x.png", INFO)
    assert not list(tmp_path.iterdir())


def test_latency_cdf_names_a_lambda_outside_the_grid(tmp_path):
    with pytest.raises(ValueError, match=r"lambda_cost=3.0 is not in the grid \[0.1, 1.0, 10.0\]"):
        plot_latency_cdf(PQ, 2.0, tmp_path / "x.png", INFO, lam=3.0)


def test_reliability_rejects_several_curves_per_model_and_stage(tmp_path):
    curves = _calib_curves()
    with pytest.raises(ValueError, match="several curves"):
        plot_reliability(pd.concat([curves, curves]), tmp_path / "x.png", INFO)


def test_every_router_has_its_own_colour_and_marker_and_none_is_grey():
    from dacr.plots.style import COLORS, markers, palette

    routers = [*COLORS, "embedding_threshold", "external_score", "mine", "single:gpt-4"]
    colors, marks = palette(routers), markers(routers)
    shown = [r for r in routers if not r.startswith("single:")]
    assert len({colors[r] for r in shown}) == len(shown)
    assert len({marks[r] for r in shown}) == len(shown)
    for r in shown:
        red, green, blue = colors[r]
        if r != "oracle":  # black is the oracle's; grey (r = g = b) is for single models
            assert max(red, green, blue) - min(red, green, blue) > 0.1, r
    assert "single:gpt-4" not in colors


def _figure():
    import matplotlib as mpl

    from dacr.plots.style import RC, new_figure

    with mpl.rc_context(RC):
        return new_figure("quality_cost")


def test_lambda_free_routers_are_drawn_above_the_curves_and_single_models():
    from dacr.plots.style import draw_points, palette

    metrics = _metrics(PQ)
    fig, axes = _figure()
    ax = axes[0, 0]
    draw_points(ax, metrics, "mean_quality", palette(metrics["policy"]))
    by_label = {a.get_label(): a.get_zorder() for a in [*ax.collections, *ax.lines]}
    assert by_label["cheapest"] > by_label["dacr (λ sweep)"] > by_label["single models"]
    assert by_label["cheapest"] > by_label["mixllm (λ sweep)"]


def test_single_model_labels_do_not_overlap_even_for_coincident_points():
    from dacr.plots.style import label_points

    fig, axes = _figure()
    ax = axes[0, 0]
    xs, ys = np.array([1.0, 1.001, 1.002, 3.0]), np.array([0.5, 0.5005, 0.5, 0.2])
    ax.scatter(xs, ys)
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 1)
    label_points(ax, xs, ys, ["claude-v1", "claude-v2", "claude-instant-v1", "far"])
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == 4
    for i in range(4):
        for j in range(i + 1, 4):
            assert not boxes[i].overlaps(boxes[j]), (ax.texts[i].get_text(), ax.texts[j].get_text())


def test_latency_quantile_panel_sorts_routers_by_p95_and_states_the_share_over_tau():
    from dacr.plots.routers import _quantile_panel

    fig, axes = _figure()
    ax = axes[0, 0]
    latencies = {
        "slow": np.sort(np.r_[np.full(90, 5.0), np.full(10, 50.0)]),  # p95 50, 10 % over τ=10
        "fast": np.sort(np.r_[np.full(99, 1.0), 20.0]),  # p95 1, 1 % over
        "single:m": np.full(10, 3.0),  # single models are the CDF band, not a bar
    }
    _quantile_panel(ax, latencies, 10.0, {"slow": (1, 0, 0), "fast": (0, 0, 1)}, {})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fast", "slow"]
    assert sorted(t.get_text() for t in ax.texts) == ["1 % > τ", "10 % > τ"]


def test_domain_heatmap_names_every_domain_with_its_query_count(tmp_path, monkeypatch):
    import dacr.plots.heatmaps as heatmaps

    seen = {}

    def spy(ax, table, *args):
        seen["table"] = table
        return real(ax, table, *args)

    real = heatmaps._heatmap
    monkeypatch.setattr(heatmaps, "_heatmap", spy)
    by_domain = _metrics(PQ, ("policy", "lambda_cost", "domain"))
    by_domain = by_domain.assign(n=by_domain["domain"].map({"code": 7, "math": 5, "mmlu": 9}))
    plot_domain_heatmap(by_domain, tmp_path / "h.png", INFO)
    assert list(seen["table"].columns) == ["code (n=7)", "math (n=5)", "mmlu (n=9)"]
    many = pd.concat(
        [by_domain.assign(domain=by_domain["domain"] + f"-{k}") for k in range(11)],
        ignore_index=True,
    )
    plot_domain_heatmap(many, tmp_path / "many.png", INFO)
    assert seen["table"].shape[0] == 33  # over 30 domains: one row each
    assert mpimg.imread(tmp_path / "many.png").shape[0] > 800


def test_reliability_legend_names_the_lambda_of_online_end(tmp_path, monkeypatch):
    import dacr.plots.calibration as calibration

    labels = {}
    real = calibration.save_png

    def spy(fig, path):
        labels["all"] = [t.get_text() for t in fig.legends[0].get_texts()]
        return real(fig, path)

    monkeypatch.setattr(calibration, "save_png", spy)
    plot_reliability(_calib_curves(), tmp_path / "r.png", INFO, online_lambda=5.0)
    assert "online_end (DACR at λ = 5)" in labels["all"]
