"""The `udev` discovery handler: local devices from the node's udev database (akri-contract.md §5.3).

`UdevHandler.discover(details, properties)` parses the details (`_udev_details`), then loops:
enumerate in a worker thread (`_udev_matching.find_matches` with pyudev, then
`_udev_devices.build_devices`), yield the list when it differs from the last one, and wait for
either a uevent (`_udev_events.UdevEvents`, one netlink monitor shared by every loop of this
handler) or the periodic full enumeration (default 10 s, Akri's interval). A plugged device is
therefore reported within a few milliseconds instead of up to 10 s later. The monitor listens to
*kernel* uevents: they reach every network namespace owned by the initial user namespace (so a pod
without hostNetwork gets them), while udevd's own events stay in the host's namespace. Because
udevd may still be writing its database when the kernel event arrives, one more enumeration runs
`settle_seconds` after the last event.

Deviation from Akri, on purpose: the first enumeration is always yielded, even when it is empty,
so the agent learns that discovery works and that nothing matches (Akri never sends an initial
empty list, §5). Devices are never shared (`shared = False`).

Host paths are configurable (DESIGN §2.6): the udev database directory (default `/run/udev`;
when it is missing, udevd is not running here or not mounted — `ENV{...}` rules then only see
kernel uevent properties, which is warned about once per details text) and the sysfs root used to
read `iommu_group` links. pyudev itself
always reads `/sys` through libudev; `context_factory` is the seam to give it another view
(tests run it under umockdev).

Standalone: `main()` (console script `akri-udev-discovery`) serves the handler over the Akri
discovery gRPC protocol through `agent.discovery.standalone.run_handler`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any

from agent.discovery.handler import Device, DiscoveryHandler
from agent.discovery.handlers import _console, _udev_details, _udev_devices, _udev_events, _udev_matching
from agent.discovery.handlers._console import HandlerConfigError

__all__ = ["UdevHandler", "HandlerConfigError", "resource_options", "main"]

logger = logging.getLogger(__name__)

#: Periodic full enumeration (seconds); Akri's DISCOVERY_INTERVAL_SECS.
DISCOVERY_INTERVAL_SECONDS = 10.0
#: Pause after an event before enumerating, so a burst (a USB camera = 3+ events) costs one scan.
EVENT_DEBOUNCE_SECONDS = 0.01
#: One more enumeration this long after the last event, for properties udevd adds after the
#: kernel event (the monitor listens to kernel uevents, see the module docstring).
SETTLE_SECONDS = 1.0
DEFAULT_UDEV_DB_DIR = "/run/udev"
DEFAULT_SYSFS_ROOT = "/sys"
DEVICE_PLUGIN_RESOURCE_PROPERTY = "devicePluginResourceName"
VFIO_PASSTHROUGH_PROPERTY = "vfioPassthrough"


def _default_context() -> Any:
    import pyudev  # type: ignore[import-untyped]

    return pyudev.Context()


def resource_options(properties: Mapping[str, bytes | None]) -> _udev_devices.ResourceOptions:
    """`devicePluginResourceName` / `vfioPassthrough` discoveryProperties (akri-contract.md §5.3).

    Values that are absent, valueless or not utf-8 count as unset (Akri ignores them too)."""

    def text(name: str) -> str | None:
        raw = properties.get(name)
        if raw is None:
            return None
        try:
            return bytes(raw).decode("utf-8").strip()
        except UnicodeDecodeError:
            logger.warning("discoveryProperty %s is not utf-8; ignoring it", name)
            return None

    name = text(DEVICE_PLUGIN_RESOURCE_PROPERTY)
    vfio = text(VFIO_PASSTHROUGH_PROPERTY)
    return _udev_devices.ResourceOptions(resource_name=name or None,
                                         vfio_passthrough=(vfio or "").lower() == "true")


class UdevHandler(DiscoveryHandler):
    """Akri's udev discovery handler (name `udev`, never shared), event-driven.

    interval_seconds: full enumeration period (s). debounce_seconds: wait after an event (s).
    settle_seconds: delay of the extra enumeration after the last event (s).
    udev_db_dir: udev database directory (`/run/udev`). sysfs_root: where `/sys` is (`iommu_group`).
    context_factory: returns a fresh `pyudev.Context` per enumeration (libudev contexts are not
    thread-safe). monitor_factory: returns a started event monitor (see `_udev_events`); default:
    a pyudev netlink monitor on kernel uevents.
    """

    name = "udev"
    shared = False

    def __init__(
        self,
        *,
        interval_seconds: float = DISCOVERY_INTERVAL_SECONDS,
        debounce_seconds: float = EVENT_DEBOUNCE_SECONDS,
        settle_seconds: float = SETTLE_SECONDS,
        udev_db_dir: str = DEFAULT_UDEV_DB_DIR,
        sysfs_root: str = DEFAULT_SYSFS_ROOT,
        context_factory: Callable[[], Any] = _default_context,
        monitor_factory: Callable[[], _udev_events.MonitorLike] | None = None,
        monitor_retry_seconds: float = _udev_events.RETRY_SECONDS,
    ) -> None:
        self.interval_seconds = interval_seconds
        self.debounce_seconds = debounce_seconds
        self.settle_seconds = settle_seconds
        self.udev_db_dir = udev_db_dir
        self.sysfs_root = sysfs_root
        self._context_factory = context_factory
        if monitor_factory is None:
            monitor_factory = _udev_events.netlink_monitor_factory(context_factory, "kernel")
        self.events = _udev_events.UdevEvents(monitor_factory, retry_seconds=monitor_retry_seconds)
        self._warned: set[str] = set()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> UdevHandler:
        """Handler configured from the environment (our additions; Akri has no such knobs).

        `UDEV_DISCOVERY_INTERVAL_SECONDS` (float > 0, default 10), `UDEV_DATABASE_DIR` (default
        `/run/udev`), `UDEV_SYSFS_ROOT` (default `/sys`). Raises HandlerConfigError.
        """
        raw = environ.get("UDEV_DISCOVERY_INTERVAL_SECONDS", str(DISCOVERY_INTERVAL_SECONDS))
        try:
            interval = float(raw)
        except ValueError:
            interval = -1.0
        if not interval > 0 or interval == float("inf"):
            raise HandlerConfigError(f"UDEV_DISCOVERY_INTERVAL_SECONDS: expected seconds > 0, got {raw!r}")
        return cls(interval_seconds=interval,
                   udev_db_dir=environ.get("UDEV_DATABASE_DIR", DEFAULT_UDEV_DB_DIR),
                   sysfs_root=environ.get("UDEV_SYSFS_ROOT", DEFAULT_SYSFS_ROOT))

    def _iommu_group(self, devpath: str) -> str | None:
        try:
            return os.path.basename(os.readlink(f"{self.sysfs_root}{devpath}/iommu_group"))
        except OSError:
            return None

    def scan(self, details: _udev_details.UdevDetails, resources: _udev_devices.ResourceOptions) -> list[Device]:
        """One full enumeration: the current device list, sorted by id. Blocking (sysfs reads);
        raises OSError when the udev database cannot be read."""
        identities = _udev_matching.find_matches(self._context_factory(), details.rules)
        return _udev_devices.build_devices(identities, group_recursive=details.group_recursive,
                                           permissions=details.permissions, resources=resources,
                                           iommu_group=self._iommu_group)

    def _warn_once(self, details_text: str, details: _udev_details.UdevDetails) -> None:
        """Configuration smells worth one WARNING per details text (they are not errors in Akri)."""
        if details_text in self._warned:
            return
        self._warned.add(details_text)
        for rule in details.rules:
            if not rule.filters:
                logger.warning("udev rule %r has no filters: it matches every device of the node", rule.text)
        if details.uses_env and not os.path.isdir(self.udev_db_dir):
            logger.warning("udev rules use ENV{...} but the udev database %s is missing (udevd not running "
                           "or not mounted): only kernel uevent properties are visible, so ENV rules on "
                           "udev-assigned properties (ID_*, ...) will match nothing", self.udev_db_dir)

    async def discover(self, details: str, properties: Mapping[str, bytes | None],
                       ) -> AsyncGenerator[list[Device], None]:
        """Yield the matching device list now, then whenever it changes (akri-contract.md §5.3).

        details: udev discoveryDetails YAML (`_udev_details`); properties: discoveryProperties.
        Raises InvalidDiscoveryDetails before yielding when the details (or a rule) are invalid.
        An unreadable udev database is logged and retried at the next interval.
        """
        parsed = _udev_details.parse_details(details)
        resources = resource_options(properties)
        self._warn_once(details, parsed)
        previous: list[Device] | None = None
        settling = False  # an event was seen and the settle enumeration has not run yet
        with self.events.subscribe() as changed:
            while True:
                changed.clear()
                try:
                    devices = await asyncio.to_thread(self.scan, parsed, resources)
                except OSError as exc:
                    logger.warning("udev enumeration failed (%s); retrying in %.1f s", exc, self.interval_seconds)
                else:
                    if devices != previous:
                        logger.info("udev: %d device(s) match %d rule(s)", len(devices), len(parsed.rules))
                        previous = devices
                        yield devices
                try:
                    timeout = self.settle_seconds if settling else self.interval_seconds
                    await asyncio.wait_for(changed.wait(), timeout=timeout)
                except TimeoutError:
                    settling = False
                    continue
                settling = True
                await asyncio.sleep(self.debounce_seconds)


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Console script `akri-udev-discovery`: serve `UdevHandler` and register it with the agent.

    Environment (default `os.environ`): see `UdevHandler.from_env`, plus what `run_handler` reads
    (`DISCOVERY_HANDLERS_DIRECTORY`, `POD_IP`). Returns the exit code (2 for invalid settings).
    """
    return _console.run("akri-udev-discovery", UdevHandler.from_env, argv=argv, environ=environ)

if __name__ == "__main__":
    raise SystemExit(main())
