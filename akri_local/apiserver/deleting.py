"""Deletion rules: options, grace periods, propagation finalizers, when an object may go.

Pure functions implementing the generic registry's ``BeforeDelete`` /
``updateForGracefulDeletionAndFinalizers`` for what this project relies on:

- pods bound to a node and not finished get a grace period (``gracePeriodSeconds``, else
  ``spec.terminationGracePeriodSeconds``, else 30): ``deletionTimestamp`` = now + grace and
  ``deletionGracePeriodSeconds`` are set and the kubelet finishes the deletion; unbound or
  finished pods, and every other kind, are deleted at once unless finalizers hold them;
- ``propagationPolicy`` Orphan / Foreground add the ``orphan`` / ``foregroundDeletion``
  finalizer (when the object has dependents); Background adds nothing; the default is the
  kind's (``Orphan`` for batch/v1 Jobs);
- namespaces always terminate gracefully (``status.phase: Terminating``) until their
  ``spec.finalizers`` are empty; CRDs record a Terminating condition;
- an object with a deletionTimestamp leaves storage once it has no finalizers and its
  ``deletionGracePeriodSeconds`` is 0.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from akri_local.apiserver import errors, meta
from akri_local.apiserver.kinds import ResourceType

__all__ = ["DEFAULT_POD_GRACE_SECONDS", "DeleteOptions", "FOREGROUND_FINALIZER",
           "ORPHAN_FINALIZER", "deleted_response", "deletion_state", "is_deleting", "removable"]

DEFAULT_POD_GRACE_SECONDS = 30
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
_POLICIES = ("Background", "Foreground", "Orphan")


@dataclasses.dataclass(frozen=True)
class DeleteOptions:
    """``DeleteOptions``: gracePeriodSeconds (None = kind default), propagationPolicy
    (Background/Foreground/Orphan or None), orphanDependents (legacy), preconditions
    (uid / resourceVersion), dryRun."""

    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    precondition_uid: str | None = None
    precondition_resource_version: str | None = None
    dry_run: bool = False


def is_deleting(obj: dict[str, Any]) -> bool:
    """True when ``obj`` carries a deletionTimestamp."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def removable(rt: ResourceType, obj: dict[str, Any]) -> bool:
    """Whether a deleting object may now leave storage (finalizers done, grace over)."""
    obj_meta = obj["metadata"]
    if not obj_meta.get("deletionTimestamp") or obj_meta.get("finalizers"):
        return False
    if rt.group_resource == ("", "namespaces") and (obj.get("spec") or {}).get("finalizers"):
        return False
    return not obj_meta.get("deletionGracePeriodSeconds")


def _grace_seconds(rt: ResourceType, obj: dict[str, Any], options: DeleteOptions) -> int:
    """Graceful deletion period in seconds: only pods bound to a node and still running wait."""
    if rt.group_resource != ("", "pods"):
        return 0
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    if options.grace_period_seconds is not None:
        return max(0, options.grace_period_seconds)
    grace = spec.get("terminationGracePeriodSeconds")
    return grace if isinstance(grace, int) and grace >= 0 else DEFAULT_POD_GRACE_SECONDS


def _policy(rt: ResourceType, options: DeleteOptions) -> str:
    """Effective propagation policy (explicit, then orphanDependents, then the kind default)."""
    if options.propagation_policy:
        if options.propagation_policy not in _POLICIES:
            raise errors.Invalid(f'propagationPolicy: Unsupported value: "{options.propagation_policy}"'
                                 ': supported values: "Foreground", "Background", "Orphan"')
        return options.propagation_policy
    if options.orphan_dependents is not None:
        return "Orphan" if options.orphan_dependents else "Background"
    return rt.default_propagation


def deletion_state(rt: ResourceType, current: dict[str, Any], options: DeleteOptions, *,
                   has_dependents: bool) -> dict[str, Any] | None:
    """The object to store for a graceful or finalizer-held deletion of ``current``, or None
    when it must leave storage now. Raises Invalid for an unknown propagationPolicy."""
    obj = copy.deepcopy(current)
    obj_meta = obj["metadata"]
    finalizers = list(obj_meta.get("finalizers") or [])
    wanted = {"Orphan": ORPHAN_FINALIZER, "Foreground": FOREGROUND_FINALIZER}.get(_policy(rt, options))
    if options.propagation_policy:
        finalizers = [f for f in finalizers
                      if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER) or f == wanted]
    if wanted and wanted not in finalizers and has_dependents:
        finalizers.append(wanted)
    if finalizers:
        obj_meta["finalizers"] = finalizers
    else:
        obj_meta.pop("finalizers", None)
    grace = _grace_seconds(rt, current, options)
    if is_deleting(current):
        if grace < int(obj_meta.get("deletionGracePeriodSeconds") or 0):
            obj_meta["deletionGracePeriodSeconds"] = grace
            obj_meta["deletionTimestamp"] = meta.now_rfc3339(grace)
        return None if removable(rt, obj) else obj
    namespace = rt.group_resource == ("", "namespaces")
    if not finalizers and grace == 0 and not namespace:
        return None
    obj_meta["deletionTimestamp"] = meta.now_rfc3339(grace)
    obj_meta["deletionGracePeriodSeconds"] = grace
    obj_meta["generation"] = int(obj_meta.get("generation") or 0) + 1
    if namespace:
        obj.setdefault("status", {})["phase"] = "Terminating"
    if rt.group_resource == ("apiextensions.k8s.io", "customresourcedefinitions"):
        obj.setdefault("status", {}).setdefault("conditions", []).append({
            "type": "Terminating", "status": "True", "reason": "InstanceDeletionPending",
            "message": "CustomResourceDefinition marked for deletion",
            "lastTransitionTime": meta.now_rfc3339()})
    return None if removable(rt, obj) else obj


def deleted_response(rt: ResourceType, final: dict[str, Any]) -> dict[str, Any] | None:
    """The body of an immediate delete: None = the object itself (``ReturnDeletedObject``
    kinds: pods, services, serviceaccounts), else a Success ``Status`` naming it."""
    if rt.return_deleted_object:
        return None
    details: dict[str, Any] = {"name": final["metadata"]["name"], "kind": rt.plural,
                               "uid": final["metadata"].get("uid")}
    if rt.group:
        details["group"] = rt.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}
