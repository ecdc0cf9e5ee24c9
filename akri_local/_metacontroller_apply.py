"""What Metacontroller does with a sync response, as pure functions (metacontroller-contract.md §6-§8).

- ownership: which observed objects are a parent's children (controller ownerReference by uid),
  which orphans it adopts and which children it releases (contract §7 step 3);
- `prepare_desired`: default the namespace, add the `controller-uid` label (generateSelector) and
  check the labels against the parent selector (§7 step 7);
- `three_way_merge`: Metacontroller's dynamic-apply merge of observed / last-applied / desired
  (§8: keys dropped from desired are removed, objects merge recursively, lists of objects sharing a
  merge key merge as maps, other lists are replaced);
- `plan_children`: the create / update / delete operations of one sync, per update strategy (§2.1);
- `desired_status`: the parent status to write (`observedGeneration` injected, §6).

Nothing here performs I/O; the runner executes the plan.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.kube.resources import ResourceKind
from akri_local import _metacontroller_selectors as selectors

__all__ = ["LAST_APPLIED_ANNOTATION", "CONTROLLER_UID_LABEL", "ChildOp", "DesiredChildError",
           "controller_ref", "owner_reference", "is_deleting", "parent_selector", "claim",
           "prepare_desired", "three_way_merge", "updated_child", "plan_children", "desired_status", "status_differs",
           "children_key"]

LAST_APPLIED_ANNOTATION = "metacontroller.k8s.io/last-applied-configuration"
CONTROLLER_UID_LABEL = "controller-uid"
_MERGE_KEYS = ("containerPort", "port", "mountPath", "name", "uid", "ip", "path")
_SYSTEM_METADATA = ("selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
                    "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields")
_RECREATE = ("Recreate", "RollingRecreate")
_IN_PLACE = ("InPlace", "RollingInPlace")

Obj = dict[str, Any]


class DesiredChildError(ValueError):
    """A desired child Metacontroller refuses (missing apiVersion/kind/name, labels not matching the
    parent selector, or a type not declared in childResources); the whole sync fails."""


@dataclass(frozen=True, slots=True)
class ChildOp:
    """One operation on a child: `action` create|update|delete, its kind, namespace ("" when
    cluster-scoped), name, `body` (create/update) and `uid` (delete precondition)."""

    action: str
    kind: ResourceKind
    namespace: str
    name: str
    body: Obj | None = None
    uid: str | None = None


def children_key(kind: ResourceKind) -> str:
    """Outer key of a children/related map: `Kind.apiVersion`, e.g. `Pod.v1`, `Job.batch/v1`."""
    return f"{kind.kind}.{kind.api_version}"


def controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with `controller: true`, or None."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def owner_reference(parent: Mapping[str, Any]) -> Obj:
    """The controller ownerReference Metacontroller puts on children (contract §8)."""
    meta = parent["metadata"]
    return {"apiVersion": parent["apiVersion"], "kind": parent["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def is_deleting(obj: Mapping[str, Any]) -> bool:
    """True when the object has a deletionTimestamp."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def parent_selector(parent: Mapping[str, Any], *, generate_selector: bool) -> Mapping[str, Any]:
    """The LabelSelector a parent's children must match (contract §7 step 7).

    generateSelector: `{matchLabels: {controller-uid: <uid>}}`; otherwise `spec.selector`, which
    must have matchLabels or matchExpressions. Raises DesiredChildError otherwise.
    """
    if generate_selector:
        return {"matchLabels": {CONTROLLER_UID_LABEL: parent["metadata"]["uid"]}}
    selector = (parent.get("spec") or {}).get("selector") or {}
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        raise DesiredChildError(".spec.selector must have either matchLabels, matchExpressions, or both")
    return dict(selector)


