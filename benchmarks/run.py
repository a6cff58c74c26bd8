"""Benchmark harness: every stage at a given RouterBench size, in-process and as the workflow.

    python -m benchmarks.run --prompts 36497 --json benchmarks/out/36497.json
    python -m benchmarks.run --prompts 3000 12000 36497      # also prints the scaling exponent
    python -m benchmarks.run --demo      # the README's demo, cold: workflow_demo (wall, lines)
    python -m benchmarks.run --prompts 36497 --stages linucb_replay online_interface --no-workflow

Each stage runs in a fresh subprocess (``--stage``), so its peak RSS is its own. Records:
``{"stage", "prompts", "wall_s", "cpu_s", "peak_rss_mb", "rows_per_s"}``; ``rows_per_s`` is
decisions per second for the replays (``dacr_replay``, ``linucb_replay``, ``online_interface``)
and (query, model) rows per second elsewhere. ``--stages`` records only the named stages (the
stages they read from still run first, unrecorded).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "ood_gsm_mbpp"
HOLDOUT = ["grade-school-math", "mbpp"]
LAMBDAS = [1.0, 5.0, 10.0, 20.0]
SEED = 42
STAGES = (
    "synthesize",
    "long_form",
    "long_form_raw",
    "stream",
    "simulate_latency",
    "evaluate_cold",
    "evaluate_warm",
    "dacr_replay",
    "linucb_replay",
    "online_interface",
    "constrained_oracle_lp",
    "budget_sweep",
)
REPLAYS = ("dacr_replay", "linucb_replay", "online_interface")  # rows_per_s: decisions/s
SWEEP = [float(b) for b in np.geomspace(1e-4, 5e-3, 10)]


def _defaults() -> dict:
    """The workflow's defaults, from config/schema.yaml (one source of truth)."""
    from snakemake.utils import validate

    config: dict = {}
    validate(config, str(ROOT / "config" / "schema.yaml"))
    return config


DEFAULTS = _defaults()


def _paths(work: Path) -> dict[str, Path]:
    exp = work / "results" / EXPERIMENT
    return {
        "wide": work / "synthetic_wide.pkl",
        "raw": work / "synthetic_raw.pkl",
        "long": work / "results" / "data" / "routerbench_long.parquet",
        "long_raw": work / "results" / "data" / "routerbench_long_raw.parquet",
        "stream": exp / "stream.jsonl",
        "split": exp / "split.parquet",
        "eff": exp / "latency_eff.jsonl",
        "base": exp / "latency_base.jsonl",
        "features": exp / "features.npz",
        "predictions": exp / "predictions.npz",
        "calib": exp / "calibration_offline.csv",
        "exp": exp,
    }


def _evaluate_policies(p: dict[str, Path]) -> int:
    from dacr.evaluate import run_aggregate, run_baselines, run_lambda

    common = {"decision_info": "predicted", "tau_seconds": 10.0, "seed": SEED}
    base = p["exp"] / "policies" / "baselines.parquet"
    rows = len(
        run_baselines(
            p["predictions"],
            base,
            p["exp"] / "policies" / "budget_info.json",
            cascade_threshold=0.7,
            routellm_threshold=0.5,
            budget_cost=DEFAULTS["dacr"]["budget_cost"],
            budget_viol=DEFAULTS["dacr"]["budget_viol"],
            **common,
        )
    )
    parts, traces, calibs = [base], [], []
    for lam in LAMBDAS:
        out = p["exp"] / "policies" / f"lambda_{lam:g}.parquet"
        trace = p["exp"] / "policies" / f"dacr_trace_{lam:g}.parquet"
        calib = p["exp"] / "policies" / f"online_calibration_{lam:g}.csv"
        rows += len(
            run_lambda(
                p["predictions"],
                out,
                trace,
                calib,
                lam=lam,
                lambda_lat=1.0,
                dacr=DEFAULTS["dacr"],
                **common,
            )
        )
        parts.append(out)
        traces.append(trace)
        calibs.append(calib)
    run_aggregate(
        parts,
        traces,
        calibs,
        p["calib"],
        p["predictions"],
        metrics_path=p["exp"] / "metrics.csv",
        by_domain_path=p["exp"] / "metrics_by_domain.csv",
        calibration_path=p["exp"] / "calibration_ece.csv",
        per_query_path=p["exp"] / "per_query.parquet",
        trace_path=p["exp"] / "dacr_trace.parquet",
        decision_info="predicted",
    )
    return rows


