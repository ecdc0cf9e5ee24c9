"""The kubelet simulator's scheduling rules, as pure functions (DESIGN.md §4 "a tiny scheduler").

A pod fits a node when: the node is Ready and schedulable; `spec.nodeName` is unset or names the
node; every `nodeSelector` label is on the node; one of the required node-affinity terms matches
(`matchExpressions` on node labels, `matchFields` on `metadata.name`, operators In, NotIn, Exists,
DoesNotExist, Gt, Lt); and every extended resource the pod requests fits the node's allocatable
minus what the pods already bound there request. Requests follow Kubernetes' effective-request
rule: max(largest init container, sum of app containers); for extended resources a limit without
a request counts as the request. Taints, tolerations, ports and cpu/memory are not considered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubernetes.utils import parse_quantity

__all__ = ["is_extended_resource", "container_requests", "pod_requests", "node_affinity_matches", "fits",
           "is_terminated", "is_ready_node"]

Obj = Mapping[str, Any]
_NATIVE_PREFIXES = ("hugepages-", "requests.hugepages-")
_NATIVE = ("cpu", "memory", "ephemeral-storage", "storage", "pods")


def is_extended_resource(name: str) -> bool:
    """True for extended resources (`vendor.example/thing`), false for cpu, memory, hugepages-*, and
    anything in the `kubernetes.io` namespace (Kubernetes `IsExtendedResourceName`)."""
    if name in _NATIVE or name.startswith(_NATIVE_PREFIXES) or "/" not in name:
        return False
    domain = name.split("/", 1)[0]
    return not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


def _count(value: Any, where: str) -> int:
    quantity = parse_quantity(value)
    if quantity != quantity.to_integral_value() or quantity < 0:
        raise ValueError(f"{where}: extended resource quantity must be a non-negative integer, got {value!r}")
    return int(quantity)


def container_requests(container: Obj) -> dict[str, int]:
    """Extended-resource requests of one container: `requests[r]`, or `limits[r]` when only a limit is set.

    Raises ValueError naming the container for a non-integer quantity.
    """
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    result = {}
    for name in sorted({*limits, *requests}):
        if is_extended_resource(name):
            value = requests.get(name, limits.get(name))
            result[name] = _count(value, f"container {container.get('name')!r} resources[{name!r}]")
    return result


def pod_requests(pod: Obj) -> dict[str, int]:
    """Effective extended-resource requests of a pod: per resource, max(max over init containers,
    sum over app containers)."""
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for container in spec.get("containers") or []:
        for name, count in container_requests(container).items():
            total[name] = total.get(name, 0) + count
    for container in spec.get("initContainers") or []:
        for name, count in container_requests(container).items():
            total[name] = max(total.get(name, 0), count)
    return {name: count for name, count in total.items() if count > 0}


def _requirement(requirement: Obj, value: str | None) -> bool:
    operator, values = requirement.get("operator"), requirement.get("values") or []
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt"):
        try:
            number, bound = int(value or ""), int(values[0])
        except (ValueError, IndexError):
            return False
        return number > bound if operator == "Gt" else number < bound
    raise ValueError(f"node selector operator {operator!r} is not one of In, NotIn, Exists, DoesNotExist, Gt, Lt")


def node_affinity_matches(pod: Obj, node: Obj) -> bool:
    """The pod's required node affinity (`requiredDuringSchedulingIgnoredDuringExecution`) holds on `node`.

    Terms are ORed, requirements inside a term ANDed; an empty term list matches nothing, no
    affinity matches everything. `matchFields` supports `metadata.name` only (as Kubernetes).
    """
    required = ((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return True
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = (node.get("metadata") or {}).get("name")
    for term in required.get("nodeSelectorTerms") or []:
        expressions, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
        if not expressions and not fields:
            continue
        if all(_requirement(r, labels.get(r.get("key"))) for r in expressions) and all(
                _requirement(r, name if r.get("key") == "metadata.name" else None) for r in fields):
            return True
    return False


def is_terminated(pod: Obj) -> bool:
    """Phase Succeeded or Failed: the pod holds no resources any more."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_ready_node(node: Obj) -> bool:
    """The node's Ready condition is True and `spec.unschedulable` is not set."""
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def fits(pod: Obj, node: Obj, bound_pods: Iterable[Obj]) -> tuple[bool, str]:
    """(True, "") when `pod` can be bound to `node`, else (False, reason).

    bound_pods: pods already bound to the node (terminated ones are ignored). Allocatable comes
    from `node.status.allocatable`. Raises ValueError for a malformed quantity.
    """
    node_name = (node.get("metadata") or {}).get("name")
    spec = pod.get("spec") or {}
    if spec.get("nodeName") and spec["nodeName"] != node_name:
        return False, f"pod is bound to node {spec['nodeName']!r}"
    if not is_ready_node(node):
        return False, "node is not Ready or is unschedulable"
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False, f"node lacks label {key}={value}"
    if not node_affinity_matches(pod, node):
        return False, "node affinity does not match"
    wanted = pod_requests(pod)
    if not wanted:
        return True, ""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    used: dict[str, int] = {}
    for other in bound_pods:
        if is_terminated(other):
            continue
        for name, count in pod_requests(other).items():
            used[name] = used.get(name, 0) + count
    for name, count in sorted(wanted.items()):
        free = _count(allocatable.get(name, "0"), f"node {node_name!r} allocatable[{name!r}]") - used.get(name, 0)
        if count > free:
            return False, f"insufficient {name}: requested {count}, free {max(free, 0)}"
    return True, ""
