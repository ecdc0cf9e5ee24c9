"""Check a raw Kubernetes object (PodSpec, JobSpec, ServiceSpec, ObjectMeta) for unknown fields and
wrong JSON types, using the `kubernetes` client's generated model metadata as the schema.

Akri's webhook rejects any field its typed k8s-openapi structs do not know (it re-serializes the
Configuration and compares, akri-contract.md §4 step 4). We get the same effect from the Python
client: every `kubernetes.client.models.V1Xxx` class has `attribute_map` (python name → JSON
name) and `openapi_types` (python name → type string such as `str`, `int`, `V1Container`,
`List[V1Volume]`, `Dict[str, str]`; older clients spell them `list[V1Volume]`, `dict(str, str)`).
No schema is written by hand; the only local knowledge is the list of fields typed `str` in the
client that are really `resource.Quantity` (which also accept JSON numbers and have a grammar).

The models are imported lazily on first use (importing them takes most of a second), so merely
importing `akri_api` stays cheap and pulls in no Kubernetes code.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from akri_api import _paths
from akri_api.errors import Problem

logger = logging.getLogger(__name__)

_LIST_TYPE = re.compile(r"^(?:List|list)\[(?P<item>.+)\]$")
_DICT_TYPE = re.compile(r"^(?:Dict|dict)[\[(]str, (?P<value>.+)[\])]$")
MAX_DEPTH = 64
"""Nesting below this many levels is reported as one problem instead of being walked."""

QUANTITY_FIELDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("V1ResourceRequirements", "limits"),
        ("V1ResourceRequirements", "requests"),
        ("V1VolumeResourceRequirements", "limits"),
        ("V1VolumeResourceRequirements", "requests"),
        ("V1PodSpec", "overhead"),
        ("V1EmptyDirVolumeSource", "size_limit"),
        ("V1ResourceFieldSelector", "divisor"),
    }
)
"""(model class, python attribute) pairs the client types as `str` that Kubernetes types as
`resource.Quantity` (k8s.io/apimachinery/pkg/api/resource): a string like `10Mi` or a JSON number."""

_QUANTITY = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|[numkMGTPE]|Ki|Mi|Gi|Ti|Pi|Ei)?$")


@dataclass(frozen=True, slots=True)
class _Model:
    """Schema of one client model class: JSON field name → (type string, python attribute name)."""

    class_name: str
    fields: Mapping[str, tuple[str, str]]
    python_to_json: Mapping[str, str]

    @property
    def display_name(self) -> str:
        """`V1PodSpec` → `PodSpec` (the Kubernetes type name without the client's version prefix)."""
        return re.sub(r"^V\d+(?:(?:alpha|beta)\d+)?", "", self.class_name) or self.class_name


@functools.cache
def _models_module() -> Any:
    """`kubernetes.client.models`, imported on first use (~0.8 s): only its OpenAPI model metadata
    is read — no API client, no I/O. The one `kubernetes` import allowed in `akri_api`
    (tests/unit/test_layering.py)."""
    import kubernetes.client.models

    return kubernetes.client.models


@functools.cache
def _model(class_name: str) -> _Model | None:
    cls = getattr(_models_module(), class_name, None)
    openapi_types = getattr(cls, "openapi_types", None)
    attribute_map = getattr(cls, "attribute_map", None)
    if not isinstance(openapi_types, dict) or not isinstance(attribute_map, dict):
        logger.debug("kubernetes client has no model %s; its content is not checked", class_name)
        return None
    fields = {attribute_map[attr]: (type_, attr) for attr, type_ in openapi_types.items() if attr in attribute_map}
    return _Model(class_name, fields, dict(attribute_map))


def check(value: object, class_name: str, path: str) -> list[Problem]:
    """Problems of `value` (decoded JSON/YAML) read as the Kubernetes type `class_name`.

    class_name: a `kubernetes.client.models` class, e.g. `V1PodSpec`. Reports, each at its own
    path: unknown fields (`unknown field "x" in PodSpec`, with a suggestion for near misses and
    for snake_case spellings), values of the wrong JSON type, and malformed quantities. `null` is
    accepted everywhere (it means "unset" to the API server). Never raises for any input.
    """
    problems: list[Problem] = []
    _check_type(value, class_name, path, problems, depth=0, quantity=False)
    return problems


def _check_type(value: object, type_: str, path: str, problems: list[Problem], *, depth: int, quantity: bool) -> None:
    if value is None:
        return
    if depth > MAX_DEPTH:
        problems.append(Problem(path, f"nested more than {MAX_DEPTH} levels deep"))
        return
    if quantity:
        _check_quantity(value, path, problems)
        return
    list_match = _LIST_TYPE.match(type_)
    if list_match:
        if not isinstance(value, list):
            problems.append(Problem(path, f"must be a list, got {_paths.describe(value)}"))
            return
        for index, item in enumerate(value):
            _check_type(item, list_match["item"], _paths.join(path, index), problems, depth=depth + 1, quantity=False)
        return
    dict_match = _DICT_TYPE.match(type_)
    if dict_match:
        _check_map(value, dict_match["value"], path, problems, depth=depth, quantity=False)
        return
    if not _check_scalar(value, type_, path, problems):
        _check_model(value, type_, path, problems, depth=depth)


def _check_scalar(value: object, type_: str, path: str, problems: list[Problem]) -> bool:
    """True when `type_` is a scalar type (problems appended if `value` does not fit it)."""
    if type_ == "object":
        return True
    if type_ in ("str", "bytes"):
        expected, ok = "a string", isinstance(value, str)
    elif type_ == "int":
        expected, ok = "an integer", isinstance(value, int) and not isinstance(value, bool)
    elif type_ == "float":
        expected, ok = "a number", isinstance(value, (int, float)) and not isinstance(value, bool)
    elif type_ == "bool":
        expected, ok = "a boolean", isinstance(value, bool)
    elif type_ in ("datetime", "date"):
        expected, ok = "a date-time string", isinstance(value, (str, datetime.date))
    else:
        return False
    if not ok:
        problems.append(Problem(path, f"must be {expected}, got {_paths.describe(value)}"))
    return True


def _check_map(
    value: object, value_type: str, path: str, problems: list[Problem], *, depth: int, quantity: bool
) -> None:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"must be an object (map of string to value), got {_paths.describe(value)}"))
        return
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(Problem(path, f"keys must be strings, got {_paths.describe(key)}"))
            continue
        _check_type(item, value_type, _paths.join(path, key), problems, depth=depth + 1, quantity=quantity)