def run_stage(stage: str, work: Path, prompts: int) -> int:
    """Run one stage in this process; return the number of rows it processed."""
    from dacr.features import run_features
    from dacr.fit import run_predictors
    from dacr.latency import run_simulate_latency
    from dacr.routerbench import run_long_form
    from dacr.stream import run_stream
    from dacr.synth import write_synthetic

    p = _paths(work)
    if stage == "synthesize":
        write_synthetic(p["wide"], prompts, SEED, "wide")
        write_synthetic(p["raw"], prompts, SEED, "long")
        return prompts * 11
    if stage == "long_form":
        return len(run_long_form(p["wide"], p["long"], dataset="synthetic"))
    if stage == "long_form_raw":
        return len(run_long_form(p["raw"], p["long_raw"], dataset="synthetic"))
    if stage == "stream":
        events = run_stream(
            p["long"],
            p["stream"],
            p["split"],
            experiment=EXPERIMENT,
            holdout=HOLDOUT,
            test_fraction=None,
            holdout_match="exact",
            seed=SEED,
            stream={"start_ts": 1.7e9, "burst": ["12@30@60"]},
        )
        return len(events)
    if stage == "simulate_latency":
        eff = run_simulate_latency(
            p["long"],
            p["stream"],
            p["split"],
            p["eff"],
            p["base"],
            config_file=ROOT / "config" / "latency.yaml",
            seed=SEED,
        )
        return len(eff)
    if stage == "evaluate_cold":
        run_features(
            p["long"],
            p["split"],
            p["stream"],
            p["features"],
            experiment=EXPERIMENT,
            features=DEFAULTS["features"],
            seed=SEED,
            n_jobs=2,
        )
        run_predictors(
            p["long"],
            p["split"],
            p["stream"],
            p["features"],
            p["eff"],
            p["predictions"],
            p["calib"],
            experiment=EXPERIMENT,
            holdout=HOLDOUT,
            predictor=DEFAULTS["predictor"],
            calibration=DEFAULTS["calibration"],
            tau_seconds=10.0,
            latency_impute="none",
            knn_k=10,
            seed=SEED,
        )
        return _evaluate_policies(p)
    if stage == "evaluate_warm":
        return _evaluate_policies(p)
    if stage == "dacr_replay":
        return _dacr_replay(p)
    if stage == "linucb_replay":
        return _linucb_replay(p)
    if stage == "online_interface":
        return _online_interface(p)
    if stage == "constrained_oracle_lp":
        return _constrained_oracle_lp(p)
    if stage == "budget_sweep":
        return _budget_sweep(p)
    raise ValueError(f"unknown stage {stage!r}; choose one of {list(STAGES)}")


def _dacr_replay(p: dict[str, Path], repeats: int = 20) -> int:
    """Decisions of the compiled replay, timed after a warm-up (compilation excluded)."""
    from dacr.evaluate import context_and_outcomes
    from dacr.io import load_npz
    from dacr.route import DACRPolicy

    pred = load_npz(p["predictions"])
    ctx, outcomes = context_and_outcomes(pred, "predicted", 10.0)
    policy = DACRPolicy(lambda_cost=1.0, n_domains=int(ctx.domain.max()) + 1, **DEFAULTS["dacr"])
    return _time_replay(
        f"dacr over {ctx.n} decisions x {ctx.cost.shape[1]} models",
        ctx.n,
        repeats,
        replay=lambda: policy.replay(ctx, outcomes).choice,
        per_request=lambda: policy.clone().run(ctx, outcomes),
    )


def _time_replay(what: str, n: int, repeats: int, *, replay, per_request) -> int:
    """Time ``replay`` over ``repeats`` runs after a warm-up (compilation excluded; the
    seconds go to :data:`_REPLAY_S`), then ``per_request`` once after a warm-up; print both
    rates and whether their choices agree. Returns the decisions timed."""
    global _REPLAY_S
    choice = replay()  # compile / load the cached kernel
    start = time.perf_counter()
    for _ in range(repeats):
        replay()
    _REPLAY_S = time.perf_counter() - start
    for _ in range(2):  # the first run compiles the per-request entry points
        start = time.perf_counter()
        same = per_request()
        seconds = time.perf_counter() - start
    print(
        f"NOTE {what}: compiled {n * repeats / _REPLAY_S:,.0f}/s, per-request API "
        f"{n / seconds:,.0f}/s, identical {np.array_equal(choice, same)}",
        file=sys.stderr,
    )
    return n * repeats


