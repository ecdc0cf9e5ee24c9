"""The discovery-handler interface every handler implements, embedded or standalone.

A handler turns (discoveryDetails, discoveryProperties) into a stream of complete device lists,
exactly like Akri's `v0.DiscoveryHandler/Discover` server stream (discovery.proto): each yielded
list *replaces* the previous one. The same class runs embedded in the agent (called directly) and
standalone (served over gRPC by `agent.discovery.standalone`). `Device` and friends are the plain
dataclasses of `agent.devices.device` (mirroring discovery.proto `Device`, `Mount`, `DeviceSpec`),
re-exported here for handler code; conversion to and from the protobuf messages lives here so
nothing else touches `_pb` for devices.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping

from agent.devices.device import Device, DeviceSpec, Mount

__all__ = ["Mount", "DeviceSpec", "Device", "DiscoveryHandler", "device_to_proto", "device_from_proto"]


class DiscoveryHandler(abc.ABC):
    """One discovery protocol (debugEcho, udev, onvif, opcua, or a custom one).

    Class attributes: `name` is the name Configurations select with `spec.discoveryHandler.name`
    and the name registered with the agent; `shared` says whether discovered devices are visible
    to several nodes (Instance name hashed without the node name) — set per instance.
    """

    name: str = ""
    shared: bool = False

    @abc.abstractmethod
    def discover(self, details: str, properties: Mapping[str, bytes | None]) -> AsyncIterator[list[Device]]:
        """Yield the complete current device list, first as soon as it is known, then on every change.

        details: Configuration `spec.discoveryHandler.discoveryDetails` (YAML text, may be "").
        properties: resolved discoveryProperties, name → bytes (None when the property has no value).
        Runs until the consumer stops iterating (the generator is closed/cancelled).
        Raises agent.discovery.errors.InvalidDiscoveryDetails — before yielding anything — when
        `details` is invalid; the message names the field and the offending value.
        """


def device_to_proto(device: Device, pb: object) -> object:
    """discovery.proto `Device` message from a `Device`; `pb` is the `discovery_pb2` module."""
    msg = pb.Device(id=device.id, properties=dict(device.properties))  # type: ignore[attr-defined]
    msg.mounts.extend(pb.Mount(container_path=m.container_path, host_path=m.host_path,  # type: ignore[attr-defined]
                               read_only=m.read_only) for m in device.mounts)
    msg.device_specs.extend(pb.DeviceSpec(container_path=d.container_path, host_path=d.host_path,  # type: ignore[attr-defined]
                                          permissions=d.permissions) for d in device.device_specs)
    return msg


def device_from_proto(msg: object) -> Device:
    """`Device` from a discovery.proto `Device` message."""
    return Device(
        id=msg.id,  # type: ignore[attr-defined]
        properties=dict(msg.properties),  # type: ignore[attr-defined]
        mounts=tuple(Mount(m.container_path, m.host_path, m.read_only) for m in msg.mounts),  # type: ignore[attr-defined]
        device_specs=tuple(DeviceSpec(d.container_path, d.host_path, d.permissions)  # type: ignore[attr-defined]
                           for d in msg.device_specs),  # type: ignore[attr-defined]
    )
