"""The honest-decision contract, checked: no decision depends on what was unknown when made.

:func:`check_router` replays a router three times against the same requests: as given; with
the realised outcomes of every request after ``cut`` shuffled among them; and with the
outcomes of every model the router did not choose replaced by noise. The first change may
move only decisions after ``cut``, the second none at all. A batch router is also replayed with
the requests after ``cut`` changed, which may move only its later decisions. The tests run it
over every policy the workflow reports; ``docs/custom_routers.md`` shows it on a router of
your own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from dacr.route.base import Context, Outcomes


class ContractViolation(AssertionError):
    """A router's decision depended on something it could not have known."""


def _shuffle_after(outcomes: Outcomes, cut: int, rng: np.random.Generator) -> Outcomes:
    n = outcomes.quality.shape[0]
    order = np.arange(n)
    order[cut + 1 :] = cut + 1 + rng.permutation(n - cut - 1)
    return Outcomes(*(a[order] for a in vars(outcomes).values()))


def _noise_unchosen(outcomes: Outcomes, choice: np.ndarray, rng) -> Outcomes:
    chosen = np.zeros(outcomes.quality.shape, dtype=bool)
    chosen[np.arange(len(choice)), choice] = True
    noisy = []
    for a in vars(outcomes).values():
        scrambled = rng.permuted(a, axis=1) * rng.uniform(0.5, 2.0, a.shape)
        noisy.append(np.where(chosen, a, scrambled))
    quality, cost, latency, _ = noisy
    violation = np.where(chosen, outcomes.violation, (rng.random(chosen.shape) < 0.5) * 1.0)
    return Outcomes(np.clip(quality, 0, 1), cost, latency, violation)


def _perturb_requests_after(ctx: Context, cut: int, rng: np.random.Generator) -> Context:
    def later(a):
        if a is None or not isinstance(a, np.ndarray) or a.ndim == 0 or len(a) != ctx.n:
            return a
        out = a.copy()
        tail = out[cut + 1 :]
        out[cut + 1 :] = tail[rng.permutation(len(tail))]
        return out

    changes = {k: later(v) for k, v in vars(ctx).items() if k not in ("latency", "q_extra")}
    changes["ts"] = ctx.ts  # stream times stay ordered: arrivals are tested on their own
    changes["q_extra"] = {k: later(v) for k, v in ctx.q_extra.items()}
    return replace(ctx, **changes)


def check_router(
    name: str,
    run: Callable[[Context, Outcomes], np.ndarray],
    ctx: Context,
    outcomes: Outcomes,
    *,
    cut: int,
    batch: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Check the contract for a router (module docstring); ``run(ctx, outcomes)`` replays a
    fresh instance of it and returns its choices. Returns the unperturbed choices.

    Raises
    ------
    ContractViolation
        Naming the router, the perturbation and the first decision that moved.
    """
    if not 0 <= cut < ctx.n - 1:
        raise ValueError(f"cut={cut} must lie in [0, {ctx.n - 2}]")
    rng = np.random.default_rng([seed, 11])
    base = np.asarray(run(ctx, outcomes))
    _same(
        name,
        "the outcomes of later requests were shuffled",
        base,
        run(ctx, _shuffle_after(outcomes, cut, rng)),
        cut,
    )
    _same(
        name,
        "the unchosen models' outcomes were replaced",
        base,
        run(ctx, _noise_unchosen(outcomes, base, rng)),
        len(base) - 1,
    )
    if batch:
        moved = run(_perturb_requests_after(ctx, cut, rng), outcomes)
        _same(name, "later requests were changed", base, moved, cut)
    return base


def _same(name: str, what: str, base: np.ndarray, other: np.ndarray, upto: int) -> None:
    diff = np.flatnonzero(base[: upto + 1] != np.asarray(other)[: upto + 1])
    if diff.size:
        t = int(diff[0])
        raise ContractViolation(
            f"policy {name!r}: decision {t} changed from model {int(base[t])} to "
            f"{int(other[t])} when {what} (only decisions after {upto} may change)"
        )
