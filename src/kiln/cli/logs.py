"""Log output for the CLI (the only place that configures logging): kaniko's levels and formats."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TYPE_CHECKING, TextIO, cast

from kiln.cli.scrub import Scrubber, ScrubbingFormatter
from kiln.errors import UsageError

if TYPE_CHECKING:
    from kiln.build.options import Verbosity

TRACE = 5
LEVELS = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
}
FORMATS = ("text", "color", "json")
_NAMES = {
    TRACE: "TRAC",
    logging.DEBUG: "DEBU",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERRO",
}
_COLORS = {
    TRACE: 37,
    logging.DEBUG: 37,
    logging.INFO: 36,
    logging.WARNING: 33,
    logging.ERROR: 31,
    logging.CRITICAL: 31,
}
_START = time.time()


class _TextFormatter(logging.Formatter):
    """logrus-style ``INFO[0003] message`` (or a full timestamp), optionally coloured."""

    def __init__(self, color: bool, timestamp: bool) -> None:
        super().__init__()
        self._color = color
        self._timestamp = timestamp

    def format(self, record: logging.LogRecord) -> str:
        name = _NAMES.get(record.levelno, "FATA")
        if self._timestamp:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        else:
            when = f"{int(record.created - _START):04d}"
        label = f"\x1b[{_COLORS.get(record.levelno, 31)}m{name}\x1b[0m" if self._color else name
        return f"{label}[{when}] {record.getMessage()}"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = {v: k for k, v in LEVELS.items() if k not in ("warning", "panic")}.get(record.levelno, "info")
        return json.dumps(
            {
                "level": level,
                "msg": record.getMessage(),
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            }
        )


def normalise_verbosity(verbosity: str) -> Verbosity:
    """A level name as kaniko spells it (``WARNING`` -> ``warn``); UsageError for an unknown one."""
    name = verbosity.lower()
    if name not in LEVELS:
        raise UsageError(
            f"invalid --verbosity {verbosity!r}",
            hint=f"one of {', '.join(k for k in LEVELS if k != 'warning')}",
        )
    return cast("Verbosity", "warn" if name == "warning" else name)


def configure(
    verbosity: str,
    log_format: str,
    timestamp: bool,
    stream: TextIO | None = None,
    scrub: Scrubber | None = None,
) -> None:
    """Send the ``kiln`` logger's records to ``stream`` (stderr) in kaniko's level and format."""
    level = LEVELS[normalise_verbosity(verbosity)]
    if log_format not in FORMATS:
        raise UsageError(f"invalid --log-format {log_format!r}", hint="one of text, color, json")
    logging.addLevelName(TRACE, "TRACE")
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter: logging.Formatter
    if log_format == "json":
        formatter = _JsonFormatter()
    else:
        formatter = _TextFormatter(color=log_format == "color", timestamp=timestamp)
    handler.setFormatter(ScrubbingFormatter(formatter, scrub or Scrubber()))
    root = logging.getLogger("kiln")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
