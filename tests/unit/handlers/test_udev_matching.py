"""udev matching, device building and details parsing on a fake, in-memory pyudev device tree.

The same semantics run on real pyudev (real sysfs and umockdev trees) in test_udev_sysfs.py; these
tests keep them covered when umockdev is not installed and pin every rule of akri-contract.md §5.3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handler import DeviceSpec
from agent.discovery.handlers import _udev_details, _udev_devices, _udev_matching
from agent.discovery.handlers._udev_devices import ResourceOptions

USB = "/devices/pci0000:00/0000:00:14.0/usb1"
CAM = USB + "/1-1"
IFACE = CAM + "/1-1:1.0"
VIDEO0 = IFACE + "/video4linux/video0"
VIDEO1 = IFACE + "/video4linux/video1"
GPU = "/devices/pci0000:00/0000:00:02.0"
WIDGET = "/devices/platform/widget"


class FakeAttributes:
    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def get(self, key: str) -> bytes | None:
        value = self._values.get(key)
        return None if value is None else value.encode()


@dataclass
class FakeDevice:
    """The part of pyudev.Device that _udev_matching reads."""

    device_path: str
    subsystem: str | None = None
    driver: str | None = None
    device_node: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    parent: FakeDevice | None = None

    @property
    def sys_name(self) -> str:
        return self.device_path.rsplit("/", 1)[-1]

    @property
    def attributes(self) -> FakeAttributes:
        return FakeAttributes(self.attrs)


class FakeEnumerator:
    """Ignores libudev push-downs (they are only a pre-filter) but records them."""

    def __init__(self, devices: list[FakeDevice], calls: list[tuple[Any, ...]]) -> None:
        self._devices = devices
        self.calls = calls

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("match_"):
            raise AttributeError(name)

        def record(*args: Any) -> FakeEnumerator:
            self.calls.append((name, *args))
            return self

        return record

    def __iter__(self) -> Any:
        return iter(list(self._devices))


class FakeContext:
    def __init__(self, devices: list[FakeDevice]) -> None:
        self.devices = devices
        self.calls: list[tuple[Any, ...]] = []

    def list_devices(self, **kwargs: Any) -> FakeEnumerator:
        return FakeEnumerator(self.devices, self.calls)


def camera_tree() -> FakeContext:
    """A USB webcam (usb device + interface + two video nodes), a PCI GPU, a platform device."""
    pci = FakeDevice("/devices/pci0000:00/0000:00:14.0", "pci", "xhci_hcd", attrs={"vendor": "0x8086"})
    usb = FakeDevice(USB, "usb", "usb", "/dev/bus/usb/001/001", attrs={"idVendor": "1d6b"}, parent=pci)
    cam = FakeDevice(CAM, "usb", "usb", "/dev/bus/usb/001/005",
                     properties={"ID_VENDOR_ID": "046d", "TAGS": ":uaccess:"},
                     attrs={"idVendor": "046d", "idProduct": "0825"}, parent=usb)
    iface = FakeDevice(IFACE, "usb", "uvcvideo", attrs={"bInterfaceClass": "0e"}, parent=cam)
    video0 = FakeDevice(VIDEO0, "video4linux", None, "/dev/video0",
                        properties={"ID_V4L_CAPABILITIES": ":capture:", "ID_PATH": "pci-0:1:1.0"},
                        attrs={"name": "HD Webcam C270", "index": "0"}, tags=["uaccess", "seat"], parent=iface)
    video1 = FakeDevice(VIDEO1, "video4linux", None, "/dev/video1", properties={"ID_PATH": "pci-0:1:1.0"},
                        attrs={"name": "HD Webcam C270", "index": "1"}, parent=iface)
    gpu = FakeDevice(GPU, "pci", "vfio-pci", attrs={"vendor": "0x10de"})
    widget = FakeDevice(WIDGET, "platform", "widget-drv")
    return FakeContext([pci, usb, cam, iface, video0, video1, gpu, widget])


def ids(rules: list[str], context: FakeContext | None = None) -> list[tuple[str, str | None]]:
    compiled = [_udev_matching.compile_rule(r) for r in rules]
    return sorted(_udev_matching.find_matches(context or camera_tree(), compiled), key=lambda i: i[0])


# (rules, expected identities) — single-device vs plural keys, != semantics, identity walk.
CASES = [
    (['KERNEL=="1-1"'], [(CAM, "/dev/bus/usb/001/005")]),
    (['KERNELS=="1-1"'], [(CAM, "/dev/bus/usb/001/005"), (VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['SUBSYSTEM=="usb"'], [(USB, "/dev/bus/usb/001/001"), (CAM, "/dev/bus/usb/001/005")]),
    (['SUBSYSTEMS=="pci", KERNEL=="video*"'], [(VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['DRIVER=="uvcvideo"'], [(CAM, "/dev/bus/usb/001/005")]),
    (['DRIVERS=="uvcvideo"'], [(CAM, "/dev/bus/usb/001/005"), (VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['DRIVER!="nothing", SUBSYSTEM=="video4linux"'], [(VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['DRIVER=="*", SUBSYSTEM=="video4linux"'], []),
    (['ATTR{idVendor}=="046d"'], [(CAM, "/dev/bus/usb/001/005")]),
    (['ATTRS{idVendor}=="046d"'], [(CAM, "/dev/bus/usb/001/005"), (VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['ATTRS{idVendor}!="046d", SUBSYSTEM=="video4linux"'], []),
    (['ATTRS{idVendor}!="ffff", SUBSYSTEM=="video4linux"'], [(VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['ENV{ID_VENDOR_ID}=="046d"'], [(CAM, "/dev/bus/usb/001/005")]),
    (['ENV{ID_PATH}=="pci-0:1:1.0"'], [(VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['ENV{ID_V4L_CAPABILITIES}!=":capture:", SUBSYSTEM=="video4linux"'], [(VIDEO1, "/dev/video1")]),
    (['ENV{ID_VENDOR_*}=="046d"'], [(CAM, "/dev/bus/usb/001/005")]),
    (['TAG=="seat"'], [(VIDEO0, "/dev/video0")]),
    (['TAG!="uaccess", SUBSYSTEM=="video4linux"'], [(VIDEO1, "/dev/video1")]),
    (['TAGS=="uaccess", SUBSYSTEM=="video4linux"'], [(VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['DEVPATH=="/devices/platform/*"'], [(WIDGET, None)]),
    (['DEVPATH!="/devices/pci*"'], [(WIDGET, None)]),
    (['KERNEL=="video[0-9]*", ATTR{index}=="0|1"'], [(VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['KERNEL=="video0"', 'KERNEL=="video1"'], [(VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['KERNEL=="video0"', 'KERNEL=="video?"'], [(VIDEO0, "/dev/video0"), (VIDEO1, "/dev/video1")]),
    (['SUBSYSTEM=="pci", ATTR{vendor}=="0x10de"'], [(GPU, None)]),
    (['KERNEL=="nothing"'], []),
]


@pytest.mark.parametrize(("rules", "expected"), CASES)
def test_find_matches(rules: list[str], expected: list[tuple[str, str | None]]) -> None:
    assert ids(rules) == expected


def test_single_key_property_match_does_not_return_the_parent() -> None:
    # The child video0 carries ID_V4L_CAPABILITIES; its parents (with devnode 1-1) must not match.
    assert ids(['ENV{ID_V4L_CAPABILITIES}==":capture:"']) == [(VIDEO0, "/dev/video0")]


def test_empty_rule_matches_every_device() -> None:
    # 8 devices; the USB interface has no devnode and resolves to its parent 1-1.
    assert [devpath for devpath, _ in ids([""])] == sorted(
        ["/devices/pci0000:00/0000:00:14.0", USB, CAM, VIDEO0, VIDEO1, GPU, WIDGET])


def test_prefilter_pushes_only_safe_matches() -> None:
    context = camera_tree()
    rule = ('SUBSYSTEM=="usb|pci", KERNEL=="1-1", ENV{ID_X}=="a", ATTR{idVendor}=="046d", ATTR{a}=="x|y", '
            'KERNELS=="k", SUBSYSTEM!="z", DRIVER=="d", TAG=="t", KERNEL=="a\\*"')
    _udev_matching.find_matches(context, [_udev_matching.compile_rule(rule)])
    assert context.calls == [
        ("match_subsystem", "usb"), ("match_subsystem", "pci"), ("match_sys_name", "1-1"),
        ("match_property", "ID_X", "a"), ("match_attribute", "idVendor", "046d"),
    ]


# --- device building ---------------------------------------------------------------------------

def build(identities: list[tuple[str, str | None]], *, recursive: bool = False, permissions: str = "rwm",
          resources: ResourceOptions | None = None, iommu: dict[str, str] | None = None) -> list[Any]:
    return _udev_devices.build_devices(identities, group_recursive=recursive, permissions=permissions,
                                       resources=resources or ResourceOptions(),
                                       iommu_group=lambda devpath: (iommu or {}).get(devpath))


CAMERA_IDS = [(VIDEO1, "/dev/video1"), (CAM, "/dev/bus/usb/001/005"), (VIDEO0, "/dev/video0")]


def test_devices_without_grouping_one_per_devpath_sorted() -> None:
    devices = build(CAMERA_IDS, permissions="rw")
    assert [d.id for d in devices] == [CAM, VIDEO0, VIDEO1]
    assert devices[1].properties == {"UDEV_DEVNODE": "/dev/video0", "UDEV_DEVPATH": VIDEO0}
    assert devices[1].device_specs == (DeviceSpec("/dev/video0", "/dev/video0", "rw"),)
    assert devices[1].mounts == ()


def test_group_recursive_multi_devnode_camera_is_one_device_in_devpath_order() -> None:
    for order in (CAMERA_IDS, list(reversed(CAMERA_IDS))):
        [device] = build(order, recursive=True)
        assert device.id == CAM
        assert device.properties == {
            "UDEV_DEVNODE_0": "/dev/bus/usb/001/005", "UDEV_DEVNODE_1": "/dev/video0",
            "UDEV_DEVNODE_2": "/dev/video1", "UDEV_DEVPATH": CAM,
        }
        assert [s.host_path for s in device.device_specs] == ["/dev/bus/usb/001/005", "/dev/video0", "/dev/video1"]


def test_group_recursive_uses_path_components_not_string_prefixes() -> None:
    devices = build([("/devices/virtual/block/loop1", "/dev/loop1"), ("/devices/virtual/block/loop10", "/dev/loop10")],
                    recursive=True)
    assert [d.id for d in devices] == ["/devices/virtual/block/loop1", "/devices/virtual/block/loop10"]


def test_device_without_devnode_has_only_devpath() -> None:
    [device] = build([(WIDGET, None)])
    assert device.properties == {"UDEV_DEVPATH": WIDGET}
    assert device.device_specs == ()


def test_usb_resource_property_with_device_plugin_resource_name() -> None:
    resources = ResourceOptions(resource_name="akri.sh/udev-usb-keyboard")
    [device] = build([(CAM, "/dev/bus/usb/001/005")], resources=resources)
    assert device.properties["USB_RESOURCE_AKRI_SH_UDEV-USB-KEYBOARD"] == "1:5"
    assert not any(k.startswith("PCI_RESOURCE") for k in device.properties)
    [grouped] = build(CAMERA_IDS, recursive=True, resources=resources)
    assert grouped.properties["USB_RESOURCE_AKRI_SH_UDEV-USB-KEYBOARD_0"] == "1:5"


def test_pci_resource_and_vfio_device_specs() -> None:
    resources = ResourceOptions(resource_name="example.com/my-gpu", vfio_passthrough=True)
    [device] = build([(GPU, None)], resources=resources, iommu={GPU: "7"})
    assert device.properties == {"UDEV_DEVPATH": GPU, "PCI_RESOURCE_EXAMPLE_COM_MY-GPU": "0000:00:02.0"}
    assert device.device_specs == (DeviceSpec("/dev/vfio/7", "/dev/vfio/7", "rwm"),
                                   DeviceSpec("/dev/vfio/vfio", "/dev/vfio/vfio", "rwm"))
    [no_vfio] = build([(GPU, None)], resources=ResourceOptions(resource_name="example.com/my-gpu"), iommu={GPU: "7"})
    assert no_vfio.device_specs == ()
    [no_name] = build([(GPU, None)], iommu={GPU: "7"})
    assert no_name.properties == {"UDEV_DEVPATH": GPU}


@pytest.mark.parametrize(("devnode", "expected"), [
    ("/dev/bus/usb/001/010", "1:10"), ("/dev/bus/usb/002/005", "2:5"), ("/dev/bus/usb/1/5", "1:5"),
    ("/dev/video0", None), ("/dev/bus/usb/abc/def", None), ("/dev/bus/usb/", None), ("", None),
])
def test_usb_address(devnode: str, expected: str | None) -> None:
    assert _udev_devices.usb_address(devnode) == expected


@pytest.mark.parametrize(("devpath", "expected"), [
    ("/devices/pci0000:00/0000:00:01.0/0000:01:00.0", "0000:01:00.0"),
    ("/devices/pci0000:00/0000:03:00.0", "0000:03:00.0"),
    ("/devices/virtual/mem/null", None),
    ("/devices/pci0000:00", None),
])
def test_pci_address(devpath: str, expected: str | None) -> None:
    assert _udev_devices.pci_address(devpath) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("akri.sh/udev-usb-keyboard", "USB_RESOURCE_AKRI_SH_UDEV-USB-KEYBOARD"),
    ("example.com/my-device", "USB_RESOURCE_EXAMPLE_COM_MY-DEVICE"),
])
def test_resource_env_name(name: str, expected: str) -> None:
    assert _udev_devices.resource_env_name("USB_RESOURCE", name) == expected


# --- details -----------------------------------------------------------------------------------

def test_details_defaults_and_fields() -> None:
    details = _udev_details.parse_details("udevRules:\n- 'KERNEL==\"video[0-9]*\"'\n")
    assert [r.text for r in details.rules] == ['KERNEL=="video[0-9]*"']
    assert (details.group_recursive, details.permissions) == (False, "rwm")
    details = _udev_details.parse_details('{"udevRules": [], "groupRecursive": true, "permissions": "rw", "x": 1}')
    assert (details.rules, details.group_recursive, details.permissions) == ((), True, "rw")


@pytest.mark.parametrize(("text", "fragments"), [
    ("", ["empty", "udevRules"]),
    ("just a string", ["expected a mapping", "'just a string'"]),
    ("groupRecursive: true", ["'udevRules'", "is required"]),
    ("udevRules: 'KERNEL==\"x\"'", ["'udevRules'", "expected a list", "KERNEL"]),
    ("udevRules: [1]", ["'udevRules[0]'", "expected a string", "1"]),
    ("udevRules: []\ngroupRecursive: 'yes'", ["'groupRecursive'", "'yes'"]),
    ("udevRules: []\npermissions: xyz", ["'permissions'", "'xyz'", "a valid permission combination"]),
    ("udevRules: []\npermissions: null", ["'permissions'", "None"]),
    ("udevRules: [a: [", ["not valid YAML", "line 2 column 1"]),
    ("udevRules:\n- 'KERNEL==\"a\"'\n- 'KERNEL==\"null\", RUN+=\"x\"'",
     ["'udevRules[1]'", "position 17", "RUN is an action field"]),
])
def test_details_errors_name_field_and_value(text: str, fragments: list[str]) -> None:
    with pytest.raises(InvalidDiscoveryDetails) as caught:
        _udev_details.parse_details(text)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize("permissions", ["r", "w", "m", "rw", "rm", "rwm", "wm"])
def test_details_accept_every_valid_permission(permissions: str) -> None:
    assert _udev_details.parse_details(f"udevRules: []\npermissions: {permissions}").permissions == permissions
