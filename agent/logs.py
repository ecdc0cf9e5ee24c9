"""Structured log output for the agent and standalone discovery handlers: one line per event.

Modules log with `logging.getLogger(__name__)` and %-style arguments (STYLE.md §5.12). Context
about the object concerned (configuration, instance, handler, node) is attached with
`ContextAdapter(logger, {"configuration": "ns/name"})`, which stores it on the record as
`record.context`; the formatters render it as ` key=value` pairs (text) or as JSON members (json).
Only `configure_logging` touches the root logger, and only the composition roots call it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

__all__ = ["ContextAdapter", "TextFormatter", "JsonFormatter", "configure_logging"]


class ContextAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger bound to `key=value` context; nested adapters merge their context (inner wins)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        context = dict(self.extra or {})
        context.update(extra.get("context") or {})
        extra["context"] = context
        kwargs["extra"] = extra
        return msg, kwargs


def _context(record: logging.LogRecord) -> Mapping[str, Any]:
    context = getattr(record, "context", None)
    return context if isinstance(context, Mapping) else {}


def _quote(value: Any) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text)
    return text


class TextFormatter(logging.Formatter):
    """`2024-01-01T00:00:00.123Z INFO agent.x: message key=value ...` on one line (tracebacks escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line = (f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}.{int(record.msecs):03d} "
                f"{record.levelname} {record.name}: {record.getMessage()}")
        pairs = " ".join(f"{k}={_quote(v)}" for k, v in _context(record).items())
        if pairs:
            line = f"{line} {pairs}"
        if record.exc_info:
            line = f"{line} exc={json.dumps(self.formatException(record.exc_info))}"
        return line.replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context keys, and `exc` if any."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}.{int(record.msecs):03d}",
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key, value in _context(record).items():
            payload.setdefault(key, value if isinstance(value, (int, float, bool)) or value is None else str(value))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text", *, stream: IO[str] | None = None) -> None:
    """Send every log record of `level` (DEBUG/INFO/WARNING/ERROR) and above to `stream` (stderr)
    formatted as `fmt` ("text" or "json"). Replaces the root handlers; quiets chatty libraries."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
