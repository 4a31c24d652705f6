"""Structured logs: one JSON object per line, with the id of the event being processed.

The correlation id is the CloudEvent id of the record a stage is working on (a context
variable, so it follows the record in threads and asyncio tasks alike). Every message and
traceback is passed through the comment scrubber before it is written: the code never logs
event values, and this catches what slips through anyway (an exception quoting an address).
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

correlation_id: ContextVar[str | None] = ContextVar("klantsignaal_correlation_id", default=None)


def _scrub(text: str) -> str:
    from pipeline.privacy import scrub

    return scrub(text)


def _exception_text(record: logging.LogRecord) -> str | None:
    """The traceback with the exception's own message scrubbed (it may quote a value)."""
    if not record.exc_info or record.exc_info[0] is None:
        return None
    return _scrub("".join(traceback.format_exception(*record.exc_info)).rstrip())


class RedactingFilter(logging.Filter):
    """Renders the message once, scrubbed, and adds the correlation id to the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _scrub(record.getMessage())
        record.args = None
        if record.exc_info:  # also when another handler cached the unscrubbed text
            record.exc_text = _exception_text(record)
        record.correlation_id = correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = getattr(record, "correlation_id", None)
        if cid:
            entry["correlation_id"] = cid
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        cid = getattr(record, "correlation_id", None)
        return f"{line} [event {cid}]" if cid and "\n" not in line else line


def make_handler(log_format: str = "text", stream: Any = None) -> logging.Handler:
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    return handler


def configure(level: str = "INFO", log_format: str = "text") -> None:
    """Replace the root's stream handlers (basicConfig's, an earlier call's) with one
    redacting handler in the chosen format; other handlers (a test's capture) stay."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if type(old) is logging.StreamHandler:
            root.removeHandler(old)
    root.addHandler(make_handler(log_format))
    root.setLevel(level.upper())
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python is chatty at INFO


def dict_config(level: str = "INFO", log_format: str = "text") -> dict[str, Any]:
    """The same set-up as a logging.config dict, for libraries that insist on configuring
    logging themselves (faust's Worker clears the root handlers and applies this)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "default": {
                "()": "pipeline.ops.logs.make_handler",
                "log_format": log_format,
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
        "loggers": {"kafka": {"level": "WARNING"}},
    }
