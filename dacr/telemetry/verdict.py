"""Whether a collection is finished: every planned pair measured at the current endpoint, or
few enough failures (``telemetry.max_failed_share``), and no provider stopped by its breaker.
Otherwise the error says how many pairs failed and why, with an example server message."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dacr.telemetry.ledger import full_row, is_current_success


class CollectionFailedError(RuntimeError):
    """Pairs are left without a measurement: the output was not written, the ledger keeps
    every success so a rerun sends only the rest. ``summary`` holds the counts."""

    user_facing = True  # the message says it all: logged without a traceback

    def __init__(self, message: str, summary: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.summary = dict(summary)


@dataclass
class Verdict:
    """The planned pairs sorted into measured (``ok_rows``), failed and never sent."""

    ok_rows: list[dict] = field(default_factory=list)
    failed_rows: list[dict] = field(default_factory=list)
    unsent: list[tuple[str, str]] = field(default_factory=list)
    output_rows: list[dict] = field(default_factory=list)  # ok and failed, in plan order

    @property
    def n_pairs(self) -> int:
        return len(self.ok_rows) + len(self.failed_rows) + len(self.unsent)

    @property
    def n_bad(self) -> int:
        return len(self.failed_rows) + len(self.unsent)


def judge(
    pairs: Sequence[tuple[Mapping, str]],
    rows: Sequence[Mapping[str, Any]],
    endpoints: Mapping[str, Mapping[str, str]],
) -> Verdict:
    """Sort the planned ``pairs`` by their (compacted) ledger ``rows``.

    A pair is measured if its row is a success at the current endpoint, failed if its row is
    a failure, and unsent if it has no row, or only a success from another endpoint.
    """
    by_pair = {(str(r.get("qid")), str(r.get("model"))): r for r in rows}
    verdict = Verdict()
    for ev, model in pairs:
        row = by_pair.get((ev["qid"], model))
        if row is None or (row.get("ok") and not is_current_success(row, endpoints)):
            verdict.unsent.append((ev["qid"], model))
            continue
        kept = full_row(row)
        (verdict.ok_rows if kept["ok"] else verdict.failed_rows).append(kept)
        verdict.output_rows.append(kept)
    return verdict


def accepted(verdict: Verdict, max_failed_share: float, stopped: Sequence[str]) -> bool:
    """Whether the output may be written: no provider stopped, failures within the share."""
    if stopped or verdict.unsent:
        return False
    return verdict.n_bad <= max_failed_share * verdict.n_pairs


def failure_message(
    verdict: Verdict,
    *,
    max_failed_share: float,
    stopped: Sequence[str],
    ledger: Path,
    out_path: Path,
) -> str:
    """The error of an unfinished collection: counts by error class and status, an example
    server message for each, counts by model, the stopped providers and what to do."""
    n_ok = len(verdict.ok_rows)
    lines = [
        f"latency collection unfinished: {verdict.n_bad} of {verdict.n_pairs} (qid, model) "
        f"pairs have no successful measurement (telemetry.max_failed_share="
        f"{max_failed_share:g} allows {int(max_failed_share * verdict.n_pairs)}"
        + ("; a stopped provider always fails the run)" if stopped else ")")
    ]
    lines += _error_lines(verdict.failed_rows)
    if verdict.unsent:
        lines.append(f"  {len(verdict.unsent)} pair(s) not sent: their provider was stopped")
    by_model = Counter(r["model"] for r in verdict.failed_rows)
    by_model.update(model for _, model in verdict.unsent)
    lines.append(f"  by model: {dict(sorted(by_model.items()))}")
    lines += [f"  stopped: {reason}" for reason in stopped]
    lines.append(
        f"The {n_ok} successful pair(s) are kept in {ledger}; {out_path} was not written. "
        "Fix the cause (endpoint, key, models.yaml) and rerun: only the failed pairs are sent."
    )
    return "\n".join(lines)


def _error_lines(failed_rows: Sequence[Mapping[str, Any]]) -> list[str]:
    groups: dict[tuple[str, Any], list[Mapping[str, Any]]] = {}
    for row in failed_rows:
        groups.setdefault((str(row.get("error")), row.get("status")), []).append(row)
    lines = []
    for (error, status), group in sorted(groups.items(), key=lambda g: -len(g[1])):
        example = group[0]
        lines.append(
            f"  {len(group)} x {error} (status {status}), e.g. qid {example['qid']} model "
            f"{example['model']}: {example.get('message')!r}"
        )
    return lines


def error_counts(failed_rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Failed pairs per error class (the ``errors`` entry of the summary)."""
    return dict(Counter(str(r.get("error")) for r in failed_rows))
