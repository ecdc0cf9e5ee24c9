"""The udev handler on real pyudev: this machine's sysfs, and fake device trees under umockdev.

Real sysfs: `/dev/null` and the `mem` subsystem exist on every Linux machine (no /run/udev needed).
Fake trees: `umockdev-run` (Debian/Ubuntu package `umockdev`) LD_PRELOADs a fake /sys for a child
Python process that runs the real handler code (pyudev → libudev); the tests skip when
`umockdev-run` is not installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.discovery.handlers import _udev_matching
from agent.discovery.handlers.udev import UdevHandler

pytestmark = pytest.mark.skipif(not os.path.exists("/sys/devices/virtual/mem/null"), reason="needs Linux sysfs")

UMOCKDEV_RUN = shutil.which("umockdev-run")
needs_umockdev = pytest.mark.skipif(
    UMOCKDEV_RUN is None, reason="umockdev-run not found: install the Debian/Ubuntu package 'umockdev'")


class _NoEvents:
    def poll(self, timeout: float | None = None) -> None:
        return None


def _handler(tmp_path: Path, **kwargs: Any) -> UdevHandler:
    return UdevHandler(udev_db_dir=str(tmp_path / "no-udev-db"), monitor_factory=_NoEvents,
                       monitor_retry_seconds=0.05, **kwargs)


async def _first(handler: UdevHandler, details: str, properties: dict[str, bytes | None] | None = None) -> Any:
    gen = handler.discover(details, properties or {})
    try:
        return await asyncio.wait_for(gen.__anext__(), timeout=30)
    finally:
        await gen.aclose()


# --- this machine's sysfs ----------------------------------------------------------------------

async def test_kernel_null_finds_exactly_dev_null(tmp_path: Path) -> None:
    [device] = await _first(_handler(tmp_path), "udevRules:\n- KERNEL==\"null\"\n")
    assert device.id == "/devices/virtual/mem/null"
    assert device.properties == {"UDEV_DEVNODE": "/dev/null", "UDEV_DEVPATH": "/devices/virtual/mem/null"}
    assert [(s.container_path, s.host_path, s.permissions) for s in device.device_specs] == [
        ("/dev/null", "/dev/null", "rwm")]


async def test_subsystem_mem_finds_the_mem_devices(tmp_path: Path) -> None:
    expected = {f"/devices/virtual/mem/{name}" for name in os.listdir("/sys/class/mem")}
    devices = await _first(_handler(tmp_path), "udevRules: ['SUBSYSTEM==\"mem\"']\npermissions: r")
    assert {d.id for d in devices} == expected
    assert {"/devices/virtual/mem/null", "/devices/virtual/mem/zero"} <= expected
    by_id = {d.id: d for d in devices}
    assert by_id["/devices/virtual/mem/zero"].properties["UDEV_DEVNODE"] == "/dev/zero"
    assert all(s.permissions == "r" for d in devices for s in d.device_specs)


async def test_inequality_rule_drops_only_the_excluded_device(tmp_path: Path) -> None:
    expected = {f"/devices/virtual/mem/{name}" for name in os.listdir("/sys/class/mem")} - {"/devices/virtual/mem/null"}
    devices = await _first(_handler(tmp_path), "udevRules: ['SUBSYSTEM==\"mem\", KERNEL!=\"null\"']")
    assert {d.id for d in devices} == expected


async def test_rules_are_unioned(tmp_path: Path) -> None:
    devices = await _first(_handler(tmp_path), "udevRules: ['KERNEL==\"null\"', 'KERNEL==\"zero|null\"']")
    assert [d.id for d in devices] == ["/devices/virtual/mem/null", "/devices/virtual/mem/zero"]


class _IgnorePushdown:
    """A pyudev Context whose enumerators ignore libudev matches: the unfiltered reference."""

    def __init__(self, context: Any) -> None:
        self._context = context

    def list_devices(self, **kwargs: Any) -> Any:
        enumerator = self._context.list_devices()

        class Wrapper:
            def __getattr__(self, name: str) -> Any:
                return lambda *args: self

            def __iter__(self) -> Any:
                return iter(enumerator)

        return Wrapper()


def test_libudev_pushdown_never_narrows_the_result() -> None:
    import pyudev

    rules = [_udev_matching.compile_rule(r) for r in (
        'SUBSYSTEM=="mem|tty", KERNEL=="[nz]*|tty[0-2]"',
        'ENV{DEVNAME}=="/dev/null|/dev/tty1"',
        'ATTR{dev}=="1:[0-9]", SUBSYSTEM=="m?m"',
    )]
    context = pyudev.Context()
    for rule in rules:
        pushed = _udev_matching.find_matches(context, [rule])
        assert pushed, rule.text
        assert pushed == _udev_matching.find_matches(_IgnorePushdown(context), [rule]), rule.text


# --- fake device trees under umockdev ----------------------------------------------------------

CAM = "/devices/pci0000:00/0000:00:14.0/usb1/1-1"
VIDEO0 = CAM + "/1-1:1.0/video4linux/video0"
VIDEO1 = CAM + "/1-1:1.0/video4linux/video1"
GPU = "/devices/pci0000:00/0000:00:02.0"
WIDGET = "/devices/platform/widget"

# umockdev device description (`umockdev-record` format): P: devpath, N: devnode under /dev,
# E: property, A: sysfs attribute, L: symlink in the device directory.
TREE = """\
P: /devices/pci0000:00/0000:00:14.0
E: SUBSYSTEM=pci
E: DRIVER=xhci_hcd
A: vendor=0x8086
L: driver=../../../bus/pci/drivers/xhci_hcd

