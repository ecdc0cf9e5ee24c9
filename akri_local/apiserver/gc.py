"""Background controllers of the emulator: garbage collector, namespace and CRD cleanup.

What the kube-controller-manager's garbage collector and namespace controller and the
apiextensions finalizer controller do, reduced to what this project relies on:

- a dependent whose ``ownerReferences`` all name absent owners (by uid) is deleted
  (background propagation); references to absent owners are dropped when some owner remains;
- an owner deleted with ``propagationPolicy: Orphan`` (finalizer ``orphan``) has the references
  to it removed from its dependents, then the finalizer removed;
- an owner deleted with ``Foreground`` (finalizer ``foregroundDeletion``) has its dependents
  deleted first and loses the finalizer when none is left;
- a terminating namespace has all its content deleted, then its ``kubernetes`` finalizer removed;
- a terminating CRD has all its custom resources deleted, then its cleanup finalizer removed.

Work is queued by a store listener and done on one worker thread through :class:`api.Api`
like any client (so finalizers, grace periods and webhooks apply). Failed items are retried
after :data:`RETRY_DELAY_SECONDS`.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import logging
import threading
import time
from typing import Any

from akri_local.apiserver import errors, kinds
from akri_local.apiserver.api import Api
from akri_local.apiserver.deleting import FOREGROUND_FINALIZER, ORPHAN_FINALIZER, DeleteOptions
from akri_local.apiserver.store import DELETED, Event, GroupResource

__all__ = ["GarbageCollector", "RETRY_DELAY_SECONDS"]

logger = logging.getLogger(__name__)

RETRY_DELAY_SECONDS = 0.2
MAX_ITEM_ATTEMPTS = 50
MAX_FINALIZER_ATTEMPTS = 10
_NAMESPACES: GroupResource = ("", "namespaces")
_CRDS: GroupResource = ("apiextensions.k8s.io", "customresourcedefinitions")
Item = tuple[Any, ...]


class GarbageCollector:
    """Runs the controllers in the module docstring for ``api`` on a daemon thread."""

    def __init__(self, api: Api) -> None:
        self._api = api
        self._condition = threading.Condition()
        self._ready: list[tuple[float, int, Item]] = []
        self._queued: set[Item] = set()
        self._counter = itertools.count()
        self._attempts: dict[Item, int] = {}
        self._terminating_namespaces: set[str] = set()
        self._terminating_crds: dict[GroupResource, str] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="apiserver-gc", daemon=True)
        api.store.add_listener(self._on_event)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker thread (waits at most ``timeout`` seconds)."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ------------------------------------------------------------------------ queueing
    def _enqueue(self, item: Item, delay: float = 0.0) -> None:
        with self._condition:
            if item in self._queued and delay == 0.0:
                return
            self._queued.add(item)
            heapq.heappush(self._ready, (time.monotonic() + delay, next(self._counter), item))
            self._condition.notify()

    def _on_event(self, gr: GroupResource, event: Event) -> None:
        """Store listener (runs under the store lock): decide which items need work."""
        obj_meta = event.object.get("metadata") or {}
        namespace, name, uid = obj_meta.get("namespace", ""), obj_meta.get("name", ""), obj_meta.get("uid")
        deleting = bool(obj_meta.get("deletionTimestamp"))
        if event.type == DELETED:
            self._enqueue(("dependents", uid))
            for ref in obj_meta.get("ownerReferences") or []:
                self._enqueue(("finalize-uid", ref.get("uid")))
            if namespace in self._terminating_namespaces:
                self._enqueue(("namespace", namespace))
            if gr in self._terminating_crds:
                self._enqueue(("crd", self._terminating_crds[gr]))
            if gr == _NAMESPACES:
                self._terminating_namespaces.discard(name)
            if gr == _CRDS:
                self._terminating_crds = {k: v for k, v in self._terminating_crds.items() if v != name}
            return
        refs = obj_meta.get("ownerReferences") or []
        if refs and not deleting and any(self._api.store.locate_uid(r.get("uid", "")) is None
                                         for r in refs if isinstance(r, dict)):
            self._enqueue(("check", gr, namespace, name))
        if not deleting:
            return
        finalizers = obj_meta.get("finalizers") or []
        if ORPHAN_FINALIZER in finalizers or FOREGROUND_FINALIZER in finalizers:
            self._enqueue(("finalize", gr, namespace, name))
        if gr == _NAMESPACES:
            self._terminating_namespaces.add(name)
            self._enqueue(("namespace", name))
        elif gr == _CRDS:
            spec = event.object.get("spec") or {}
            crd_gr = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
            self._terminating_crds[crd_gr] = name
            self._enqueue(("crd", name))

    def _run(self) -> None:
        """Worker loop: take due items and process them; never dies on an item's error."""
        while True:
            with self._condition:
                while not self._stopping and (not self._ready or self._ready[0][0] > time.monotonic()):
                    wait = self._ready[0][0] - time.monotonic() if self._ready else None
                    self._condition.wait(wait)
                if self._stopping:
                    return
                _, _, item = heapq.heappop(self._ready)
                self._queued.discard(item)
            try:
                self._process(item)
                self._attempts.pop(item, None)
            except Exception as exc:  # task guard: keep the collector alive, retry a while
                self._retry(item, exc)

    def _retry(self, item: Item, exc: Exception) -> None:
        """Requeue a failed item after RETRY_DELAY_SECONDS, at most MAX_ITEM_ATTEMPTS times."""
        attempts = self._attempts.get(item, 0) + 1
        if attempts >= MAX_ITEM_ATTEMPTS:
            self._attempts.pop(item, None)
            logger.error("gc item %s failed %d times, giving up: %s", item, attempts, exc)
            return
        self._attempts[item] = attempts
        if isinstance(exc, errors.ApiError):
            logger.debug("gc item %s failed (%s); retry #%d", item, exc, attempts)
        else:
            logger.warning("gc item %s failed; retry #%d", item, attempts, exc_info=exc)
        self._enqueue(item, RETRY_DELAY_SECONDS)

    # ---------------------------------------------------------------------- processing
    def _process(self, item: Item) -> None:
        kind = item[0]
        if kind == "dependents":
            for gr, namespace, name in self._api.store.dependents(item[1]):
                self._check(gr, namespace, name)
        elif kind == "check":
            self._check(item[1], item[2], item[3])
        elif kind == "finalize":
            self._finalize(item[1], item[2], item[3])
        elif kind == "finalize-uid":
            located = self._api.store.locate_uid(item[1] or "")
            if located:
                self._finalize(*located)
        elif kind == "namespace":
            self._namespace(item[1])
        elif kind == "crd":
            self._crd(item[1])

    def _type(self, gr: GroupResource) -> kinds.ResourceType | None:
        return self._api.types.preferred(gr[0], gr[1])

    def _delete(self, gr: GroupResource, namespace: str, name: str, uid: str, policy: str) -> None:
        rt = self._type(gr)
        if rt is None:
            return
        try:
            self._api.delete(rt, namespace or None, name,
                             DeleteOptions(propagation_policy=policy, precondition_uid=uid))
            logger.info("garbage collected %s %s/%s", gr[1], namespace, name)
        except errors.NotFound:
            pass

    def _rewrite(self, gr: GroupResource, namespace: str, name: str, change: Any) -> None:
        """Read-modify-write ``change(obj) -> bool`` (False = nothing to do) with retries."""
        rt = self._type(gr)
        if rt is None:
            return
        for _ in range(MAX_FINALIZER_ATTEMPTS):
            current = self._api.store.get(gr, namespace, name)
            if current is None:
                return
            new = copy.deepcopy(current)
            if not change(new):
                return
            try:
                self._api.update(rt, namespace or None, name, new)
                return
            except errors.Conflict:
                continue
            except errors.NotFound:
                return
        raise errors.Conflict(f"could not update {gr[1]} {namespace}/{name}")

    def _drop_finalizer(self, gr: GroupResource, namespace: str, name: str, finalizer: str) -> None:
        def change(obj: dict[str, Any]) -> bool:
            finalizers = obj["metadata"].get("finalizers") or []
            if finalizer not in finalizers:
                return False
            obj["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]
            return True

        self._rewrite(gr, namespace, name, change)

    def _check(self, gr: GroupResource, namespace: str, name: str) -> None:
        """Delete a dependent whose owners are all gone; drop references to absent owners."""
        obj = self._api.store.get(gr, namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        refs = [r for r in obj["metadata"].get("ownerReferences") or [] if isinstance(r, dict)]
        if not refs:
            return
        store = self._api.store
        absent = {r.get("uid") for r in refs if store.locate_uid(r.get("uid", "")) is None}
        if not absent:
            return
        if len(absent) == len({r.get("uid") for r in refs}):
            self._delete(gr, namespace, name, obj["metadata"]["uid"], "Background")
            return

        def change(new: dict[str, Any]) -> bool:
            kept = [r for r in new["metadata"].get("ownerReferences") or [] if r.get("uid") not in absent]
            new["metadata"]["ownerReferences"] = kept
            return True

        self._rewrite(gr, namespace, name, change)

    def _finalize(self, gr: GroupResource, namespace: str, name: str) -> None:
        """Process the orphan / foregroundDeletion finalizer of a deleting owner."""
        owner = self._api.store.get(gr, namespace, name)
        if owner is None or not owner["metadata"].get("deletionTimestamp"):
            return
        uid = owner["metadata"]["uid"]
        finalizers = owner["metadata"].get("finalizers") or []
        dependents = self._api.store.dependents(uid)
        if ORPHAN_FINALIZER in finalizers:
            for dep_gr, dep_ns, dep_name in dependents:
                def change(new: dict[str, Any]) -> bool:
                    refs = new["metadata"].get("ownerReferences") or []
                    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    return len(refs) != len(new["metadata"]["ownerReferences"])

                self._rewrite(dep_gr, dep_ns, dep_name, change)
            self._drop_finalizer(gr, namespace, name, ORPHAN_FINALIZER)
        elif FOREGROUND_FINALIZER in finalizers:
            for dep_gr, dep_ns, dep_name in dependents:
                dependent = self._api.store.get(dep_gr, dep_ns, dep_name)
                if dependent is not None and not dependent["metadata"].get("deletionTimestamp"):
                    self._delete(dep_gr, dep_ns, dep_name, dependent["metadata"]["uid"], "Foreground")
            if not self._api.store.dependents(uid):
                self._drop_finalizer(gr, namespace, name, FOREGROUND_FINALIZER)

    def _namespace(self, name: str) -> None:
        """Delete a terminating namespace's content; finalize it once empty."""
        ns = self._api.store.get(_NAMESPACES, "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for gr in self._api.store.group_resources():
            rt = self._type(gr)
            if rt is None or not rt.namespaced:
                continue
            items, _ = self._api.store.list_objects(gr, name)
            remaining += len(items)
            for obj in items:
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete(gr, name, obj["metadata"]["name"], obj["metadata"]["uid"], "Background")
        if remaining:
            return
        ns_type = self._type(_NAMESPACES)
        assert ns_type is not None
        spec_finalizers = (ns.get("spec") or {}).get("finalizers") or []
        if kinds.NAMESPACE_FINALIZER in spec_finalizers:
            body = copy.deepcopy(ns)
            body["spec"]["finalizers"] = [f for f in spec_finalizers if f != kinds.NAMESPACE_FINALIZER]
            try:
                self._api.update(ns_type, None, name, body, subresource="finalize")
            except errors.NotFound:
                return
            logger.info("namespace %s finalized", name)

    def _crd(self, name: str) -> None:
        """Delete a terminating CRD's custom resources; drop its cleanup finalizer once none left."""
        crd = self._api.store.get(_CRDS, "", name)
        if crd is None or not crd["metadata"].get("deletionTimestamp"):
            return
        spec = crd.get("spec") or {}
        gr = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        items, _ = self._api.store.list_objects(gr)
        for obj in items:
            if not obj["metadata"].get("deletionTimestamp"):
                self._delete(gr, obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                             obj["metadata"]["uid"], "Background")
        if not items:
            self._drop_finalizer(_CRDS, "", name, kinds.CRD_CLEANUP_FINALIZER)
