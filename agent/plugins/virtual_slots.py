"""The virtual slot table of a Configuration-level plugin, as a pure function of its Instances.

A Configuration-level resource `akri.sh/<configuration>` offers virtual devices
`<configuration>-<n>` that stand for "some slot of some Instance of this Configuration"
(akri-contract.md §2.5, Akri's `ConfigurationSlot`):

- every attached Instance with at least one free slot has exactly one `free` entry (a pod
  allocated that virtual device gets the Instance's first free slot);
- every slot this node holds as `C:<vdev>:<node>` has a `used` entry keyed by `<vdev>`, so the
  kubelet keeps seeing the device it handed to the pod;
- entries of detached Instances disappear.

Keys are kept stable from one table to the next where possible (an Instance keeps the key of its
free entry while it stays free and nobody else's used entry takes it); a new free entry takes the
smallest `n` whose key is unused, as Akri does. Every entry is advertised Healthy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from agent.plugins.slots import SlotTable

__all__ = ["VirtualSlot", "next_virtual_table", "virtual_device_id"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VirtualSlot:
    """What a virtual device stands for: `slot` None = a free slot of `instance` (Akri
    `DeviceFree`), an int = that slot of `instance`, held by this node (Akri `DeviceUsed`)."""

    instance: str
    slot: int | None = None

    @property
    def is_free(self) -> bool:
        """True for a `DeviceFree` entry."""
        return self.slot is None


def virtual_device_id(configuration: str, n: int) -> str:
    """`<configuration>-<n>`."""
    return f"{configuration}-{n}"


def next_virtual_table(configuration: str, previous: Mapping[str, VirtualSlot],
                       tables: Mapping[str, SlotTable], node: str) -> dict[str, VirtualSlot]:
    """The new table `{virtual device ID: VirtualSlot}` for `tables` (`{instance: SlotTable}` of
    the attached Instances), given the `previous` table and this `node`'s name.

    Used entries come from `C:<vdev>:<node>` slots (on a duplicate vdev the first Instance in
    name order and lowest slot wins; the rest are logged and not advertised). Free entries keep
    their previous key when it is still unused, else take the smallest free `<configuration>-<n>`.
    """
    table: dict[str, VirtualSlot] = {}
    for instance in sorted(tables):
        for index, usage in enumerate(tables[instance].usages):
            if usage.vdev is None or usage.node != node:
                continue
            if usage.vdev in table:
                logger.warning("virtual device %s is recorded on %s slot %d and on %s slot %s; advertising the first",
                               usage.vdev, instance, index, table[usage.vdev].instance, table[usage.vdev].slot)
                continue
            table[usage.vdev] = VirtualSlot(instance, index)
    with_free = [name for name in sorted(tables) if tables[name].free_slots()]
    kept_keys = {entry.instance: key for key, entry in previous.items() if entry.is_free}
    needing_key = []
    for instance in with_free:
        key = kept_keys.get(instance)
        if key is not None and key not in table:
            table[key] = VirtualSlot(instance)
        else:
            needing_key.append(instance)
    n = 0
    for instance in needing_key:
        while virtual_device_id(configuration, n) in table:
            n += 1
        table[virtual_device_id(configuration, n)] = VirtualSlot(instance)
    return table
