"""Reading a handler's `discoveryDetails`: YAML decoding, schema checks and Akri's FilterList.

Akri's handlers decode `spec.discoveryHandler.discoveryDetails` with serde_yaml (YAML 1.2 core
schema) into serde structs, and share `FilterList` from discovery-utils/src/filtering.rs
(akri-contract.md §5.1). This module gives the Python handlers the same three pieces:

- `load_details(text)` decodes YAML with YAML 1.2 scalars, so `10:20:30:40:50:59` (a MAC
  address) stays a string instead of PyYAML's YAML 1.1 base-60 integer, `on`/`no` stay strings,
  and duplicate keys are rejected (serde_yaml rejects them too);
- `check_details(value, schema)` validates the decoded value with a JSON schema and turns the
  first violation into `InvalidDiscoveryDetails` naming the field path and the offending value;
- `FilterList` with `should_include` (Akri's generic rule, used by OPC UA `applicationNames`) and
  `execute_filter` (ONVIF's variant, `True` = filter the device *out*).

Every error raised here is `agent.discovery.errors.InvalidDiscoveryDetails`; messages never
quote discoveryProperties (where credentials live), only discoveryDetails.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml
from yaml.constructor import ConstructorError

from agent.discovery.errors import InvalidDiscoveryDetails

__all__ = [
    "FILTER_LIST_SCHEMA",
    "FilterType",
    "FilterList",
    "load_details",
    "check_details",
    "filter_list_from",
    "should_include",
    "filter_needs_value",
    "execute_filter",
]


class FilterType(str, enum.Enum):
    """filtering.rs `FilterType`: the YAML values are exactly `Include` and `Exclude` (PascalCase)."""

    INCLUDE = "Include"
    EXCLUDE = "Exclude"


@dataclass(frozen=True, slots=True)
class FilterList:
    """filtering.rs `FilterList`: `items` compared by the caller's rule, `action` Include (default)/Exclude."""

    items: tuple[str, ...]
    action: FilterType = FilterType.INCLUDE


#: JSON schema of one optional FilterList field: `null` (absent) or `{items: [str] (required), action}`.
FILTER_LIST_SCHEMA: Mapping[str, Any] = {
    "type": ["object", "null"],
    "required": ["items"],
    "properties": {
        "items": {"type": "array", "items": {"type": "string"}},
        "action": {"enum": [FilterType.INCLUDE.value, FilterType.EXCLUDE.value]},
    },
}


# --- YAML 1.2 core schema on top of PyYAML's SafeLoader -----------------------------------------

_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")


class _Yaml12Loader(_BASE_LOADER):  # type: ignore[misc]
    """SafeLoader resolving plain scalars by the YAML 1.2 core schema (as serde_yaml) and
    rejecting duplicate mapping keys."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: the base class reports it
                break
            if duplicate:
                raise ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    def construct_yaml12_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)

    def construct_yaml12_float(self, node: yaml.ScalarNode) -> float:
        text = str(self.construct_scalar(node)).lower()
        if text.endswith(".inf"):
            return -math.inf if text.startswith("-") else math.inf
        if text == ".nan":
            return math.nan
        return float(text)


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", _BOOL_RE, "tTfF"),
    ("tag:yaml.org,2002:int", _INT_RE, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT_RE, "-+.0123456789"),
    ("tag:yaml.org,2002:null", _NULL_RE, ["~", "n", "N", ""]),
):
    _Yaml12Loader.add_implicit_resolver(_tag, _regexp, list(_first))
_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _Yaml12Loader.construct_yaml12_int)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:float", _Yaml12Loader.construct_yaml12_float)


def load_details(text: str, *, allow_empty: bool) -> dict[str, Any]:
    """The top-level mapping of a discoveryDetails YAML (or JSON) text.

    text: `spec.discoveryHandler.discoveryDetails`. An empty/blank text or a bare `null` gives `{}`
    when `allow_empty` (every field has a default), else raises.
    Raises InvalidDiscoveryDetails for a YAML syntax error (with line/column), a duplicate key,
    several documents, or a top level that is not a mapping (naming the type found).
    """
    try:
        documents = list(yaml.load_all(text, Loader=_Yaml12Loader))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise InvalidDiscoveryDetails(f"discoveryDetails: invalid YAML{where}: {problem}") from exc
    except (RecursionError, ValueError) as exc:
        raise InvalidDiscoveryDetails("discoveryDetails: invalid YAML: nesting too deep or bad scalar") from exc
    if len(documents) > 1:
        raise InvalidDiscoveryDetails(f"discoveryDetails: expected one YAML document, found {len(documents)}")
    value = documents[0] if documents else None
    if value is None:
        if allow_empty:
            return {}
        raise InvalidDiscoveryDetails("discoveryDetails: must not be empty")
    if not isinstance(value, dict):
        raise InvalidDiscoveryDetails(f"discoveryDetails: expected a mapping, got {type(value).__name__} {value!r:.80}")
    return value


def _field_path(path: Iterable[object]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "discoveryDetails"


def check_details(value: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Validate decoded discoveryDetails against a JSON schema (Draft 2020-12).

    Raises InvalidDiscoveryDetails `"<field.path[i]>: <problem naming the value>"` for the most
    relevant violation (jsonschema `best_match`); unknown fields are the schema's business (Akri
    ignores them, so handler schemas allow them).
    """
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        raise InvalidDiscoveryDetails(f"{_field_path(error.absolute_path)}: {error.message}")


def filter_list_from(raw: Mapping[str, Any] | None) -> FilterList | None:
    """`FilterList` from a value already checked against FILTER_LIST_SCHEMA (None stays None)."""
    if raw is None:
        return None
    return FilterList(items=tuple(raw["items"]), action=FilterType(raw.get("action", FilterType.INCLUDE.value)))


def should_include(filter_list: FilterList | None, item: str) -> bool:
    """filtering.rs `should_include` (akri-contract.md §5.1): is `item` kept?

    No filter → True; Include → item is one of `items` (empty Include keeps nothing);
    Exclude → item is none of `items` (empty Exclude keeps everything). Exact string equality.
    """
    if filter_list is None:
        return True
    listed = item in filter_list.items
    return listed if filter_list.action is FilterType.INCLUDE else not listed


def filter_needs_value(filter_list: FilterList | None) -> bool:
    """Whether `execute_filter` would look at the value: a filter is present and is not Exclude-nothing."""
    return filter_list is not None and not (filter_list.action is FilterType.EXCLUDE and not filter_list.items)


def execute_filter(
    filter_list: FilterList | None,
    values: Iterable[str] | None,
    predicate: Callable[[str, str], bool],
) -> bool:
    """ONVIF's `util::execute_filter` (akri-contract.md §5.1): True means *filter the device out*.

    values: what the device has (e.g. its scopes, its uuid, its IP); None when it could not be
    retrieved. predicate(value, item) says whether one value matches one filter item.
    No filter → keep; Exclude with no items → keep; values None with any other filter → drop;
    Include → drop unless some item matches some value; Exclude → drop if some item matches.
    """
    if not filter_needs_value(filter_list):
        return False
    assert filter_list is not None
    if values is None:
        return True
    present = list(values)
    matched = any(predicate(value, item) for item in filter_list.items for value in present)
    return not matched if filter_list.action is FilterType.INCLUDE else matched