_REPLAY_S: float | None = None


def _online_setup(p: dict[str, Path]):
    """The experiment's test stream as the online routers see it (features included), its
    outcomes, and the workflow's feedback schedule."""
    from dacr.evaluate import context_and_outcomes
    from dacr.io import load_npz
    from dacr.plugins import linucb_train, with_requests
    from dacr.route.online import FeedbackSchedule

    pred = load_npz(p["predictions"])
    ctx, outcomes = context_and_outcomes(pred, "predicted", 10.0)
    ctx = with_requests(ctx, p["features"], None, pred)
    schedule = FeedbackSchedule.from_config(DEFAULTS["dacr"], SEED)
    return ctx, outcomes, schedule, linucb_train(pred, p["features"])


def _linucb_replay(p: dict[str, Path], repeats: int = 5) -> int:
    """Decisions per second of LinUCB's compiled replay at λ = 1, warm-started from the
    training split as in the workflow (compilation excluded), and of its per-request API."""
    from dacr.route.linucb import LinUCBPolicy
    from dacr.route.online import run_online

    ctx, outcomes, schedule, train = _online_setup(p)
    policy = LinUCBPolicy(lambda_cost=1.0, **_linucb_params()).fit(train)
    return _time_replay(
        f"linucb over {ctx.n} decisions x {ctx.cost.shape[1]} models x "
        f"{ctx.features.shape[1]} features",
        ctx.n,
        repeats,
        replay=lambda: policy.replay_online(ctx, outcomes, schedule),
        per_request=lambda: run_online(policy.clone().fit(train), ctx, outcomes, schedule),
    )


def _linucb_params() -> dict:
    """The workflow's LinUCB parameters (as ``dacr.plugins.linucb_choices`` builds them)."""
    lin, dacr = DEFAULTS["linucb"], DEFAULTS["dacr"]
    return {
        "lambda_lat": float(DEFAULTS["lambda_lat"]),
        "alpha": float(lin["alpha"]),
        "ridge": float(lin["ridge"]),
        "budget_cost": float(dacr["budget_cost"]),
        "budget_viol": float(dacr["budget_viol"]),
        "mu_lr": dacr.get("mu_lr"),
        "warm_start": bool(lin["warm_start"]),
    }


class _ArgmaxRouter:
    """The least a router can do: one argmax per request, feedback ignored."""

    name = "argmax"

    def __init__(self, lam: float) -> None:
        self.lam = lam

    def select_one(self, request) -> int:
        return int(np.argmax(request.q_cal - self.lam * request.cost))

    def update_one(self, feedback) -> None:
        return None


def _online_interface(p: dict[str, Path], repeats: int = 3) -> int:
    """What the enforced interface costs per decision: the same Python router through
    ``run_online`` (requests, feedback deliveries, choice checks) and in a bare loop over the
    arrays (the built-in loop), best of ``repeats``."""
    from dacr.route.online import run_online

    ctx, outcomes, schedule, _ = _online_setup(p)
    router = _ArgmaxRouter(1.0)
    q, cost = ctx.q_cal, ctx.cost

    def bare() -> np.ndarray:
        choice = np.empty(ctx.n, dtype=np.int64)
        for t in range(ctx.n):
            choice[t] = int(np.argmax(q[t] - router.lam * cost[t]))
        return choice

    def timed(fn) -> tuple[float, np.ndarray]:
        best, out = np.inf, None
        for _ in range(repeats):
            start = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - start)
        return best, out

    t_bare, plain = timed(bare)
    t_online, online = timed(lambda: run_online(router, ctx, outcomes, schedule))
    global _REPLAY_S
    _REPLAY_S = t_online
    overhead_us = (t_online - t_bare) / ctx.n * 1e6
    print(
        f"NOTE interface over {ctx.n} decisions: {t_online / ctx.n * 1e6:.2f} us through "
        f"run_online, {t_bare / ctx.n * 1e6:.2f} us bare: overhead {overhead_us:.2f} us "
        f"per decision (target <= 20), identical {np.array_equal(plain, online)}",
        file=sys.stderr,
    )
    _EXTRA["overhead_us_per_decision"] = round(overhead_us, 2)
    return ctx.n


_EXTRA: dict = {}


