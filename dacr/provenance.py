"""Provenance: what produced an experiment's results (``results/{experiment}/manifest.json``)."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import platform
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from dacr import __version__
from dacr.io import read_parquet_metadata, write_with

PACKAGES = (
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "numba",
    "snakemake",
    "huggingface_hub",
    "openai",
    "matplotlib",
    "seaborn",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages results depend on (None when absent)."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def module_files(modules: tuple[str, ...] | list[str]) -> list[Path]:
    """The source files of ``dacr.<name>`` modules and of every dacr module they import,
    transitively (a subpackage name stands for its ``__init__``), sorted."""
    package = Path(__file__).parent
    seen: dict[str, Path] = {}
    todo = [(f"dacr.{name}", True) for name in modules]
    while todo:
        name, required = todo.pop()
        if name in seen or name.split(".")[0] != "dacr":
            continue
        rel = Path(*name.split(".")[1:])
        path = package / rel / "__init__.py"
        if not path.exists():
            path = (package / rel).with_suffix(".py")
        if not path.exists():
            if required:
                raise FileNotFoundError(f"no dacr module {name!r} (looked for {path})")
            continue  # ``from dacr.x import name``: a function, not a submodule
        seen[name] = path
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                todo.append((node.module, True))
                todo += [(f"{node.module}.{a.name}", False) for a in node.names]
            elif isinstance(node, ast.Import):
                todo += [(a.name, True) for a in node.names]
    return sorted(p for n, p in seen.items() if n != "dacr")


def code_digest(modules: tuple[str, ...] | list[str]) -> str:
    """dacr's version plus a digest of the library code that ``modules`` run (imports
    followed transitively), for a rule's params: a job reruns when that code changes."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in module_files(modules):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def config_hash(config_slice: dict) -> str:
    """SHA-256 of the canonical JSON of a config slice."""
    text = json.dumps(config_slice, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _iso_mtime(path: str | Path) -> str:
    return datetime.fromtimestamp(Path(path).stat().st_mtime, tz=UTC).isoformat(timespec="seconds")


def build_manifest(
    *,
    experiment: str,
    config_slice: dict,
    long_path: str | Path,
    first_output: str | Path,
    last_output: str | Path,
    git_commit: str | None,
) -> dict:
    """The manifest of one experiment: config and its hash, data, code, environment, times."""
    data = read_parquet_metadata(long_path)
    return {
        "experiment": experiment,
        "config": config_slice,
        "config_sha256": config_hash(config_slice),
        "dataset": data.get("dataset"),
        "synthetic": data.get("dataset") == "synthetic",
        "dataset_source": data.get("source"),
        "dataset_file": data.get("input_file"),
        "dataset_sha256": data.get("input_sha256"),
        "decision_info": config_slice.get("evaluation", {}).get("decision_info"),
        "seeds": {"seed": config_slice.get("seed")},
        "dacr_version": __version__,
        "git_commit": git_commit,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "started_at": _iso_mtime(first_output),
        "finished_at": _iso_mtime(last_output),
    }


def run_manifest(out_path: str | Path, **kwargs: object) -> dict:
    """Rule entry point: write ``manifest.json``."""
    manifest = build_manifest(**kwargs)
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
    write_with(lambda tmp: tmp.write_text(text), out_path)
    return manifest


def report_mismatches(expected: dict[str, tuple[str | Path, str]]) -> list[str]:
    """For ``snakemake --report``: one sentence per experiment whose results were not built
    from this config. ``expected`` maps an experiment to (its manifest.json, the SHA-256 of the
    config slice the current config gives it). Experiments not built yet are left out (a
    report of some targets); none built at all is a mismatch too."""
    problems, built_any = [], False
    for experiment, (path, digest) in sorted(expected.items()):
        path = Path(path)
        if not path.exists():
            continue
        built_any = True
        try:
            built = json.loads(path.read_text()).get("config_sha256")
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{experiment}: {path} is unreadable ({exc})")
            continue
        if built != digest:
            problems.append(
                f"{experiment}: {path} was built from config slice {str(built)[:12]}, this "
                f"config gives {digest[:12]}"
            )
    if expected and not built_any:
        names = ", ".join(sorted(expected))
        problems.append(f"no experiment of this config ({names}) has results yet")
    return problems


def source_digest(class_path: str, import_root: str | Path | None = None) -> str:
    """SHA-256 (12 hex) of the module file behind ``class_path``, so a change to a custom
    router's code reruns the jobs that run it ("" when the source cannot be found)."""
    module_name = class_path.split(":")[0]
    if import_root is not None and str(import_root) not in sys.path:
        sys.path.append(str(import_root))
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return ""
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return ""
    return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()[:12]
