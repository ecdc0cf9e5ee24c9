"""The narrow view of the Kubernetes API the device plugins need: read, replace and watch Instances.

`InstanceStore` is the Protocol the plugins are written against (STYLE.md §5.15); `KubeInstances`
implements it over `agent.kube` (plain-dict REST calls and the list-then-watch stream). Tests pass
an in-memory implementation with the same optimistic-concurrency behaviour.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from agent.kube import resources, watching
from agent.kube.client import KubeClient

__all__ = ["InstanceStore", "KubeInstances"]

Obj = dict[str, Any]


class InstanceStore(Protocol):
    """Instances (`akri.sh/v0`, all namespaces) as plain dicts."""

    async def get(self, namespace: str, name: str) -> Obj | None:
        """The current Instance, None when it does not exist. Raises agent.kube.errors.KubeError."""

    async def replace(self, instance: Obj) -> Obj:
        """PUT `instance` (its metadata.resourceVersion is the precondition) and return the stored
        object. Raises agent.kube.errors.Conflict when stale, NotFound when gone."""

    def watch(self) -> AsyncIterator[watching.WatchEvent]:
        """Endless list-then-watch stream (ADDED/MODIFIED/DELETED, one LISTED after each listing)."""


class KubeInstances:
    """`InstanceStore` over a `KubeClient`."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube

    async def get(self, namespace: str, name: str) -> Obj | None:
        """GET `/apis/akri.sh/v0/namespaces/<namespace>/instances/<name>`, None on 404."""
        return await self._kube.get_or_none(resources.INSTANCES, name, namespace)

    async def replace(self, instance: Obj) -> Obj:
        """PUT the Instance; raises agent.kube.errors.Conflict on a stale resourceVersion."""
        return await self._kube.replace(resources.INSTANCES, instance)

    def watch(self) -> AsyncIterator[watching.WatchEvent]:
        """`watching.watch_objects` over all namespaces."""
        return watching.watch_objects(self._kube, resources.INSTANCES)
