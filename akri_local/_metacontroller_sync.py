"""One CompositeController's per-parent sync pipeline (metacontroller-contract.md §7).

`ControllerSync.sync(key)` does for one parent what Metacontroller v4.17's `syncParentObject`
does: ignore unselected parents, manage the `metacontroller.io/compositecontroller-<name>`
finalizer, claim children (ownerReference uid + selector; adopt orphans, release mismatches),
gather related objects through the customize hook (cached per parent uid + generation for 20 min),
call the sync hook — or the finalize hook for a deleting parent — apply the desired children
(`_metacontroller_apply.plan_children`), and write the status through the status subresource
only when it changed. Failures raise; the runner turns them into a SyncError event and a
rate-limited retry. Everything reads from shared informer caches; writes go through `Kube`.
"""

from __future__ import annotations

import copy
import datetime
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import urllib3

from agent.kube import errors
from agent.kube.resources import ResourceKind
from akri_local import _metacontroller_apply as apply
from akri_local import _metacontroller_hooks as hooks
from akri_local import _metacontroller_selectors as selectors
from akri_local._metacontroller_kube import Informer, Kube
from akri_local._metacontroller_spec import ControllerSpec

__all__ = ["ControllerSync", "InformerSource", "EventRecorder", "RelatedNotReady", "SyncFailed",
           "CUSTOMIZE_CACHE_SECONDS", "RELATED_SYNC_TIMEOUT_SECONDS"]

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]
CUSTOMIZE_CACHE_SECONDS = 20 * 60.0
RELATED_SYNC_TIMEOUT_SECONDS = 5.0
STATUS_WRITE_ATTEMPTS = 5
EVENT_BURST = 25
EVENT_REFILL_SECONDS = 300.0
_GC_FINALIZERS = ("foregroundDeletion", "orphan")
NAMESPACES = ResourceKind("v1", "Namespace", "namespaces", namespaced=False)


class SyncFailed(Exception):
    """A sync that failed after partial work (child operations); message lists every failure."""


class RelatedNotReady(Exception):
    """A related type's informer has not listed yet: retry later, without a SyncError event."""


class InformerSource(Protocol):
    """Shared informers by resource kind, started on first use."""

    def informer(self, kind: ResourceKind) -> Informer: ...


class EventRecorder:
    """Writes core/v1 Events, rate-limited per object like Metacontroller (`--events-burst` 25,
    then one per `--events-qps` 1/300 s; contract §14). Failures to write are logged, not raised."""

    def __init__(self, kube: Kube, *, component: str = "metacontroller",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._kube = kube
        self._component = component
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def warning(self, obj: Mapping[str, Any], reason: str, message: str) -> bool:
        """Record a Warning event on `obj`; False when rate-limited or the write failed."""
        return self.record(obj, "Warning", reason, message)

    def record(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> bool:
        """Record an event of `event_type` (Normal|Warning) on `obj`; False when dropped."""
        meta = obj.get("metadata") or {}
        if not self._take(str(meta.get("uid") or meta.get("name"))):
            logger.debug("event %s on %s dropped by the rate limit", reason, meta.get("name"))
            return False
        namespace = meta.get("namespace") or "default"
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta.get('name')}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
            "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta.get("name"),
                               "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message[:1024], "type": event_type,
            "source": {"component": self._component},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self._kube.create(ResourceKind("v1", "Event", "events"), event, namespace)
        except errors.KubeError as exc:
            logger.warning("could not record event %s on %s: %s", reason, meta.get("name"), exc)
            return False
        return True

    def _take(self, key: str) -> bool:
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(EVENT_BURST), now))
            tokens = min(float(EVENT_BURST), tokens + (now - last) / EVENT_REFILL_SECONDS)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True


