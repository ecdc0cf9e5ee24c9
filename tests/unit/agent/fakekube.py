"""An in-memory fake of the agent's Kubernetes boundary (the verbs of `agent.kube.client.KubeClient`).

Faked at our own boundary, never at the `kubernetes` library (STYLE.md §5.18). Semantics the agent
relies on: uid, integer resourceVersion, 409 Conflict on a stale replace / merge patch / delete
precondition, AlreadyExists, generateName, status merge patches. Every write is appended to
`writes` and announced to `subscribe(kind, listener)` listeners as a WatchEvent, so a test can feed
an `ObjectCache` exactly as a watch would.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Callable
from typing import Any

from agent.kube import errors
from akri_local.apiserver.patching import merge_patch  # RFC 7386, the emulator's own
from agent.kube.resources import ResourceKind
from agent.kube.watching import WatchEvent

Obj = dict[str, Any]


class FakeKube:
    """Objects by (plural, namespace, name)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.writes: list[tuple[str, str, str, str]] = []
        self.listeners: dict[str, list[Callable[[WatchEvent], None]]] = {}
        self.fail_next: list[tuple[str, Exception]] = []
        self._rv = itertools.count(1)

    # -- test helpers ------------------------------------------------------------------------

    def subscribe(self, kind: ResourceKind, listener: Callable[[WatchEvent], None]) -> None:
        self.listeners.setdefault(kind.plural, []).append(listener)

    def put(self, kind: ResourceKind, obj: Obj) -> Obj:
        """Store an object as the server would (uid, resourceVersion), without recording a write."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default" if kind.namespaced else "")
        meta.setdefault("uid", str(uuid.uuid4()))
        meta["resourceVersion"] = str(next(self._rv))
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
        self.objects[(kind.plural, meta["namespace"], meta["name"])] = obj
        self._emit(kind, "MODIFIED", obj)
        return copy.deepcopy(obj)

    def stored(self, kind: ResourceKind, name: str, namespace: str = "default") -> Obj | None:
        obj = self.objects.get((kind.plural, namespace if kind.namespaced else "", name))
        return copy.deepcopy(obj) if obj is not None else None

    def all(self, kind: ResourceKind) -> list[Obj]:
        return [copy.deepcopy(o) for (plural, _ns, _n), o in sorted(self.objects.items()) if plural == kind.plural]

    def writes_of(self, kind: ResourceKind) -> list[tuple[str, str, str, str]]:
        return [w for w in self.writes if w[1] == kind.plural]

    def _emit(self, kind: ResourceKind, event_type: str, obj: Obj) -> None:
        for listener in list(self.listeners.get(kind.plural, [])):
            listener(WatchEvent(event_type, copy.deepcopy(obj)))

    def _maybe_fail(self, verb: str) -> None:
        for index, (wanted, exc) in enumerate(self.fail_next):
            if wanted == verb:
                del self.fail_next[index]
                raise exc

    def _key(self, kind: ResourceKind, name: str, namespace: str | None) -> tuple[str, str, str]:
        return (kind.plural, (namespace or "default") if kind.namespaced else "", name)

    # -- KubeClient verbs --------------------------------------------------------------------

    async def get(self, kind: ResourceKind, name: str, namespace: str | None = None) -> Obj:
        self._maybe_fail("get")
        obj = self.objects.get(self._key(kind, name, namespace))
        if obj is None:
            raise errors.NotFound(404, "NotFound", f"{kind.plural} {name} not found")
        return copy.deepcopy(obj)

    async def get_or_none(self, kind: ResourceKind, name: str, namespace: str | None = None) -> Obj | None:
        try:
            return await self.get(kind, name, namespace)
        except errors.NotFound:
            return None

    async def list(self, kind: ResourceKind, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None) -> Obj:
        items = [copy.deepcopy(o) for (plural, ns, _n), o in sorted(self.objects.items())
                 if plural == kind.plural and (namespace is None or ns == namespace)]
        return {"items": items, "metadata": {"resourceVersion": str(next(self._rv))}}

    async def create(self, kind: ResourceKind, body: Obj, namespace: str | None = None) -> Obj:
        self._maybe_fail("create")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if namespace is not None:
            meta["namespace"] = namespace
        if "name" not in meta and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        key = self._key(kind, meta["name"], meta.get("namespace"))
        if key in self.objects:
            raise errors.AlreadyExists(409, "AlreadyExists", f"{kind.plural} {meta['name']} already exists")
        meta["namespace"] = key[1]
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[key] = obj
        self.writes.append(("create", kind.plural, key[1], meta["name"]))
        self._emit(kind, "ADDED", obj)
        return copy.deepcopy(obj)

    async def replace(self, kind: ResourceKind, body: Obj, *, subresource: str | None = None) -> Obj:
        self._maybe_fail("replace")
        meta = body["metadata"]
        key = self._key(kind, meta["name"], meta.get("namespace"))
        current = self.objects.get(key)
        if current is None:
            raise errors.NotFound(404, "NotFound", f"{kind.plural} {meta['name']} not found")
        if meta.get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise errors.Conflict(409, "Conflict", "the object has been modified")
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = current["metadata"]["uid"]
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[key] = obj
        self.writes.append(("replace", kind.plural, key[1], meta["name"]))
        self._emit(kind, "MODIFIED", obj)
        return copy.deepcopy(obj)

    async def patch(self, kind: ResourceKind, name: str, patch: Any, namespace: str | None = None, *,
                    content_type: str = "", field_manager: str | None = None, force: bool | None = None,
                    subresource: str | None = None) -> Obj:
        self._maybe_fail("patch")
        key = self._key(kind, name, namespace)
        current = self.objects.get(key)
        if current is None:
            raise errors.NotFound(404, "NotFound", f"{kind.plural} {name} not found")
        wanted_rv = ((patch or {}).get("metadata") or {}).get("resourceVersion")
        if wanted_rv is not None and wanted_rv != current["metadata"]["resourceVersion"]:
            raise errors.Conflict(409, "Conflict", "the object has been modified")
        if subresource == "status":
            patch = {"status": patch.get("status")}
        obj = merge_patch(current, patch)
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[key] = obj
        self.writes.append(("patch" + (f"/{subresource}" if subresource else ""), kind.plural, key[1], name))
        self._emit(kind, "MODIFIED", obj)
        return copy.deepcopy(obj)

    async def delete(self, kind: ResourceKind, name: str, namespace: str | None = None, *,
                     uid: str | None = None, resource_version: str | None = None,
                     propagation: str | None = None, grace_period_seconds: int | None = None) -> None:
        self._maybe_fail("delete")
        key = self._key(kind, name, namespace)
        current = self.objects.get(key)
        if current is None:
            raise errors.NotFound(404, "NotFound", f"{kind.plural} {name} not found")
        meta = current["metadata"]
        if (uid and uid != meta["uid"]) or (resource_version and resource_version != meta["resourceVersion"]):
            raise errors.Conflict(409, "Conflict", "Precondition failed")
        del self.objects[key]
        self.writes.append(("delete", kind.plural, key[1], name))
        self._emit(kind, "DELETED", current)
