"""The Instance-level device plugin: resource `akri.sh/<instance>`, one device per slot.

Device IDs are `<instance>-<slot>` for slot 0..capacity-1, Healthy when free or held by this node
(akri-contract.md §2.5; slots.py has the rules). The plugin mirrors the Instance it was last given
(`apply`): a new capacity grows or shrinks the device list at once (quirk #6: applied, the
ListAndWatch stream resends), a key removed by another node frees the slot (quirk #4 fixed).

Allocate claims each requested slot for this node through `SlotClaimer` (read-modify-write on the
Instance) and answers one ContainerAllocateResponse per container. A slot this node already holds
is granted again without touching the API: the kubelet calls Allocate per container (an
initContainer, then the main container) with the same device. Claims made by a failing Allocate
are released before the error is returned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent.devices.store import DeviceStore
from agent.plugins import allocating, errors
from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins.claiming import SlotClaimer
from agent.plugins.plugin import DevicePlugin, PublishedDevices
from agent.plugins.slots import Claim, SlotTable, node_claims
from akri_api import model, naming

__all__ = ["InstancePlugin"]

logger = logging.getLogger(__name__)

Listener = Callable[["InstancePlugin"], None]


def _newer(candidate: str | None, current: str | None) -> bool:
    """False only when both resourceVersions are integers and `candidate` is older (opaque
    versions are otherwise taken as they come)."""
    if candidate and current and candidate.isdigit() and current.isdigit():
        return int(candidate) >= int(current)
    return True


class InstancePlugin(DevicePlugin):
    """Device plugin of one Instance on one node.

    instance: the Instance as first seen; node: this node's name; claimer: writes deviceUsage;
    devices: the device store read at Allocate time (see allocating.edits_for).
    """

    def __init__(self, instance: model.Instance, *, node: str, claimer: SlotClaimer,
                 devices: DeviceStore) -> None:
        self.name = instance.name
        self.namespace = instance.namespace
        self.configuration = instance.configuration_name
        self.resource_name = naming.instance_resource_name(instance.name)
        self._node = node
        self._claimer = claimer
        self._devices = devices
        self._mine = model.SlotUsage.instance_use(node)
        self._lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._instance = instance
        self._table = SlotTable.from_device_usage(instance.name, instance.capacity, instance.device_usage)
        self.published = PublishedDevices(self._table.devices(node))

    # -- state ------------------------------------------------------------------------------

    @property
    def table(self) -> SlotTable:
        """The slot table as last applied."""
        return self._table

    @property
    def instance(self) -> model.Instance:
        """The Instance as last applied."""
        return self._instance

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(self)` after every change of the slot table."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling `listener` (no error when unknown)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def apply(self, instance: model.Instance) -> None:
        """Take capacity, deviceUsage and brokerProperties from a newer view of the Instance;
        an older one (lower integer resourceVersion) is ignored. Republishes the device list and
        tells listeners when the slot table changed."""
        if not _newer(instance.resource_version, self._instance.resource_version):
            logger.debug("ignoring stale view %s of Instance %s", instance.resource_version, self.name)
            return
        self._instance = instance
        table = SlotTable.from_device_usage(self.name, instance.capacity, instance.device_usage)
        if table == self._table:
            return
        if table.capacity != self._table.capacity:
            logger.info("Instance %s capacity %d -> %d: advertising %d devices", self.name,
                        self._table.capacity, table.capacity, table.capacity)
        self._table = table
        self.published.publish(table.devices(self._node))
        for listener in list(self._listeners):
            listener(self)

    def apply_stored(self, stored: Mapping[str, Any]) -> None:
        """`apply` the object an API write returned (ignored when it does not parse)."""
        try:
            self.apply(model.Instance.from_dict(stored))
        except ValueError as exc:
            logger.warning("Instance %s as written does not parse: %s", self.name, exc)

    def claims(self) -> tuple[Claim, ...]:
        """This node's deviceUsage entries of this Instance (any slot index)."""
        return node_claims(self.name, self._instance.device_usage, self._node)

    def edits(self) -> allocating.DeviceEdits:
        """Container edits of this Instance's device (device store first, brokerProperties fallback)."""
        return allocating.edits_for(self.name, self._devices.get(self._instance.cdi_name),
                                    self._instance.broker_properties)

    # -- slot changes ---------------------------------------------------------------------------

    async def release(self, claim: Claim) -> None:
        """Free `claim` if it still holds the same usage. Raises errors.ClaimFailed."""
        async with self._lock:
            stored = await self._claimer.release(self.namespace, self.name, claim.key, claim.usage)
        if stored is not None:
            self.apply_stored(stored)

    async def claim_for_configuration(self, vdev: str) -> int:
        """Claim the lowest free slot as `C:<vdev>:<node>` for the Configuration-level plugin.

        Returns the slot index. Raises errors.SlotUnavailable (no free slot), errors.ClaimFailed.
        """
        async with self._lock:
            index, stored = await self._claimer.claim_first_free(
                self.namespace, self.name, model.SlotUsage.configuration_use(vdev, self._node))
        self.apply_stored(stored)
        return index

    async def allocate(self, container_requests: Sequence[Sequence[str]]) -> list[pb.ContainerAllocateResponse]:
        """Claim every requested slot for this node; one response per container.

        Raises errors.UnknownDevice for an ID that is not `<instance>-<i>` with i < capacity,
        errors.SlotUnavailable for a slot held by another node or by a Configuration-level claim,
        errors.ClaimFailed when the claim cannot be written.
        """
        claimed: list[Claim] = []
        try:
            for device_ids in container_requests:
                for device_id in device_ids:
                    if await self._claim(device_id):
                        claimed.append(Claim(device_id, self._mine, device_id))
        except errors.AllocationError:
            await self._roll_back(claimed)
            raise
        edits = self.edits()
        return [allocating.container_response([edits] * len(ids)) for ids in container_requests]

    async def _claim(self, device_id: str) -> bool:
        """Claim one device ID; True when this call changed the slot (False: already ours)."""
        index = self._table.index_of(device_id)
        if index is None:
            raise errors.UnknownDevice(f"device {device_id} is not a slot of {self.resource_name} "
                                       f"(capacity {self._table.capacity})")
        if self._table.usages[index] == self._mine:
            return False
        async with self._lock:
            stored, changed = await self._claimer.claim_slot(self.namespace, self.name, index, self._mine)
        self.apply_stored(stored)
        return changed

    async def _roll_back(self, claimed: list[Claim]) -> None:
        for claim in claimed:
            try:
                await self.release(claim)
            except errors.ClaimFailed as exc:
                logger.warning("could not release slot %s after a failed Allocate (the reclaimer will): %s",
                               claim.key, exc)
