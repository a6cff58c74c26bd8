"""Each stage's environment is sufficient: a fresh virtualenv built from its env file's package
list alone runs that stage's rules.

Conda is not reachable here, so each ``envs/<stage>.yaml`` is installed with pip (conda names
mapped to PyPI names by tests/test_envs.py's one table, versions from requirements-lock.txt),
with dacr itself on a ``.pth`` path (no further dependencies, like the env files' ``-e ..``).
Snakemake, which runs the jobs but is not in any job env, comes from one shared runner layer
appended after each env's own packages; it holds none of the stage packages (asserted).

The stages then run in pipeline order in one working directory, each in its own env with
``--allowed-rules`` its stage's rules, so every input a stage reads was written by the stage
before it in that stage's env. A rule that imports a module its env lacks fails the test with
the module, the rule and the env file.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.hub_server import FakeHub
from tests.openai_server import ModelBehaviour, label_answer, models_config, serve
from tests.test_envs import RULE_STAGE, STAGES, env_packages
from tests.workflow.conftest import write_config

pytestmark = pytest.mark.envs
ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lock.txt"
REVISION = "0123456789abcdef0123456789abcdef01234567"
HUB_FILE = "routerbench_0shot.pkl"
PAYLOAD = (ROOT / "tests" / "data" / "routerbench_0shot_7rows.pkl").read_bytes()
EXP, LODO, MEAS = "ood_gsm_mbpp", "lodo", "meas"
LODO_SUBS = [f"{LODO}__grade-school-math", f"{LODO}__hellaswag"]
PLOTS = (
    "quality_cost",
    "violation_cost",
    "latency_cdf",
    "reliability",
    "dacr_trace",
    "domain_heatmap",
    "regret",
)
TABLES = (
    "metrics.csv",
    "metrics_by_domain.csv",
    "calibration_ece.csv",
    "per_query.parquet",
    "dacr_trace.parquet",
)
REPORT = ("manifest.json", "router_summary.csv", "comparisons.csv", "summary.md")
STAGE_TARGETS = {
    "data": [
        "resources/synthetic/routerbench_synthetic_wide.pkl",
        f"resources/routerbench/{REVISION}/{HUB_FILE}",
        "results/data/routerbench_long.parquet",
    ],
    "stream": [
        f"results/{e}/{name}"
        for e in (EXP, *LODO_SUBS)
        for name in ("stream.jsonl", "latency_eff.jsonl")
    ]
    + [f"results/{MEAS}/stream.jsonl"],
    "telemetry": [
        f"results/{MEAS}/latency_measured.jsonl",
        f"results/{MEAS}/stream_labeled.jsonl",
    ],
    "embed": ["results/data/embeddings.npz"],
    "evaluate": [f"results/{e}/{t}" for e in (EXP, *LODO_SUBS) for t in TABLES]
    + [f"results/{EXP}/budget_curve.parquet", f"results/{EXP}/curves.parquet"],
    "report": [f"results/{EXP}/plots/{p}.png" for p in PLOTS]
    + [f"results/{EXP}/plots/budget_curve.png"]
    + [f"results/{EXP}/{t}" for t in REPORT]
    + [f"results/{LODO}/lodo_matrix.csv", f"results/{LODO}/lodo_heatmap.png"]
    + ["docs/quality_cost.png"],
}
MISSING = re.compile(r"No module named '([\w.]+)'")


def _pip(python: Path, *args: str, log: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    cmd += ["--no-compile", "--disable-pip-version-check", "-c", str(LOCK), *args]
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=1200)
    if proc.returncode != 0:
        raise AssertionError(f"pip install {' '.join(args)} failed:\n{log.read_text()[-3000:]}")


def _venv(where: Path, packages: list[str]) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    if packages:
        _pip(python, *packages, log=where / "pip.log")
    return python


def _site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def _stage_packages(stage: str) -> list[str]:
    return [f"{name}{spec}" for name, spec in sorted(env_packages(stage).items())]


@pytest.fixture(scope="module")
def venvs(tmp_path_factory) -> dict[str, Path]:
    """One virtualenv per env file (in parallel), plus the shared Snakemake runner layer
    (``runner``) appended to each."""
    base = tmp_path_factory.mktemp("venvs")
    jobs = {"runner": ["snakemake", "pygments"], **{s: _stage_packages(s) for s in STAGES}}
    workers = max(1, min(3, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(_venv, base / name, pkgs) for name, pkgs in jobs.items()}
        pythons = {name: f.result() for name, f in futures.items()}
    runner_site = _site_packages(pythons["runner"])
    for stage in STAGES:
        # after the env's own packages: dacr's source, then Snakemake's layer
        site = _site_packages(pythons[stage])
        (site / "zz_dacr_runner.pth").write_text(f"{ROOT}\n{runner_site}\n")
    return pythons


def _importable(python: Path, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(python), "-c", code]).returncode == 0


def test_the_runner_layer_holds_no_stage_package(venvs):
    from importlib.metadata import distributions

    site = _site_packages(venvs["runner"])
    names = {canonicalize_name(d.metadata["Name"]) for d in distributions(path=[str(site)])}
    stage_only = set().union(*(env_packages(s) for s in STAGES)) - set(env_packages("stream"))
    assert not names & stage_only, sorted(names & stage_only)


def test_heavy_packages_are_absent_where_the_design_says(venvs):
    assert not _importable(venvs["evaluate"], "openai")
    for module in ("torch", "numba"):
        assert not _importable(venvs["data"], module), module
    for module in ("sklearn", "numba", "openai", "matplotlib", "torch"):
        assert not _importable(venvs["stream"], module), module
    assert _importable(venvs["evaluate"], "numba") and _importable(venvs["report"], "seaborn")


@pytest.fixture(scope="module")
def services():
    with FakeHub() as hub, serve({"labeller": ModelBehaviour(answer=label_answer)}) as llm:
        hub.add_file("withmartian/routerbench", HUB_FILE, PAYLOAD, commit=REVISION)
        yield hub, llm


def _models_file(path: Path, base_url: str) -> str:
    import yaml

    from dacr.profile import model_ids

    served = {m: m for m in model_ids()}
    path.write_text(yaml.safe_dump(models_config(base_url, served, "DACR_TEST_KEY")))
    return str(path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, services) -> tuple[Path, str, dict]:
    hub, llm = services
    work = tmp_path_factory.mktemp("stages")
    holdout = ["grade-school-math", "mbpp"]
    config = {
        "default_experiments": False,
        "dataset": {
            "source": "synthetic",
            "synthetic": {"n_prompts": 400, "seed": 3},
            "hf_file": HUB_FILE,
            "revision": REVISION,
            "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
        },
        "lambdas": [1],
        "curve_lambdas": [0, 1, 100],
        "curve_thresholds": [0.0, 0.5, 1.0],
        "bootstrap_resamples": 20,
        "telemetry": {
            "models_file": _models_file(work / "models.yaml", llm.base_url),
            "concurrency": 16,
            "max_retries": 1,
        },
        "labels": {"base_url": llm.base_url, "model": "labeller", "api_key_env": "DACR_TEST_KEY"},
        "experiments": {
            EXP: {"holdout": holdout, "budget_sweep": [0.0003, 0.001]},
            LODO: {"lodo": ["grade-school-math", "hellaswag"]},
            MEAS: {
                "holdout": holdout,
                "latency": "measured",
                "domain_labels": "llm",
                "stream": {"max_queries": 40},
            },
        },
    }
    env = {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(work / "hf_home"),
        "HF_HUB_OFFLINE": "0",
        "DACR_TEST_KEY": "sk-test",
        "PYTHONNOUSERSITE": "1",
    }
    return work, write_config(work, config), env


FAILED: list[str] = []


def _missing_modules(work: Path) -> list[tuple[str, str]]:
    """(job log, module) for every 'No module named' in the jobs' logs."""
    found = []
    for log in sorted((work / "logs").rglob("*.log")):
        for module in MISSING.findall(log.read_text(errors="replace")):
            found.append((log.stem, module))
    return found


