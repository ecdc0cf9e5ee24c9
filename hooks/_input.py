"""Typed reads from decoded hook requests; every failure is a HookInputError naming the key path.

Metacontroller sends plain JSON (metacontroller-contract.md §5, §11). The hooks read only the
fields they need, through these helpers, so that a missing or mistyped field becomes one clear
`HookInputError(path, value, "expected ...")` instead of a KeyError/TypeError deep inside a hook.
JSON `null` counts as absent (CRD fields such as `brokerPodSpec` are nullable).
Nothing here copies or mutates its input. Values come back typed `Any` (they are decoded JSON
whose type was just checked); callers annotate what they keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hooks.errors import HookInputError

_ABSENT: Final[Any] = object()

_EXPECTED = {
    str: "expected a string",
    bool: "expected a boolean",
    int: "expected an integer",
    list: "expected a list",
    Mapping: "expected an object",
}


_FAST_TYPES: dict[type, type] = {str: str, bool: bool, int: int, list: list, Mapping: dict}


def check(value: Any, kind: type, path: str) -> Any:
    """`value` if it has JSON type `kind` (str, bool, int, list or Mapping), else HookInputError.

    `bool` is not accepted where an integer is expected (JSON `true` is not a count).
    """
    if type(value) is _FAST_TYPES.get(kind):  # the common case, without an ABC isinstance check
        return value
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise HookInputError(path, value, _EXPECTED[kind])
    return value


def get(obj: Mapping[str, Any], key: str, kind: type, *, path: str, default: Any = _ABSENT) -> Any:
    """`obj[key]` checked against `kind`; `path` is the key path of `obj` itself.

    Absent or null: `default` when given, else HookInputError("<path>.<key>: required ...").
    """
    value = obj.get(key)
    if value is None:
        if default is _ABSENT:
            raise HookInputError(join(path, key), None, f"required field missing ({_EXPECTED[kind]})")
        return default
    if type(value) is _FAST_TYPES[kind]:  # hot path: no key path string is built
        return value
    return check(value, kind, join(path, key))


def join(path: str, key: str) -> str:
    """Key path of `key` inside the object at `path` (`""` is the request itself)."""
    return f"{path}.{key}" if path else key


def string_list(obj: Mapping[str, Any], key: str, *, path: str) -> list[str]:
    """`obj[key]` as a list of strings; absent or null → `[]`."""
    values: list[str] = get(obj, key, list, path=path, default=[])
    for index, item in enumerate(values):
        if type(item) is not str:
            check(item, str, f"{join(path, key)}[{index}]")
    return values


def parent(request: Any) -> Mapping[str, Any]:
    """`request["parent"]` of a sync or customize request; HookInputError if absent/not an object."""
    check(request, Mapping, "request")
    found: Mapping[str, Any] = get(request, "parent", Mapping, path="")
    return found


def object_map(section: Mapping[str, Any], type_key: str, *, path: str) -> Mapping[str, Mapping[str, Any]]:
    """`section[type_key]`: a map of object key → object (`children`/`related`, contract §5).

    `type_key` is `Kind.<apiVersion>` (e.g. `Pod.v1`, `Job.batch/v1`). Absent or null → `{}`;
    every value must be an object.
    """
    objects: Mapping[str, Mapping[str, Any]] = get(section, type_key, Mapping, path=path, default={})
    for name, obj in objects.items():
        if type(obj) is not dict:
            check(obj, Mapping, f"{join(path, type_key)}.{name}")
    return objects


def section(request: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """`request["children"]` or `request["related"]`; absent or null → `{}`."""
    found: Mapping[str, Any] = get(request, key, Mapping, path="", default={})
    return found


def metadata(obj: Mapping[str, Any], *, path: str) -> Mapping[str, Any]:
    """`obj.metadata`; required."""
    found: Mapping[str, Any] = get(obj, "metadata", Mapping, path=path)
    return found


def labels(obj: Mapping[str, Any], *, path: str) -> Mapping[str, Any]:
    """`obj.metadata.labels`; absent or null → `{}`."""
    meta = get(obj, "metadata", Mapping, path=path, default={})
    found: Mapping[str, Any] = get(meta, "labels", Mapping, path=f"{path}.metadata", default={})
    return found
