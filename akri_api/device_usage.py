"""The `Instance.spec.deviceUsage` grammar (akri-contract.md §1.2).

Keys are `<instance>-<slot>` (also the device ids of the Instance-level device plugin); values
are `""` (free), `"<node>"` (used through the Instance-level device plugin on that node) or
`"C:<vdevId>:<node>"` (used through the Configuration-level plugin for virtual device vdevId).
The agent's parser (instance.rs `NodeUsage`, device_plugin_instance_controller.rs `DeviceUsage`)
splits on ":", so node names and virtual device ids cannot contain ":".
"""

from __future__ import annotations

from dataclasses import dataclass

from akri_api import _paths
from akri_api.errors import InvalidDeviceUsage

__all__ = ["SlotUsage", "parse_slot_usage", "format_slot_usage", "slot_index", "slot_key"]


@dataclass(frozen=True, slots=True)
class SlotUsage:
    """Who uses one slot: free (node None), a node through the Instance-level device plugin
    (vdev None), or a node through the Configuration-level plugin for virtual device `vdev`."""

    node: str | None = None
    vdev: str | None = None

    @classmethod
    def free(cls) -> SlotUsage:
        """An unused slot (`""`)."""
        return cls()

    @classmethod
    def instance_use(cls, node: str) -> SlotUsage:
        """Used on `node` through the Instance-level plugin (`"<node>"`)."""
        return cls(node=node)

    @classmethod
    def configuration_use(cls, vdev: str, node: str) -> SlotUsage:
        """Used on `node` through the Configuration-level plugin as `vdev` (`"C:<vdev>:<node>"`)."""
        return cls(node=node, vdev=vdev)

    @property
    def is_free(self) -> bool:
        """True for an unused slot."""
        return self.node is None

    @property
    def is_configuration_use(self) -> bool:
        """True when used through the Configuration-level plugin."""
        return self.vdev is not None

    def __str__(self) -> str:
        return format_slot_usage(self)


def parse_slot_usage(value: str) -> SlotUsage:
    """Parse one deviceUsage value (akri-contract.md §1.2, agent `NodeUsage`/`DeviceUsage`).

    `""` → free; `"node-a"` → instance use on node-a; `"C:cfg-0:node-a"` → configuration use of
    virtual device cfg-0 on node-a. Split on ":" as Akri does: anything else (two parts, four
    parts, a first part other than "C", an empty part) raises errors.InvalidDeviceUsage.
    """
    if not isinstance(value, str):
        raise InvalidDeviceUsage(f"usage must be a string, got {_paths.describe(value)}")
    if value == "":
        return SlotUsage.free()
    parts = value.split(":")
    if len(parts) == 1:
        return SlotUsage.instance_use(value)
    if len(parts) == 3 and parts[0] == "C" and parts[1] and parts[2]:
        return SlotUsage.configuration_use(parts[1], parts[2])
    raise InvalidDeviceUsage(f'usage must be "", "<node>" or "C:<vdevId>:<node>", got {_paths.quote(value)}')


def format_slot_usage(usage: SlotUsage) -> str:
    """Inverse of `parse_slot_usage`. Raises errors.InvalidDeviceUsage if a vdev without a node,
    or a node/vdev that is empty or contains ":", would make the value unparseable."""
    if usage.node is None:
        if usage.vdev is not None:
            raise InvalidDeviceUsage(f"virtual device {_paths.quote(usage.vdev)} needs a node")
        return ""
    for part in (usage.node, usage.vdev):
        if part is not None and (not part or ":" in part):
            raise InvalidDeviceUsage(
                f"node and virtual device ids must be non-empty and free of ':', got {_paths.quote(part)}"
            )
    return usage.node if usage.vdev is None else f"C:{usage.vdev}:{usage.node}"


def slot_key(instance_name: str, index: int) -> str:
    """deviceUsage key / device-plugin device id of slot `index`: `<instance>-<index>`."""
    return f"{instance_name}-{index}"


def slot_index(instance_name: str, key: str) -> int:
    """Slot index of a deviceUsage key: the text after the last "-", which must be a decimal
    integer >= 0, with the key starting with `<instance_name>-`.

    `slot_index("cfg-8120fe", "cfg-8120fe-1") == 1`. Raises errors.InvalidDeviceUsage otherwise.
    """
    prefix, sep, suffix = key.rpartition("-")
    if not sep or prefix != instance_name:
        raise InvalidDeviceUsage(
            f"deviceUsage key {_paths.quote(key)} is not {_paths.quote(instance_name + '-<slot>')}"
        )
    if not suffix.isascii() or not suffix.isdigit():
        raise InvalidDeviceUsage(f"deviceUsage key {_paths.quote(key)}: slot {_paths.quote(suffix)} is not an integer")
    return int(suffix)