def run_stage(
    env_name: str, python: Path, rules: list[str], targets: list[str], workdir: tuple
) -> str | None:
    """Run ``rules`` (only those) for ``targets`` with ``python``'s env; None when they
    succeed, else why: the module the env lacks when a job's log says so."""
    work, config, extra_env = workdir
    for log in (work / "logs").rglob("*.log"):
        log.unlink()  # only this run's logs are read
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        **extra_env,
        "PATH": os.pathsep.join([str(python.parent), "/usr/bin", "/bin"]),
    }
    cmd = [str(python), "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(work), "--cores", "2", "--configfile", config]
    cmd += ["--allowed-rules", *rules, "--forcerun", *rules, "--", *targets]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env, timeout=1800)
    if proc.returncode == 0:
        return None
    output = proc.stdout + proc.stderr
    missing = _missing_modules(work)  # an import inside a job, after its log was set up
    if not missing and MISSING.search(output):  # an import at the top of a rule's script
        rule = re.search(r"Error in rule (\w+):", output)
        missing = [(rule.group(1) if rule else "?", MISSING.search(output).group(1))]
    if missing:
        job, module = missing[0]
        return (
            f"envs/{env_name}.yaml lacks module {module!r} (imported by job {job}): add its "
            f"package to pyproject's [{env_name}] extra and to the env file"
        )
    return f"stage {env_name} failed in its env:\n{output[-4000:]}"


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_runs_in_its_own_env_alone(stage, venvs, workdir):
    if FAILED:
        pytest.skip(f"an earlier stage failed ({', '.join(FAILED)}); its outputs are missing")
    rules = sorted(r for r, s in RULE_STAGE.items() if s == stage)
    why = run_stage(stage, venvs[stage], rules, STAGE_TARGETS[stage], workdir)
    if why:
        FAILED.append(stage)
        pytest.fail(why)
    for target in STAGE_TARGETS[stage]:
        assert (workdir[0] / target).exists(), target


def test_a_rule_run_in_an_env_that_lacks_its_imports_names_the_module(venvs, workdir):
    if "data" in FAILED or "stream" in FAILED:
        pytest.skip("the long form and the stream are missing")
    target = f"results/{EXP}/features.npz"
    why = run_stage("stream", venvs["stream"], ["build_features"], [target], workdir)
    # dacr.features imports joblib (for its parallel TF-IDF) before scikit-learn
    assert why is not None and why.startswith("envs/stream.yaml lacks module 'joblib'"), why
    assert "(imported by job build_features)" in why
    assert not (workdir[0] / target).exists()
