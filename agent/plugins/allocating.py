"""What a broker container gets from an Allocate: env, device nodes and mounts of its device(s).

Akri's `cdi_device_to_car` (akri-contract.md §2.5): the env list is the device's properties followed
by the Configuration's brokerProperties (later entries win); every entry `K=V` is set both as `K`
and as `K_<HASH>`, HASH being the upper-cased 6-hex Instance hash (the text after the last `-` of
the Instance name), e.g. `DEBUG_ECHO_DESCRIPTION` and `DEBUG_ECHO_DESCRIPTION_8120FE`. Device nodes
come from the device's DeviceSpecs (`host_path` defaults to `container_path`), mounts from its
Mounts. One ContainerAllocateResponse per container request (quirk #5 fixed): when a container
asks for several devices their edits are merged in request order.

Where the edits come from (`edits_for`): the device store's record of the device, as discovery
reported it (DeviceRecord.device + DeviceRecord.broker_properties). There is no fallback: a device
without a record (an agent that restarted before discovery re-reported it, or a device that
vanished) is never allocated, because the broker would start without its device nodes and mounts
(the plugins advertise such devices Unhealthy and refuse their Allocate with UNAVAILABLE).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from agent.devices.device import DeviceSpec, Mount
from agent.devices.store import DeviceRecord
from agent.plugins._pb import pluginapi_pb2 as pb

__all__ = ["DeviceEdits", "instance_hash", "edits_for", "container_response"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceEdits:
    """Container edits for one Instance's device: `env` as ordered `(K, V)` pairs (unsuffixed),
    mounts and device nodes as discovered."""

    instance: str
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[Mount, ...] = ()
    device_specs: tuple[DeviceSpec, ...] = ()


def instance_hash(instance: str) -> str:
    """Env-name suffix of an Instance: the text after its last `-`, upper-cased
    (`akri-debug-echo-foo-8120fe` → `8120FE`)."""
    return instance.rpartition("-")[2].upper()


def edits_for(instance: str, record: DeviceRecord) -> DeviceEdits:
    """DeviceEdits of `instance` from its device-store `record`: env = device properties then
    brokerProperties (in that order, so brokerProperties win), mounts and device nodes as
    discovered."""
    env = [*record.device.properties.items(), *record.broker_properties.items()]
    return DeviceEdits(instance, tuple(env), tuple(record.device.mounts), tuple(record.device.device_specs))


def container_response(edits: Iterable[DeviceEdits]) -> pb.ContainerAllocateResponse:
    """One ContainerAllocateResponse for a container given `edits` of each device it asked for
    (in request order): envs `K` and `K_<HASH>`, mounts and device nodes (duplicates dropped)."""
    envs: dict[str, str] = {}
    mounts: list[Mount] = []
    devices: list[DeviceSpec] = []
    for edit in edits:
        suffix = instance_hash(edit.instance)
        for key, value in edit.env:
            envs[key] = value
            envs[f"{key}_{suffix}"] = value
        mounts.extend(m for m in edit.mounts if m not in mounts)
        devices.extend(d for d in edit.device_specs if d not in devices)
    response = pb.ContainerAllocateResponse(envs=envs)
    response.mounts.extend(pb.Mount(container_path=m.container_path, host_path=m.host_path,
                                    read_only=m.read_only) for m in mounts)
    response.devices.extend(pb.DeviceSpec(container_path=d.container_path,
                                          host_path=d.host_path or d.container_path,
                                          permissions=d.permissions) for d in devices)
    return response
