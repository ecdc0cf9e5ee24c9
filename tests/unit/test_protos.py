"""The generated gRPC stubs are current, and the wire contract matches Akri and the kubelet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "proto" / "generate.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_discovery_proto_matches_akri_field_numbers() -> None:
    from agent.discovery._pb import discovery_pb2 as pb

    register = pb.RegisterDiscoveryHandlerRequest.DESCRIPTOR
    assert pb.DESCRIPTOR.package == "v0"
    assert {f.name: f.number for f in register.fields} == {
        "name": 1, "endpoint": 2, "endpoint_type": 3, "shared": 4}
    assert register.enum_types_by_name["EndpointType"].values_by_name["NETWORK"].number == 1
    device = pb.Device.DESCRIPTOR
    assert {f.name: f.number for f in device.fields} == {
        "id": 1, "properties": 2, "mounts": 3, "device_specs": 4}
    # ByteData.vec is proto3 optional: unset and empty are distinguishable.
    assert not pb.ByteData().HasField("vec")
    assert pb.ByteData(vec=b"").HasField("vec")
    services = {s.name: [m.name for m in s.methods] for s in pb.DESCRIPTOR.services_by_name.values()}
    assert services == {"Registration": ["RegisterDiscoveryHandler"], "DiscoveryHandler": ["Discover"]}


def test_kubelet_protos_match_upstream_names() -> None:
    from agent.plugins._pb import pluginapi_pb2, podresources_pb2

    assert pluginapi_pb2.DESCRIPTOR.package == "v1beta1"
    plugin = pluginapi_pb2.DESCRIPTOR.services_by_name["DevicePlugin"]
    assert [m.name for m in plugin.methods] == [
        "GetDevicePluginOptions", "ListAndWatch", "GetPreferredAllocation", "Allocate", "PreStartContainer"]
    car = pluginapi_pb2.ContainerAllocateResponse.DESCRIPTOR
    assert {f.name: f.number for f in car.fields} == {"envs": 1, "mounts": 2, "devices": 3, "annotations": 4}
    assert podresources_pb2.DESCRIPTOR.package == "v1"
    assert [m.name for m in podresources_pb2.DESCRIPTOR.services_by_name["PodResourcesLister"].methods][0] == "List"
