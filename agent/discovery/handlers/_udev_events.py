"""Fan-out of udev uevents to discovery loops: "something changed, enumerate again".

One `UdevEvents` per handler owns at most one monitor thread, running while at least one
subscriber exists. The thread blocks in `monitor.poll(timeout)` (pyudev `Monitor`, a netlink
socket) and, for every event (any action: add, remove, change, bind, ...), sets each subscriber's
`asyncio.Event` through `loop.call_soon_threadsafe`. Events only wake the loops up; the periodic
full enumeration in the handler stays the source of truth, so a lost event costs at most one
interval.

Failure handling: if the monitor cannot be created (netlink is often unavailable in containers)
one WARNING is logged and the handler degrades to polling; creation is retried every
`retry_seconds`. If a working monitor dies, it is recreated after `retry_seconds` and every
subscriber is woken (a resync), because events may have been lost in between.

Seam: `monitor_factory` returns anything with `poll(timeout: float) -> object | None`
(None = timeout); tests and benchmarks pass a queue-backed fake to inject events.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = ["MonitorLike", "UdevEvents", "netlink_monitor_factory"]

logger = logging.getLogger(__name__)

#: How long one blocking `poll` may wait before the thread re-checks whether to stop (seconds).
POLL_TIMEOUT_SECONDS = 0.5
#: Delay before recreating a dead or unavailable monitor (seconds).
RETRY_SECONDS = 5.0


class MonitorLike(Protocol):
    """What the hub needs from a pyudev `Monitor`."""

    def poll(self, timeout: float | None = None) -> object | None: ...


def netlink_monitor_factory(context_factory: Callable[[], Any], source: str) -> Callable[[], MonitorLike]:
    """Factory of started pyudev netlink monitors.

    source: `"kernel"` (raw kernel uevents, delivered into the pod's network namespace) or `"udev"`
    (udevd's events, only in the host's network namespace). The factory raises OSError when
    netlink is unavailable.
    """

    def create() -> MonitorLike:
        import pyudev  # type: ignore[import-untyped]

        monitor = pyudev.Monitor.from_netlink(context_factory(), source=source)
        monitor.start()
        return monitor  # type: ignore[no-any-return]

    return create


class _Subscriber:
    __slots__ = ("loop", "event")

    def __init__(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
        self.loop = loop
        self.event = event


class UdevEvents:
    """Wakes subscribed discovery loops on udev events (see the module docstring).

    monitor_factory: creates a started monitor; raises OSError when unavailable.
    retry_seconds / poll_timeout_seconds: see the module constants.
    """

    def __init__(self, monitor_factory: Callable[[], MonitorLike], *, retry_seconds: float = RETRY_SECONDS,
                 poll_timeout_seconds: float = POLL_TIMEOUT_SECONDS) -> None:
        self._factory = monitor_factory
        self._retry_seconds = retry_seconds
        self._poll_timeout = poll_timeout_seconds
        self._lock = threading.Lock()
        self._subscribers: list[_Subscriber] = []
        self._stop: threading.Event | None = None
        self._warned_unavailable = False
        self.events_seen = 0
        """Events received since creation (for logs, tests and benchmarks)."""

    @contextmanager
    def subscribe(self) -> Iterator[asyncio.Event]:
        """Context manager yielding an `asyncio.Event` set on every event (call from a coroutine).

        The first subscriber starts the monitor thread, the last one to leave stops it.
        """
        subscriber = _Subscriber(asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._subscribers.append(subscriber)
            if self._stop is None:
                self._stop = threading.Event()
                threading.Thread(target=self._run, args=(self._stop,), name="udev-monitor", daemon=True).start()
        try:
            yield subscriber.event
        finally:
            with self._lock:
                self._subscribers.remove(subscriber)
                if not self._subscribers and self._stop is not None:
                    self._stop.set()
                    self._stop = None

    def _notify(self) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber.loop.call_soon_threadsafe(subscriber.event.set)
            except RuntimeError:  # that loop is closed; its subscription is going away
                pass

    def _open(self, stop: threading.Event) -> MonitorLike | None:
        """A new monitor, or None once `stop` is set; retries every `retry_seconds`."""
        while not stop.is_set():
            try:
                monitor = self._factory()
            except OSError as exc:
                if not self._warned_unavailable:
                    logger.warning("udev event monitor unavailable (%s); falling back to polling only, "
                                   "retrying every %.0f s", exc, self._retry_seconds)
                    self._warned_unavailable = True
                else:
                    logger.debug("udev event monitor still unavailable: %s", exc)
                stop.wait(self._retry_seconds)
                continue
            if self._warned_unavailable:
                logger.info("udev event monitor available again")
                self._warned_unavailable = False
            return monitor
        return None

    def _run(self, stop: threading.Event) -> None:
        """Thread body (a task guard): open, poll, and reopen after failures until `stop`."""
        first = True
        while not stop.is_set():
            monitor = self._open(stop)
            if monitor is None:
                return
            if not first:
                logger.info("udev event monitor recreated; resyncing")
                self._notify()
            first = False
            try:
                self._pump(monitor, stop)
            except Exception:  # noqa: BLE001 - thread guard: log, back off, recreate
                logger.exception("udev event monitor failed; recreating it in %.0f s", self._retry_seconds)
                stop.wait(self._retry_seconds)

    def _pump(self, monitor: MonitorLike, stop: threading.Event) -> None:
        while not stop.is_set():
            if monitor.poll(self._poll_timeout) is not None:
                self.events_seen += 1
                self._notify()
