"""In-memory device store: what discovery found, looked up by the device plugins at Allocate time.

Akri's `DeviceManager` (agent/src/device_manager/): discovery records each device under its
Instance's namespace and CDI name (`akri.sh/<configuration>=<hash>`, Instance `spec.cdiName`)
together with the Configuration's brokerProperties; the device plugin for that Instance reads it
to build the `ContainerAllocateResponse` (env = device properties then brokerProperties, device
nodes, mounts). The namespace is part of the key because the CDI name has none: Configurations of
the same name in two namespaces have different devices.
Nothing is persisted: after an agent restart a device is known again once discovery reports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.devices.device import Device

__all__ = ["DeviceRecord", "DeviceStore", "DEFAULT_NAMESPACE"]

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A discovered device plus its Configuration's `spec.brokerProperties` (applied after the
    device's own properties, so they win on a key clash)."""

    device: Device
    broker_properties: Mapping[str, str] = field(default_factory=dict)


class DeviceStore:
    """(namespace, cdi_name) → DeviceRecord. Single event loop; `changed` is set on every write
    (watchers clear it).

    `namespace` is the namespace of the Configuration and its Instances. It defaults to
    "default" (as the API server does for a request without one) only so that callers written for
    one namespace keep working; the agent always passes it.
    """

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], DeviceRecord] = {}
        self.changed = asyncio.Event()

    def put(self, cdi_name: str, record: DeviceRecord, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Record (or replace) the device behind `cdi_name` in `namespace`."""
        key = (namespace, cdi_name)
        if self._records.get(key) != record:
            self._records[key] = record
            self.changed.set()

    def remove(self, cdi_name: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Forget a device (no error when unknown)."""
        if self._records.pop((namespace, cdi_name), None) is not None:
            self.changed.set()

    def get(self, cdi_name: str, *, namespace: str = DEFAULT_NAMESPACE) -> DeviceRecord | None:
        """The record for `cdi_name` in `namespace`, None when discovery has not reported it (yet)."""
        return self._records.get((namespace, cdi_name))

    def __contains__(self, key: object) -> bool:
        """`(namespace, cdi_name) in store`."""
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)
