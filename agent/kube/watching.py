"""List-then-watch streams that never end quietly (STYLE.md §5.9; kopf `infinite_watch`).

`watch_objects` lists a resource, yields every object as ADDED (or MODIFIED when already known),
yields a `LISTED` marker, then watches from the list's resourceVersion. A 410 Gone relists; any
other stream failure reconnects from the last seen version. After a relist, objects that vanished
during the gap are reported as DELETED, so a consumer that applies events in order always
converges on the server's state. Each watch connection runs in its own thread and hands events to
the event loop with `call_soon_threadsafe`; the thread ends with an end marker, never with
StopIteration (the PEP 479 trap).

No busy loop, whatever the server does: a failed list, a failed stream, and a stream that ends
(or answers 410) before delivering anything and within `HEALTHY_STREAM_SECONDS` are each followed
by a wait that doubles from `RECONNECT_BACKOFF_SECONDS` up to `RECONNECT_BACKOFF_MAX_SECONDS`; a
stream that delivered an event or stayed open that long resets the wait, and its successor (the
normal reconnect after the server's `timeoutSeconds`, or the relist after a 410) starts at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent.kube import errors
from agent.kube.client import KubeClient
from agent.kube.resources import ResourceKind

__all__ = ["WatchEvent", "watch_objects", "object_key", "RECONNECT_BACKOFF_SECONDS", "RECONNECT_BACKOFF_MAX_SECONDS",
           "HEALTHY_STREAM_SECONDS", "WATCH_TIMEOUT_SECONDS", "ADDED", "MODIFIED", "DELETED", "LISTED"]

logger = logging.getLogger(__name__)

RECONNECT_BACKOFF_SECONDS = 1.0
"""First wait (seconds) before listing or watching again after a failure or an empty short stream."""
RECONNECT_BACKOFF_MAX_SECONDS = 30.0
"""Cap (seconds) of the doubling wait between consecutive failed attempts."""
HEALTHY_STREAM_SECONDS = 5.0
"""A watch stream open at least this long (seconds) counts as healthy even without events."""
WATCH_TIMEOUT_SECONDS = 240
"""Server-side length (seconds) of one watch connection (`timeoutSeconds`)."""

ADDED, MODIFIED, DELETED, LISTED = "ADDED", "MODIFIED", "DELETED", "LISTED"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """`type` ADDED | MODIFIED | DELETED | LISTED; `object` is the full object (empty for LISTED)."""

    type: str
    object: dict[str, Any] = field(default_factory=dict)


def object_key(obj: dict[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object ("" namespace for cluster-scoped)."""
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


_END = object()


async def watch_objects(client: KubeClient, kind: ResourceKind, *, namespace: str | None = None,
                        label_selector: str | None = None, field_selector: str | None = None,
                        timeout_seconds: int = WATCH_TIMEOUT_SECONDS,
                        _iterations: int | None = None,
                        _sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> AsyncIterator[WatchEvent]:
    """Endless stream of WatchEvents for `kind` (all namespaces when namespace is None).

    Errors from the API are logged and retried with the backoff of the module docstring; the
    generator ends only when the consumer stops iterating (or after `_iterations` watch
    connections, a test seam; `_sleep` replaces `asyncio.sleep` in tests).
    """
    known: dict[tuple[str, str], dict[str, Any]] = {}
    resource_version: str | None = None
    connections = 0
    failures = 0

    async def back_off(what: str, exc: object) -> None:
        nonlocal failures
        delay = min(RECONNECT_BACKOFF_SECONDS * 2 ** failures, RECONNECT_BACKOFF_MAX_SECONDS)
        failures += 1
        logger.warning("%s %s (attempt #%d); retrying in %.1fs: %s", what, kind.plural, failures, delay, exc)
        await _sleep(delay)

    loop = asyncio.get_running_loop()
    while _iterations is None or connections < _iterations:
        if resource_version is None:
            try:
                listing = await client.list(kind, namespace, label_selector=label_selector,
                                            field_selector=field_selector)
            except errors.KubeError as exc:
                await back_off("listing failed for", exc)
                continue
            resource_version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
            listed = {object_key(item): item for item in listing.get("items") or []}
            for key, item in listed.items():
                item.setdefault("apiVersion", kind.api_version)
                item.setdefault("kind", kind.kind)
                previous = known.get(key)
                if previous is None or _rv(previous) != _rv(item):
                    yield WatchEvent(MODIFIED if previous is not None else ADDED, item)
            for key in [k for k in known if k not in listed]:
                yield WatchEvent(DELETED, known[key])
            known = listed
            yield WatchEvent(LISTED)
        connections += 1
        opened, delivered = loop.time(), False
        try:
            async for event in _stream(client, kind, namespace, resource_version, label_selector,
                                       field_selector, timeout_seconds):
                delivered = True
                obj = event.get("object") or {}
                rv = (obj.get("metadata") or {}).get("resourceVersion")
                if rv:
                    resource_version = str(rv)
                etype = event.get("type")
                if etype == "BOOKMARK" or etype not in (ADDED, MODIFIED, DELETED):
                    continue
                key = object_key(obj)
                if etype == DELETED:
                    known.pop(key, None)
                else:
                    known[key] = obj
                yield WatchEvent(etype, obj)
        except errors.Gone as exc:
            logger.info("watch of %s expired (410); relisting", kind.plural)
            resource_version = None
            if _healthy(delivered, opened, loop.time()):
                failures = 0
            else:
                await back_off("watch expired at once for", exc)
            continue
        except errors.KubeError as exc:
            if _healthy(delivered, opened, loop.time()):
                failures = 0
            await back_off("watch failed for", exc)
            continue
        if _healthy(delivered, opened, loop.time()):
            failures = 0
        else:
            await back_off("watch ended without events for", "the server closed the stream early")


def _healthy(delivered: bool, opened: float, now: float) -> bool:
    """A stream that delivered an event or stayed open HEALTHY_STREAM_SECONDS."""
    return delivered or now - opened >= HEALTHY_STREAM_SECONDS


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


async def _stream(client: KubeClient, kind: ResourceKind, namespace: str | None, resource_version: str,
                  label_selector: str | None, field_selector: str | None,
                  timeout_seconds: int) -> AsyncIterator[dict[str, Any]]:
    """One watch connection, run in a daemon thread; events arrive through an asyncio.Queue."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()
    responses: list[Any] = []

    def pump() -> None:
        try:
            for event in client.watch_sync(kind, namespace, resource_version, label_selector=label_selector,
                                           field_selector=field_selector, timeout_seconds=timeout_seconds,
                                           on_response=_opened):
                if stop.is_set():
                    return
                _hand_over(event)
            _hand_over(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, re-raised there
            _hand_over(exc)

    def _opened(response: Any) -> None:
        responses.append(response)
        if stop.is_set():  # the consumer left while the request was being sent
            _shutdown(response)

    def _hand_over(item: Any) -> None:
        if stop.is_set():
            return
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop closed while this thread was reading
            stop.set()

    thread = threading.Thread(target=pump, name=f"watch-{kind.plural}", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                if isinstance(item, errors.KubeError):
                    raise item
                raise errors.KubeServerError(0, "WatchFailed", str(item)) from item
            yield item
    finally:
        stop.set()
        for response in responses:
            _shutdown(response)


def _shutdown(response: Any) -> None:
    """Unblock the watch thread's read so it ends now instead of at the server timeout."""
    try:
        response.shutdown()
    except (AttributeError, OSError, RuntimeError, ValueError):
        pass  # already released or closed (the stream ended by itself): nothing to unblock
