"""An in-memory copy of one resource kind, kept current by `watching.watch_objects` (an informer store).

`ObjectCache.run(watch)` applies every WatchEvent; `ready` is set after the first complete list;
`get`/`values` read the copy; listeners are called with each applied event, so controllers can
re-reconcile what an object change affects. After a write, `remember(obj)` stores the server's
answer at once, so the next reconcile does not start from a version the server already replaced
(the watch event arriving later overwrites it with the same content). `remember` and `forget`
never move the cache backwards: a watch event newer than the write may already have been applied.
Versions are compared as integers when both parse (etcd and our emulator use integers; Kubernetes
calls them opaque), otherwise they are "unknown" and the watch, the authority, is trusted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from agent.kube.watching import DELETED, LISTED, WatchEvent, object_key

__all__ = ["ObjectCache", "Listener", "resource_version", "compare_versions"]

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
        """Store an object just written (no listener call) unless the cached one is as new or newer.

        Stored when nothing is cached under its key, or when both resourceVersions are integers and
        the written one is greater; otherwise (older, equal, or not comparable) the cached object,
        which came from the watch, stays.
        """
        key = object_key(obj)
        cached = self._objects.get(key)
        if cached is None or compare_versions(resource_version(obj), resource_version(cached)) == 1:
            self._objects[key] = obj

    def forget(self, namespace: str, name: str, deleted: str | None) -> None:
        """Drop an object just deleted (no listener call) if the cached one is that version or older.

        deleted: `metadata.resourceVersion` of the object the delete removed (None: not known, the
        cache is left to the watch). A cached object with a greater integer version (or, when not
        comparable, a different one) was written after the delete and is kept.
        """
        cached = self._objects.get((namespace, name))
        if cached is None or deleted is None:
            return
        cached_version = resource_version(cached)
        if cached_version == deleted or compare_versions(cached_version, deleted) == -1:
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


def resource_version(obj: Obj) -> str | None:
    """`metadata.resourceVersion` of an object (None when absent or not a string)."""
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return version if isinstance(version, str) else None


def compare_versions(left: str | None, right: str | None) -> int | None:
    """-1, 0 or 1 as resourceVersion `left` is older than, the same as or newer than `right`, when
    both are decimal integers (etcd's revisions, as the API server and our emulator hand them
    out); None when either is absent or not an integer: Kubernetes calls them opaque."""
    if left is None or right is None or not (left.isdecimal() and right.isdecimal()):
        return None
    return (int(left) > int(right)) - (int(left) < int(right))
