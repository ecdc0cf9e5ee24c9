"""UdevHandler's discovery loop: events, periodic enumeration, monitor failures, warnings, env.

A fake pyudev context (mutable device list) and a queue-backed fake monitor drive the real loop
and the real `UdevEvents` thread; timeouts are generous and nothing asserts on wall-clock time.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sys
import threading
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

import agent.discovery
from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handlers import udev
from agent.discovery.handlers.udev import HandlerConfigError, UdevHandler, resource_options

TIMEOUT = 10.0
NULL_RULE = "udevRules: ['KERNEL==\"null\"']"


@dataclass
class FakeDevice:
    device_path: str
    device_node: str | None = None
    subsystem: str | None = "mem"
    driver: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    parent: Any = None
    attributes: Any = field(default_factory=dict)

    @property
    def sys_name(self) -> str:
        return self.device_path.rsplit("/", 1)[-1]


NULL = FakeDevice("/devices/virtual/mem/null", "/dev/null")
ZERO = FakeDevice("/devices/virtual/mem/zero", "/dev/zero")


class FakeUdev:
    """Context factory over a mutable device list; counts enumerations and their threads."""

    def __init__(self, *devices: FakeDevice) -> None:
        self.devices = list(devices)
        self.scans = 0
        self.threads: set[str] = set()

    def __call__(self) -> Any:
        devices = list(self.devices)  # snapshot first: once `scans` has grown, the scan's view is fixed
        self.threads.add(threading.current_thread().name)
        self.scans += 1
        return types.SimpleNamespace(list_devices=lambda **kwargs: self._enumerator(devices))

    @staticmethod
    def _enumerator(devices: list[FakeDevice]) -> Any:
        class Enumerator:
            def __getattr__(self, name: str) -> Any:
                return lambda *args: self

            def __iter__(self) -> Any:
                return iter(devices)

        return Enumerator()


class QueueMonitor:
    """pyudev Monitor look-alike: `poll` returns queued events; a queued exception kills it."""

    def __init__(self, events: queue.Queue[Any]) -> None:
        self.events = events

    def poll(self, timeout: float | None = None) -> Any:
        try:
            item = self.events.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, BaseException):
            raise item
        return item


class MonitorFactory:
    def __init__(self, fail_with: BaseException | None = None) -> None:
        self.events: queue.Queue[Any] = queue.Queue()
        self.created = 0
        self.fail_with = fail_with

    def __call__(self) -> QueueMonitor:
        self.created += 1
        if self.fail_with is not None:
            raise self.fail_with
        return QueueMonitor(self.events)


def make_handler(fake: FakeUdev, monitors: MonitorFactory, tmp_path: Any, **kwargs: Any) -> UdevHandler:
    kwargs.setdefault("interval_seconds", 3600.0)
    return UdevHandler(context_factory=fake, monitor_factory=monitors, monitor_retry_seconds=0.01,
                       udev_db_dir=str(tmp_path / "no-udev-db"), **kwargs)


async def wait_until(predicate: Any) -> None:
    for _ in range(int(TIMEOUT / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def next_list(stream: Any) -> list[str]:
    devices = await asyncio.wait_for(stream.__anext__(), TIMEOUT)
    return [d.id for d in devices]


async def test_initial_empty_list_is_yielded(tmp_path: Any) -> None:
    stream = make_handler(FakeUdev(), MonitorFactory(), tmp_path).discover(NULL_RULE, {})
    assert await next_list(stream) == []
    await stream.aclose()


async def test_events_trigger_enumeration_before_the_interval(tmp_path: Any) -> None:
    fake, monitors = FakeUdev(), MonitorFactory()
    stream = make_handler(fake, monitors, tmp_path).discover(NULL_RULE, {})
    assert await next_list(stream) == []
    fake.devices.append(NULL)
    monitors.events.put("add")
    assert await next_list(stream) == [NULL.device_path]
    fake.devices.clear()
    monitors.events.put("remove")
    assert await next_list(stream) == []
    await stream.aclose()


async def test_unchanged_list_is_not_yielded_again(tmp_path: Any) -> None:
    fake, monitors = FakeUdev(NULL), MonitorFactory()
    stream = make_handler(fake, monitors, tmp_path).discover(NULL_RULE, {})
    assert await next_list(stream) == [NULL.device_path]
    pending = asyncio.ensure_future(stream.__anext__())
    monitors.events.put("change")
    await wait_until(lambda: fake.scans >= 2)
    await asyncio.sleep(0.05)
    assert not pending.done()
    fake.devices.append(ZERO)  # KERNEL=="null" does not match it: still no new list
    monitors.events.put("add")
    await wait_until(lambda: fake.scans >= 3)
    await asyncio.sleep(0.05)
    assert not pending.done()
    fake.devices.remove(NULL)
    monitors.events.put("remove")
    assert await asyncio.wait_for(pending, TIMEOUT) == []
    await stream.aclose()


async def test_settle_enumeration_after_the_last_event(tmp_path: Any) -> None:
    fake, monitors = FakeUdev(), MonitorFactory()
    stream = make_handler(fake, monitors, tmp_path, settle_seconds=0.02).discover(NULL_RULE, {})
    assert await next_list(stream) == []
    pending = asyncio.ensure_future(stream.__anext__())
    monitors.events.put("add")  # the kernel event comes before udevd has finished
    await wait_until(lambda: fake.scans >= 2)
    fake.devices.append(NULL)  # ... which it does now, without another event
    assert [d.id for d in await asyncio.wait_for(pending, TIMEOUT)] == [NULL.device_path]
    await stream.aclose()


async def test_periodic_enumeration_without_events(tmp_path: Any) -> None:
    fake = FakeUdev()
    stream = make_handler(fake, MonitorFactory(), tmp_path, interval_seconds=0.02).discover(NULL_RULE, {})
    assert await next_list(stream) == []
    fake.devices.append(NULL)
    assert await next_list(stream) == [NULL.device_path]
    await stream.aclose()


async def test_dead_monitor_is_recreated_and_followed_by_a_resync(tmp_path: Any, caplog: Any) -> None:
    fake, monitors = FakeUdev(), MonitorFactory()
    stream = make_handler(fake, monitors, tmp_path).discover(NULL_RULE, {})
    assert await next_list(stream) == []
    fake.devices.append(NULL)  # appears while the monitor is dying: no event for it
    monitors.events.put(OSError("netlink socket closed"))
    assert await next_list(stream) == [NULL.device_path]
    assert monitors.created == 2
    assert "udev event monitor failed" in caplog.text
    await stream.aclose()


async def test_unavailable_monitor_degrades_to_polling_with_one_warning(tmp_path: Any, caplog: Any) -> None:
    caplog.set_level(logging.WARNING)
    fake, monitors = FakeUdev(), MonitorFactory(fail_with=OSError("netlink not permitted"))
    stream = make_handler(fake, monitors, tmp_path, interval_seconds=0.02).discover(NULL_RULE, {})
    assert await next_list(stream) == []
    await wait_until(lambda: monitors.created >= 3)
    fake.devices.append(NULL)
    assert await next_list(stream) == [NULL.device_path]
    warnings = [r for r in caplog.records if "monitor unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert "netlink not permitted" in warnings[0].getMessage()
    await stream.aclose()


async def test_concurrent_loops_share_one_monitor(tmp_path: Any) -> None:
    fake, monitors = FakeUdev(), MonitorFactory()
    handler = make_handler(fake, monitors, tmp_path)
    first, second = handler.discover(NULL_RULE, {}), handler.discover("udevRules: ['KERNEL==\"zero\"']", {})
    assert await next_list(first) == [] and await next_list(second) == []
    fake.devices.extend([NULL, ZERO])
    monitors.events.put("add")
    assert await next_list(first) == [NULL.device_path]
    assert await next_list(second) == [ZERO.device_path]
    assert monitors.created == 1
    await first.aclose()
    await second.aclose()


async def test_enumeration_runs_in_a_worker_thread(tmp_path: Any) -> None:
    fake = FakeUdev(NULL)
    stream = make_handler(fake, MonitorFactory(), tmp_path).discover(NULL_RULE, {})
    await next_list(stream)
    assert threading.current_thread().name not in fake.threads
    await stream.aclose()


@pytest.mark.parametrize(("details", "fragment"), [
    ("", "udevRules"),
    ("udevRules: ['KERNEL==\"null\", RUN+=\"x\"']", "RUN is an action field"),
    ("udevRules: []\npermissions: xyz", "'xyz'"),
])
async def test_invalid_details_raise_before_yielding(tmp_path: Any, details: str, fragment: str) -> None:
    fake = FakeUdev(NULL)
    stream = make_handler(fake, MonitorFactory(), tmp_path).discover(details, {})
    with pytest.raises(InvalidDiscoveryDetails, match="udev discoveryDetails") as caught:
        await stream.__anext__()
    assert fragment in str(caught.value)
    assert fake.scans == 0


async def test_env_rule_without_udev_database_warns_once_per_details(tmp_path: Any, caplog: Any) -> None:
    caplog.set_level(logging.WARNING)
    handler = make_handler(FakeUdev(), MonitorFactory(), tmp_path)
    details = ["udevRules: ['ENV{ID_PATH}==\"x\"']", "udevRules: ['ENV{ID_PATH}==\"x\"']",
               "udevRules: ['ENV{ID_SERIAL}==\"y\"']", NULL_RULE]
    for text in details:
        stream = handler.discover(text, {})
        await next_list(stream)
        await stream.aclose()
    warnings = [r for r in caplog.records if "ENV{...}" in r.getMessage()]
    assert len(warnings) == 2
    (tmp_path / "db").mkdir()
    handler = UdevHandler(context_factory=FakeUdev(), monitor_factory=MonitorFactory(),
                          udev_db_dir=str(tmp_path / "db"))
    stream = handler.discover("udevRules: ['ENV{ID_MODEL}==\"z\"']", {})
    await next_list(stream)
    await stream.aclose()
    assert len([r for r in caplog.records if "ENV{...}" in r.getMessage()]) == 2


async def test_rule_without_filters_is_warned_about(tmp_path: Any, caplog: Any) -> None:
    caplog.set_level(logging.WARNING)
    stream = make_handler(FakeUdev(NULL), MonitorFactory(), tmp_path).discover("udevRules: ['']", {})
    assert await next_list(stream) == [NULL.device_path]
    await stream.aclose()
    assert "matches every device" in caplog.text


async def test_discovery_properties_shape_devices(tmp_path: Any) -> None:
    usb = FakeDevice("/devices/pci0000:00/0000:00:14.0/usb1/1-1", "/dev/bus/usb/001/010", subsystem="usb")
    stream = make_handler(FakeUdev(usb), MonitorFactory(), tmp_path).discover(
        "udevRules: ['SUBSYSTEM==\"usb\"']", {"devicePluginResourceName": b"akri.sh/udev-usb-keyboard"})
    [device] = await asyncio.wait_for(stream.__anext__(), TIMEOUT)
    assert device.properties["USB_RESOURCE_AKRI_SH_UDEV-USB-KEYBOARD"] == "1:10"
    await stream.aclose()


@pytest.mark.parametrize(("properties", "name", "vfio"), [
    ({}, None, False),
    ({"devicePluginResourceName": b" akri.sh/x \n", "vfioPassthrough": b" True "}, "akri.sh/x", True),
    ({"devicePluginResourceName": None, "vfioPassthrough": None}, None, False),
    ({"devicePluginResourceName": b"", "vfioPassthrough": b"yes"}, None, False),
    ({"devicePluginResourceName": b"\xff\xfe"}, None, False),
])
def test_resource_options(properties: dict[str, bytes | None], name: str | None, vfio: bool) -> None:
    options = resource_options(properties)
    assert (options.resource_name, options.vfio_passthrough) == (name, vfio)


def test_handler_identity() -> None:
    assert (UdevHandler.name, UdevHandler.shared) == ("udev", False)


def test_from_env() -> None:
    handler = UdevHandler.from_env({"UDEV_DISCOVERY_INTERVAL_SECONDS": "2.5", "UDEV_DATABASE_DIR": "/x",
                                    "UDEV_SYSFS_ROOT": "/y"})
    assert (handler.interval_seconds, handler.udev_db_dir, handler.sysfs_root) == (2.5, "/x", "/y")
    assert UdevHandler.from_env({}).interval_seconds == 10.0


@pytest.mark.parametrize("raw", ["0", "-1", "ten", "nan", "inf"])
def test_from_env_rejects_bad_interval(raw: str) -> None:
    with pytest.raises(HandlerConfigError, match=f"UDEV_DISCOVERY_INTERVAL_SECONDS.*'{raw}'"):
        UdevHandler.from_env({"UDEV_DISCOVERY_INTERVAL_SECONDS": raw})


def test_main_serves_the_handler_through_run_handler(monkeypatch: Any) -> None:
    calls: list[Any] = []
    fake = types.ModuleType("agent.discovery.standalone")
    fake.run_handler = (  # type: ignore[attr-defined]
        lambda handler, *, argv=None, environ=None, prog=None, handler_environment=(): calls.append(
            (handler, argv)) or 0)
    monkeypatch.setitem(sys.modules, "agent.discovery.standalone", fake)
    monkeypatch.setattr(agent.discovery, "standalone", fake, raising=False)
    monkeypatch.setenv("UDEV_DISCOVERY_INTERVAL_SECONDS", "3")
    assert udev.main(["--x"]) == 0
    [(handler, argv)] = calls
    assert isinstance(handler, UdevHandler) and handler.interval_seconds == 3.0 and argv == ["--x"]
    monkeypatch.setenv("UDEV_DISCOVERY_INTERVAL_SECONDS", "never")
    assert udev.main([]) == 2
