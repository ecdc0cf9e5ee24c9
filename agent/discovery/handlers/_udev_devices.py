"""Turn matched udev identities into discovery.proto Devices (akri-contract.md §5.3 "Device output").

Pure functions: `group` (optionally `groupRecursive`) and `build_devices` (properties, DeviceSpecs,
USB/PCI resource properties). The only I/O is the `iommu_group` callable the caller passes.

Differences from Akri, on purpose:
- order is deterministic: devices sorted by id, group members sorted by devpath, and
  `UDEV_DEVNODE_<i>` numbers the members *that have a devnode* 0, 1, 2, ... (Akri numbers all members
  in HashSet order, so indices change between runs and can have gaps);
- grouping is by path component (`/a/b` contains `/a/b/c`, not `/a/bc`); Akri uses a plain string
  prefix, which puts `loop1` and `loop10` in one group.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.discovery.handler import Device, DeviceSpec
from agent.discovery.handlers._udev_matching import Identity

__all__ = ["ResourceOptions", "group", "build_devices", "usb_address", "pci_address", "resource_env_name"]

UDEV_DEVNODE = "UDEV_DEVNODE"
UDEV_DEVPATH = "UDEV_DEVPATH"
USB_RESOURCE_PREFIX = "USB_RESOURCE"
PCI_RESOURCE_PREFIX = "PCI_RESOURCE"
VFIO_CONTAINER_DEVICE = "/dev/vfio/vfio"
#: cgroup permissions of the VFIO DeviceSpecs (akri-contract.md §5.3).
VFIO_PERMISSIONS = "rwm"

_PCI_ADDRESS = re.compile(r"[0-9a-fA-F]+:[0-9a-fA-F]+:[0-9a-fA-F]+\.[0-9a-fA-F]+")


@dataclass(frozen=True, slots=True)
class ResourceOptions:
    """discoveryProperties the udev handler consumes (akri-contract.md §5.3).

    resource_name: `devicePluginResourceName` (utf-8, trimmed), None when absent/empty.
    vfio_passthrough: `vfioPassthrough` == "true" (case-insensitive, trimmed).
    """

    resource_name: str | None = None
    vfio_passthrough: bool = False


def _contains(top: str, devpath: str) -> bool:
    return devpath == top or devpath.startswith(top.rstrip("/") + "/")


def group(identities: Iterable[Identity], *, recursive: bool) -> list[tuple[str, list[Identity]]]:
    """`[(group id, members sorted by devpath)]` sorted by id.

    Not recursive: one group per distinct devpath. Recursive: a device under another matched
    device's devpath joins the top-most one; the group id is that top devpath.
    """
    ordered = sorted(set(identities), key=lambda ident: (ident[0], ident[1] or ""))
    groups: dict[str, list[Identity]] = {}
    tops: list[str] = []
    for ident in ordered:
        devpath = ident[0]
        top = next((t for t in tops if _contains(t, devpath)), None) if recursive else None
        if top is None:
            if devpath in groups:  # same devpath seen again (cannot differ in devnode in practice)
                continue
            tops.append(devpath)
            groups[devpath] = [ident]
        elif ident not in groups[top]:
            groups[top].append(ident)
    return sorted(groups.items())


def usb_address(devnode: str) -> str | None:
    """`"<bus>:<dev>"` without leading zeros for `/dev/bus/usb/<bus>/<dev>`, else None.

    `/dev/bus/usb/001/010` → `1:10` (Akri `extract_usb_address`)."""
    if not devnode.startswith("/dev/bus/usb/"):
        return None
    parts = devnode.split("/")
    bus, dev = parts[-2], parts[-1]
    if not (bus.isascii() and bus.isdigit() and dev.isascii() and dev.isdigit()):
        return None
    return f"{int(bus)}:{int(dev)}"


def pci_address(devpath: str) -> str | None:
    """Last path segment shaped like a PCI address (`dddd:bb:ss.f`, hex), else None.

    `/devices/pci0000:00/0000:00:01.0/0000:01:00.0` → `0000:01:00.0` (Akri `extract_pci_address`)."""
    found = [segment for segment in devpath.split("/") if _PCI_ADDRESS.fullmatch(segment)]
    return found[-1] if found else None


def resource_env_name(prefix: str, resource_name: str) -> str:
    """`<prefix>_<T>`: T = resource name with `.` and `/` → `_`, ASCII upper-cased.

    `("USB_RESOURCE", "akri.sh/udev-usb-keyboard")` → `USB_RESOURCE_AKRI_SH_UDEV-USB-KEYBOARD`."""
    transformed = "".join("_" if c in "./" else (c.upper() if c.isascii() else c) for c in resource_name)
    return f"{prefix}_{transformed}"


def build_devices(
    identities: Iterable[Identity],
    *,
    group_recursive: bool,
    permissions: str,
    resources: ResourceOptions,
    iommu_group: Callable[[str], str | None],
) -> list[Device]:
    """Devices for matched identities, sorted by id (akri-contract.md §5.3).

    Each device: `id` = group devpath; `UDEV_DEVPATH` = id; per member with a devnode:
    `UDEV_DEVNODE` (`UDEV_DEVNODE_<i>` when grouped) and a DeviceSpec (devnode, devnode,
    permissions). With `resources.resource_name`: `USB_RESOURCE_<T>[_<i>]` = `bus:dev` for USB
    devnodes; for a non-USB id with a PCI address, `PCI_RESOURCE_<T>` = address, plus with
    `vfio_passthrough` and `iommu_group(id)` (the group name, or None) DeviceSpecs
    `/dev/vfio/<group>` and `/dev/vfio/vfio`.
    """
    devices = []
    for device_id, members in group(identities, recursive=group_recursive):
        properties: dict[str, str] = {}
        specs: list[DeviceSpec] = []
        nodes = [node for _, node in members if node is not None]
        for index, node in enumerate(nodes):
            suffix = f"_{index}" if group_recursive else ""
            properties[UDEV_DEVNODE + suffix] = node
            address = usb_address(node)
            if address is not None and resources.resource_name:
                properties[resource_env_name(USB_RESOURCE_PREFIX, resources.resource_name) + suffix] = address
            specs.append(DeviceSpec(container_path=node, host_path=node, permissions=permissions))
        properties[UDEV_DEVPATH] = device_id
        is_usb = any(segment.startswith("usb") for segment in device_id.split("/"))
        address = pci_address(device_id)
        if resources.resource_name and not is_usb and address is not None:
            properties[resource_env_name(PCI_RESOURCE_PREFIX, resources.resource_name)] = address
            group_name = iommu_group(device_id) if resources.vfio_passthrough else None
            if group_name is not None:
                for path in (f"/dev/vfio/{group_name}", VFIO_CONTAINER_DEVICE):
                    specs.append(DeviceSpec(container_path=path, host_path=path, permissions=VFIO_PERMISSIONS))
        devices.append(Device(id=device_id, properties=properties, device_specs=tuple(specs)))
    return devices
