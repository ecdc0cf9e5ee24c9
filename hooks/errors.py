"""Errors raised by the hooks package.

Tree::

    HooksError
    ├── HookInputError   a request the hooks cannot read (missing or mistyped field);
    │                    app.py answers it with HTTP 400 and a one-line JSON message
    └── ConfigError      bad AKRI_HOOKS_* environment or command line at start-up

A HookInputError is never a bug of ours: Metacontroller logs the non-200 body as a `SyncError`
event on the parent and retries with backoff (metacontroller-contract.md §4, §14), and the
API server reports an admission review answered with 400 as a webhook failure.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HooksError", "HookInputError", "ConfigError"]

_VALUE_REPR_MAX_CHARS = 120


class HooksError(Exception):
    """Base class of every error the hooks package raises on purpose."""


class HookInputError(HooksError):
    """A hook request lacks a field the hook needs, or the field has the wrong JSON type.

    `field` is the key path inside the request (e.g. `parent.spec.nodes[1]`), `value` the
    offending value (`None` when absent), `message` what was expected. `str(err)` is one line:
    `parent.spec.nodes[1]: expected a string, got 5`; long values are cut to 120 characters so
    the message stays safe to log and to send back in an HTTP body.
    """

    def __init__(self, field: str, value: Any, message: str) -> None:
        self.field = field
        self.value = value
        self.message = message
        super().__init__(f"{field}: {message}, got {_short_repr(value)}")


class ConfigError(HooksError):
    """Invalid hooks configuration; the message names every bad variable or flag."""


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:
        return "<value nested too deeply to print>"
    if len(text) > _VALUE_REPR_MAX_CHARS:
        text = text[: _VALUE_REPR_MAX_CHARS - 3] + "..."
    return text
