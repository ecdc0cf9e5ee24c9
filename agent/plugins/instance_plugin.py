"""The Instance-level device plugin: resource `akri.sh/<instance>`, one device per slot.

Device IDs are `<instance>-<slot>` for slot 0..capacity-1, Healthy when free or held by this node
(akri-contract.md §2.5; slots.py has the rules) — but only while this node's device store has the
record of the Instance's device (`spec.cdiName`): until discovery has (re-)reported it, e.g. right
after a node reboot, every slot is Unhealthy, so the kubelet admits no pod that would start without
its device nodes and mounts. The manager calls `refresh_device` when the store changes.

The plugin mirrors the Instance it was last given (`apply`): a new capacity grows or shrinks the
device list at once (quirk #6: applied, the ListAndWatch stream resends), a key removed by another
node frees the slot (quirk #4 fixed).

Allocate claims each requested slot for this node through `SlotClaimer` (read-modify-write on the
Instance) and answers one ContainerAllocateResponse per container; without a device record it is
refused with UNAVAILABLE (errors.DeviceUnavailable) before anything is claimed. A slot this node
already holds is granted again without touching the API: the kubelet calls Allocate per container
(an initContainer, then the main container) with the same device, and hands a slot it considers
free to a new pod. Claims made by a failing Allocate are released before the error is returned.

Every grant — new claim or re-grant — happens under the plugin lock and stamps the slot with a
tick of the node's `AllocationClock`. The slot reclaimer reads the clock before it asks the
kubelet which devices pods hold and frees a claim through `reclaim` only when its slot was not
stamped since: a slot the kubelet handed to a new pod between that List and the release is kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent.devices.store import DeviceRecord, DeviceStore
from agent.plugins import allocating, errors
from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins.claiming import SlotClaimer
from agent.plugins.plugin import DeviceList, DevicePlugin, PublishedDevices
from agent.plugins.slots import UNHEALTHY, Claim, SlotTable, node_claims
from akri_api import model, naming

__all__ = ["InstancePlugin", "AllocationClock"]

logger = logging.getLogger(__name__)

Listener = Callable[["InstancePlugin"], None]


def _newer(candidate: str | None, current: str | None) -> bool:
    """False only when both resourceVersions are integers and `candidate` is older (opaque
    versions are otherwise taken as they come)."""
    if candidate and current and candidate.isdigit() and current.isdigit():
        return int(candidate) >= int(current)
    return True


class AllocationClock:
    """A counter of slot grants on one node, shared by all its Instance plugins (single event loop).

    `tick()` is called on every grant and returns the new value; `now()` is the last value. The
    reclaimer reads `now()` before listing the kubelet's pod resources and passes it to
    `InstancePlugin.reclaim`, which keeps a slot stamped with a later tick.
    """

    def __init__(self) -> None:
        self._ticks = 0

    def now(self) -> int:
        """The last tick (0 before the first grant)."""
        return self._ticks

    def tick(self) -> int:
        """Advance by one and return the new tick."""
        self._ticks += 1
        return self._ticks


class InstancePlugin(DevicePlugin):
    """Device plugin of one Instance on one node.

    instance: the Instance as first seen; node: this node's name; claimer: writes deviceUsage;
    devices: the device store, whose record of the Instance's `spec.cdiName` gates health and
    Allocate (see module docstring); clock: the node's AllocationClock (own one when not given).
    """

    def __init__(self, instance: model.Instance, *, node: str, claimer: SlotClaimer,
                 devices: DeviceStore, clock: AllocationClock | None = None) -> None:
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
        self._clock = clock or AllocationClock()
        self._granted: dict[str, int] = {}  # deviceUsage key -> tick of its last grant
        self._instance = instance
        self._table = SlotTable.from_device_usage(instance.name, instance.capacity, instance.device_usage)
        self._device_known = self._record() is not None
        self.published = PublishedDevices(self._device_list())

    # -- state ------------------------------------------------------------------------------

    @property
    def table(self) -> SlotTable:
        """The slot table as last applied."""
        return self._table

    @property
    def instance(self) -> model.Instance:
        """The Instance as last applied."""
        return self._instance

    @property
    def device_known(self) -> bool:
        """True when the device store had the Instance's device at the last `refresh_device` (or
        creation); while False every slot is advertised Unhealthy."""
        return self._device_known

    def _record(self) -> DeviceRecord | None:
        return self._devices.get(self._instance.cdi_name, namespace=self.namespace)

    def _device_list(self) -> DeviceList:
        devices = self._table.devices(self._node)
        if self._device_known:
            return devices
        return tuple((device_id, UNHEALTHY) for device_id, _health in devices)

    def refresh_device(self) -> None:
        """Re-read whether the device store has this Instance's device; when that changed,
        republish the device list (all Unhealthy without it) and tell listeners."""
        known = self._record() is not None
        if known == self._device_known:
            return
        self._device_known = known
        logger.info("device %s of Instance %s %s: advertising its slots %s", self._instance.cdi_name, self.name,
                    "reported by discovery" if known else "no longer known", "by usage" if known else "Unhealthy")
        self.published.publish(self._device_list())
        for listener in list(self._listeners):
            listener(self)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(self)` after every change of the slot table or of `device_known`."""
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
        self.published.publish(self._device_list())
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

    def edits(self, device_id: str) -> allocating.DeviceEdits:
        """Container edits of this Instance's device from the device store, for the Allocate of
        `device_id` (a slot or a virtual device). Raises errors.DeviceUnavailable naming
        `device_id` and the device when the store has no record of it."""
        record = self._record()
        if record is None:
            raise errors.DeviceUnavailable(
                f"device {device_id}: {self._instance.cdi_name} (Instance {self.namespace}/{self.name}) has not "
                f"been reported by discovery on node {self._node}; not allocating it without its device")
        return allocating.edits_for(self.name, record)

    def _stamp(self, key: str) -> None:
        self._granted[key] = self._clock.tick()

    # -- slot changes ---------------------------------------------------------------------------

    async def release(self, claim: Claim) -> None:
        """Free `claim` if it still holds the same usage. Raises errors.ClaimFailed."""
        async with self._lock:
            await self._release(claim)

    async def reclaim(self, claim: Claim, since: int) -> bool:
        """Free `claim` unless its slot was granted after AllocationClock tick `since` (the kubelet
        handed it to a pod after the reclaimer listed pod resources). Returns False when kept,
        True otherwise (freed, or nothing left to free). Raises errors.ClaimFailed."""
        async with self._lock:
            granted = self._granted.get(claim.key, 0)
            if granted > since:
                logger.info("keeping slot %s: granted again (tick %d) after the pod-resources listing (tick %d)",
                            claim.key, granted, since)
                return False
            await self._release(claim)
            return True

    async def _release(self, claim: Claim) -> None:
        """Release under the lock (held by the caller)."""
        stored = await self._claimer.release(self.namespace, self.name, claim.key, claim.usage)
        self._granted.pop(claim.key, None)
        if stored is not None:
            self.apply_stored(stored)

    async def claim_for_configuration(self, vdev: str) -> tuple[int, bool]:
        """Grant a slot to virtual device `vdev` of the Configuration-level plugin: the slot this
        node already holds as `C:<vdev>:<node>` if any (no API call), else the lowest free slot,
        claimed as `C:<vdev>:<node>`. The slot is stamped (see `reclaim`).

        Returns (slot index, whether this call claimed it). Raises errors.SlotUnavailable (no free
        slot), errors.ClaimFailed.
        """
        usage = model.SlotUsage.configuration_use(vdev, self._node)
        async with self._lock:
            held = [i for i, current in enumerate(self._table.usages) if current == usage]
            if held:
                index, changed = held[0], False
            else:
                index, stored = await self._claimer.claim_first_free(self.namespace, self.name, usage)
                self.apply_stored(stored)
                changed = True
            self._stamp(model.slot_key(self.name, index))
        return index, changed

    async def allocate(self, container_requests: Sequence[Sequence[str]]) -> list[pb.ContainerAllocateResponse]:
        """Claim every requested slot for this node; one response per container.

        Raises errors.UnknownDevice for an ID that is not `<instance>-<i>` with i < capacity,
        errors.DeviceUnavailable when discovery has not reported the device (nothing is claimed),
        errors.SlotUnavailable for a slot held by another node or by a Configuration-level claim,
        errors.ClaimFailed when the claim cannot be written.
        """
        first = next((device_id for ids in container_requests for device_id in ids), self.resource_name)
        edits = self.edits(first)
        claimed: list[Claim] = []
        try:
            for device_ids in container_requests:
                for device_id in device_ids:
                    if await self._claim(device_id):
                        claimed.append(Claim(device_id, self._mine, device_id))
        except errors.AllocationError:
            await self._roll_back(claimed)
            raise
        return [allocating.container_response([edits] * len(ids)) for ids in container_requests]

    async def _claim(self, device_id: str) -> bool:
        """Grant one device ID to this node and stamp it; True when this call changed the slot
        (False: already ours)."""
        async with self._lock:
            index = self._table.index_of(device_id)
            if index is None:
                raise errors.UnknownDevice(f"device {device_id} is not a slot of {self.resource_name} "
                                           f"(capacity {self._table.capacity})")
            if self._table.usages[index] == self._mine:
                changed = False
            else:
                stored, changed = await self._claimer.claim_slot(self.namespace, self.name, index, self._mine)
                self.apply_stored(stored)
            self._stamp(device_id)
        return changed

    async def _roll_back(self, claimed: list[Claim]) -> None:
        for claim in claimed:
            try:
                await self.release(claim)
            except errors.ClaimFailed as exc:
                logger.warning("could not release slot %s after a failed Allocate (the reclaimer will): %s",
                               claim.key, exc)
