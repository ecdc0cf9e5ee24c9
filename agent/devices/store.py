"""In-memory device store: what discovery found, looked up by the device plugins at Allocate time.

Akri's `DeviceManager` (agent/src/device_manager/): discovery records each device under its CDI
name (`akri.sh/<configuration>=<hash>`, Instance `spec.cdiName`) together with the Configuration's
brokerProperties; the device plugin for that Instance reads it to build the
`ContainerAllocateResponse` (env = device properties then brokerProperties, device nodes, mounts).
Nothing is persisted: after an agent restart a device is known again once discovery reports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.devices.device import Device

__all__ = ["DeviceRecord", "DeviceStore"]


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A discovered device plus its Configuration's `spec.brokerProperties` (applied after the
    device's own properties, so they win on a key clash)."""

    device: Device
    broker_properties: Mapping[str, str] = field(default_factory=dict)


class DeviceStore:
    """cdi_name → DeviceRecord. Single event loop; `changed` is set on every write (watchers clear it)."""

    def __init__(self) -> None:
        self._records: dict[str, DeviceRecord] = {}
        self.changed = asyncio.Event()

    def put(self, cdi_name: str, record: DeviceRecord) -> None:
        """Record (or replace) the device behind `cdi_name`."""
        if self._records.get(cdi_name) != record:
            self._records[cdi_name] = record
            self.changed.set()

    def remove(self, cdi_name: str) -> None:
        """Forget a device (no error when unknown)."""
        if self._records.pop(cdi_name, None) is not None:
            self.changed.set()

    def get(self, cdi_name: str) -> DeviceRecord | None:
        """The record for `cdi_name`, None when discovery has not reported it (yet)."""
        return self._records.get(cdi_name)

    def __contains__(self, cdi_name: object) -> bool:
        return cdi_name in self._records

    def __len__(self) -> int:
        return len(self._records)