def _constrained_oracle_lp(p: dict[str, Path]) -> int:
    """The constrained-oracle LP over every query of the dataset (train and test), all models:
    realised quality, cost and SLO violations at tau 10 s, at a budget that binds."""
    import pandas as pd

    from dacr.latency import latency_matrix, read_latency_log
    from dacr.route.oracle import solve_constrained_oracle
    from dacr.splits import split_matrices

    long = pd.read_parquet(
        p["long"], columns=["qid", "prompt", "domain", "model", "quality", "cost"]
    )
    models = sorted(long["model"].astype(str).unique())
    qids = np.sort(long["qid"].astype(str).unique())
    full = split_matrices(long.astype({"qid": str, "model": str}), qids, models, "all")
    lat = latency_matrix(list(qids), models, read_latency_log(p["eff"]))
    budget = float(np.median(full.cost))
    solution = solve_constrained_oracle(full.quality, full.cost, (lat > 10.0) * 1.0, budget, 0.1)
    print(
        f"NOTE LP over {len(qids)} x {len(models)}: {solution.seconds:.2f} s, feasible "
        f"{solution.feasible}, quality {solution.quality:.4f}",
        file=sys.stderr,
    )
    return full.quality.size


def _budget_sweep(p: dict[str, Path]) -> int:
    """The rule sweep_budget's work for a 10-point sweep of the benchmark experiment."""
    from dacr.compliance import run_budget_sweep

    curve = run_budget_sweep(
        p["predictions"],
        p["exp"] / "budget_curve.parquet",
        budgets=SWEEP,
        decision_info="predicted",
        tau_seconds=10.0,
        dacr=DEFAULTS["dacr"],
        seed=SEED,
    )
    return len(curve)


def _child(stage: str, work: Path, prompts: int) -> None:
    for module in ("dacr.evaluate", "dacr.fit", "dacr.latency", "dacr.synth"):
        importlib.import_module(module)  # imports are not part of a stage's time

    start_wall, start_cpu = time.perf_counter(), time.process_time()
    rows = run_stage(stage, work, prompts)
    wall = time.perf_counter() - start_wall
    cpu = time.process_time() - start_cpu
    timed = _REPLAY_S if stage in REPLAYS else wall
    record = {
        "stage": stage,
        "prompts": prompts,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rows_per_s": round(rows / timed, 1) if timed else None,
        **_EXTRA,
    }
    print("RECORD " + json.dumps(record), flush=True)


