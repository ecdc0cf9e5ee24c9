"""Field paths and value descriptions for Problem messages.

Paths look like the ones `kubectl explain` and API-server errors use: `spec.capacity`,
`spec.brokerSpec.brokerPodSpec.containers[0].resources.limits["{{PLACEHOLDER}}"]`.
Descriptions quote the offending value, cut to a short length so that a hostile or huge input
cannot make a message large, and never recurse into containers (any JSON value is safe).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping

ROOT = "(root)"
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_MAX_QUOTED_CHARS = 60


def join(path: str, key: object) -> str:
    """`path.key` for identifier-like string keys, `path["key"]` otherwise, `path[i]` for ints."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{'' if path == ROOT else path}[{key}]"
    text = key if isinstance(key, str) else str(key)
    if path == ROOT:
        return text if _PLAIN_KEY.match(text) else f"[{quote(text)}]"
    return f"{path}.{text}" if _PLAIN_KEY.match(text) else f"{path}[{quote(text)}]"


def quote(text: str) -> str:
    """JSON-quoted text, shortened to about 60 characters with `...`."""
    if len(text) > _MAX_QUOTED_CHARS:
        text = text[:_MAX_QUOTED_CHARS] + "..."
    return json.dumps(text)


def type_name(value: object) -> str:
    """JSON type name of a value: null, boolean, integer, number, string, list, object (or the
    Python type name for values YAML can produce but JSON cannot, such as a date)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "date"
    return type(value).__name__


def scalar(value: int | float) -> str:
    """A number as text, shortened like `quote` (huge ints become `<N-bit integer>`)."""
    try:
        text = repr(value)
    except ValueError:  # int beyond sys.get_int_max_str_digits()
        return f"<{value.bit_length()}-bit integer>" if isinstance(value, int) else "<number>"
    return text if len(text) <= _MAX_QUOTED_CHARS else text[:_MAX_QUOTED_CHARS] + "..."


def describe(value: object) -> str:
    """Type plus (for scalars) the value: `integer 800`, `string "rwx"`, `null`, `list`, `object`."""
    name = type_name(value)
    if isinstance(value, str):
        return f"string {quote(value)}"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"{name} {scalar(value)}"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"date {value.isoformat()}"
    return name
