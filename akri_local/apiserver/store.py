"""In-memory object storage with etcd-like resourceVersions and a bounded watch history.

One global counter numbers every write (as etcd revisions do); each object's
``metadata.resourceVersion`` is the revision of its last write, and a list's
``metadata.resourceVersion`` is the current revision. Every write also appends an
:class:`Event` to a per-resource history deque (``history_size`` events), from which a watch
started at an older revision is replayed; a revision older than the retained history raises
:class:`errors.Gone` (the apiserver's "too old resource version"). :meth:`Store.compact` drops
all history, like an etcd compaction, so tests can provoke that 410.

The store knows nothing of API semantics (validation, finalizers, ...): ``api.py`` does those
and calls :meth:`create` / :meth:`update` / :meth:`remove` while holding :attr:`Store.lock`
for read-modify-write sequences. Stored objects are never mutated in place; every read returns
a deep copy.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

from akri_local.apiserver import errors

__all__ = ["ADDED", "DELETED", "Event", "GroupResource", "MODIFIED", "Store", "Watcher"]

logger = logging.getLogger(__name__)

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
GroupResource = tuple[str, str]
ObjectKey = tuple[str, str]  # (namespace or "", name)
DEFAULT_HISTORY_SIZE = 1000
DEFAULT_WATCH_QUEUE_LIMIT = 10000
_FIRST_REVISION = 100


@dataclasses.dataclass(frozen=True)
class Event:
    """One committed change: ``type`` ADDED/MODIFIED/DELETED, the revision, the object after
    the change (for DELETED: its last state stamped with the deletion revision) and the object
    before it (None for ADDED). Both objects are shared and must not be mutated."""

    type: str
    revision: int
    object: dict[str, Any]
    previous: dict[str, Any] | None


class Watcher:
    """A subscription to one group-resource; yields :class:`Event` s in revision order.

    ``initial`` events (replayed history or synthetic ADDED) come first. The watcher ends
    (``next_event`` returns :data:`Watcher.CLOSED`) when the store closes, when the consumer
    falls more than ``limit`` events behind, or after :meth:`close`.
    """

    CLOSED = object()
    IDLE = None

    def __init__(self, store: Store, group_resource: GroupResource, initial: Iterable[Event],
                 limit: int) -> None:
        self._store = store
        self.group_resource = group_resource
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._limit = limit
        self.closed = False
        for event in initial:
            self._queue.put(event)

    def _push(self, event: Event) -> None:
        """Called by the store, under its lock, for each new event."""
        if self.closed:
            return
        if self._queue.qsize() >= self._limit:
            logger.warning("watch on %s fell %d events behind; closing it", self.group_resource,
                           self._limit)
            self.close()
            return
        self._queue.put(event)

    def next_event(self, timeout: float) -> Any:
        """The next :class:`Event`, :data:`IDLE` after ``timeout`` seconds, or :data:`CLOSED`."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return self.IDLE
        return self.CLOSED if item is self.CLOSED else item

    def close(self) -> None:
        """End the subscription; pending events are dropped after the ones already queued."""
        if not self.closed:
            self.closed = True
            self._queue.put(self.CLOSED)
            self._store._unsubscribe(self)


