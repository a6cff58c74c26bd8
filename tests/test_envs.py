"""The conda environment and the lock file stay honest: conda itself is not reachable here, so
these tests check every rule's env file, every pin, and agreement with pyproject and with what
is installed."""

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
# conda-forge names of PyPI distributions that differ
CONDA_NAMES = {"matplotlib": "matplotlib-base", "seaborn": "seaborn-base"}
# What runs the workflow rather than its jobs: not needed inside the jobs' environment.
WORKFLOW_ONLY = {"snakemake", "pygments"}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _runtime_requirements() -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in _pyproject()["project"]["dependencies"]]
    return {canonicalize_name(r.name): r for r in reqs}


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "envs" / "dacr.yaml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and not dep.startswith(("python ", "pip")):
            name, _, spec = dep.partition(" ")
            pins[canonicalize_name(name)] = spec.replace(" ", "")
    return pins


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


def test_every_rule_names_an_existing_conda_env():
    blocks = _rule_blocks()
    assert len(blocks) >= 15
    for path, name, block in blocks:
        match = re.search(r"conda:\s*\n\s*\"([^\"]+)\"", block)
        assert match, f"{path.name}: rule {name} has no conda: directive"
        assert (path.parent / match.group(1)).resolve().is_file(), f"rule {name}: {match.group(1)}"


def test_every_conda_dependency_is_pinned_like_pyproject():
    pins = _conda_pins()
    for name, req in _runtime_requirements().items():
        if name in WORKFLOW_ONLY:
            continue
        conda_name = canonicalize_name(CONDA_NAMES.get(name, name))
        assert conda_name in pins, f"envs/dacr.yaml lacks {conda_name} (pyproject: {req})"
        assert pins[conda_name] == str(req.specifier) or set(pins[conda_name].split(",")) == set(
            str(req.specifier).split(",")
        ), f"{conda_name}: envs/dacr.yaml has {pins[conda_name]!r}, pyproject {req.specifier}"
    for name, spec in pins.items():
        assert spec, f"envs/dacr.yaml: {name} is not pinned"


@pytest.mark.parametrize("name", sorted(_runtime_requirements()))
def test_installed_versions_satisfy_pyproject(name):
    req = _runtime_requirements()[name]
    try:
        installed = version(req.name)
    except PackageNotFoundError:
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
    for name, req in _runtime_requirements().items():
        assert name in lock, f"requirements-lock.txt lacks {name}"
        assert req.specifier.contains(lock[name], prereleases=True), f"{name} {lock[name]} vs {req}"
        installed = version(req.name)
        assert installed == lock[name], f"{name}: installed {installed}, locked {lock[name]}"
