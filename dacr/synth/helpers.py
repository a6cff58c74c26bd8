"""Small vectorised helpers shared by the generator's stages."""

from __future__ import annotations

from typing import Any

import numpy as np

from dacr.synth.params import _SENTINEL, CHARS_PER_TOKEN


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _obj(values: Any) -> np.ndarray:
    """A 1-D object array (Python str/float elements) from any sequence or array."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values) if not isinstance(values, np.ndarray) else values
    return out


_repr = np.frompyfunc(repr, 1, 1)
_len = np.frompyfunc(len, 1, 1)


def _lengths(texts: np.ndarray) -> np.ndarray:
    return _len(texts).astype(np.int64) if texts.size else np.zeros(0, dtype=np.int64)


def _tokens(chars: np.ndarray) -> np.ndarray:
    """Token counts from character counts (``ceil(chars / CHARS_PER_TOKEN)``, at least 1)."""
    return np.maximum(1, np.ceil(chars / CHARS_PER_TOKEN)).astype(np.int64)


def _join_runs(pieces: np.ndarray, counts: np.ndarray, sep: str) -> np.ndarray:
    """Join consecutive runs of ``pieces`` (run ``k`` has ``counts[k]`` pieces) with ``sep``.

    One C-level ``str.join`` and one ``str.split`` replace a Python loop over the runs; empty
    runs give ``""``.
    """
    out = np.full(counts.size, "", dtype=object)
    if pieces.size == 0:
        return out
    seps = np.full(pieces.size, sep, dtype=object)
    seps[np.cumsum(counts[counts > 0]) - 1] = _SENTINEL
    woven = np.empty(2 * pieces.size, dtype=object)
    woven[0::2] = pieces
    woven[1::2] = seps
    out[counts > 0] = "".join(woven.tolist()).split(_SENTINEL)[:-1]
    return out


def _draw_from_pools(
    rng: np.random.Generator, pool: np.ndarray, start: np.ndarray, size: np.ndarray
) -> np.ndarray:
    """One uniform word per entry, entry ``k`` from ``pool[start[k] : start[k] + size[k]]``."""
    pick = np.floor(rng.random(start.size) * size).astype(np.int64)
    return pool[start + pick]


def _lognormal_factor(rng: np.random.Generator, size: Any, sigma: float) -> np.ndarray:
    """Mean-one log-normal noise."""
    return np.exp(sigma * rng.standard_normal(size) - 0.5 * sigma**2)