def _check_model(value: object, class_name: str, path: str, problems: list[Problem], *, depth: int) -> None:
    model = _model(class_name)
    if model is None:
        return
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"must be an object ({model.display_name}), got {_paths.describe(value)}"))
        return
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(Problem(path, f"field names must be strings, got {_paths.describe(key)}"))
            continue
        field_path = _paths.join(path, key)
        spec = model.fields.get(key)
        if spec is None:
            problems.append(Problem(field_path, _unknown_field_message(key, model)))
            continue
        type_, attribute = spec
        is_quantity = (class_name, attribute) in QUANTITY_FIELDS
        dict_match = _DICT_TYPE.match(type_)
        if is_quantity and dict_match:
            _check_map(item, dict_match["value"], field_path, problems, depth=depth + 1, quantity=True)
        else:
            _check_type(item, type_, field_path, problems, depth=depth + 1, quantity=is_quantity)


def _check_quantity(value: object, path: str, problems: list[Problem]) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return
    if isinstance(value, str) and _QUANTITY.match(value):
        return
    problems.append(Problem(path, f'must be a quantity such as "1", "250m" or "64Mi", got {_paths.describe(value)}'))


def _unknown_field_message(key: str, model: _Model) -> str:
    message = f"unknown field {_paths.quote(key)} in {model.display_name}"
    if key in model.python_to_json:
        return f"{message} (did you mean {_paths.quote(model.python_to_json[key])}?)"
    lowered = {name.lower(): name for name in model.fields}
    if key.lower() in lowered:
        return f"{message} (did you mean {_paths.quote(lowered[key.lower()])}?)"
    close = difflib.get_close_matches(key, list(model.fields), n=1, cutoff=0.8)
    if close:
        return f"{message} (did you mean {_paths.quote(close[0])}?)"
    return message
