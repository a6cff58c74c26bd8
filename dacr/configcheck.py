"""The config, checked before any job: one readable paragraph per mistake.

Snakemake's own validation prints the whole schema and config (hundreds of lines) for a typo.
:func:`check_config` validates first against ``config/schema.yaml`` and raises a
:class:`ConfigError`. Each message names the key path, the bad value and what is valid, and
suggests the closest valid key for a misspelt one (``did you mean 'tau_seconds'?``).
:func:`coerce_cli_numbers` turns numbers that ``--config`` passed as strings (``lambdas=[1,5]``
gives ``['1', '5']``) into numbers where the schema wants numbers.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


class ConfigError(ValueError):
    """A config value or key the schema refuses."""


def load_schema(path: str | Path) -> dict:
    """The YAML schema as a dict."""
    return yaml.safe_load(Path(path).read_text())


def _resolve(schema: Mapping, root: Mapping) -> Mapping:
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            return schema
        node: Mapping = root
        for part in ref[2:].split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _types(schema: Mapping) -> set[str]:
    t = schema.get("type", [])
    return {t} if isinstance(t, str) else set(t)


def _number(value: str, integer: bool) -> object:
    try:
        number = float(value)
    except ValueError:
        return value
    if integer:
        return int(number) if number.is_integer() else value
    return (
        int(number)
        if number.is_integer() and "." not in value and "e" not in value.lower()
        else number
    )


def coerce_cli_numbers(value: object, schema: Mapping, root: Mapping | None = None) -> object:
    """``value`` with strings that the schema wants as numbers converted (in place for
    containers), so ``--config 'lambdas=[1,5]'`` works like the same list in a file."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    types = _types(schema)
    if isinstance(value, str) and types & {"number", "integer"} and "string" not in types:
        return _number(value.strip(), "number" not in types)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            value[i] = coerce_cli_numbers(item, schema["items"], root)
    elif isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                value[key] = coerce_cli_numbers(item, sub, root)
    return value


def _path(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def _allowed_keys(error: ValidationError) -> list[str]:
    return sorted(error.schema.get("properties", {}))


def _describe(error: ValidationError) -> str:
    where = _path(error)
    if error.validator == "additionalProperties":
        allowed = _allowed_keys(error)
        extra = (
            sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        )
        lines = []
        for key in extra:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            at = f"{where}.{key}" if where != "(top level)" else key
            lines.append(f"config key {at!r} is not a known key{hint} Valid keys here: {allowed}.")
        return " ".join(lines)
    if error.validator == "oneOf" and where.startswith("experiments."):
        given = sorted(k for k in ("holdout", "test_fraction", "lodo") if k in error.instance)
        return (
            f"config key {where!r}: give exactly one of holdout (domains held out, OOD), "
            "test_fraction (a random share, IID) or lodo (families, leave-one-domain-out); "
            f"found {given}."
        )
    key, value, rule = f"config key {where!r}", error.instance, error.validator_value
    if error.validator == "enum":
        return f"{key}: {value!r} is not valid; choose one of {rule}."
    if error.validator == "type":
        return f"{key}: {value!r} is not of type {rule}."
    if error.validator in BOUNDS:
        return f"{key}: {value!r} must be {BOUNDS[error.validator]} {rule}."
    if error.validator == "pattern":
        form = error.schema.get("description") or rule
        return f"{key}: {value!r} does not have the expected form: {form}."
    return f"config key {where!r}: {error.message}."


def _leaves(errors: Iterable[ValidationError]) -> list[ValidationError]:
    """The most specific errors (a oneOf's or anyOf's own report rather than its branches')."""
    out = []
    for error in errors:
        if error.validator in ("oneOf", "anyOf") and error.context:
            specific = [e for e in error.context if e.validator not in ("required",)]
            if specific and error.validator == "anyOf":
                out += _leaves(specific)
                continue
        out.append(error)
    return out


def config_errors(config: Mapping, schema: Mapping) -> list[str]:
    """One message per schema violation, in a stable order."""
    validator = Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.validator)
    )
    return [_describe(e) for e in _leaves(errors)]


def check_config(config: dict, schema_path: str | Path) -> dict:
    """Coerce ``--config`` numbers, validate, and raise one paragraph if anything is wrong."""
    schema = load_schema(schema_path)
    coerce_cli_numbers(config, schema)
    errors = config_errors(config, schema)
    if errors:
        head = (
            "the config has a mistake"
            if len(errors) == 1
            else f"the config has {len(errors)} mistakes"
        )
        raise ConfigError(f"{head} (checked against {schema_path}):\n  " + "\n  ".join(errors))
    return config


def _project_path(path: str, basedir: str | Path) -> Path:
    return Path(path) if Path(path).is_absolute() else Path(basedir) / path


def path_problems(config: Mapping, basedir: str | Path) -> list[str]:
    """One sentence per path in the config that does not exist (dataset file, latency
    parameters, latency logs, model map, custom router modules)."""
    from dacr.provenance import source_digest

    problems = []

    def need(key: str, path: Path | str, what: str) -> None:
        if not Path(path).exists():
            problems.append(f"config key {key}: {what} '{path}' does not exist")

    ds = config["dataset"]
    if ds["source"] == "file":
        if not ds.get("path"):
            problems.append(
                "config key dataset.path: not set; dataset.source is 'file', so give a .pkl "
                "in a RouterBench layout, a dacr long .parquet, or your own .csv/.parquet"
            )
        else:
            need("dataset.path", ds["path"], "dataset file")
    need(
        "simulate_latency.config_file",
        _project_path(config["simulate_latency"]["config_file"], basedir),
        "latency parameter file",
    )
    collect = False
    for name, exp in config["experiments"].items():
        if exp.get("latency") != "measured":
            continue
        if exp.get("latency_log"):
            need(f"experiments.{name}.latency_log", exp["latency_log"], "latency log")
        else:
            collect = True
    if collect:
        models_file = _project_path(config["telemetry"]["models_file"], basedir)
        need("telemetry.models_file", models_file, "model map")
    for name, spec in config.get("custom_policies", {}).items():
        if not source_digest(spec["class"], basedir):
            module = spec["class"].split(":")[0]
            problems.append(
                f"config key custom_policies.{name}.class: module '{module}' of "
                f"'{spec['class']}' cannot be found; install its package or put it on PYTHONPATH"
            )
    return problems


def check_paths(config: Mapping, basedir: str | Path) -> None:
    """Raise :class:`ConfigError` when a path the user typed is missing. Snakemake would take
    a missing input whose outputs exist for a deleted source and quietly keep old results."""
    problems = path_problems(config, basedir)
    if problems:
        raise ConfigError("; ".join(problems))