P: /devices/pci0000:00/0000:00:14.0/usb1
N: bus/usb/001/001
E: DEVNAME=/dev/bus/usb/001/001
E: DEVTYPE=usb_device
E: SUBSYSTEM=usb
E: DRIVER=usb
A: idVendor=1d6b
L: driver=../../../../bus/usb/drivers/usb

P: /devices/pci0000:00/0000:00:14.0/usb1/1-1
N: bus/usb/001/005
E: DEVNAME=/dev/bus/usb/001/005
E: DEVTYPE=usb_device
E: SUBSYSTEM=usb
E: DRIVER=usb
E: ID_VENDOR_ID=046d
E: TAGS=:uaccess:
A: idVendor=046d
A: idProduct=0825
L: driver=../../../../../bus/usb/drivers/usb

P: /devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0
E: DEVTYPE=usb_interface
E: SUBSYSTEM=usb
E: DRIVER=uvcvideo
A: bInterfaceClass=0e
L: driver=../../../../../../bus/usb/drivers/uvcvideo

P: /devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/video4linux/video0
N: video0
E: DEVNAME=/dev/video0
E: SUBSYSTEM=video4linux
E: ID_V4L_CAPABILITIES=:capture:
E: ID_PATH=pci-0000:00:14.0-usb-0:1:1.0
E: TAGS=:uaccess:seat:
A: name=HD Webcam C270
A: index=0

P: /devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/video4linux/video1
N: video1
E: DEVNAME=/dev/video1
E: SUBSYSTEM=video4linux
E: ID_PATH=pci-0000:00:14.0-usb-0:1:1.0
A: name=HD Webcam C270
A: index=1

P: /devices/pci0000:00/0000:00:02.0
E: SUBSYSTEM=pci
E: DRIVER=vfio-pci
A: vendor=0x10de
L: driver=../../../bus/pci/drivers/vfio-pci
L: iommu_group=../../../kernel/iommu_groups/7

P: /devices/platform/widget
E: SUBSYSTEM=platform
E: DRIVER=widget-drv
L: driver=../../../bus/platform/drivers/widget-drv
"""

# name → (discoveryDetails, discoveryProperties)
UMOCKDEV_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "kernel": ("udevRules: ['KERNEL==\"1-1\"']", {}),
    "kernels": ("udevRules: ['KERNELS==\"1-1\"']", {}),
    "subsystem": ("udevRules: ['SUBSYSTEM==\"usb\"']", {}),
    "driver_interface": ("udevRules: ['DRIVER==\"uvcvideo\"']", {}),
    "drivers": ("udevRules: ['DRIVERS==\"uvcvideo\"']", {}),
    "attr": ("udevRules: ['ATTR{idVendor}==\"046d\"']", {}),
    "attrs": ("udevRules: ['ATTRS{idVendor}==\"046d\"']", {}),
    "attrs_ne": ("udevRules: ['ATTRS{idVendor}!=\"046d\", SUBSYSTEM==\"video4linux\"']", {}),
    "env_child": ("udevRules: ['ENV{ID_V4L_CAPABILITIES}==\":capture:\"']", {}),
    "env_parent": ("udevRules: ['ENV{ID_VENDOR_ID}==\"046d\"']", {}),
    "env_ne": ("udevRules: ['ENV{ID_V4L_CAPABILITIES}!=\":capture:\", SUBSYSTEM==\"video4linux\"']", {}),
    "tag": ("udevRules: ['TAG==\"seat\"']", {}),
    "tag_ne": ("udevRules: ['TAG!=\"uaccess\", SUBSYSTEM==\"video4linux\"']", {}),
    "no_devnode": ("udevRules: ['SUBSYSTEM==\"platform\"']", {}),
    "grouped_camera": ("udevRules: ['ATTRS{idVendor}==\"046d\"']\ngroupRecursive: true",
                       {"devicePluginResourceName": "akri.sh/udev-camera"}),
    "usb_resource": ("udevRules: ['ATTR{idVendor}==\"046d\"']", {"devicePluginResourceName": " akri.sh/udev-usb-cam "}),
    "pci_vfio": ("udevRules: ['SUBSYSTEM==\"pci\", ATTR{vendor}==\"0x10de\"']",
                 {"devicePluginResourceName": "example.com/my-gpu", "vfioPassthrough": "TRUE"}),
}

_CHILD = """
import asyncio, dataclasses, json, sys
from agent.discovery.handlers import _udev_details, udev

