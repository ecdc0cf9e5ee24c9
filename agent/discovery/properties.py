"""Resolve a Configuration's `discoveryProperties` into `DiscoverRequest.discovery_properties`.

akri-contract.md §2.3 (Akri `discovery_property_solver.rs`): each property becomes name → bytes:
`value` → its UTF-8 bytes; `valueFrom.secretKeyRef` → the Secret's `data[key]` (base64-decoded);
`valueFrom.configMapKeyRef` → the ConfigMap's `data[key]` (UTF-8) or else `binaryData[key]`
(base64-decoded); neither → None (sent as `ByteData` without `vec`). The reference's namespace
defaults to "default" (not the Configuration's namespace: Akri's behaviour). A missing object or
key is skipped when `optional: true` and is an `UnsolvableProperty` otherwise. Values are never
logged (they may be credentials).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from agent.discovery.errors import UnsolvableProperty
from agent.kube import errors as kube_errors
from agent.kube.resources import CONFIGMAPS, SECRETS, ResourceKind

__all__ = ["ObjectReader", "solve_properties", "DEFAULT_NAMESPACE"]

DEFAULT_NAMESPACE = "default"


class ObjectReader(Protocol):
    """Read access to Secrets and ConfigMaps (Akri's `DiscoveryManagerKubeInterface`)."""

    async def get_or_none(self, kind: ResourceKind, name: str,
                          namespace: str | None = None) -> dict[str, Any] | None: ...


async def solve_properties(properties: Sequence[Mapping[str, Any]] | None,
                           reader: ObjectReader) -> dict[str, bytes | None]:
    """`{property name: bytes or None}` for `spec.discoveryHandler.discoveryProperties`.

    Raises UnsolvableProperty naming the property (`discoveryProperties[i] (NAME)`) and the
    missing Secret/ConfigMap or key, or the API error that prevented reading it.
    """
    solved: dict[str, bytes | None] = {}
    for index, prop in enumerate(properties or ()):
        if not isinstance(prop, Mapping) or not isinstance(prop.get("name"), str) or not prop["name"]:
            raise UnsolvableProperty(f"discoveryProperties[{index}]: a property needs a non-empty name")
        where = f"discoveryProperties[{index}] ({prop['name']})"
        value = prop.get("value")
        value_from = prop.get("valueFrom")
        if value is not None:
            solved[prop["name"]] = str(value).encode()
        elif isinstance(value_from, Mapping) and value_from:
            resolved = await _solve_reference(where, value_from, reader)
            if resolved is not _SKIP:
                solved[prop["name"]] = resolved
        else:
            solved[prop["name"]] = None
    return solved


_SKIP: Any = object()


async def _solve_reference(where: str, value_from: Mapping[str, Any], reader: ObjectReader) -> Any:
    if "secretKeyRef" in value_from:
        ref, kind, label = value_from["secretKeyRef"], SECRETS, "Secret"
    elif "configMapKeyRef" in value_from:
        ref, kind, label = value_from["configMapKeyRef"], CONFIGMAPS, "ConfigMap"
    else:
        raise UnsolvableProperty(f"{where}: valueFrom needs secretKeyRef or configMapKeyRef, "
                                 f"got {sorted(value_from)}")
    if not isinstance(ref, Mapping) or not ref.get("name") or not ref.get("key"):
        raise UnsolvableProperty(f"{where}: valueFrom.{'secretKeyRef' if kind is SECRETS else 'configMapKeyRef'} "
                                 "needs name and key")
    name, key = str(ref["name"]), str(ref["key"])
    namespace = str(ref.get("namespace") or DEFAULT_NAMESPACE)
    optional = bool(ref.get("optional", False))
    try:
        obj = await reader.get_or_none(kind, name, namespace)
    except kube_errors.KubeError as exc:
        raise UnsolvableProperty(f"{where}: cannot read {label} {namespace}/{name}: {exc}") from exc
    if obj is None:
        if optional:
            return _SKIP
        raise UnsolvableProperty(f"{where}: discoveryProperties' referenced {label} {namespace}/{name} not found")
    data = obj.get("data") or {}
    if kind is SECRETS:
        if key in data:
            return _b64(where, label, key, data[key])
    elif key in data:
        return str(data[key]).encode()
    elif key in (obj.get("binaryData") or {}):
        return _b64(where, label, key, obj["binaryData"][key])
    if optional:
        return _SKIP
    raise UnsolvableProperty(f"{where}: key {key!r} not found in {label} {namespace}/{name}")


def _b64(where: str, label: str, key: str, value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise UnsolvableProperty(f"{where}: {label} key {key!r} is not valid base64") from None
