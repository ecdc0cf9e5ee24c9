"""Device state shared by discovery (writer) and the device plugins (reader): the device
dataclasses (`device`) and the in-memory store of discovered devices (`store`).

This package sits below `agent.discovery` and `agent.plugins` and imports neither (STYLE.md §5.2).
"""

from agent.devices.device import Device, DeviceSpec, Mount
from agent.devices.store import DeviceRecord, DeviceStore

__all__ = ["Device", "DeviceRecord", "DeviceSpec", "DeviceStore", "Mount"]
