"""Node lifecycle: take vanished nodes out of every Instance (Akri's controller node watcher).

akri-contract.md §3.5, DESIGN.md §2.4 (it lives in the agent because hooks cannot edit their
parent's spec). A node is Ready iff the last condition of type `Ready` has status `True`. A node
that is deleted, or not Ready for longer than NODE_NOT_READY_GRACE_SECONDS (counted from when
this agent first saw it not Ready), is cleaned up once per disappearance: every Instance (all
namespaces) loses the node from `spec.nodes` and every `deviceUsage` claim of it (`<node>` or
`C:<vdev>:<node>`; we remove the key, Akri writes "" — both mean free); an Instance left with no
node is deleted (uid + resourceVersion precondition). Every agent does this; the writes are
read-modify-write with 409 retries and a no-op once another agent has done them, so the result is
the same however many agents race. An agent never cleans up its own node (it is alive, it knows
its devices). Only observed events count: a node this agent never saw is not assumed gone.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agent.aiokits.queueing import KeyedQueue
from agent.controllers import instances as edits
from agent.controllers.configurations import Watcher
from agent.kube import updating
from agent.kube.resources import INSTANCES, NODES, ResourceKind
from agent.kube.watching import DELETED, LISTED, WatchEvent, object_key

__all__ = ["NodeController", "NodeSettings", "is_ready"]

logger = logging.getLogger(__name__)

Obj = dict[str, Any]


class NodeKubeApi(updating.ObjectWriter, Protocol):
    """API access the node controller needs (KubeClient implements it)."""

    async def list(self, kind: ResourceKind, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None) -> Obj: ...


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """node: this agent's node (never cleaned by itself); not_ready_grace_seconds: NotReady time
    (s) after which a node is cleaned up (Akri's controller: immediately; our default 300)."""

    node: str
    not_ready_grace_seconds: float = 300.0


def is_ready(node: Mapping[str, Any]) -> bool:
    """True iff the *last* condition with type Ready has status "True" (akri-contract.md §3.5)."""
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = [c for c in conditions if isinstance(c, Mapping) and c.get("type") == "Ready"]
    return bool(ready) and ready[-1].get("status") == "True"


@dataclass(slots=True)
class _NodeState:
    ready: bool = True
    not_ready_since: float | None = None
    deleted: bool = False
    cleaned: bool = False


class NodeController:
    """Runs until cancelled (`run()`); `on_event` and `process` are public for tests."""

    def __init__(self, *, kube: NodeKubeApi, watch: Watcher, settings: NodeSettings,
                 clock: Callable[[], float] | None = None) -> None:
        self.kube = kube
        self.watch = watch
        self.settings = settings
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._nodes: dict[str, _NodeState] = {}
        self._queue: KeyedQueue[str] = KeyedQueue(self.process, name="node")

    async def run(self) -> None:
        """Follow Nodes until cancelled."""
        try:
            async for event in self.watch(NODES):
                self.on_event(event)
        finally:
            await self._queue.close()

    def on_event(self, event: WatchEvent) -> None:
        """Update the node's state; schedule its cleanup check when it is not Ready or deleted."""
        if event.type == LISTED:
            return
        name = object_key(event.object)[1]
        if not name or name == self.settings.node:
            return
        state = self._nodes.setdefault(name, _NodeState())
        if event.type == DELETED:
            state.deleted = True
            self._queue.trigger(name)
            return
        state.deleted = False
        if is_ready(event.object):
            if not state.ready:
                logger.info("node %s is Ready again", name)
            state.ready, state.not_ready_since, state.cleaned = True, None, False
            return
        if state.ready or state.not_ready_since is None:
            state.ready, state.not_ready_since = False, self._clock()
            logger.info("node %s is not Ready; cleaning it from Instances in %.0fs unless it recovers",
                        name, self.settings.not_ready_grace_seconds)
        self._queue.trigger(name, after=self.settings.not_ready_grace_seconds)

    async def process(self, name: str) -> float | None:
        """Clean `name` up if it is deleted or has been not Ready for the grace period; otherwise
        return the seconds left. Raises agent.kube.errors.KubeError (retried by the queue)."""
        state = self._nodes.get(name)
        if state is None or state.cleaned:
            return None
        if not state.deleted:
            if state.ready or state.not_ready_since is None:
                return None
            remaining = state.not_ready_since + self.settings.not_ready_grace_seconds - self._clock()
            if remaining > 0:
                return remaining
        await self.clean_up(name, why="deleted" if state.deleted else "not Ready")
        state.cleaned = True
        if state.deleted:
            self._nodes.pop(name, None)
            self._queue.forget(name)
        return None

    async def clean_up(self, node: str, *, why: str) -> int:
        """Remove `node` from every Instance; returns how many Instances were changed or deleted."""
        listing = await self.kube.list(INSTANCES)
        changed = 0
        for instance in listing.get("items") or []:
            if edits.without_node(_copy(instance), node=node) is None:
                continue
            namespace, name = object_key(instance)
            result = await updating.read_modify_write(
                self.kube, INSTANCES, name, namespace, lambda current: edits.without_node(current, node=node),
                current=instance)
            changed += 1
            logger.info("node %s (%s) removed from Instance %s/%s%s", node, why, namespace, name,
                        "; Instance deleted" if result is None else "")
        return changed


def _copy(obj: Obj) -> Obj:
    return copy.deepcopy(obj)