def claim(candidates: list[Obj], parent: Mapping[str, Any], selector: Mapping[str, Any]
          ) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Split `candidates` (objects of one child type in the parent's namespace) into
    (owned, to_adopt, to_release) following the ControllerRef rules (contract §7 step 3).

    owned: controller-owned by this parent (uid) and matching the selector; to_adopt: orphans
    (no controller ref, not deleting) matching the selector, none while the parent is deleting;
    to_release: owned by this parent but no longer matching.
    """
    uid = parent["metadata"]["uid"]
    owned: list[Obj] = []
    adopt: list[Obj] = []
    release: list[Obj] = []
    for obj in candidates:
        ref = controller_ref(obj)
        labelled = selectors.matches(selector, (obj.get("metadata") or {}).get("labels"))
        if ref is not None and ref.get("uid") == uid:
            (owned if labelled else release).append(obj)
        elif ref is None and labelled and not is_deleting(obj) and not is_deleting(parent):
            adopt.append(obj)
    return owned, adopt, release


def prepare_desired(child: Any, *, parent: Mapping[str, Any], kind: ResourceKind | None,
                    selector: Mapping[str, Any], generate_selector: bool) -> Obj:
    """A copy of one desired child as Metacontroller will apply it (contract §6, §7 step 7).

    kind: the declared child type of the child's apiVersion/kind (None = undeclared → error).
    Adds `metadata.namespace` (parent's, for namespaced kinds) and, with generateSelector, the
    `controller-uid` label. Raises DesiredChildError for a malformed child or non-matching labels.
    """
    if not isinstance(child, Mapping):
        raise DesiredChildError(f"desired child must be an object, got {type(child).__name__}")
    api_version, kind_name = child.get("apiVersion"), child.get("kind")
    name = (child.get("metadata") or {}).get("name")
    if not api_version or not kind_name or not name:
        raise DesiredChildError(f"desired child needs apiVersion, kind and metadata.name, got "
                                f"apiVersion={api_version!r} kind={kind_name!r} name={name!r}")
    if kind is None:
        raise DesiredChildError(f"desired child {kind_name}.{api_version} {name!r} is not a declared "
                                "childResources type")
    desired: Obj = copy.deepcopy(dict(child))
    meta = desired.setdefault("metadata", {})
    parent_ns = (parent.get("metadata") or {}).get("namespace")
    if kind.namespaced and not meta.get("namespace") and parent_ns:
        meta["namespace"] = parent_ns
    if not kind.namespaced:
        meta.pop("namespace", None)
    labels = meta.get("labels") or {}
    if generate_selector and CONTROLLER_UID_LABEL not in labels:
        labels = {**labels, CONTROLLER_UID_LABEL: parent["metadata"]["uid"]}
    if labels:
        meta["labels"] = labels
    if not selectors.matches(selector, labels):
        raise DesiredChildError(f"labels on desired child {kind_name} {name!r} don't match parent selector")
    return desired


def three_way_merge(observed: Any, last_applied: Any, desired: Any) -> Any:
    """Metacontroller's `apply.Merge` (contract §8): returns a new value, inputs are not modified.

    Where Metacontroller errors on a type mismatch (an observed object but a desired scalar), the
    desired value simply replaces the observed one; a last-applied value of the wrong type counts
    as absent.
    """
    return _merge("", copy.deepcopy(observed), last_applied, desired)


def _merge(path: str, destination: Any, last_applied: Any, desired: Any) -> Any:
    if isinstance(destination, dict):
        if not isinstance(last_applied, dict):
            last_applied = None
        if desired is not None and not isinstance(desired, dict):
            return copy.deepcopy(desired)
        for key in list((last_applied or {}).keys()):
            if key not in (desired or {}):
                destination.pop(key, None)
        for key, value in (desired or {}).items():
            destination[key] = _merge(f"{path}[{key}]", destination.get(key), (last_applied or {}).get(key), value)
        return destination
    if isinstance(destination, list) and isinstance(desired, list):
        last = last_applied if isinstance(last_applied, list) else []
        key = _list_map_key(destination, last, desired)
        if key:
            return _merge_list_map(path, key, destination, last, desired)
    return copy.deepcopy(desired)


def _list_map_key(*lists: list[Any]) -> str | None:
    items = [item for lst in lists for item in lst]
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    first = items[0]
    for key in _MERGE_KEYS:
        if key in first and all(key in item for item in items):
            return key
    return None


def _merge_list_map(path: str, key: str, destination: list[Any], last: list[Any], desired: list[Any]) -> list[Any]:
    dest_map = {str(item[key]): item for item in destination}
    last_map = {str(item[key]): item for item in last}
    des_map = {str(item[key]): item for item in desired}
    merged = _merge(path, dest_map, last_map, des_map)
    result, added = [], set()
    for item in [*destination, *desired]:
        k = str(item[key])
        if k in merged and k not in added:
            result.append(merged[k])
            added.add(k)
    return result


def _last_applied(observed: Mapping[str, Any]) -> Any:
    text = ((observed.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED_ANNOTATION)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _with_last_applied(obj: Obj, desired: Mapping[str, Any]) -> Obj:
    annotations = dict((obj.setdefault("metadata", {}).get("annotations")) or {})
    annotations[LAST_APPLIED_ANNOTATION] = json.dumps(desired, sort_keys=True, separators=(",", ":"))
    obj["metadata"]["annotations"] = annotations
    return obj


def updated_child(observed: Mapping[str, Any], desired: Mapping[str, Any]) -> Obj | None:
    """The object an InPlace/Recreate update would write, or None when nothing would change.

    Merge of observed/last-applied/desired, system metadata and `status` reverted to observed,
    last-applied annotation refreshed (contract §8).
    """
    merged = three_way_merge(dict(observed), _last_applied(observed), dict(desired))
    meta, old_meta = merged.setdefault("metadata", {}), observed.get("metadata") or {}
    for field in _SYSTEM_METADATA:
        if field in old_meta:
            meta[field] = copy.deepcopy(old_meta[field])
        else:
            meta.pop(field, None)
    if "status" in observed:
        merged["status"] = copy.deepcopy(observed["status"])
    else:
        merged.pop("status", None)
    merged = _with_last_applied(merged, desired)
    return None if merged == observed else merged


def plan_children(observed: Mapping[str, Mapping[tuple[str, str], Obj]],
                  desired: Mapping[str, Mapping[tuple[str, str], Obj]],
                  kinds: Mapping[str, ResourceKind], methods: Mapping[str, str],
                  parent: Mapping[str, Any]) -> list[ChildOp]:
    """The operations that move observed children to the desired set (contract §7 step 8, §2.1).

    observed/desired: `children_key` → (namespace, name) → object; methods: children_key → update
    method. Deletions of undesired children come first (skipping ones already deleting), then
    creations (body carries the last-applied annotation and the controller ownerReference) and
    updates: Recreate → delete (uid precondition), InPlace → update body, OnDelete → nothing.
    """
    ops: list[ChildOp] = []
    for type_key, children in sorted(observed.items()):
        for (namespace, name), obj in sorted(children.items()):
            if (namespace, name) not in desired.get(type_key, {}) and not is_deleting(obj):
                ops.append(ChildOp("delete", kinds[type_key], namespace, name, uid=obj["metadata"].get("uid")))
    for type_key, children in sorted(desired.items()):
        method = methods.get(type_key, "OnDelete")
        for (namespace, name), want in sorted(children.items()):
            have = observed.get(type_key, {}).get((namespace, name))
            if have is None:
                body = _with_last_applied(copy.deepcopy(want), want)
                body["metadata"]["ownerReferences"] = [
                    *(r for r in body["metadata"].get("ownerReferences") or []
                      if r.get("uid") != parent["metadata"]["uid"]), owner_reference(parent)]
                ops.append(ChildOp("create", kinds[type_key], namespace, name, body=body))
                continue
            if is_deleting(have) or method == "OnDelete":
                continue
            update = updated_child(have, want)
            if update is None:
                continue
            if method in _RECREATE:
                ops.append(ChildOp("delete", kinds[type_key], namespace, name, uid=have["metadata"].get("uid")))
            elif method in _IN_PLACE:
                ops.append(ChildOp("update", kinds[type_key], namespace, name, body=update))
    return ops


def desired_status(status: Any, generation: Any) -> Obj:
    """The parent `.status` to write: the hook's status (null → {}) plus `observedGeneration` (contract §6)."""
    result: Obj = copy.deepcopy(dict(status)) if isinstance(status, Mapping) else {}
    if generation is not None:
        result["observedGeneration"] = generation
    return result


def status_differs(parent: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """True when the live `parent.status` differs from `status` (Metacontroller writes only then)."""
    return (parent.get("status") or {}) != status
