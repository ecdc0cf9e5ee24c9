"""The `akri.sh/v0` CustomResourceDefinitions, shipped as package data, and their schemas.

The YAML files beside this module are the canonical CRDs (Akri's v0.13.26 CRDs plus the status
subresource and schema Metacontroller needs, DESIGN.md §2.1 and §2.5); `manifests/crds/` holds
identical copies for kubectl/kustomize. They are read with `importlib.resources`, so they are
found from an editable install, a wheel or a zip alike.

`to_json_schema` turns a CRD's OpenAPI v3 structural schema into a JSON Schema (2020-12) that the
`jsonschema` library can check documents against: the Kubernetes extensions it does not know
are translated (`nullable` → a "null" type, `x-kubernetes-int-or-string` → integer or string)
or dropped (`x-kubernetes-*`). Like the API server, it does not reject unknown fields (the API
server prunes them); validation.validate_configuration reports those.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = [
    "CONFIGURATION_CRD_FILE",
    "INSTANCE_CRD_FILE",
    "CRD_FILES",
    "load_crds",
    "configuration_schema",
    "instance_schema",
    "to_json_schema",
]

CONFIGURATION_CRD_FILE = "akri-configuration-crd.yaml"
INSTANCE_CRD_FILE = "akri-instance-crd.yaml"
CRD_FILES: tuple[str, ...] = (CONFIGURATION_CRD_FILE, INSTANCE_CRD_FILE)
"""File names, in apply order, of the CRDs in this package and in manifests/crds/."""

_SERVED_VERSION = "v0"


@functools.cache
def _read(file_name: str) -> dict[str, Any]:
    text = importlib.resources.files(__name__).joinpath(file_name).read_text(encoding="utf-8")
    crd = yaml.safe_load(text)
    if not isinstance(crd, dict):  # a packaging error, not user input
        raise RuntimeError(f"{file_name} in {__name__} is not a YAML mapping")
    return crd


def load_crds() -> list[dict[str, Any]]:
    """Both CRD objects (`apiextensions.k8s.io/v1 CustomResourceDefinition`), Configuration
    first, as fresh copies the caller may modify."""
    return [copy.deepcopy(_read(name)) for name in CRD_FILES]


def _schema(file_name: str) -> dict[str, Any]:
    for version in _read(file_name)["spec"]["versions"]:
        if version["name"] == _SERVED_VERSION:
            return copy.deepcopy(version["schema"]["openAPIV3Schema"])
    raise RuntimeError(f"{file_name} has no {_SERVED_VERSION} version")  # a packaging error


def configuration_schema() -> dict[str, Any]:
    """The Configuration CRD's `openAPIV3Schema` for version v0 (a fresh copy)."""
    return _schema(CONFIGURATION_CRD_FILE)


def instance_schema() -> dict[str, Any]:
    """The Instance CRD's `openAPIV3Schema` for version v0 (a fresh copy)."""
    return _schema(INSTANCE_CRD_FILE)


def to_json_schema(openapi_schema: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON Schema 2020-12 document equivalent to a CRD structural schema (see module doc).

    openapi_schema: an `openAPIV3Schema` mapping. Returns a new dict with `$schema` set; the input
    is not modified.
    """
    translated = _translate(openapi_schema)
    translated["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return translated


def _translate(node: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: _translate(sub) for name, sub in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties" and isinstance(value, Mapping)):
            out[key] = _translate(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_translate(sub) for sub in value]
        else:
            out[key] = copy.deepcopy(value)
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    return out