def _run_child(stage: str, work: Path, prompts: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.run", "--stage", stage, "--workdir", str(work)]
    cmd += ["--prompts", str(prompts)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"stage {stage} failed:\n{proc.stderr[-3000:]}")
    for note in (ln for ln in proc.stderr.splitlines() if ln.startswith("NOTE ")):
        print(f"{stage} ({prompts}): {note[len('NOTE ') :]}", file=sys.stderr)
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RECORD "))
    return json.loads(line[len("RECORD ") :])


def _snakemake(work: Path, *args: str) -> float:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(work), "--cores", "2", *args, "--quiet", "all"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def workflow_records(prompts: int, work: Path) -> list[dict]:
    """The real workflow: a full run of one experiment, then a rerun after one lambda changed."""
    target = f"results/{EXPERIMENT}/metrics.csv"
    config = {
        "dataset": {"source": "synthetic", "synthetic": {"n_prompts": prompts, "seed": SEED}},
        "experiments": {EXPERIMENT: {"holdout": HOLDOUT, "lambdas": LAMBDAS}},
    }
    import yaml

    first = work / "bench.yaml"
    first.write_text(yaml.safe_dump(config))
    full = _snakemake(work, target, "--configfile", str(first))
    config["experiments"][EXPERIMENT]["lambdas"] = [1.0, 5.0, 10.0, 30.0]
    second = work / "bench_lambda.yaml"
    second.write_text(yaml.safe_dump(config))
    rerun = _snakemake(work, target, "--configfile", str(second))
    nothing = _snakemake(work, target, "--configfile", str(second))
    return [
        {
            "stage": "workflow_full",
            "prompts": prompts,
            "wall_s": round(full, 3),
            "peak_rss_mb": _max_job_rss(work),
        },
        {"stage": "workflow_rerun_lambda", "prompts": prompts, "wall_s": round(rerun, 3)},
        {"stage": "workflow_rerun_nothing", "prompts": prompts, "wall_s": round(nothing, 3)},
    ]


def demo_records(work: Path) -> list[dict]:
    """The README's demo, cold in a fresh working directory (numba compile, every experiment),
    then again with nothing to do; and how many lines it prints."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(work), "--cores", "2", "--configfile"]
    cmd += [str(ROOT / "config" / "demo.yaml")]
    records = []
    for stage in ("workflow_demo", "workflow_demo_nothing"):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"the demo failed:\n{proc.stderr[-3000:]}")
        lines = (proc.stdout + proc.stderr).splitlines()
        records.append(
            {
                "stage": stage,
                "prompts": 3000,
                "wall_s": round(wall, 3),
                "output_lines": len(lines),
                "lines_over_200_chars": sum(len(ln) > 200 for ln in lines),
            }
        )
    records[0]["peak_rss_mb"] = _max_job_rss(work)
    return records


def _max_job_rss(work: Path) -> float | None:
    """Largest max_rss (MB) of any job, from the rules' Snakemake benchmark files."""
    values = []
    for tsv in (work / "benchmarks").rglob("*.tsv"):
        lines = tsv.read_text().splitlines()
        if len(lines) >= 2:
            header, row = lines[0].split("\t"), lines[-1].split("\t")
            values.append(float(row[header.index("max_rss")]))
    return round(max(values), 1) if values else None


SETUP = ("synthesize", "long_form", "stream", "simulate_latency", "evaluate_cold")


def benchmark(prompts: int, workflow: bool = True, stages: list[str] | None = None) -> list[dict]:
    """Every stage (or ``stages``, after the setup they read) at one size, each in a fresh
    process, plus the real workflow."""
    with tempfile.TemporaryDirectory(prefix=f"dacr-bench-{prompts}-") as tmp:
        work = Path(tmp)
        if stages:
            for stage in SETUP:
                if stage not in stages:
                    _run_child(stage, work, prompts)
        records = [_run_child(stage, work, prompts) for stage in stages or STAGES]
        if workflow:
            wf = work / "workflow"
            wf.mkdir()
            records += [
                {"cpu_s": None, "peak_rss_mb": None, "rows_per_s": None, **r}
                for r in workflow_records(prompts, wf)
            ]
        shutil.rmtree(work / "results", ignore_errors=True)
    return records


def scaling_exponents(records: list[dict]) -> dict[str, float]:
    """Slope of log(wall) against log(prompts) per stage (1 = linear)."""
    out = {}
    for stage in {r["stage"] for r in records}:
        pts = sorted((r["prompts"], r["wall_s"]) for r in records if r["stage"] == stage)
        if len(pts) >= 2 and all(w > 0 for _, w in pts):
            x, y = np.log([p for p, _ in pts]), np.log([w for _, w in pts])
            out[stage] = round(float(np.polyfit(x, y, 1)[0]), 2)
    return out


def _cell(record: dict, key: str) -> str:
    value = record.get(key)
    return "–" if value is None else str(value)


def markdown(records: list[dict]) -> str:
    head = (
        "| stage | prompts | wall s | CPU s | peak RSS MB | rows/s | output lines |\n"
        "|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {r['stage']} | {r['prompts']} | {r['wall_s']} | {_cell(r, 'cpu_s')} | "
        f"{_cell(r, 'peak_rss_mb')} | {_cell(r, 'rows_per_s')} | {_cell(r, 'output_lines')} |"
        for r in records
    ]
    return "\n".join([head, *rows])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, nargs="+", default=[3000])
    parser.add_argument("--json", type=Path, help="write the records here")
    parser.add_argument("--no-workflow", action="store_true", help="skip the Snakemake runs")
    parser.add_argument(
        "--demo", action="store_true", help="only the README's demo, cold (workflow_demo)"
    )
    parser.add_argument("--stages", nargs="+", choices=STAGES, help="only these stages")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        _child(args.stage, args.workdir, args.prompts[0])
        return
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    records = []
    if args.demo:
        with tempfile.TemporaryDirectory(prefix="dacr-demo-") as tmp:
            records = demo_records(Path(tmp))
        args.prompts = []
    for n in args.prompts:
        records += benchmark(n, workflow=not args.no_workflow, stages=args.stages)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=1))
    print(markdown(records))
    if len(args.prompts) > 1:
        print("\nscaling exponent (wall ~ prompts^k):", json.dumps(scaling_exponents(records)))


if __name__ == "__main__":
    main()