class NoEvents:
    def poll(self, timeout=None):
        return None

cases = json.load(sys.stdin)
handler = udev.UdevHandler(udev_db_dir=sys.argv[1], monitor_factory=NoEvents)
out = {}
for name, (details, properties) in cases.items():
    resources = udev.resource_options({k: v.encode() for k, v in properties.items()})
    out[name] = [dataclasses.asdict(d) for d in handler.scan(_udev_details.parse_details(details), resources)]

async def first_yield():
    stream = handler.discover("udevRules: ['KERNEL==\\\"video*\\\"']", {})
    try:
        return await stream.__anext__()
    finally:
        await stream.aclose()

out["__discover__"] = [dataclasses.asdict(d) for d in asyncio.run(first_yield())]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def umockdev_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    assert UMOCKDEV_RUN is not None
    tmp = tmp_path_factory.mktemp("umockdev")
    (tmp / "tree.umockdev").write_text(TREE)
    proc = subprocess.run(
        [UMOCKDEV_RUN, "-d", str(tmp / "tree.umockdev"), "--", sys.executable, "-c", _CHILD, str(tmp / "no-db")],
        input=json.dumps(UMOCKDEV_CASES), capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _ids(devices: list[dict[str, Any]]) -> list[str]:
    return [d["id"] for d in devices]


UMOCKDEV_IDS = {
    "kernel": [CAM],
    "kernels": [CAM, VIDEO0, VIDEO1],
    "subsystem": ["/devices/pci0000:00/0000:00:14.0/usb1", CAM],
    "driver_interface": [CAM],
    "drivers": [CAM, VIDEO0, VIDEO1],
    "attr": [CAM],
    "attrs": [CAM, VIDEO0, VIDEO1],
    "attrs_ne": [],
    "env_child": [VIDEO0],
    "env_parent": [CAM],
    "env_ne": [VIDEO1],
    "tag": [VIDEO0],
    "tag_ne": [VIDEO1],
    "no_devnode": [WIDGET],
    "grouped_camera": [CAM],
    "usb_resource": [CAM],
    "pci_vfio": [GPU],
}


@needs_umockdev
@pytest.mark.parametrize("name", sorted(UMOCKDEV_IDS))
def test_umockdev_tree_matching(umockdev_results: dict[str, Any], name: str) -> None:
    assert _ids(umockdev_results[name]) == UMOCKDEV_IDS[name]


@needs_umockdev
def test_umockdev_device_without_devnode(umockdev_results: dict[str, Any]) -> None:
    [widget] = umockdev_results["no_devnode"]
    assert widget["properties"] == {"UDEV_DEVPATH": WIDGET}
    assert widget["device_specs"] == []


@needs_umockdev
def test_umockdev_grouped_multi_devnode_camera(umockdev_results: dict[str, Any]) -> None:
    [camera] = umockdev_results["grouped_camera"]
    assert camera["properties"] == {
        "UDEV_DEVNODE_0": "/dev/bus/usb/001/005", "UDEV_DEVNODE_1": "/dev/video0", "UDEV_DEVNODE_2": "/dev/video1",
        "USB_RESOURCE_AKRI_SH_UDEV-CAMERA_0": "1:5", "UDEV_DEVPATH": CAM,
    }
    assert [s["host_path"] for s in camera["device_specs"]] == ["/dev/bus/usb/001/005", "/dev/video0", "/dev/video1"]


@needs_umockdev
def test_umockdev_usb_resource_property(umockdev_results: dict[str, Any]) -> None:
    [camera] = umockdev_results["usb_resource"]
    assert camera["properties"] == {"UDEV_DEVNODE": "/dev/bus/usb/001/005", "UDEV_DEVPATH": CAM,
                                    "USB_RESOURCE_AKRI_SH_UDEV-USB-CAM": "1:5"}


@needs_umockdev
def test_umockdev_pci_resource_with_vfio_group(umockdev_results: dict[str, Any]) -> None:
    [gpu] = umockdev_results["pci_vfio"]
    assert gpu["properties"] == {"UDEV_DEVPATH": GPU, "PCI_RESOURCE_EXAMPLE_COM_MY-GPU": "0000:00:02.0"}
    assert [(s["host_path"], s["permissions"]) for s in gpu["device_specs"]] == [
        ("/dev/vfio/7", "rwm"), ("/dev/vfio/vfio", "rwm")]


@needs_umockdev
def test_umockdev_discover_first_yield(umockdev_results: dict[str, Any]) -> None:
    devices = umockdev_results["__discover__"]
    assert _ids(devices) == [VIDEO0, VIDEO1]
    assert devices[0]["properties"] == {"UDEV_DEVNODE": "/dev/video0", "UDEV_DEVPATH": VIDEO0}
