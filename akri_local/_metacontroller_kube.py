"""Blocking plain-dict Kubernetes access for the local control plane: REST verbs, discovery, informers.

The Metacontroller runner and the kubelet simulator are ordinary API clients (DESIGN.md §4): they
talk to the local API emulator or to a real cluster through a kubeconfig, like any client.
Both run on threads, so this module offers *blocking* calls made through the agent's own REST door,
`agent.kube.client.KubeClient.request_sync` (kubeconfig, TLS and auth handling in
`agent.kube.kubeconfig`; plain JSON dicts in and out; non-2xx answers become the typed
`agent.kube.errors`), plus resource discovery and an `Informer`: a thread that lists, then watches
from the list's resourceVersion (relisting on 410 Gone, reconnecting after a backoff on other failures),
keeps a cache of the objects and calls handlers for every change. `Informer.stop()` shuts the open
watch socket down, so stopping never waits for a server-side watch timeout.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import urllib3

from agent.kube import errors
from agent.kube.client import KubeClient
from agent.kube.kubeconfig import Connection
from agent.kube.resources import ResourceKind

__all__ = ["Kube", "Informer", "Handler", "object_key", "ADDED", "MODIFIED", "DELETED",
           "WATCH_TIMEOUT_SECONDS", "RECONNECT_BACKOFF_SECONDS"]

logger = logging.getLogger(__name__)

Obj = dict[str, Any]
ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
WATCH_TIMEOUT_SECONDS = 120
RECONNECT_BACKOFF_SECONDS = 0.5
REQUEST_TIMEOUT_SECONDS = 30.0
PATCH_MERGE = "application/merge-patch+json"
POOL_SIZE = 32

# Built-in kinds the control plane needs even when the server offers no discovery documents.
_BUILTIN: tuple[ResourceKind, ...] = (
    ResourceKind("v1", "Pod", "pods"), ResourceKind("v1", "Service", "services"),
    ResourceKind("v1", "ConfigMap", "configmaps"), ResourceKind("v1", "Secret", "secrets"),
    ResourceKind("v1", "Event", "events"), ResourceKind("v1", "ServiceAccount", "serviceaccounts"),
    ResourceKind("v1", "Node", "nodes", namespaced=False),
    ResourceKind("v1", "Namespace", "namespaces", namespaced=False),
    ResourceKind("batch/v1", "Job", "jobs"), ResourceKind("apps/v1", "Deployment", "deployments"),
    ResourceKind("apps/v1", "DaemonSet", "daemonsets"),
)


def object_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object; namespace "" for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


class Kube:
    """Blocking plain-dict verbs on any resource, plus resource discovery.

    Every method raises `agent.kube.errors.KubeError` subclasses (NotFound, Conflict,
    AlreadyExists, Gone, Invalid, TooManyRequests, KubeServerError for 5xx/transport).
    """

    def __init__(self, client: KubeClient) -> None:
        self._client = client
        self._kinds: dict[tuple[str, str], ResourceKind] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_kubeconfig(cls, path: str, *, pool_size: int = POOL_SIZE) -> Kube:
        """Client for the cluster of kubeconfig file `path` (current context).

        pool_size: HTTP connections kept per host (each open watch holds one).
        Raises agent.kube.errors.KubeConfigError (naming the file and field) for an unusable kubeconfig.
        """
        return cls(KubeClient(Connection.from_kubeconfig(path), pool_size=pool_size))

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    # -- raw ---------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json", timeout: float = REQUEST_TIMEOUT_SECONDS) -> Any:
        """One blocking call (`agent.kube.client.KubeClient.request_sync`, no retries); returns the
        decoded JSON body ({} when empty). Raises errors.KubeError."""
        return self._client.request_sync(method, path, query=query, body=body, content_type=content_type,
                                         timeout=timeout)

    # -- verbs -------------------------------------------------------------------------------------

    def get(self, kind: ResourceKind, name: str, namespace: str | None = None) -> Obj:
        """GET one object. Raises errors.NotFound."""
        obj: Obj = self.request("GET", kind.path(namespace, name))
        return obj

    def get_or_none(self, kind: ResourceKind, name: str, namespace: str | None = None) -> Obj | None:
        """GET one object; None when it does not exist."""
        try:
            return self.get(kind, name, namespace)
        except errors.NotFound:
            return None

    def list(self, kind: ResourceKind, namespace: str | None = None, *, label_selector: str | None = None,
             field_selector: str | None = None) -> Obj:
        """LIST (all namespaces when namespace is None): `{"items": [...], "metadata": {"resourceVersion"}}`.

        Items get `apiVersion`/`kind` filled in (a list response omits them per item).
        """
        listing: Obj = self.request("GET", kind.path(namespace), query={
            "labelSelector": label_selector, "fieldSelector": field_selector})
        for item in listing.get("items") or []:
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return listing

    def create(self, kind: ResourceKind, body: Obj, namespace: str | None = None, *,
               subresource_of: str | None = None, subresource: str | None = None) -> Obj:
        """POST `body` (to `<name>/<subresource>` when both are given, e.g. pods/binding).

        Raises errors.AlreadyExists, errors.Invalid.
        """
        ns = namespace if namespace is not None else (body.get("metadata") or {}).get("namespace")
        path = kind.path(ns, subresource_of, subresource) if subresource_of else kind.path(ns)
        created: Obj = self.request("POST", path, body=body)
        return created

    def replace(self, kind: ResourceKind, body: Obj, *, subresource: str | None = None) -> Obj:
        """PUT the whole object; `metadata.resourceVersion` is the precondition. Raises errors.Conflict."""
        meta = body["metadata"]
        replaced: Obj = self.request("PUT", kind.path(meta.get("namespace"), meta["name"], subresource), body=body)
        return replaced

    def patch(self, kind: ResourceKind, name: str, patch: Any, namespace: str | None = None, *,
              subresource: str | None = None, content_type: str = PATCH_MERGE) -> Obj:
        """PATCH (JSON merge patch by default). Raises errors.NotFound, errors.Conflict."""
        patched: Obj = self.request("PATCH", kind.path(namespace, name, subresource), body=patch,
                                    content_type=content_type)
        return patched

    def delete(self, kind: ResourceKind, name: str, namespace: str | None = None, *, uid: str | None = None,
               propagation: str | None = None, grace_period_seconds: int | None = None) -> None:
        """DELETE with an optional uid precondition, propagation policy and grace period (seconds).

        Raises errors.NotFound, errors.Conflict (uid precondition failed).
        """
        options: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            options["preconditions"] = {"uid": uid}
        if propagation:
            options["propagationPolicy"] = propagation
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        self.request("DELETE", kind.path(namespace, name), body=options)

    def open_watch(self, kind: ResourceKind, namespace: str | None, resource_version: str, *,
                   label_selector: str | None, field_selector: str | None,
                   timeout_seconds: int) -> urllib3.BaseHTTPResponse:
        """Open a watch stream (caller reads and releases it). Raises errors.Gone for an expired version."""
        response: urllib3.BaseHTTPResponse = self._client.request_sync("GET", kind.path(namespace), query={
            "watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
            "labelSelector": label_selector, "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds}, timeout=(5.0, timeout_seconds + 10.0), stream=True)
        return response

    # -- discovery ---------------------------------------------------------------------------------

    def resolve(self, api_version: str, *, plural: str | None = None, kind: str | None = None) -> ResourceKind:
        """The ResourceKind of `api_version` + `plural` (or + `kind`), via API discovery.

        Falls back to a built-in table for core kinds and to the CustomResourceDefinition object for
        custom ones (the local emulator may serve no discovery documents). Raises LookupError naming
        the resource when neither knows it.
        """
        if (plural is None) == (kind is None):
            raise ValueError("resolve() needs exactly one of plural= or kind=")
        found = self._cached(api_version, plural, kind)
        if found is not None:
            return found
        for candidate in self._discover(api_version):
            self._remember(candidate)
        found = self._cached(api_version, plural, kind)
        if found is None:
            raise LookupError(f"resource {plural or kind!r} not found in API version {api_version!r}")
        return found

    def _cached(self, api_version: str, plural: str | None, kind: str | None) -> ResourceKind | None:
        with self._lock:
            if plural is not None:
                return self._kinds.get((api_version, plural))
            return next((k for (av, _), k in self._kinds.items() if av == api_version and k.kind == kind), None)

    def _remember(self, kind: ResourceKind) -> None:
        with self._lock:
            self._kinds[(kind.api_version, kind.plural)] = kind

    def _discover(self, api_version: str) -> builtins.list[ResourceKind]:
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            document = self.request("GET", path)
        except errors.KubeError as exc:
            logger.debug("discovery of %s failed (%s); using fallbacks", api_version, exc)
            document = {}
        kinds = [ResourceKind(api_version, str(r["kind"]), str(r["name"]), bool(r.get("namespaced", True)))
                 for r in document.get("resources") or [] if "/" not in str(r.get("name", "/"))]
        kinds += [k for k in _BUILTIN if k.api_version == api_version]
        if "/" in api_version and not kinds:
            kinds += self._from_crds(api_version)
        return kinds

    def _from_crds(self, api_version: str) -> builtins.list[ResourceKind]:
        group, version = api_version.split("/", 1)
        crd_kind = ResourceKind("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                                "customresourcedefinitions", namespaced=False)
        try:
            crds = self.list(crd_kind).get("items") or []
        except errors.KubeError as exc:
            logger.debug("listing CRDs failed: %s", exc)
            return []
        kinds = []
        for crd in crds:
            spec = crd.get("spec") or {}
            if spec.get("group") != group or not any(v.get("name") == version for v in spec.get("versions") or []):
                continue
            names = spec.get("names") or {}
            kinds.append(ResourceKind(api_version, str(names.get("kind")), str(names.get("plural")),
                                      spec.get("scope", "Namespaced") == "Namespaced"))
        return kinds


Handler = Callable[[str, Obj, "Obj | None"], None]
"""Informer callback `(event type ADDED|MODIFIED|DELETED, object, previous object or None)`."""


class Informer:
    """A cache of one resource kind kept current by list-then-watch on a daemon thread.

    kind: what to watch; namespace None = all namespaces; selectors as in a LIST query.
    Handlers run on the informer thread, in event order, outside the cache lock; they must be quick
    (enqueue work) and are guarded: an exception is logged and the stream continues. After a
    relist, objects that vanished during the gap are reported as DELETED, so handlers always
    converge on the server's state.
    """

    def __init__(self, kube: Kube, kind: ResourceKind, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 watch_timeout_seconds: int = WATCH_TIMEOUT_SECONDS) -> None:
        self.kind = kind
        self._kube = kube
        self._namespace = namespace
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._watch_timeout_seconds = watch_timeout_seconds
        self._handlers: list[Handler] = []
        self._cache: dict[tuple[str, str], Obj] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._response: urllib3.BaseHTTPResponse | None = None
        self._thread: threading.Thread | None = None

    def add_handler(self, handler: Handler, *, replay: bool = True) -> None:
        """Subscribe `handler`; with `replay`, call it now with ADDED for every cached object."""
        with self._lock:
            self._handlers.append(handler)
            cached = list(self._cache.values()) if replay else []
        for obj in cached:
            self._call(handler, ADDED, obj, None)

    def start(self) -> None:
        """Start the list-then-watch thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"informer-{self.kind.plural}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, shutting the open watch connection down; waits up to `timeout` seconds."""
        self._stop.set()
        response = self._response
        if response is not None:
            _shutdown(response)
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_synced(self, timeout: float) -> bool:
        """Block until the first LIST has been applied (True) or `timeout` seconds pass (False)."""
        return self._synced.wait(timeout)

    @property
    def synced(self) -> bool:
        """True once the first LIST has been applied."""
        return self._synced.is_set()

    def get(self, namespace: str, name: str) -> Obj | None:
        """The cached object, or None. Callers must not mutate it (deep-copy first)."""
        with self._lock:
            return self._cache.get((namespace or "", name))

    def list(self, namespace: str | None = None) -> list[Obj]:
        """Cached objects (of one namespace when given), sorted by (namespace, name)."""
        with self._lock:
            return [obj for key, obj in sorted(self._cache.items()) if namespace is None or key[0] == namespace]

    # -- thread ------------------------------------------------------------------------------------

    def _run(self) -> None:
        resource_version: str | None = None
        while not self._stop.is_set():
            try:
                if resource_version is None:
                    resource_version = self._relist()
                resource_version = self._watch(resource_version)
            except errors.Gone:
                logger.info("watch of %s expired (410); relisting", self.kind.plural)
                resource_version = None
            except (errors.KubeError, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                if self._stop.is_set():
                    break
                logger.warning("watch of %s failed; reconnecting in %.1fs: %s", self.kind.plural,
                               RECONNECT_BACKOFF_SECONDS, exc)
                self._stop.wait(RECONNECT_BACKOFF_SECONDS)

    def _relist(self) -> str:
        listing = self._kube.list(self.kind, self._namespace, label_selector=self._label_selector,
                                  field_selector=self._field_selector)
        listed = {object_key(item): item for item in listing.get("items") or []}
        events: list[tuple[str, Obj, Obj | None]] = []
        with self._lock:
            for key, item in listed.items():
                previous = self._cache.get(key)
                self._cache[key] = item
                if previous is None:
                    events.append((ADDED, item, None))
                elif _rv(previous) != _rv(item):
                    events.append((MODIFIED, item, previous))
            for key in [k for k in self._cache if k not in listed]:
                events.append((DELETED, self._cache.pop(key), None))
        self._synced.set()
        for event in events:
            self._emit(*event)
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    def _watch(self, resource_version: str) -> str:
        response = self._kube.open_watch(self.kind, self._namespace, resource_version,
                                         label_selector=self._label_selector, field_selector=self._field_selector,
                                         timeout_seconds=self._watch_timeout_seconds)
        self._response = response
        try:
            if self._stop.is_set():
                return resource_version
            for event in _events(response):
                if self._stop.is_set():
                    break
                resource_version = self._apply(event) or resource_version
        finally:
            self._response = None
            response.release_conn()
        return resource_version

    def _apply(self, event: Obj) -> str | None:
        etype = event.get("type")
        obj = event.get("object") or {}
        if etype == "ERROR":
            raise errors.from_response(int(obj.get("code") or 500), json.dumps(obj))
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if etype not in (ADDED, MODIFIED, DELETED):
            return str(rv) if rv else None
        obj.setdefault("apiVersion", self.kind.api_version)
        obj.setdefault("kind", self.kind.kind)
        key = object_key(obj)
        with self._lock:
            previous = self._cache.get(key)
            if etype == DELETED:
                self._cache.pop(key, None)
            else:
                self._cache[key] = obj
        if etype != DELETED:
            etype = MODIFIED if previous is not None else ADDED
        self._emit(etype, obj, previous)
        return str(rv) if rv else None

    def _emit(self, etype: str, obj: Obj, previous: Obj | None) -> None:
        """Call every handler, outside the cache lock (handlers may read other informers)."""
        with self._lock:
            handlers = list(self._handlers)
        for handler in handlers:
            self._call(handler, etype, obj, previous)

    def _call(self, handler: Handler, etype: str, obj: Obj, previous: Obj | None) -> None:
        try:
            handler(etype, obj, previous)
        except Exception:  # task guard: one faulty handler must not end the watch
            logger.exception("%s handler failed for %s %s/%s", self.kind.plural, etype, *object_key(obj))


def _chunks(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Bytes as soon as they arrive: per HTTP chunk, or per socket read for a close-delimited body."""
    if getattr(response, "chunked", False):
        yield from response.stream(None, decode_content=True)
        return
    while True:
        data = response.read1(65536)
        if not data:
            return
        yield data


def _events(response: urllib3.BaseHTTPResponse) -> Iterator[Obj]:
    buffer = b""
    for chunk in _chunks(response):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)


def _shutdown(response: urllib3.BaseHTTPResponse) -> None:
    shutdown = getattr(response, "shutdown", None)
    try:
        if shutdown is not None:
            shutdown()
        else:
            response.close()
    except (OSError, ValueError) as exc:  # ValueError: urllib3 already shut this response down
        logger.debug("closing a watch stream: %s", exc)



def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
