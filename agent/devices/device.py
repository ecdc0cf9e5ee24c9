"""What a discovery handler reports about one device, as plain frozen dataclasses.

`Device`, `Mount` and `DeviceSpec` mirror discovery.proto `Device`, `Mount` and `DeviceSpec`
(package v0, akri-contract.md §2.2) field for field. They live here, below both discovery (which
produces them) and the device plugins (which turn them into ContainerAllocateResponses), so that
neither layer imports the other (STYLE.md §5.2). `agent.discovery.handler` re-exports them for
handler code; proto conversion stays there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Mount", "DeviceSpec", "Device"]


@dataclass(frozen=True, slots=True)
class Mount:
    """discovery.proto `Mount`: a host path mounted into broker containers."""

    container_path: str
    host_path: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """discovery.proto `DeviceSpec`: a device node given to broker containers; permissions like `rwm`."""

    container_path: str
    host_path: str
    permissions: str = ""


@dataclass(frozen=True, slots=True)
class Device:
    """discovery.proto `Device`: `id` (stable identity, hashed into the Instance name), properties
    (become broker env vars), mounts and device nodes."""

    id: str
    properties: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    device_specs: tuple[DeviceSpec, ...] = ()
