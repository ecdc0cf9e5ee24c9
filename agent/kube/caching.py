"""An in-memory copy of one resource kind, kept current by `watching.watch_objects` (an informer store).

`ObjectCache.run(watch)` applies every WatchEvent; `ready` is set after the first complete list;
`get`/`values` read the copy; listeners are called with each applied event, so controllers can
re-reconcile what an object change affects. After a write, `remember(obj)` stores the server's
answer at once, so the next reconcile does not start from a version the server already replaced
(the watch event arriving later overwrites it with the same content).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from agent.kube.watching import DELETED, LISTED, WatchEvent, object_key

__all__ = ["ObjectCache", "Listener"]

Obj = dict[str, Any]
Listener = Callable[[WatchEvent], None]


class ObjectCache:
    """(namespace, name) → object ("" namespace for cluster-scoped kinds). Single event loop."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], Obj] = {}
        self._listeners: list[Listener] = []
        self.ready = asyncio.Event()

    async def run(self, events: AsyncIterator[WatchEvent]) -> None:
        """Apply `events` until the stream ends (watch_objects never ends on its own)."""
        async for event in events:
            self.apply(event)

    def apply(self, event: WatchEvent) -> None:
        """Apply one event, then tell the listeners."""
        if event.type == LISTED:
            self.ready.set()
        elif event.type == DELETED:
            self._objects.pop(object_key(event.object), None)
        else:
            self._objects[object_key(event.object)] = event.object
        for listener in list(self._listeners):
            listener(event)

    def remember(self, obj: Obj) -> None:
        """Store an object just written (no listener call)."""
        self._objects[object_key(obj)] = obj

    def forget(self, namespace: str, name: str) -> None:
        """Drop an object just deleted (no listener call)."""
        self._objects.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> Obj | None:
        """The cached object or None. Do not mutate it."""
        return self._objects.get((namespace, name))

    def values(self) -> Iterator[Obj]:
        """Every cached object (a snapshot list's iterator)."""
        return iter(list(self._objects.values()))

    def __len__(self) -> int:
        return len(self._objects)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event)` after each applied event; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
        return unsubscribe
