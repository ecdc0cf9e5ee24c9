"""The udev handler's event path on this machine's real kernel (akri-contract.md §5.3, issue #7 item 4).

Writing `change` to `/sys/devices/virtual/mem/null/uevent` (root) makes the kernel emit a genuine
`change` uevent for /dev/null; nothing about the device changes. The handler's real pyudev netlink
monitor must receive it and run an enumeration at once — the periodic enumeration is set to 60 s
here, so only the event can explain the second scan. Skips where sysfs is read-only or netlink
uevents are unavailable (containers).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from agent.discovery.handlers.udev import UdevHandler

pytestmark = pytest.mark.integration

UEVENT = "/sys/devices/virtual/mem/null/uevent"
WAIT_SECONDS = 10.0
NULL_RULE = "udevRules: ['KERNEL==\"null\"']"


def _netlink_available() -> bool:
    try:
        import pyudev  # type: ignore[import-untyped]

        pyudev.Monitor.from_netlink(pyudev.Context(), source="kernel").start()
    except (ImportError, OSError):
        return False
    return True


@pytest.mark.skipif(not os.access(UEVENT, os.W_OK), reason=f"{UEVENT} is not writable (needs root and a rw /sys)")
@pytest.mark.skipif(not _netlink_available(), reason="netlink kernel uevents are unavailable here")
async def test_a_real_kernel_uevent_triggers_an_enumeration_before_the_interval(tmp_path: Any) -> None:
    handler = UdevHandler(interval_seconds=60.0, settle_seconds=60.0, udev_db_dir=str(tmp_path))
    scans: list[float] = []
    scan = handler.scan

    def counting_scan(*args: Any) -> Any:
        scans.append(time.monotonic())
        return scan(*args)

    handler.scan = counting_scan  # type: ignore[method-assign]
    stream = handler.discover(NULL_RULE, {})
    [device] = await asyncio.wait_for(stream.__anext__(), WAIT_SECONDS)
    assert device.id == "/devices/virtual/mem/null"
    waiting = asyncio.ensure_future(stream.__anext__())  # the loop now waits for an event
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while len(scans) < 2:  # re-send: the monitor thread may not have bound its socket yet
            assert time.monotonic() < deadline, "no enumeration followed the kernel uevents"
            with open(UEVENT, "w") as uevent:
                uevent.write("change")
            await asyncio.sleep(0.5)
        assert handler.events.events_seen >= 1
        assert not waiting.done(), "an unchanged device list must not be yielded again"
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await stream.aclose()
