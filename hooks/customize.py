"""Customize hooks: which related objects Metacontroller sends with each sync request.

Contract: metacontroller-contract.md §11 (v1 hooks, namespaced parents: related objects only from
the parent's namespace). Rules derive from the parent's `metadata` and `spec` only, because
Metacontroller caches the answer per (parent UID, generation).

* Instance → its Configuration, by `namespace` + `names` (DESIGN.md §2.5: the related map is then
  keyed by the Configuration name).
* Configuration → its Instances and broker Pods, by label `akri.sh/configuration=<name>` in the
  Configuration's namespace (the agent labels every Instance; broker Pods and Job pods carry it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akri_api import naming
from hooks import _input
from hooks._types import CustomizeResponse, RelatedResourceRule

__all__ = ["customize_instance", "customize_configuration"]


def customize_instance(request: Mapping[str, Any]) -> CustomizeResponse:
    """Related rule for an Instance parent: its Configuration.

    request: `{"controller": ..., "parent": Instance}`; reads `parent.metadata.namespace` and
    `parent.spec.configurationName`.
    Returns `{"relatedResources": [{"apiVersion": "akri.sh/v0", "resource": "configurations",
    "namespace": <ns>, "names": [<configurationName>]}]}`.
    Raises HookInputError when the parent or `spec.configurationName` is missing or mistyped.
    """
    parent = _input.parent(request)
    namespace = _namespace(parent)
    spec = _input.get(parent, "spec", Mapping, path="parent")
    configuration = _input.get(spec, "configurationName", str, path="parent.spec")
    rule: RelatedResourceRule = {"apiVersion": naming.API_VERSION, "resource": "configurations"}
    if namespace:
        rule["namespace"] = namespace
    rule["names"] = [configuration]
    return {"relatedResources": [rule]}


def customize_configuration(request: Mapping[str, Any]) -> CustomizeResponse:
    """Related rules for a Configuration parent: its Instances and broker Pods, by label.

    request: `{"controller": ..., "parent": Configuration}`; reads `parent.metadata.name` and
    `.namespace`. Returns two rules (`akri.sh/v0 instances`, `v1 pods`), each
    `{"namespace": <ns>, "labelSelector": {"matchLabels": {"akri.sh/configuration": <name>}}}`.
    Raises HookInputError when the parent or its name is missing or mistyped.
    """
    parent = _input.parent(request)
    meta = _input.metadata(parent, path="parent")
    name = _input.get(meta, "name", str, path="parent.metadata")
    namespace = _namespace(parent)
    rules: list[RelatedResourceRule] = []
    for api_version, resource in ((naming.API_VERSION, "instances"), ("v1", "pods")):
        rule: RelatedResourceRule = {"apiVersion": api_version, "resource": resource}
        if namespace:
            rule["namespace"] = namespace
        rule["labelSelector"] = {"matchLabels": {naming.LABEL_CONFIGURATION: name}}
        rules.append(rule)
    return {"relatedResources": rules}


def _namespace(parent: Mapping[str, Any]) -> str:
    meta = _input.metadata(parent, path="parent")
    namespace: str = _input.get(meta, "namespace", str, path="parent.metadata", default="")
    return namespace
