"""Logging set-up shared by the workflow scripts."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import TracebackType

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HEADLINE = "dacr.headline"
# DACR_VERBOSE=1 prints every record on the terminal too, not only warnings and headlines.
VERBOSE_ENV = "DACR_VERBOSE"


def headline(message: str, *args: object) -> None:
    """One short line for the terminal (and the log): what a job found, not its tables."""
    logging.getLogger(HEADLINE).info(message, *args)


class _TerminalFormat(logging.Formatter):
    """Headlines as bare lines; other records with time, level and logger."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == HEADLINE:
            return record.getMessage()
        return super().format(record)


class _Terse(logging.Filter):
    """The terminal gets warnings, errors and headlines; the job's log file gets everything."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name == HEADLINE


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send dacr's log records to ``log_path`` and warnings and headlines to stderr (every
    record with ``DACR_VERBOSE=1``, or when there is no log file), replacing earlier handlers."""
    terminal = logging.StreamHandler()
    terminal.setFormatter(_TerminalFormat(_FORMAT))
    if log_path is not None and os.environ.get(VERBOSE_ENV, "") in ("", "0"):
        terminal.addFilter(_Terse())
    handlers: list[logging.Handler] = [terminal]
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
