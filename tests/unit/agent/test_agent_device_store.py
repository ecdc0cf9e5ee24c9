"""DeviceStore: records keyed by (namespace, cdiName); `changed` only on real changes."""

from __future__ import annotations

from agent.devices.device import Device
from agent.devices.store import DeviceRecord, DeviceStore

CDI = "akri.sh/cams=8120fe"


async def test_same_cdi_name_in_two_namespaces_are_two_devices() -> None:
    store = DeviceStore()
    store.put(CDI, DeviceRecord(Device("a", {"WHERE": "one"})), namespace="one")
    store.put(CDI, DeviceRecord(Device("a", {"WHERE": "two"})), namespace="two")
    assert len(store) == 2 and ("one", CDI) in store
    assert store.get(CDI, namespace="one").device.properties == {"WHERE": "one"}
    store.remove(CDI, namespace="two")
    assert store.get(CDI, namespace="two") is None
    assert store.get(CDI, namespace="one") is not None


async def test_changed_is_set_only_when_something_changed() -> None:
    store = DeviceStore()
    record = DeviceRecord(Device("a", {}))
    store.put(CDI, record, namespace="ns")
    assert store.changed.is_set()
    store.changed.clear()
    store.put(CDI, DeviceRecord(Device("a", {})), namespace="ns")
    store.remove(CDI, namespace="other")
    assert not store.changed.is_set()
    store.remove(CDI, namespace="ns")
    assert store.changed.is_set() and len(store) == 0
