"""Reading a handler's `discoveryDetails`: YAML decoding, schema checks and Akri's FilterList.

Akri's handlers decode `spec.discoveryHandler.discoveryDetails` with serde_yaml (YAML 1.2 core
schema) into serde structs, and share `FilterList` from discovery-utils/src/filtering.rs
(akri-contract.md §5.1). This module gives the Python handlers the same three pieces:

- `load_details(text)` decodes YAML like serde_yaml (`akri_api.yamlio.load_yaml12`: YAML 1.2
  scalars, so `10:20:30:40:50:59` (a MAC address) stays a string instead of PyYAML's YAML 1.1
  base-60 integer, `on`/`no` stay strings, and duplicate keys are rejected);
- `check_details(value, schema)` validates the decoded value with a JSON schema and turns the
  first violation into `InvalidDiscoveryDetails` naming the field path and the offending value;
- `FilterList` with `should_include` (Akri's generic rule, used by OPC UA `applicationNames`) and
  `execute_filter` (ONVIF's variant, `True` = filter the device *out*).

Every error raised here is `agent.discovery.errors.InvalidDiscoveryDetails`; messages never
quote discoveryProperties (where credentials live), only discoveryDetails.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


from agent.discovery.errors import InvalidDiscoveryDetails
from akri_api import yamlio
from akri_api.errors import YamlError

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


def load_details(text: str, *, allow_empty: bool) -> dict[str, Any]:
    """The top-level mapping of a discoveryDetails YAML (or JSON) text.

    text: `spec.discoveryHandler.discoveryDetails`. An empty/blank text or a bare `null` gives `{}`
    when `allow_empty` (every field has a default), else raises.
    Raises InvalidDiscoveryDetails for a YAML syntax error (with line/column), a duplicate key,
    several documents, or a top level that is not a mapping (naming the type found).
    """
    try:
        value = yamlio.load_yaml12(text)
    except YamlError as exc:
        where = " at " if str(exc).startswith("line ") else ": "
        raise InvalidDiscoveryDetails(f"discoveryDetails: invalid YAML{where}{exc}") from exc
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
    import jsonschema  # lazily: ~3.6 MiB the agent only pays once ONVIF/OPC UA details are checked

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
