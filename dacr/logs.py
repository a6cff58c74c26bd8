"""Logging set-up shared by the workflow scripts."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import TracebackType

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send dacr's log records to ``log_path`` (and stderr), replacing earlier handlers."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format=_FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def says_it_all(exc: BaseException) -> bool:
    """Whether an error's message is the whole story (bad input, a missing or unwritable file,
    an unreachable service): those are reported without a traceback."""
    return isinstance(exc, ValueError | OSError) or bool(getattr(exc, "user_facing", False))


def _log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """Write an uncaught exception to the job's log, so the log says why the job failed: the
    message alone when it says everything, with the traceback for anything unexpected."""
    info = None if says_it_all(exc) else (exc_type, exc, tb)
    logging.getLogger("dacr").critical("%s: %s", exc_type.__name__, exc, exc_info=info)
