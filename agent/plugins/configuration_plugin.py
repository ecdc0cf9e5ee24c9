"""The Configuration-level device plugin: resource `akri.sh/<configuration>`, virtual devices.

A pod that asks for `akri.sh/<configuration>: 1` gets a slot of *some* Instance of that
Configuration (akri-contract.md §2.5). The plugin holds the Instance plugins of this node's
Instances of the Configuration and a virtual slot table over them (`virtual_slots.py`),
recomputed whenever one of their slot tables changes. Every advertised virtual device is Healthy,
but only the entries of Instances whose device discovery has reported on this node
(`InstancePlugin.device_known`) are advertised: the others keep their keys in the table and appear
once the device is known, so the kubelet never hands out a device it cannot equip.

Allocate of a virtual device that stands for a free slot of Instance X claims X's lowest free slot
as `C:<vdev>:<node>`; a virtual device this node already holds is granted again (the kubelet
calls Allocate per container, and may hand it to a new pod); either way the slot is stamped
for the reclaimer (`InstancePlugin.claim_for_configuration`). A virtual device whose Instance's
device record is missing is refused with UNAVAILABLE before anything is claimed. Each container
request gets one ContainerAllocateResponse with the merged edits of its devices (quirk #5 fixed).
Allocates of one Configuration are serialised, so a virtual device is never claimed twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from agent.plugins import allocating, errors
from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins.instance_plugin import InstancePlugin
from agent.plugins.plugin import DeviceList, DevicePlugin, PublishedDevices
from agent.plugins.slots import HEALTHY, Claim
from agent.plugins.virtual_slots import VirtualSlot, next_virtual_table
from akri_api import model, naming

__all__ = ["ConfigurationPlugin"]

logger = logging.getLogger(__name__)


def _order(configuration: str, device_id: str) -> tuple[int, str]:
    suffix = device_id.removeprefix(f"{configuration}-")
    return (int(suffix), "") if suffix.isdigit() else (1 << 62, device_id)


class ConfigurationPlugin(DevicePlugin):
    """Device plugin of one Configuration on one node (namespace/configuration; node: this node)."""

    def __init__(self, namespace: str, configuration: str, *, node: str) -> None:
        self.namespace = namespace
        self.name = configuration
        self.resource_name = naming.configuration_resource_name(configuration)
        self._node = node
        self._instances: dict[str, InstancePlugin] = {}
        self._table: dict[str, VirtualSlot] = {}
        self._lock = asyncio.Lock()
        self.published = PublishedDevices()

    @property
    def table(self) -> dict[str, VirtualSlot]:
        """The current virtual slot table `{virtual device ID: VirtualSlot}` (a copy)."""
        return dict(self._table)

    @property
    def instances(self) -> tuple[str, ...]:
        """Names of the attached Instances."""
        return tuple(self._instances)

    def attach(self, plugin: InstancePlugin) -> None:
        """Offer `plugin`'s slots through this resource (idempotent)."""
        if self._instances.get(plugin.name) is plugin:
            return
        self._instances[plugin.name] = plugin
        plugin.add_listener(self._on_instance_change)
        self._recompute()

    def detach(self, name: str) -> bool:
        """Stop offering Instance `name`; returns True when no Instance is left."""
        plugin = self._instances.pop(name, None)
        if plugin is not None:
            plugin.remove_listener(self._on_instance_change)
            self._recompute()
        return not self._instances

    def _on_instance_change(self, _plugin: InstancePlugin) -> None:
        self._recompute()

    def _recompute(self) -> None:
        tables = {name: plugin.table for name, plugin in self._instances.items()}
        self._table = next_virtual_table(self.name, self._table, tables, self._node)
        known = {name for name, plugin in self._instances.items() if plugin.device_known}
        ids = sorted((device_id for device_id, entry in self._table.items() if entry.instance in known),
                     key=lambda device_id: _order(self.name, device_id))
        devices: DeviceList = tuple((device_id, HEALTHY) for device_id in ids)
        self.published.publish(devices)

    def claims(self) -> tuple[tuple[InstancePlugin, Claim], ...]:
        """This node's Configuration-level claims as (Instance plugin, claim)."""
        return tuple((plugin, claim) for plugin in self._instances.values()
                     for claim in plugin.claims() if claim.usage.vdev is not None)

    async def allocate(self, container_requests: Sequence[Sequence[str]]) -> list[pb.ContainerAllocateResponse]:
        """Claim a slot for every requested virtual device; one response per container.

        Raises errors.UnknownDevice for a virtual device not in the table (or whose Instance is
        gone), errors.DeviceUnavailable when discovery has not reported its Instance's device,
        errors.SlotUnavailable when its Instance has no free slot left, errors.ClaimFailed.
        """
        async with self._lock:
            claimed: list[tuple[InstancePlugin, Claim]] = []
            responses = []
            try:
                for vdevs in container_requests:
                    edits = []
                    for vdev in vdevs:
                        edits.append(await self._claim(vdev, claimed))
                    responses.append(allocating.container_response(edits))
            except errors.AllocationError:
                for plugin, claim in claimed:
                    try:
                        await plugin.release(claim)
                    except errors.ClaimFailed as exc:
                        logger.warning("could not release slot %s after a failed Allocate (the reclaimer will): %s",
                                       claim.key, exc)
                raise
            return responses

    async def _claim(self, vdev: str, claimed: list[tuple[InstancePlugin, Claim]]) -> allocating.DeviceEdits:
        """Grant `vdev` (appending a new claim to `claimed`) and return its device's edits."""
        entry = self._table.get(vdev)
        plugin = self._instances.get(entry.instance) if entry is not None else None
        if entry is None or plugin is None:
            raise errors.UnknownDevice(f"virtual device {vdev} is not offered by {self.resource_name}")
        edits = plugin.edits(vdev)
        index, changed = await plugin.claim_for_configuration(vdev)
        if changed:
            key = plugin.table.device_id(index)
            claimed.append((plugin, Claim(key, model.SlotUsage.configuration_use(vdev, self._node), vdev)))
            logger.info("virtual device %s of %s is slot %s", vdev, self.resource_name, key)
        return edits
