"""``config/models.yaml``: where each RouterBench model is served, under which id, at what price.

The file aligns each RouterBench model id with a provider (base URL and the name of the
environment variable holding its API key), the id the provider serves it as, and its prices.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dacr.io import read_parquet
from dacr.profile import model_ids

_PROVIDER_KEYS = ("base_url", "api_key_env")
_MODEL_KEYS = ("provider", "served_as", "price_in_per_1m", "price_out_per_1m")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load_models_config(path: str | os.PathLike) -> dict[str, dict[str, dict[str, Any]]]:
    """Read and validate the model-alignment config (``config/models.yaml``).

    Parameters
    ----------
    path : str or path-like
        YAML file with ``providers.<name>: {base_url, api_key_env}`` and
        ``models.<RouterBench id>: {provider, served_as, price_in_per_1m, price_out_per_1m}``.

    Returns
    -------
    dict
        ``{"providers": {...}, "models": {...}}`` with prices as floats.

    Raises
    ------
    ValueError
        If the file is not YAML, a key is missing or unknown, a model id is not a RouterBench
        id, a model names an undefined provider, or a price is not a finite number >= 0. The
        message names the file, the key path and the bad value.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    return validate_models_config(raw, source=str(path))


def validate_models_config(
    raw: Any, *, source: str = "<models config>"
) -> dict[str, dict[str, dict[str, Any]]]:
    """Validate a parsed models config; see :func:`load_models_config`.

    Parameters
    ----------
    raw : Any
        The parsed YAML (or an equivalent dict built in code).
    source : str
        Name used in error messages (the file path).

    Returns
    -------
    dict
        The normalised config.
    """
    top = _mapping(raw, source, "<top level>")
    _no_unknown_keys(top, ("providers", "models"), source, "")
    providers = {
        name: _validate_provider(name, spec, source)
        for name, spec in _mapping(top.get("providers"), source, "providers").items()
    }
    known_ids = set(model_ids())
    models = {
        mid: _validate_model(mid, spec, providers, known_ids, source)
        for mid, spec in _mapping(top.get("models"), source, "models").items()
    }
    if not models:
        raise ValueError(f"{source}: key 'models' is empty; map at least one RouterBench id")
    return {"providers": providers, "models": models}


