"""Discovery documents (``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>``, ``/apis/<g>/<v>``,
``/version``) built from the served types, in the legacy (non-aggregated) JSON format that
``kubernetes.dynamic.DynamicClient`` and kubectl read. Pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from akri_local.apiserver.kinds import ResourceType
from akri_local.apiserver.registry import version_priority

__all__ = ["VERSION_INFO", "api_group", "api_group_list", "api_versions", "resource_list"]

VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "36",
    "gitVersion": "v1.36.0-akri-local",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "finalize": ["update"],
                      "binding": ["create"], "scale": ["get", "patch", "update"]}


def api_versions(server_address: str) -> dict[str, Any]:
    """``/api``: the core group's versions."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group_entry(group: str, versions: Iterable[str]) -> dict[str, Any]:
    ordered = sorted(set(versions), key=version_priority)
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in ordered]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(types: Iterable[ResourceType]) -> dict[str, Any]:
    """``/apis``: every named group with its versions (preferred first)."""
    groups: dict[str, set[str]] = {}
    for rt in types:
        if rt.group:
            groups.setdefault(rt.group, set()).add(rt.version)
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_entry(g, vs) for g, vs in sorted(groups.items())]}


def api_group(types: Iterable[ResourceType], group: str) -> dict[str, Any] | None:
    """``/apis/<group>``, or None when no version of ``group`` is served."""
    versions = {rt.version for rt in types if rt.group == group}
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def resource_list(types: Iterable[ResourceType], group: str, version: str) -> dict[str, Any] | None:
    """``/api/v1`` or ``/apis/<group>/<version>`` (resources and subresources), or None."""
    selected = sorted((rt for rt in types if rt.group == group and rt.version == version),
                      key=lambda rt: rt.plural)
    if not selected:
        return None
    resources: list[dict[str, Any]] = []
    for rt in selected:
        entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular,
                                 "namespaced": rt.namespaced, "kind": rt.kind,
                                 "verbs": list(rt.verbs)}
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            sub_kind = "Binding" if sub == "binding" else ("Scale" if sub == "scale" else rt.kind)
            resources.append({"name": f"{rt.plural}/{sub}", "singularName": "",
                              "namespaced": rt.namespaced, "kind": sub_kind,
                              "verbs": _SUBRESOURCE_VERBS.get(sub, ["get"])})
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": resources}