class Store:
    """Objects by group-resource and ``(namespace, name)``; see the module docstring.

    ``history_size`` is the number of events kept per group-resource for watch resumption;
    ``watch_queue_limit`` bounds how far a watcher may fall behind before it is closed.
    """

    def __init__(self, *, history_size: int = DEFAULT_HISTORY_SIZE,
                 watch_queue_limit: int = DEFAULT_WATCH_QUEUE_LIMIT) -> None:
        self.lock = threading.RLock()
        self._revision = _FIRST_REVISION
        self._objects: dict[GroupResource, dict[ObjectKey, dict[str, Any]]] = collections.defaultdict(dict)
        self._history: dict[GroupResource, collections.deque[Event]] = collections.defaultdict(
            lambda: collections.deque(maxlen=history_size))
        self._floor: dict[GroupResource, int] = collections.defaultdict(lambda: _FIRST_REVISION)
        self._watchers: dict[GroupResource, set[Watcher]] = collections.defaultdict(set)
        self._uids: dict[str, tuple[GroupResource, ObjectKey]] = {}
        self._dependents: dict[str, set[tuple[GroupResource, ObjectKey]]] = collections.defaultdict(set)
        self._listeners: list[Callable[[GroupResource, Event], None]] = []
        self._history_size = history_size
        self._watch_queue_limit = watch_queue_limit
        self._closed = False

    # ------------------------------------------------------------------------------ reads
    @property
    def revision(self) -> int:
        """The revision of the latest write (the resourceVersion a list reports)."""
        with self.lock:
            return self._revision

    def get(self, gr: GroupResource, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of the stored object, or None."""
        with self.lock:
            obj = self._objects[gr].get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list_objects(self, gr: GroupResource, namespace: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Copies of all objects of ``gr`` (in ``namespace`` unless None) sorted by key, and
        the current revision."""
        with self.lock:
            items = [copy.deepcopy(obj) for key, obj in sorted(self._objects[gr].items())
                     if namespace is None or key[0] == namespace]
            return items, self._revision

    def group_resources(self) -> list[GroupResource]:
        """Every group-resource that has (or had) objects."""
        with self.lock:
            return [gr for gr, objects in self._objects.items() if objects]

    def locate_uid(self, uid: str) -> tuple[GroupResource, str, str] | None:
        """``(group_resource, namespace, name)`` of the live object with ``uid``, or None."""
        with self.lock:
            found = self._uids.get(uid)
            return (found[0], found[1][0], found[1][1]) if found else None

    def dependents(self, owner_uid: str) -> list[tuple[GroupResource, str, str]]:
        """Objects whose ownerReferences name ``owner_uid``."""
        with self.lock:
            return [(gr, key[0], key[1]) for gr, key in sorted(self._dependents.get(owner_uid, ()))]

    # ----------------------------------------------------------------------------- writes
    def _next_revision(self) -> int:
        self._revision += 1
        return self._revision

    def _index(self, gr: GroupResource, key: ObjectKey, obj: dict[str, Any] | None,
               old: dict[str, Any] | None) -> None:
        """Maintain the uid and owner indexes for a write of ``obj`` replacing ``old``."""
        for stale, add in ((old, False), (obj, True)):
            if stale is None:
                continue
            meta = stale.get("metadata") or {}
            uid = meta.get("uid")
            owners = {str(ref["uid"]) for ref in meta.get("ownerReferences") or []
                      if isinstance(ref, dict) and ref.get("uid")}
            if add:
                if uid:
                    self._uids[uid] = (gr, key)
                for owner in owners:
                    self._dependents[owner].add((gr, key))
            else:
                if uid and self._uids.get(uid) == (gr, key):
                    del self._uids[uid]
                for owner in owners:
                    self._dependents[owner].discard((gr, key))
                    if not self._dependents[owner]:
                        del self._dependents[owner]

    def _commit(self, gr: GroupResource, event: Event) -> None:
        """Record ``event`` in the history and hand it to watchers and listeners."""
        history = self._history[gr]
        if len(history) == history.maxlen:
            self._floor[gr] = history[0].revision
        history.append(event)
        for watcher in list(self._watchers[gr]):
            watcher._push(event)
        for listener in self._listeners:
            listener(gr, event)

    def _stamp(self, obj: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """A copy of ``obj`` carrying the next revision as its resourceVersion."""
        revision = self._next_revision()
        stored = copy.deepcopy(obj)
        stored.setdefault("metadata", {})["resourceVersion"] = str(revision)
        return stored, revision

    def create(self, gr: GroupResource, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; returns a copy with its resourceVersion.

        Raises KeyError when ``(namespace, name)`` already exists.
        """
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        with self.lock:
            if key in self._objects[gr]:
                raise KeyError(key)
            stored, revision = self._stamp(obj)
            self._objects[gr][key] = stored
            self._index(gr, key, stored, None)
            self._commit(gr, Event(ADDED, revision, stored, None))
            return copy.deepcopy(stored)

    def update(self, gr: GroupResource, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace an existing object; returns a copy with its new resourceVersion.

        Raises KeyError when it does not exist. No precondition checks happen here.
        """
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        with self.lock:
            old = self._objects[gr][key]
            stored, revision = self._stamp(obj)
            self._objects[gr][key] = stored
            self._index(gr, key, stored, old)
            self._commit(gr, Event(MODIFIED, revision, stored, old))
            return copy.deepcopy(stored)

    def remove(self, gr: GroupResource, namespace: str, name: str) -> dict[str, Any]:
        """Delete an object; returns its last state stamped with the deletion revision.

        Raises KeyError when it does not exist.
        """
        key = (namespace, name)
        with self.lock:
            old = self._objects[gr].pop(key)
            final, revision = self._stamp(old)
            self._index(gr, key, None, old)
            self._commit(gr, Event(DELETED, revision, final, old))
            return copy.deepcopy(final)

    # ----------------------------------------------------------------------------- watches
    def watch(self, gr: GroupResource, since: int | None) -> Watcher:
        """Subscribe to ``gr``.

        ``since`` None: synthetic ADDED events for every current object first, then live
        events. Otherwise: replay retained events with revision > ``since``, then live ones.
        Raises :class:`errors.Gone` when ``since`` predates the retained history.
        """
        with self.lock:
            if since is None:
                initial = [Event(ADDED, int(obj["metadata"]["resourceVersion"]), obj, None)
                           for _, obj in sorted(self._objects[gr].items())]
            else:
                floor = self._floor[gr]
                if since < floor:
                    raise errors.Gone(f"too old resource version: {since} ({floor})")
                initial = [event for event in self._history[gr] if event.revision > since]
            watcher = Watcher(self, gr, initial, self._watch_queue_limit)
            if self._closed:
                watcher.close()
            else:
                self._watchers[gr].add(watcher)
            return watcher

    def check_revision(self, gr: GroupResource, since: int) -> None:
        """Raise :class:`errors.Gone` if a watch of ``gr`` from ``since`` could not resume."""
        with self.lock:
            if since < self._floor[gr]:
                raise errors.Gone(f"too old resource version: {since} ({self._floor[gr]})")

    def idle_revision(self, watcher: Watcher) -> int | None:
        """The current revision if ``watcher`` has nothing queued (safe for a BOOKMARK), else None."""
        with self.lock:
            return self._revision if watcher._queue.empty() else None

    def _unsubscribe(self, watcher: Watcher) -> None:
        with self.lock:
            self._watchers[watcher.group_resource].discard(watcher)

    def add_listener(self, listener: Callable[[GroupResource, Event], None]) -> None:
        """Call ``listener(gr, event)`` after every commit, under the store lock (keep it quick)."""
        with self.lock:
            self._listeners.append(listener)

    def compact(self) -> int:
        """Drop all watch history (an etcd compaction); returns the compaction revision.

        Afterwards a watch from any revision below the returned one gets 410 Gone.
        """
        with self.lock:
            for gr in set(self._history) | set(self._objects):
                self._history[gr].clear()
                self._floor[gr] = self._revision
            logger.info("compacted watch history at revision %d", self._revision)
            return self._revision

    def close(self) -> None:
        """End every open watch (their streams finish promptly); later watches end at once."""
        with self.lock:
            self._closed = True
            watchers = [w for ws in self._watchers.values() for w in ws]
        for watcher in watchers:
            watcher.close()
