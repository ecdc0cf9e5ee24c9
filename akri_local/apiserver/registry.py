"""The set of served resource types: built-ins plus the custom resources CRDs define.

Thread-safe; the API layer calls :meth:`Registry.apply_crd` after a CRD is created or updated
and :meth:`Registry.remove_crd` once it is gone. Also holds the CRD rules themselves:
:func:`validate_crd` (the subset of ``apiextensions`` validation that catches real mistakes)
and :func:`crd_status` (what the CRD controllers write: accepted names, Established).
"""

from __future__ import annotations

import re
import threading
from typing import Any

import jsonschema

from akri_local.apiserver import errors, kinds, meta
from akri_local.apiserver.schema import StructuralSchema

__all__ = ["Registry", "crd_status", "crd_types", "validate_crd", "version_priority"]

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting the most preferred version first (kube-aware version ordering).

    GA before beta before alpha, higher numbers first, non-kube-like names last.
    """
    match = _VERSION.match(version)
    if not match:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


def _names(crd: dict[str, Any]) -> dict[str, Any]:
    """``spec.names`` with ``singular`` and ``listKind`` filled in (acceptedNames)."""
    names = dict((crd.get("spec") or {}).get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    return names


def validate_crd(crd: dict[str, Any]) -> list[errors.FieldCause]:
    """Problems with a CustomResourceDefinition body (name, group, names, scope, versions, schemas)."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [errors.FieldCause("spec", "Required value", "FieldValueRequired")]
    causes = []
    group = spec.get("group")
    names = spec.get("names") or {}
    plural, kind = names.get("plural"), names.get("kind")
    if not isinstance(group, str) or "." not in group or meta.validate_name(group, dns_label=False):
        causes.append(errors.FieldCause("spec.group", f"Invalid value: {group!r}: should be a "
                                        "domain with at least one dot"))
    if not isinstance(plural, str) or meta.validate_name(plural, dns_label=True):
        causes.append(errors.FieldCause("spec.names.plural", f"Invalid value: {plural!r}: must be "
                                        "a lowercase RFC 1123 label"))
    if not isinstance(kind, str) or not kind:
        causes.append(errors.FieldCause("spec.names.kind", "Required value", "FieldValueRequired"))
    name = (crd.get("metadata") or {}).get("name")
    if isinstance(plural, str) and isinstance(group, str) and name != f"{plural}.{group}":
        causes.append(errors.FieldCause("metadata.name", f'Invalid value: "{name}": must be '
                                        'spec.names.plural+"."+spec.group'))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(errors.FieldCause("spec.scope", f'Unsupported value: "{spec.get("scope")}": '
                                        'supported values: "Cluster", "Namespaced"',
                                        "FieldValueNotSupported"))
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        return causes + [errors.FieldCause("spec.versions", "Required value", "FieldValueRequired")]
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage") is True) != 1:
        causes.append(errors.FieldCause("spec.versions", "Invalid value: must have exactly one "
                                        "version marked as storage version"))
    seen: set[str] = set()
    for index, version in enumerate(versions):
        path = f"spec.versions[{index}]"
        if not isinstance(version, dict) or not version.get("name"):
            causes.append(errors.FieldCause(f"{path}.name", "Required value", "FieldValueRequired"))
            continue
        if version["name"] in seen:
            causes.append(errors.FieldCause(f"{path}.name", f'Duplicate value: "{version["name"]}"',
                                            "FieldValueDuplicate"))
        seen.add(version["name"])
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not isinstance(schema, dict):
            causes.append(errors.FieldCause(f"{path}.schema.openAPIV3Schema", "Required value",
                                            "FieldValueRequired"))
            continue
        try:
            StructuralSchema(schema)
        except jsonschema.SchemaError as exc:
            causes.append(errors.FieldCause(f"{path}.schema.openAPIV3Schema",
                                            f"Invalid value: {exc.message}"))
    return causes


def crd_status(crd: dict[str, Any], old_status: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The status the CRD controllers converge to: acceptedNames, conditions, storedVersions.

    ``now`` is the RFC 3339 time used for new conditions; conditions already True keep theirs.
    """
    old_status = old_status or {}
    old_times = {c.get("type"): c.get("lastTransitionTime") for c in old_status.get("conditions") or []}
    storage = next((v["name"] for v in crd["spec"]["versions"] if v.get("storage")), None)
    stored = list(old_status.get("storedVersions") or [])
    if storage and storage not in stored:
        stored.append(storage)
    return {
        "acceptedNames": _names(crd),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found",
             "lastTransitionTime": old_times.get("NamesAccepted") or now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted",
             "lastTransitionTime": old_times.get("Established") or now},
        ],
        "storedVersions": stored,
    }


def crd_types(crd: dict[str, Any]) -> list[kinds.ResourceType]:
    """One ResourceType per served version of a (valid) CRD."""
    spec = crd["spec"]
    names = _names(crd)
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    types = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        selectable = tuple((f["jsonPath"].lstrip("."), f["jsonPath"])
                           for f in version.get("selectableFields") or [] if f.get("jsonPath"))
        types.append(kinds.ResourceType(
            group=spec["group"], version=version["name"], plural=names["plural"],
            kind=names["kind"], namespaced=spec["scope"] == "Namespaced",
            singular=names["singular"], short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            status="status" in subresources,
            subresources=("status",) if "status" in subresources else (),
            selectable=selectable, allow_unconditional_update=False,
            crd=crd["metadata"]["name"],
            schema=StructuralSchema(version["schema"]["openAPIV3Schema"]),
            storage_version=storage))
    return types


class Registry:
    """Served resource types by ``(group, version, plural)``; safe to use from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str, str], kinds.ResourceType] = {
            (rt.group, rt.version, rt.plural): rt for rt in kinds.BUILTIN_TYPES}

    def get(self, group: str, version: str, plural: str) -> kinds.ResourceType | None:
        """The type served at ``group/version/plural``, or None."""
        with self._lock:
            return self._types.get((group, version, plural))

    def preferred(self, group: str, plural: str) -> kinds.ResourceType | None:
        """The preferred served version of ``group/plural`` (any version), or None."""
        with self._lock:
            candidates = [rt for (g, _, p), rt in self._types.items() if g == group and p == plural]
        candidates.sort(key=lambda rt: version_priority(rt.version))
        return candidates[0] if candidates else None

    def by_kind(self, api_version: str, kind: str) -> kinds.ResourceType | None:
        """The type for ``apiVersion`` + ``kind`` (ownerReference / AdmissionReview lookups)."""
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for (g, v, _), rt in self._types.items():
                if g == group and v == version and rt.kind == kind:
                    return rt
        return None

    def all(self) -> list[kinds.ResourceType]:
        """Every served type (each version separately)."""
        with self._lock:
            return list(self._types.values())

    def apply_crd(self, crd: dict[str, Any]) -> None:
        """(Re)serve the custom resources of ``crd`` (replacing its previous versions)."""
        name = crd["metadata"]["name"]
        new = crd_types(crd)
        with self._lock:
            for key in [k for k, rt in self._types.items() if rt.crd == name]:
                del self._types[key]
            for rt in new:
                self._types[(rt.group, rt.version, rt.plural)] = rt

    def remove_crd(self, name: str) -> None:
        """Stop serving the custom resources of the CRD ``name``."""
        with self._lock:
            for key in [k for k, rt in self._types.items() if rt.crd == name]:
                del self._types[key]
