"""The resume ledger: an append-only JSONL of finished calls, fsync'd row by row.

Every finished call (success or failure) is appended as soon as it finishes, so a crash or
``kill -9`` loses nothing. On resume the ledger is compacted to one row per (qid, model): the
latest success measured at the endpoint the config now names for that model, and with the
request options of this run, else the latest row of any kind. A success recorded at another
``base_url``, as another ``served_as``, or with other options (``request``: api, streaming,
max_tokens) is not counted as done, so the pair is measured again: turning on streaming
measures every pair's time to first token instead of reusing rows that have none.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dacr.io import write_jsonl

log = logging.getLogger(__name__)

LOG_COLUMNS = (
    "qid",
    "model",
    "served_as",
    "provider",
    "ok",
    "error",
    "status",
    "latency_s",
    "ttft_s",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "attempts",
    "sent_ts",
    "total_s",
    "message",
    "base_url",
    "request",
)


def parse_jsonl(data: bytes, path: Path) -> list[dict]:
    """Parse JSONL bytes read from ``path`` (named in errors) into dicts."""
    rows = []
    for i, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{path}:{i}: not valid JSON ({exc.msg}); only a truncated last line is "
                "repaired automatically — move the file aside to start over"
            ) from exc
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def read_jsonl_records(path: str | os.PathLike, *, repair: bool = False) -> list[dict]:
    """Read a JSONL file, tolerating a truncated last line from an interrupted writer.

    Parameters
    ----------
    path : str or path-like
        The file; a missing file reads as empty.
    repair : bool
        Truncate the file back to its last newline (so appends start on a fresh line).

    Returns
    -------
    list of dict
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        log.warning(
            "%s: ignoring a truncated last line (%d bytes) left by an interrupted run%s",
            path,
            len(data) - cut,
            "; truncating the file" if repair else "",
        )
        if repair:
            with open(path, "r+b") as fh:
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
    return parse_jsonl(data[:cut], path)


def default_ledger_path(out_path: str | os.PathLike) -> Path:
    """The ledger kept beside ``out_path``: ``<dir>/.<stem>.ledger.jsonl``."""
    out_path = Path(out_path)
    return out_path.with_name(f".{out_path.stem}.ledger.jsonl")


def is_current_success(row: Mapping[str, Any], endpoints: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether ``row`` is a success that still counts: measured at the endpoint (``base_url``
    and ``served_as``) that ``endpoints[model]`` names now, and with its ``request`` options
    when it names them. Rows of models ``endpoints`` does not know count when ``ok``; rows
    from before ``base_url`` (or ``request``) was logged never count."""
    if not row.get("ok"):
        return False
    want = endpoints.get(str(row.get("model")))
    if want is None:
        return True
    same_request = "request" not in want or row.get("request") == want["request"]
    return (
        row.get("base_url") == want["base_url"]
        and row.get("served_as") == want["served_as"]
        and same_request
    )


def compact_rows(
    rows: Sequence[Mapping[str, Any]], endpoints: Mapping[str, Mapping[str, str]]
) -> list[dict]:
    """One row per (qid, model): the latest current success, else the latest row.

    Parameters
    ----------
    rows : sequence of mapping
        Ledger rows in the order they were logged.
    endpoints : mapping
        RouterBench id -> ``{"base_url", "served_as", ...}`` of the current config
        (:func:`dacr.telemetry.models.endpoint_of`).

    Returns
    -------
    list of dict
        In the order each pair was first logged.
    """
    best: dict[tuple[str, str], tuple[int, int]] = {}
    for i, row in enumerate(rows):
        key = (str(row.get("qid")), str(row.get("model")))
        rank = int(is_current_success(row, endpoints))
        if key not in best or rank >= best[key][0]:
            best[key] = (rank, i)
    return [dict(rows[i]) for _, i in best.values()]


def compact_ledger(path: Path, endpoints: Mapping[str, Mapping[str, str]]) -> list[dict]:
    """Read the ledger at ``path`` (repairing a truncated last line), compact it with
    :func:`compact_rows`, rewrite it atomically if that dropped rows, and return its rows."""
    rows = read_jsonl_records(path, repair=True)
    compacted = compact_rows(rows, endpoints)
    if len(compacted) < len(rows):
        write_jsonl(compacted, path)
        log.info("%s: compacted %d rows to %d, one per pair", path, len(rows), len(compacted))
    return compacted


def full_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with exactly :data:`LOG_COLUMNS`, in order (absent ones null)."""
    return {c: row.get(c) for c in LOG_COLUMNS}


class JsonlAppender:
    """Single writer that appends rows to a JSONL file, flushed and fsync'd as they come.

    Rows from many tasks go through one queue, so lines never interleave. The writer drains
    whatever is queued, writes it, flushes and fsyncs (in a thread, so the event loop keeps
    sending) before it takes the next batch: a "group commit", one fsync per batch.
    Create it inside a running event loop and ``await close()`` when done.

    Parameters
    ----------
    path : str or path-like
        File to append to (created if missing).
    """

    _STOP = object()

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # closed in close()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run())
        self.n_written = 0

    def put(self, row: Mapping[str, Any]) -> None:
        """Queue one row; raises if the writer has died (e.g. disk full)."""
        if self._task.done():
            self._task.result()
            raise RuntimeError(f"{self.path}: writer stopped; cannot append")
        self._queue.put_nowait(json.dumps(row) + "\n")

    async def close(self) -> None:
        """Write everything queued, then close the file."""
        if not self._task.done():
            self._queue.put_nowait(self._STOP)
        try:
            await self._task
        finally:
            self._fh.close()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            lines = [b for b in batch if b is not self._STOP]
            if lines:
                await asyncio.to_thread(self._write, "".join(lines))
                self.n_written += len(lines)
            if len(lines) < len(batch):
                return

    def _write(self, text: str) -> None:
        self._fh.write(text)
        self._fh.flush()
        os.fsync(self._fh.fileno())
