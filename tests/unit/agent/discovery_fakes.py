"""Fake discovery endpoints driven by the test (no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from agent.discovery.endpoints import Endpoint
from agent.discovery.handler import Device


class FakeEndpoint(Endpoint):
    """Each `discover()` call takes items from `feed`: a device list is yielded, an exception is
    raised, `None` ends the stream. Calls are recorded in `calls` (details, properties)."""

    def __init__(self, name: str = "fake", *, uid: str | None = None, shared: bool = True,
                 closable: bool = True) -> None:
        self.name = name
        self.shared = shared
        self.uid = uid or f"{name}@fake"
        self.closable = closable
        self.feed: asyncio.Queue[Any] = asyncio.Queue()
        self.calls: list[tuple[str, Mapping[str, bytes | None]]] = []
        self.active = 0

    def push(self, *ids: str) -> None:
        self.feed.put_nowait([Device(id=i, properties={"ID": i}) for i in ids])

    async def discover(self, details: str, properties: Mapping[str, bytes | None]) -> AsyncIterator[list[Device]]:
        self.calls.append((details, dict(properties)))
        self.active += 1
        try:
            while True:
                item = await self.feed.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.active -= 1


async def settle(rounds: int = 20) -> None:
    """Let background tasks run (no wall-clock wait)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
