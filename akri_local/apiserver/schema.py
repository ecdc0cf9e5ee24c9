"""CRD structural schemas: pruning, defaulting and validation of custom resources.

Implements what ``apiextensions-apiserver`` does with a version's
``schema.openAPIV3Schema`` (https://kubernetes.io/docs/tasks/extend-kubernetes/
custom-resources/custom-resource-definitions/#specifying-a-structural-schema):

1. prune unknown fields (everything not in ``properties`` / ``additionalProperties`` unless
   ``x-kubernetes-preserve-unknown-fields: true``; ``apiVersion``, ``kind``, ``metadata`` at the
   root and in ``x-kubernetes-embedded-resource`` objects are kept),
2. drop ``null`` values of non-nullable fields and apply ``default:`` values (recursively,
   also inside defaults),
3. validate with ``jsonschema`` (Draft 4, the OpenAPI v3.0 base) after translating
   ``nullable``, ``x-kubernetes-int-or-string`` and dropping the other ``x-kubernetes-*`` keys.

Errors come back as :class:`errors.FieldCause` lists whose ``field`` is the Kubernetes field
path (``spec.capacity``, ``spec.nodes[0]``) and whose message follows the apiserver's wording.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from typing import Any

import jsonschema

from akri_local.apiserver import errors

__all__ = ["StructuralSchema", "to_json_schema"]

_ROOT_KEPT = ("apiVersion", "kind", "metadata")
_JSON_TYPE_NAMES = ("null", "boolean", "integer", "number", "string", "array", "object")
_TYPE_CHECKER = jsonschema.Draft4Validator.TYPE_CHECKER
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def to_json_schema(node: Any) -> Any:
    """Translate one OpenAPI v3 (Kubernetes flavour) schema node to JSON Schema Draft 4.

    ``nullable: true`` widens ``type`` (and ``enum``) with null; ``x-kubernetes-int-or-string``
    becomes ``anyOf: [integer, string]``; other ``x-kubernetes-*`` keys and ``format`` are
    dropped (the apiserver validates only a few formats; unknown ones are ignored).
    """
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "format", "default"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("additionalProperties", "items", "not"):
            if isinstance(value, list):
                out[key] = [to_json_schema(sub) for sub in value]
            else:
                out[key] = to_json_schema(value)
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [to_json_schema(sub) for sub in value]
        else:
            out[key] = copy.deepcopy(value)
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
    if node.get("x-kubernetes-int-or-string") is True:
        out.pop("type", None)
        int_or_string = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
        if "anyOf" in out:
            out.setdefault("allOf", []).append(int_or_string)
        else:
            out.update(int_or_string)
    return out


def _field_path(parts: list[Any]) -> str:
    """``["spec", "nodes", 0]`` -> ``spec.nodes[0]``."""
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path


def _json_type(value: Any) -> str:
    """The JSON type name of a decoded value (by jsonschema's Draft 4 type checker), as the
    apiserver reports it: null, boolean, integer, number, string, array or object."""
    for name in _JSON_TYPE_NAMES:
        if _TYPE_CHECKER.is_type(value, name):
            return name
    return type(value).__name__


def _cause(error: jsonschema.ValidationError) -> list[errors.FieldCause]:
    """Convert one jsonschema error into apiserver-worded field causes."""
    path = _field_path(list(error.absolute_path))
    shown = path or "<root>"
    value = json.dumps(error.instance, sort_keys=True, default=str)
    expected_value: Any = error.validator_value
    if error.validator == "required":
        missing = [p for p in expected_value if not isinstance(error.instance, dict)
                   or p not in error.instance]
        return [errors.FieldCause(_field_path(list(error.absolute_path) + [p]), "Required value",
                                  "FieldValueRequired") for p in missing]
    if error.validator == "type":
        expected = expected_value if isinstance(expected_value, str) else "/".join(expected_value)
        actual = _json_type(error.instance)
        return [errors.FieldCause(
            path, f'Invalid value: "{actual}": {shown} in body must be of type {expected}: "{actual}"',
            "FieldValueTypeInvalid")]
    if error.validator == "enum":
        supported = ", ".join(json.dumps(v) for v in expected_value)
        return [errors.FieldCause(path, f"Unsupported value: {value}: supported values: {supported}",
                                  "FieldValueNotSupported")]
    return [errors.FieldCause(path, f"Invalid value: {value}: {error.message}")]


class StructuralSchema:
    """One CRD version's ``openAPIV3Schema`` with prune / default / validate operations.

    ``openapi`` is the raw schema mapping from the CRD (not mutated). Raises
    :class:`jsonschema.SchemaError` when the translated schema is not valid JSON Schema.
    """

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.openapi = copy.deepcopy(openapi)
        translated = to_json_schema(self.openapi)
        jsonschema.Draft4Validator.check_schema(translated)
        self._validator = jsonschema.Draft4Validator(translated)

    def validate(self, obj: Any) -> list[errors.FieldCause]:
        """All schema violations of ``obj`` as field causes (empty when valid)."""
        causes: list[errors.FieldCause] = []
        for error in sorted(self._validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
            causes += _cause(error)
        return causes

    def prune(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``obj`` without the fields the schema does not declare (see module doc)."""
        pruned: dict[str, Any] = _prune(copy.deepcopy(obj), self.openapi, root=True)
        return pruned

    def default(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``obj`` with ``default:`` values filled in and non-nullable nulls dropped."""
        defaulted: dict[str, Any] = _default(copy.deepcopy(obj), self.openapi)
        return defaulted


def _walk(value: Any, schema: Any, on_object: Callable[[dict[str, Any], dict[str, Any]], Any]) -> Any:
    """The descent `_prune` and `_default` share: a list recurses into the schema's ``items``, an
    object goes to ``on_object(value, schema)``, anything else (or a non-dict schema) is returned."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                value[index] = _walk(item, items, on_object)
        return value
    if isinstance(value, dict):
        return on_object(value, schema)
    return value


def _prune(value: Any, schema: Any, *, root: bool = False) -> Any:
    """Prune ``value`` in place against ``schema``; returns it."""
    return _walk(value, schema, functools.partial(_prune_object, root=root))


def _prune_object(value: dict[str, Any], schema: dict[str, Any], *, root: bool = False) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    embedded = root or schema.get("x-kubernetes-embedded-resource") is True
    for key in list(value):
        if key in properties:
            value[key] = _prune(value[key], properties[key])
        elif embedded and key in _ROOT_KEPT:
            continue
        elif isinstance(additional, dict):
            value[key] = _prune(value[key], additional)
        elif not (preserve or additional is True):
            del value[key]
    return value


def _default(value: Any, schema: Any) -> Any:
    """Apply defaults in place to ``value`` against ``schema``; returns it."""
    return _walk(value, schema, _default_object)


def _default_object(value: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    for key, sub in properties.items():
        if not isinstance(sub, dict):
            continue
        if key in value and value[key] is None and sub.get("nullable") is not True:
            del value[key]
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _default(value[key], sub)
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        for key in list(value):
            if key not in properties:
                value[key] = _default(value[key], additional)
    return value