def _mapping(value: Any, source: str, key: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(
            f"{source}: key '{key}' must be a mapping, got {type(value).__name__} {value!r}"
        )
    return value


def _no_unknown_keys(spec: dict, valid: Sequence[str], source: str, prefix: str) -> None:
    unknown = sorted(str(k) for k in spec if k not in valid)
    if unknown:
        raise ValueError(
            f"{source}: unknown key(s) {unknown} under '{prefix or '<top level>'}'; "
            f"valid keys: {list(valid)}"
        )


def _required(spec: dict, key: str, source: str, prefix: str) -> Any:
    if key not in spec:
        raise ValueError(f"{source}: missing key '{prefix}.{key}'")
    return spec[key]


def _nonempty_str(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{source}: key '{key}' must be a non-empty string, got {value!r}")
    return value


def _validate_provider(name: Any, spec: Any, source: str) -> dict[str, str]:
    prefix = f"providers.{name}"
    spec = _mapping(spec, source, prefix)
    _no_unknown_keys(spec, _PROVIDER_KEYS, source, prefix)
    base_url = _nonempty_str(
        _required(spec, "base_url", source, prefix), source, f"{prefix}.base_url"
    )
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(
            f"{source}: key '{prefix}.base_url' must start with http:// or https://, "
            f"got {base_url!r}"
        )
    env = _required(spec, "api_key_env", source, prefix)
    if not isinstance(env, str) or not _ENV_NAME.match(env):
        raise ValueError(
            f"{source}: key '{prefix}.api_key_env' must name an environment variable "
            f"(letters, digits, underscores), got {env!r}"
        )
    return {"base_url": base_url, "api_key_env": env}


def _validate_model(
    mid: Any, spec: Any, providers: Mapping[str, Any], known_ids: set[str], source: str
) -> dict[str, Any]:
    prefix = f"models.{mid}"
    if mid not in known_ids:
        raise ValueError(
            f"{source}: key '{prefix}' is not a RouterBench model id; valid: {sorted(known_ids)}"
        )
    spec = _mapping(spec, source, prefix)
    _no_unknown_keys(spec, _MODEL_KEYS, source, prefix)
    provider = _required(spec, "provider", source, prefix)
    if provider not in providers:
        raise ValueError(
            f"{source}: key '{prefix}.provider' names unknown provider {provider!r}; "
            f"defined providers: {sorted(providers)}"
        )
    served_as = _nonempty_str(
        _required(spec, "served_as", source, prefix), source, f"{prefix}.served_as"
    )
    prices = {k: _price(spec, k, source, prefix) for k in ("price_in_per_1m", "price_out_per_1m")}
    return {"provider": provider, "served_as": served_as, **prices}


def _price(spec: dict, key: str, source: str, prefix: str) -> float:
    value = _required(spec, key, source, prefix)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if not numeric or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{source}: key '{prefix}.{key}' must be a finite number >= 0 (USD per 1M tokens), "
            f"got {value!r}"
        )
    return float(value)


def endpoint_of(cfg: Mapping[str, Any], model: str) -> dict[str, str]:
    """Where ``model`` is measured under ``cfg``: its ``provider``, ``base_url``, ``served_as``.

    A logged success counts for the current config only if it records this endpoint.
    """
    spec = cfg["models"][model]
    base_url = cfg["providers"][spec["provider"]]["base_url"]
    return {"provider": spec["provider"], "base_url": base_url, "served_as": spec["served_as"]}


def select_models(
    cfg: Mapping[str, Any], models: Sequence[str] | None, *, source: str, wanted_by: str
) -> list[str]:
    """The models to measure: ``models`` (each must be mapped in ``cfg``), or all mapped ones.

    Parameters
    ----------
    cfg : mapping
        Validated models config.
    models : sequence of str or None
        RouterBench ids to measure; ``None`` measures every model ``cfg`` maps.
    source : str
        The models file, for the error message.
    wanted_by : str
        Who asks for ``models`` (e.g. the dataset file), for the error message.

    Returns
    -------
    list of str
        Sorted RouterBench ids.

    Raises
    ------
    ValueError
        Before any call, if a wanted model has no entry in ``cfg``: the message names the
        missing models, the models file and what it maps.
    """
    if models is None:
        return sorted(cfg["models"])
    wanted = sorted({str(m) for m in models})
    if not wanted:
        raise ValueError(f"{wanted_by}: no models to measure")
    missing = [m for m in wanted if m not in cfg["models"]]
    if missing:
        raise ValueError(
            f"{source}: no entry under 'models' for {len(missing)} model(s) of {wanted_by}: "
            f"{missing}; every one needs latency, so map each (provider, served_as, "
            f"price_in_per_1m, price_out_per_1m). Mapped now: {sorted(cfg['models'])}"
        )
    return wanted


def dataset_models(long_path: str | os.PathLike) -> list[str]:
    """The distinct ``model`` ids of a long-form parquet (``routerbench_long.parquet``)."""
    models = read_parquet(long_path, columns=["model"])["model"].astype(str)
    return sorted(models.unique())


def cost_usd(
    prompt_tokens: int, completion_tokens: int, price_in_per_1m: float, price_out_per_1m: float
) -> float:
    """Cost of one call in USD from its token usage and per-1M-token prices.

    Parameters
    ----------
    prompt_tokens, completion_tokens : int
        Usage reported by the provider.
    price_in_per_1m, price_out_per_1m : float
        USD per 1M input / output tokens.

    Returns
    -------
    float
        ``(prompt_tokens * price_in + completion_tokens * price_out) / 1e6``.
    """
    return (prompt_tokens * price_in_per_1m + completion_tokens * price_out_per_1m) / 1e6
