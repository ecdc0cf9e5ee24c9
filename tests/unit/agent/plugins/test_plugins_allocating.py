"""ContainerAllocateResponse construction (akri-contract.md §2.5 `cdi_device_to_car`, Appendix B)."""

from __future__ import annotations

from agent.devices.store import DeviceRecord
from agent.discovery.handler import Device, DeviceSpec, Mount
from agent.plugins import allocating

DEBUG_ECHO = "akri-debug-echo-foo-8120fe"


def test_instance_hash_is_upper_cased_suffix() -> None:
    assert allocating.instance_hash(DEBUG_ECHO) == "8120FE"


def test_debug_echo_env_plain_and_suffixed_broker_properties_win() -> None:
    record = DeviceRecord(Device("foo0", {"DEBUG_ECHO_DESCRIPTION": "foo0", "RESOLUTION_WIDTH": "640"}),
                          {"RESOLUTION_WIDTH": "800"})
    response = allocating.container_response([allocating.edits_for(DEBUG_ECHO, record)])
    assert dict(response.envs) == {
        "DEBUG_ECHO_DESCRIPTION": "foo0", "DEBUG_ECHO_DESCRIPTION_8120FE": "foo0",
        "RESOLUTION_WIDTH": "800", "RESOLUTION_WIDTH_8120FE": "800"}
    assert not response.devices and not response.mounts and not response.annotations


def test_udev_device_nodes_and_mounts() -> None:
    device = Device("/devices/virtual/mem/null", {"UDEV_DEVNODE": "/dev/null"},
                    mounts=(Mount("/cfg", "/host/cfg", read_only=True),),
                    device_specs=(DeviceSpec("/dev/null", "/dev/null", "rwm"), DeviceSpec("/dev/zero", "", "r")))
    response = allocating.container_response([allocating.edits_for("akri-udev-abcdef", DeviceRecord(device))])
    assert dict(response.envs) == {"UDEV_DEVNODE": "/dev/null", "UDEV_DEVNODE_ABCDEF": "/dev/null"}
    assert [(d.container_path, d.host_path, d.permissions) for d in response.devices] == [
        ("/dev/null", "/dev/null", "rwm"), ("/dev/zero", "/dev/zero", "r")]
    assert [(m.container_path, m.host_path, m.read_only) for m in response.mounts] == [("/cfg", "/host/cfg", True)]


def test_several_devices_in_one_container_merge_into_one_response() -> None:
    a = allocating.DeviceEdits("cfg-aaaaaa", (("X", "a"),), device_specs=(DeviceSpec("/dev/a", "/dev/a", "rw"),))
    b = allocating.DeviceEdits("cfg-bbbbbb", (("X", "b"),), device_specs=(DeviceSpec("/dev/b", "/dev/b", "rw"),))
    response = allocating.container_response([a, b, a])
    assert dict(response.envs) == {"X": "a", "X_AAAAAA": "a", "X_BBBBBB": "b"}
    assert [d.container_path for d in response.devices] == ["/dev/a", "/dev/b"]
