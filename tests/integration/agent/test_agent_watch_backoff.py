"""`agent.kube.watching.watch_objects` never busy-loops: a scripted client (no API server) makes
lists fail, streams end at once or answer 410, and the waits between attempts are recorded.

Integration rather than unit: each watch connection runs in the real watch thread of the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.kube import errors
from agent.kube.resources import CONFIGURATIONS
from agent.kube.watching import (ADDED, LISTED, RECONNECT_BACKOFF_MAX_SECONDS, RECONNECT_BACKOFF_SECONDS,
                                 WatchEvent, watch_objects)

OBJECT = {"metadata": {"name": "c", "namespace": "ns", "resourceVersion": "7"}}


class ScriptedClient:
    """`list` fails `list_failures` times, then lists OBJECT at version 5; every watch connection
    takes the next behaviour from `streams`: "empty" (ends at once), "gone" (410 at once),
    "event" (one MODIFIED event, then ends)."""

    def __init__(self, *, list_failures: int = 0, streams: list[str]) -> None:
        self.list_failures = list_failures
        self.lists = 0
        self.streams = list(streams)

    async def list(self, kind: Any, namespace: Any = None, **_: Any) -> dict[str, Any]:
        self.lists += 1
        if self.list_failures:
            self.list_failures -= 1
            raise errors.KubeServerError(503, "ServiceUnavailable", "try later")
        return {"metadata": {"resourceVersion": "5"}, "items": [dict(OBJECT)]}

    def watch_sync(self, kind: Any, namespace: Any, resource_version: str, **_: Any) -> Iterator[dict[str, Any]]:
        behaviour = self.streams.pop(0)
        if behaviour == "gone":
            raise errors.Gone(410, "Expired", f"too old resource version: {resource_version}")
        if behaviour == "event":
            yield {"type": "MODIFIED", "object": OBJECT}


async def _run(client: ScriptedClient, connections: int) -> tuple[list[WatchEvent], list[float]]:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    events = [event async for event in watch_objects(client, CONFIGURATIONS,  # type: ignore[arg-type]
                                                     _iterations=connections, _sleep=sleep)]
    return events, delays


async def test_streams_that_end_at_once_back_off_doubling_up_to_the_cap() -> None:
    events, delays = await _run(ScriptedClient(streams=["empty"] * 8), 8)
    assert [e.type for e in events] == [ADDED, LISTED]
    expected = [min(RECONNECT_BACKOFF_SECONDS * 2 ** i, RECONNECT_BACKOFF_MAX_SECONDS) for i in range(8)]
    assert delays == expected and delays[-1] == RECONNECT_BACKOFF_MAX_SECONDS


async def test_failed_lists_back_off() -> None:
    client = ScriptedClient(list_failures=3, streams=["event"])
    events, delays = await _run(client, 1)
    assert client.lists == 4
    assert delays == [RECONNECT_BACKOFF_SECONDS * 2 ** i for i in range(3)]
    assert [e.type for e in events] == [ADDED, LISTED, "MODIFIED"]


async def test_immediate_410_after_every_relist_backs_off() -> None:
    client = ScriptedClient(streams=["gone"] * 4)
    events, delays = await _run(client, 4)
    assert client.lists == 4  # relisted after every 410 ...
    assert delays == [RECONNECT_BACKOFF_SECONDS * 2 ** i for i in range(4)]  # ... but never in a tight loop
    assert [e.type for e in events].count(LISTED) == 4


async def test_a_stream_that_delivered_resets_the_backoff() -> None:
    _events, delays = await _run(ScriptedClient(streams=["empty", "empty", "event", "empty"]), 4)
    assert delays == [RECONNECT_BACKOFF_SECONDS, 2 * RECONNECT_BACKOFF_SECONDS, RECONNECT_BACKOFF_SECONDS]
