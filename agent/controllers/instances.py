"""Pure edits of Instance objects: what this node writes when it joins, leaves or cleans up.

Each function takes the live Instance (a plain dict, or None when absent) and returns the object
to write, `None` for "nothing to do", or `updating.DELETE` — the mutator shape that
`agent.kube.updating.read_modify_write` retries on 409. Nothing here does I/O.

Shape written (akri-contract.md §1.2, §2.4): `metadata.name = <configuration>-<hash>`, label
`akri.sh/configuration=<configuration>`, controller ownerReference to the Configuration;
`spec = {configurationName, cdiName, capacity, brokerProperties, shared, nodes, deviceUsage}`
where brokerProperties = device properties overridden by the Configuration's brokerProperties.
Joining keeps every field other writers own (`deviceUsage` claims by the device plugins,
finalizers, other nodes in `nodes`, foreign labels/annotations/ownerReferences).

One writer per field, so that nodes never undo each other. The Configuration-driven fields
(label, ownerReference, configurationName, capacity, the Configuration's brokerProperties) are
the same for every node, so any node may write them. The device-driven fields (the device's
part of brokerProperties, `shared`, `cdiName`) are owned by the *device owner*, the first node in
`spec.nodes` (the node that created the Instance, then whoever is listed first once it left):
nodes may see different properties for one shared device (e.g. a signal strength), and if each
wrote its own copy the Instance would be rewritten back and forth forever (Akri has this race).
Leaving takes this node out of `spec.nodes` together with its `deviceUsage` claims.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.discovery.requests import DiscoveredDevice
from agent.kube.updating import DELETE
from akri_api import model, naming
from akri_api.errors import InvalidDeviceUsage

__all__ = ["owner_reference", "broker_properties", "new_instance", "joined", "refreshed", "left",
           "without_node", "nodes_of", "device_owner", "claims_node", "is_deleting"]

Obj = dict[str, Any]


def owner_reference(configuration: model.Configuration) -> Obj:
    """Controller ownerReference to the Configuration (apiVersion akri.sh/v0, kind, name, uid)."""
    return {"apiVersion": naming.API_VERSION, "kind": "Configuration", "name": configuration.name,
            "uid": configuration.uid or "", "controller": True}


def broker_properties(configuration: model.Configuration, device: DiscoveredDevice) -> dict[str, str]:
    """`spec.brokerProperties`: the device's properties, then the Configuration's (which win)."""
    merged = dict(device.device.properties)
    merged.update(configuration.broker_properties)
    return merged


def nodes_of(instance: Mapping[str, Any] | None) -> list[str]:
    """`spec.nodes` as a list of strings ([] when absent or malformed)."""
    nodes = ((instance or {}).get("spec") or {}).get("nodes") or []
    return [n for n in nodes if isinstance(n, str)] if isinstance(nodes, list) else []


def device_owner(instance: Mapping[str, Any] | None) -> str | None:
    """The node whose device view the Instance carries: the first of `spec.nodes` (None if empty)."""
    nodes = nodes_of(instance)
    return nodes[0] if nodes else None


def is_deleting(instance: Mapping[str, Any]) -> bool:
    """True when the Instance has a deletionTimestamp (finalizers still pending)."""
    return bool((instance.get("metadata") or {}).get("deletionTimestamp"))


def new_instance(configuration: model.Configuration, device: DiscoveredDevice, node: str) -> Obj:
    """A fresh Instance for `device` discovered on `node` (deviceUsage {} — the plugins fill it)."""
    return {
        "apiVersion": naming.API_VERSION, "kind": "Instance",
        "metadata": {"name": device.instance_name, "namespace": configuration.namespace,
                     "labels": {naming.LABEL_CONFIGURATION: configuration.name},
                     "ownerReferences": [owner_reference(configuration)]},
        "spec": {"configurationName": configuration.name, "cdiName": device.cdi_name,
                 "capacity": configuration.capacity, "brokerProperties": broker_properties(configuration, device),
                 "shared": device.shared, "nodes": [node], "deviceUsage": {}},
    }


def _apply_configuration(instance: Obj, configuration: model.Configuration) -> None:
    metadata = instance.setdefault("metadata", {})
    labels = metadata.get("labels") or {}
    labels[naming.LABEL_CONFIGURATION] = configuration.name
    metadata["labels"] = labels
    reference = owner_reference(configuration)
    others = [r for r in metadata.get("ownerReferences") or []
              if not (r.get("kind") == "Configuration" and r.get("apiVersion", "").startswith(naming.API_GROUP + "/"))]
    metadata["ownerReferences"] = [*others, reference]
    spec = instance.setdefault("spec", {})
    spec["configurationName"] = configuration.name
    spec["capacity"] = configuration.capacity
    if not isinstance(spec.get("deviceUsage"), dict):
        spec["deviceUsage"] = {}
    properties = spec.get("brokerProperties")
    spec["brokerProperties"] = {**(properties if isinstance(properties, dict) else {}),
                                **configuration.broker_properties}


def _apply_device(instance: Obj, configuration: model.Configuration, device: DiscoveredDevice) -> None:
    spec = instance["spec"]
    spec["cdiName"] = device.cdi_name
    spec["shared"] = device.shared
    spec["brokerProperties"] = broker_properties(configuration, device)


def joined(current: Obj | None, *, configuration: model.Configuration, device: DiscoveredDevice,
           node: str) -> Obj | None:
    """The Instance with `node` in `spec.nodes` and the Configuration-driven fields up to date.

    Absent → `new_instance` (this node is the device owner). Being deleted (deletionTimestamp) →
    None: wait until it is gone, then create it again. Existing nodes, deviceUsage, finalizers and
    foreign metadata are kept. The device-driven fields (device properties in brokerProperties,
    shared, cdiName) are rewritten only when `node` is the device owner (first in `spec.nodes`);
    any other node overlays only the Configuration's brokerProperties, which every node agrees on.
    """
    if current is None:
        return new_instance(configuration, device, node)
    if is_deleting(current):
        return None
    _apply_configuration(current, configuration)
    nodes = nodes_of(current)
    if node not in nodes:
        nodes.append(node)
    current["spec"]["nodes"] = nodes
    if device_owner(current) == node:
        _apply_device(current, configuration, device)
    return current


def refreshed(current: Obj | None, *, configuration: model.Configuration,
              device: DiscoveredDevice | None, node: str) -> Obj | None:
    """For a device in its grace period: apply Configuration edits (capacity, brokerProperties,
    label, ownerReference) without joining, and the device's properties when this node is the
    device owner and knows the device; None if absent, deleting, or this node is no longer listed."""
    if current is None or is_deleting(current) or node not in nodes_of(current):
        return None
    _apply_configuration(current, configuration)
    if device is not None and device_owner(current) == node:
        _apply_device(current, configuration, device)
    return current


def left(current: Obj | None, *, node: str) -> Any:
    """This node lets go of the Instance: out of `spec.nodes`, and its deviceUsage claims (`<node>`
    and `C:<vdev>:<node>`) removed in the same write, since its device plugin is gone and nothing
    else would free them. `updating.DELETE` when it was the last node listed (and the Instance is
    not already being deleted); None when neither listed nor claiming (or the Instance is gone)."""
    return without_node(current, node=node)


def claims_node(value: object, node: str) -> bool:
    """True when a deviceUsage value (`<node>` or `C:<vdev>:<node>`) is a claim by `node`."""
    if not isinstance(value, str):
        return False
    try:
        return model.parse_slot_usage(value).node == node
    except InvalidDeviceUsage:
        return False


def without_node(current: Obj | None, *, node: str) -> Any:
    """A vanished node (deleted, or NotReady too long) removed from the Instance (akri-contract.md
    §3.5): out of `spec.nodes`, and its deviceUsage claims removed (we delete the key; Akri writes
    "" — both mean free). `updating.DELETE` when no node is left; None when nothing refers to it."""
    if current is None:
        return None
    spec = current.get("spec") or {}
    raw_usage = spec.get("deviceUsage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    claimed = [k for k, v in usage.items() if claims_node(v, node)]
    nodes = nodes_of(current)
    if node not in nodes and not claimed:
        return None
    remaining = [n for n in nodes if n != node]
    if not remaining and not is_deleting(current):
        return DELETE
    spec["nodes"] = remaining
    spec["deviceUsage"] = {k: v for k, v in usage.items() if k not in claimed}
    current["spec"] = spec
    return current