class ControllerSync:
    """Syncs the parents of one CompositeController.

    parent_kind/child_kinds: resolved resource kinds (child_kinds keyed by `Kind.apiVersion`);
    methods: update method per child key; enqueue_after(key, seconds): one-shot resync.
    """

    def __init__(self, spec: ControllerSpec, *, kube: Kube, parent_kind: ResourceKind,
                 child_kinds: Mapping[str, ResourceKind], methods: Mapping[str, str], informers: InformerSource,
                 pool: urllib3.PoolManager, events: EventRecorder,
                 enqueue_after: Callable[[Key, float], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.parent_kind = parent_kind
        self.child_kinds = dict(child_kinds)
        self._methods = dict(methods)
        self._kube = kube
        self._informers = informers
        self._pool = pool
        self._events = events
        self._enqueue_after = enqueue_after
        self._clock = clock
        self._rules: dict[Key, tuple[str, Any, tuple[selectors.RelatedRule, ...], float]] = {}
        self._lock = threading.Lock()

    # -- event routing (called from informer threads) ---------------------------------------------

    def parents_related_to(self, kind: ResourceKind, obj: Mapping[str, Any]) -> list[Key]:
        """Parents whose cached customize rules select `obj` (of `kind`): they must resync."""
        with self._lock:
            entries = list(self._rules.items())
        keys = []
        for key, (_, _, rules, _) in entries:
            for rule in rules:
                if rule.api_version != kind.api_version or rule.resource != kind.plural:
                    continue
                namespace_labels = self._namespace_labels(wait=False) if rule.namespace_selector is not None else None
                if selectors.select_related(rule, [obj], namespaced_kind=kind.namespaced, parent_namespace=key[0],
                                            version=self._customize_version, namespace_labels=namespace_labels):
                    keys.append(key)
                    break
        return keys

    def owner_key(self, obj: Mapping[str, Any]) -> Key | None:
        """The parent key of the controller ownerReference of `obj` when it points at this parent kind."""
        ref = apply.controller_ref(obj)
        if ref is None or ref.get("kind") != self.parent_kind.kind:
            return None
        if str(ref.get("apiVersion", "")).split("/")[0] != self.parent_kind.api_version.split("/")[0]:
            return None
        namespace = ((obj.get("metadata") or {}).get("namespace") or "") if self.parent_kind.namespaced else ""
        return (namespace, str(ref.get("name")))

    # -- the pipeline -----------------------------------------------------------------------------

    def sync(self, key: Key) -> None:
        """Reconcile parent `key` = (namespace, name) once (contract §7).

        Raises hooks.HookBackoff (429: retry later, no event), RelatedNotReady (retry, no event),
        and any other exception for a failed sync (event + rate-limited retry).
        """
        cached = self._informers.informer(self.parent_kind).get(*key)
        if cached is None:
            with self._lock:
                self._rules.pop(key, None)
            return
        for kind in self.child_kinds.values():
            if not self._informers.informer(kind).wait_synced(RELATED_SYNC_TIMEOUT_SECONDS):
                raise RelatedNotReady(f"informer of child {kind.plural}.{kind.api_version} not synced yet")
        parent: Obj = copy.deepcopy(cached)
        spec = self.spec
        meta = parent["metadata"]
        selected = selectors.matches(spec.parent_label_selector, meta.get("labels"))
        if not selected and spec.finalizer not in (meta.get("finalizers") or []):
            return
        parent = self._manage_finalizer(parent)
        selector = apply.parent_selector(parent, generate_selector=spec.generate_selector)
        observed = self._claim_children(parent, selector)
        related = self._related(parent)
        finalizing = spec.finalize is not None and (apply.is_deleting(parent) or not selected)
        hook = spec.finalize if finalizing else spec.sync
        assert hook is not None  # parse_controller guarantees a sync hook
        request = {"controller": spec.raw, "parent": parent,
                   "children": self._children_map(parent, observed, hook.version),
                   "related": related, "finalizing": finalizing}
        which = "finalize" if finalizing else "sync"
        try:
            response = hooks.parse_sync_response(hooks.call_hook(self._pool, hook, request),
                                                 strict=hook.version == "v2")
        except hooks.HookBackoff:
            raise
        except hooks.HookError as exc:
            raise hooks.HookError(f"{which} hook failed (version={hook.version}): {exc}") from exc
        if response.resync_after_seconds:
            self._enqueue_after(key, response.resync_after_seconds)
        if response.finalized:
            parent = self._set_finalizer(parent, present=False) or parent
        desired = self._desired(parent, response.children, selector)
        failures: list[str] = []
        if self._should_manage(parent):
            failures = self._execute(apply.plan_children(observed, desired, self.child_kinds, self._methods, parent))
        self._write_status(parent, apply.desired_status(response.status, meta.get("generation")))
        if failures:
            raise SyncFailed("; ".join(failures))

    # -- steps ------------------------------------------------------------------------------------

    def _manage_finalizer(self, parent: Obj) -> Obj:
        finalizers = parent["metadata"].get("finalizers") or []
        if self.spec.finalize is not None and self.spec.finalizer not in finalizers and not apply.is_deleting(parent):
            return self._set_finalizer(parent, present=True) or parent
        if self.spec.finalize is None and self.spec.finalizer in finalizers:
            return self._set_finalizer(parent, present=False) or parent
        return parent

    def _set_finalizer(self, parent: Obj, *, present: bool) -> Obj | None:
        """Add/remove our finalizer with read-modify-write (retried on 409); the updated parent or
        None when the parent is gone."""
        meta = parent["metadata"]
        live: Obj | None = parent
        for _attempt in range(STATUS_WRITE_ATTEMPTS):
            assert live is not None
            finalizers = list(live["metadata"].get("finalizers") or [])
            if (self.spec.finalizer in finalizers) == present:
                return live
            if present:
                finalizers.append(self.spec.finalizer)
            else:
                finalizers.remove(self.spec.finalizer)
            body = copy.deepcopy(live)
            body["metadata"]["finalizers"] = finalizers
            try:
                updated = self._kube.replace(self.parent_kind, body)
                logger.info("%s finalizer %s on %s/%s", "added" if present else "removed", self.spec.finalizer,
                            meta.get("namespace"), meta["name"])
                return updated
            except errors.NotFound:
                return None
            except errors.Conflict:
                live = self._kube.get_or_none(self.parent_kind, meta["name"], meta.get("namespace"))
                if live is None or live["metadata"].get("uid") != meta.get("uid"):
                    return None
        raise SyncFailed(f"could not update finalizers of {meta.get('namespace')}/{meta['name']}: conflicts")

    def _claim_children(self, parent: Obj, selector: Mapping[str, Any]) -> dict[str, dict[Key, Obj]]:
        namespace = parent["metadata"].get("namespace") if self.parent_kind.namespaced else None
        observed: dict[str, dict[Key, Obj]] = {}
        for type_key, kind in self.child_kinds.items():
            candidates = self._informers.informer(kind).list(namespace or None)
            owned, adopt, release = apply.claim(candidates, parent, selector)
            for obj in adopt:
                adopted = self._set_owner(kind, obj, parent, own=True)
                if adopted is not None:
                    owned.append(adopted)
            for obj in release:
                self._set_owner(kind, obj, parent, own=False)
            observed[type_key] = {(o["metadata"].get("namespace") or "", o["metadata"]["name"]): o for o in owned}
        return observed

    def _set_owner(self, kind: ResourceKind, obj: Obj, parent: Obj, *, own: bool) -> Obj | None:
        meta = obj["metadata"]
        uid = parent["metadata"]["uid"]
        refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != uid]
        if own:
            refs.append(apply.owner_reference(parent))
        patch = {"metadata": {"ownerReferences": refs, "resourceVersion": meta.get("resourceVersion")}}
        try:
            patched = self._kube.patch(kind, meta["name"], patch, meta.get("namespace"))
        except (errors.NotFound, errors.Conflict) as exc:
            logger.info("could not %s %s %s/%s: %s", "adopt" if own else "release", kind.kind,
                        meta.get("namespace"), meta["name"], exc)
            return None
        logger.info("%s %s %s/%s", "adopted" if own else "released", kind.kind, meta.get("namespace"), meta["name"])
        return patched

    def _children_map(self, parent: Obj, observed: Mapping[str, Mapping[Key, Obj]], version: str) -> Obj:
        parent_ns = parent["metadata"].get("namespace") if self.parent_kind.namespaced else None
        return {type_key: {selectors.object_map_key(o, parent_namespace=parent_ns, version=version): o
                           for o in observed.get(type_key, {}).values()}
                for type_key in self.child_kinds}

    @property
    def _customize_version(self) -> str:
        return self.spec.customize.version if self.spec.customize else "v1"

    def _related(self, parent: Obj) -> Obj:
        if self.spec.customize is None:
            return {}
        parent_ns = parent["metadata"].get("namespace") if self.parent_kind.namespaced else None
        sync_version = self.spec.sync.version if self.spec.sync else "v1"
        related: Obj = {}
        for rule in self._customize_rules(parent):
            try:
                kind = self._kube.resolve(rule.api_version, plural=rule.resource)
            except LookupError as exc:
                raise RelatedNotReady(f"related resource {rule.resource}.{rule.api_version}: {exc}") from exc
            informer = self._informers.informer(kind)
            if not informer.wait_synced(RELATED_SYNC_TIMEOUT_SECONDS):
                raise RelatedNotReady(f"informer of related {kind.plural}.{kind.api_version} not synced yet")
            namespace_labels = self._namespace_labels(wait=True) if rule.namespace_selector is not None else None
            chosen = selectors.select_related(rule, informer.list(), namespaced_kind=kind.namespaced,
                                              parent_namespace=parent_ns, version=self._customize_version,
                                              namespace_labels=namespace_labels)
            entry = related.setdefault(apply.children_key(kind), {})
            for obj in chosen:
                if selectors.keep_for_sync_version(obj, parent_namespace=parent_ns, version=sync_version):
                    entry[selectors.object_map_key(obj, parent_namespace=parent_ns, version=sync_version)] = obj
        return related

    def _customize_rules(self, parent: Obj) -> tuple[selectors.RelatedRule, ...]:
        assert self.spec.customize is not None
        meta = parent["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        now = self._clock()
        with self._lock:
            cached = self._rules.get(key)
        if cached and cached[0] == meta.get("uid") and cached[1] == meta.get("generation") and cached[3] > now:
            return cached[2]
        try:
            body = hooks.call_hook(self._pool, self.spec.customize, {"controller": self.spec.raw, "parent": parent})
        except hooks.HookBackoff:
            raise
        except hooks.HookError as exc:
            raise hooks.HookError(f"customize hook failed (version={self.spec.customize.version}): {exc}") from exc
        parent_ns = meta.get("namespace") if self.parent_kind.namespaced else None
        rules = selectors.parse_related_rules(body, parent_namespace=parent_ns, version=self.spec.customize.version)
        with self._lock:
            self._rules[key] = (meta.get("uid"), meta.get("generation"), rules, now + CUSTOMIZE_CACHE_SECONDS)
        return rules

    def _namespace_labels(self, *, wait: bool) -> dict[str, Mapping[str, str]]:
        informer = self._informers.informer(NAMESPACES)
        if wait and not informer.wait_synced(RELATED_SYNC_TIMEOUT_SECONDS):
            raise RelatedNotReady("informer of namespaces not synced yet")
        return {o["metadata"]["name"]: o["metadata"].get("labels") or {} for o in informer.list()}

    def _desired(self, parent: Obj, children: list[Any], selector: Mapping[str, Any]) -> dict[str, dict[Key, Obj]]:
        by_kind = {(k.api_version, k.kind): (type_key, k) for type_key, k in self.child_kinds.items()}
        desired: dict[str, dict[Key, Obj]] = {type_key: {} for type_key in self.child_kinds}
        for child in children:
            found = (by_kind.get((str(child.get("apiVersion")), str(child.get("kind"))))
                     if isinstance(child, Mapping) else None)
            prepared = apply.prepare_desired(child, parent=parent, kind=found[1] if found else None,
                                             selector=selector, generate_selector=self.spec.generate_selector)
            assert found is not None
            meta = prepared["metadata"]
            desired[found[0]][(meta.get("namespace") or "", meta["name"])] = prepared
        return desired

    def _should_manage(self, parent: Obj) -> bool:
        if not apply.is_deleting(parent):
            return True
        finalizers = parent["metadata"].get("finalizers") or []
        return self.spec.finalizer in finalizers and not any(f in finalizers for f in _GC_FINALIZERS)

    def _execute(self, ops: list[apply.ChildOp]) -> list[str]:
        failures = []
        for op in ops:
            where = f"{op.kind.kind} {op.namespace}/{op.name}"
            try:
                if op.action == "create":
                    assert op.body is not None
                    self._kube.create(op.kind, op.body, op.namespace or None)
                elif op.action == "update":
                    assert op.body is not None
                    self._kube.replace(op.kind, op.body)
                else:
                    self._kube.delete(op.kind, op.name, op.namespace or None, uid=op.uid, propagation="Background")
                logger.info("%s: %sd %s", self.spec.name, op.action, where)
            except errors.AlreadyExists:
                logger.info("%s: %s already exists (not ours?); leaving it", self.spec.name, where)
            except (errors.NotFound, errors.Conflict) as exc:
                logger.info("%s: %s of %s skipped: %s", self.spec.name, op.action, where, exc)
            except errors.KubeError as exc:
                failures.append(f"can't {op.action} {where}: {exc}")
        return failures

    def _write_status(self, parent: Obj, status: Obj) -> None:
        """Write `status` through the status subresource when it differs (contract §7 step 9)."""
        if not apply.status_differs(parent, status):
            return
        meta = parent["metadata"]
        for _attempt in range(STATUS_WRITE_ATTEMPTS):
            live = self._kube.get_or_none(self.parent_kind, meta["name"], meta.get("namespace"))
            if live is None or live["metadata"].get("uid") != meta.get("uid"):
                return
            if not apply.status_differs(live, status):
                return
            live["status"] = status
            try:
                written = self._kube.replace(self.parent_kind, live, subresource="status")
            except errors.NotFound:
                return
            except errors.Conflict:
                continue
            if written.get("status") != status:
                logger.warning("%s: the API server changed the status written to %s/%s (pruned or defaulted by "
                               "the CRD schema?); the parent will keep re-syncing", self.spec.name,
                               meta.get("namespace"), meta["name"])
            return
        logger.info("%s: status of %s/%s not written: conflicts", self.spec.name, meta.get("namespace"), meta["name"])
