"""The slot table of one Instance: who holds each of its `capacity` slots, as a pure value.

An Instance with capacity N offers slots 0..N-1; `spec.deviceUsage` maps `<instance>-<slot>` to
the holder (akri-contract.md §1.2): absent or `""` = free, `"<node>"` = that node through the
Instance-level plugin, `"C:<vdev>:<node>"` = that node through the Configuration-level plugin.
This module turns a deviceUsage map into a table, the table into the kubelet device list
(contract §2.5: free or held by this node's Instance-level plugin → Healthy, anything else →
Unhealthy) and decides whether a slot may be claimed. It does no I/O; `claiming.py` writes.

Decisions:
- A key that vanished is free (quirk #4 fixed): the table is rebuilt from the whole map each time.
- A value outside the grammar is treated as held by an unknown holder (never free, never ours),
  so a corrupt entry can't be double-booked. Keys of other Instances or not of the form
  `<instance>-<int>` are ignored; keys at index >= capacity (left over after the capacity shrank)
  are not slots of the table but still count as this node's claims in `node_claims` so the
  reclaimer can free them.
- A slot held by this node through the Configuration-level plugin (`C:<vdev>:<this node>`) is
  Unhealthy on the Instance-level resource, as in Akri: it belongs to the other resource, and
  advertising it as Healthy would let the kubelet hand it to a second pod.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from akri_api import errors as api_errors
from akri_api import model

__all__ = ["HEALTHY", "UNHEALTHY", "SlotTable", "Claim", "read_usage", "node_claims", "may_claim"]

logger = logging.getLogger(__name__)

HEALTHY = "Healthy"
UNHEALTHY = "Unhealthy"
"""kubelet device health strings (pluginapi.proto `Device.health`)."""

FREE = model.SlotUsage.free()


def read_usage(value: object) -> model.SlotUsage:
    """One deviceUsage value as a SlotUsage; an unreadable value (not a string, or outside the
    grammar) becomes `SlotUsage(node=<repr>)`, i.e. held by an unknown holder that is never this
    node (node names cannot contain ':' or quotes)."""
    if isinstance(value, str):
        try:
            return model.parse_slot_usage(value)
        except api_errors.InvalidDeviceUsage:
            pass
    return model.SlotUsage.instance_use(f"unreadable:{value!r}")


def _indexed(instance: str, device_usage: Mapping[str, object]) -> Iterator[tuple[int, str, object]]:
    for key, value in device_usage.items():
        try:
            index = model.slot_index(instance, key)
        except api_errors.InvalidDeviceUsage:
            continue
        yield index, key, value


@dataclass(frozen=True, slots=True)
class SlotTable:
    """Slots of Instance `instance`: `usages[i]` is the holder of slot i; `len(usages)` = capacity."""

    instance: str
    usages: tuple[model.SlotUsage, ...]

    @classmethod
    def from_device_usage(cls, instance: str, capacity: int, device_usage: Mapping[str, object]) -> SlotTable:
        """Table of `capacity` slots (negative capacity counts as 0) filled from `device_usage`
        (`spec.deviceUsage`); absent keys and `""` are free."""
        usages = [FREE] * max(capacity, 0)
        for index, _key, value in _indexed(instance, device_usage):
            if index < len(usages):
                usages[index] = read_usage(value)
        return cls(instance, tuple(usages))

    @property
    def capacity(self) -> int:
        """Number of slots."""
        return len(self.usages)

    def device_id(self, index: int) -> str:
        """kubelet device ID of slot `index`: `<instance>-<index>`."""
        return model.slot_key(self.instance, index)

    def index_of(self, device_id: str) -> int | None:
        """Slot index of a device ID of this table, None when it is not `<instance>-<i>` with
        0 <= i < capacity."""
        try:
            index = model.slot_index(self.instance, device_id)
        except api_errors.InvalidDeviceUsage:
            return None
        return index if index < self.capacity else None

    def health(self, index: int, node: str) -> str:
        """HEALTHY when slot `index` is free or held by `node` through the Instance-level plugin."""
        usage = self.usages[index]
        return HEALTHY if usage.is_free or usage == model.SlotUsage.instance_use(node) else UNHEALTHY

    def devices(self, node: str) -> tuple[tuple[str, str], ...]:
        """The kubelet device list as `((device_id, health), ...)` in slot order."""
        return tuple((self.device_id(i), self.health(i, node)) for i in range(self.capacity))

    def free_slots(self) -> tuple[int, ...]:
        """Indices of free slots, ascending."""
        return tuple(i for i, usage in enumerate(self.usages) if usage.is_free)


@dataclass(frozen=True, slots=True)
class Claim:
    """One slot this node holds: deviceUsage `key` (`<instance>-<slot>`), its `usage`, and the ID
    the kubelet reports for it under `resource` (`<instance>-<slot>` for Instance-level use, the
    virtual device `<vdev>` for Configuration-level use; never `akri.sh/`-prefixed)."""

    key: str
    usage: model.SlotUsage
    device_id: str


def node_claims(instance: str, device_usage: Mapping[str, object], node: str) -> tuple[Claim, ...]:
    """Every deviceUsage entry of `instance` held by `node` (any slot index, also >= capacity),
    sorted by key."""
    claims = []
    for _index, key, value in _indexed(instance, device_usage):
        usage = read_usage(value)
        if usage.node == node:
            claims.append(Claim(key, usage, usage.vdev if usage.vdev is not None else key))
    return tuple(sorted(claims, key=lambda c: c.key))


def may_claim(current: model.SlotUsage, wanted: model.SlotUsage) -> bool:
    """A slot may be set to `wanted` when it is free or already holds exactly `wanted` (the kubelet
    re-allocating what this node holds, e.g. for an initContainer and then the main container)."""
    return current.is_free or current == wanted
