"""What every device plugin offers the gRPC server: a name, a resource, a device list that can be
watched, and Allocate.

`DevicePlugin` is the interface `serving.py` serves (pluginapi.proto `DevicePlugin`, akri-contract.md
§2.5); `InstancePlugin` and `ConfigurationPlugin` implement it. `PublishedDevices` holds one
plugin's current device list and wakes every ListAndWatch stream when it really changes (Akri
v0.10.4: "ListAndWatch only sends on change"), each stream getting the full list.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Sequence

from agent.plugins._pb import pluginapi_pb2 as pb

__all__ = ["DeviceList", "DevicePlugin", "PublishedDevices"]

DeviceList = tuple[tuple[str, str], ...]
"""A kubelet device list: `((device ID, "Healthy" | "Unhealthy"), ...)`."""


class PublishedDevices:
    """The current DeviceList of one plugin plus a change signal (single event loop)."""

    def __init__(self, devices: DeviceList = ()) -> None:
        self._devices = devices
        self._version = 0
        self._changed: asyncio.Event | None = None  # created by the first watcher (saves memory per plugin)

    @property
    def current(self) -> DeviceList:
        """The list last published."""
        return self._devices

    def publish(self, devices: DeviceList) -> bool:
        """Replace the list; wakes watchers and returns True only when it differs."""
        if devices == self._devices:
            return False
        self._devices = devices
        self._version += 1
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()
        return True

    async def updates(self) -> AsyncIterator[DeviceList]:
        """Yield the current list at once, then again after every change (lists published while
        the consumer was busy collapse into the newest one). Never ends by itself."""
        seen = -1
        while True:
            if self._version != seen:
                seen = self._version
                yield self._devices
                continue
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()


class DevicePlugin(abc.ABC):
    """One kubelet device plugin.

    `name`: socket file prefix (`<name>-<unixSeconds>-<serial>.sock`); `resource_name`: `akri.sh/<name>`;
    `published`: its device list.
    """

    name: str
    resource_name: str
    published: PublishedDevices

    @abc.abstractmethod
    async def allocate(self, container_requests: Sequence[Sequence[str]]) -> list[pb.ContainerAllocateResponse]:
        """One ContainerAllocateResponse per container request (each a list of device IDs), in order.

        Raises errors.AllocationError subclasses (UnknownDevice, SlotUnavailable, ClaimFailed)
        naming the device ID; nothing this call claimed stays claimed after an error.
        """
