"""Process logging: text, or one JSON object per line with partner, run and job fields."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TextIO

from billing_sync.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(partner_id)s %(run_id)s %(job_id)s"
#: The fields every line carries (None when unknown): who and what the line is about.
FIELDS: dict[str, ContextVar] = {
    name: ContextVar(f"billing_sync_{name}", default=None)
    for name in ("partner_id", "run_id", "job_id")
}


def bind(**fields: object) -> list[tuple[ContextVar, Token]]:
    """Tag the log lines of this thread (or task) with fields; undo with unbind()."""
    return [(FIELDS[name], FIELDS[name].set(value)) for name, value in fields.items()]


def unbind(tokens: list[tuple[ContextVar, Token]]) -> None:
    """Put back what bind() changed."""
    for var, token in reversed(tokens):
        var.reset(token)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Tag every log line inside the block; threads see it when started with copy_context()."""
    tokens = bind(**fields)
    try:
        yield
    finally:
        unbind(tokens)


class ContextFilter(logging.Filter):
    """Copies the context fields onto each record, so every formatter can print them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in FIELDS.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


def _formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level"})
    return logging.Formatter(TEXT_FORMAT)


def setup_logging(
    settings: Settings,
    level: int = logging.WARNING,
    *,
    info_from: tuple[str, ...] = (),
    stream: TextIO | None = None,
) -> None:
    """Send the process's log lines to stderr (or `stream`) in settings.log_format, at start.

    `info_from` names loggers that say what they do even at the WARNING default (an unattended
    process should tell what it ran).
    """
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(_formatter(settings.log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in info_from:
        logging.getLogger(name).setLevel(min(level, logging.INFO))
