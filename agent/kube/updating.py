"""Read-modify-write with optimistic concurrency: the agent's only way to change shared objects.

Several agents (one per node) edit the same Instance (`spec.nodes`, `spec.deviceUsage`), so every
write carries the `metadata.resourceVersion` it was computed from; the API server answers 409
when someone else wrote first, and we re-read and recompute (DESIGN.md §2.2, STYLE.md §5.10).
Deletes carry a uid + resourceVersion precondition so a node never deletes an Instance another
node has just joined. Between attempts we sleep a random 0-200 ms, like Akri
(`MAX_INSTANCE_UPDATE_TRIES`, shared/src/akri/mod.rs), but with more attempts.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from agent.kube import errors
from agent.kube.resources import ResourceKind

__all__ = ["DELETE", "MAX_ATTEMPTS", "ObjectWriter", "read_modify_write", "Outcome"]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
JITTER_SECONDS = 0.2

Obj = dict[str, Any]


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()
"""Returned by a mutator to delete the object it was given (with uid + resourceVersion preconditions)."""

Outcome = Obj | None
"""What `read_modify_write` returns: the object as written (or as found when unchanged), None when
it does not exist afterwards (deleted, or absent and nothing to create)."""


class ObjectWriter(Protocol):
    """The part of `agent.kube.client.KubeClient` read-modify-write needs (fakes implement it)."""

    async def get_or_none(self, kind: ResourceKind, name: str, namespace: str | None = None) -> Obj | None: ...
    async def create(self, kind: ResourceKind, body: Obj, namespace: str | None = None) -> Obj: ...
    async def replace(self, kind: ResourceKind, body: Obj, *, subresource: str | None = None) -> Obj: ...
    async def patch(self, kind: ResourceKind, name: str, patch: Any, namespace: str | None = None, *,
                    content_type: str = ..., field_manager: str | None = None, force: bool | None = None,
                    subresource: str | None = None) -> Obj: ...
    async def delete(self, kind: ResourceKind, name: str, namespace: str | None = None, *,
                     uid: str | None = None, resource_version: str | None = None,
                     propagation: str | None = None, grace_period_seconds: int | None = None) -> None: ...


Mutator = Callable[[Obj | None], Any]
"""Given a deep copy of the current object (None if absent), return the desired object (same
dict edited, or a new one; for an absent object: the body to create), `None` for "leave it as it
is", or `DELETE`. Called once per attempt, so it must be pure."""


async def read_modify_write(client: ObjectWriter, kind: ResourceKind, name: str, namespace: str | None,
                            mutate: Mutator, *, current: Obj | None | Any = ...,
                            subresource: str | None = None, attempts: int = MAX_ATTEMPTS) -> Outcome:
    """Apply `mutate` to the live object until the write succeeds without a conflict.

    current: the object as last seen (e.g. from a watch cache) to save the first GET; `...` means
    "read it first". A 409 (stale resourceVersion, failed delete precondition, AlreadyExists on
    create) or a 404 on replace re-reads and retries, at most `attempts` times.
    subresource: "status" writes only `status`, as a JSON merge patch on the status subresource that
    carries `metadata.resourceVersion` (so it is still conditional); keys are added or replaced,
    never removed, and lists (e.g. `conditions`) are replaced whole.
    Returns the written object, the unchanged object, or None (deleted / absent).
    Raises errors.Conflict after `attempts` conflicts; other errors.KubeError at once.
    """
    live: Obj | None = await client.get_or_none(kind, name, namespace) if current is ... else current
    for attempt in range(1, attempts + 1):
        desired = mutate(copy.deepcopy(live) if live is not None else None)
        try:
            if desired is None:
                return live
            if desired is DELETE:
                if live is None:
                    return None
                meta = live.get("metadata") or {}
                await client.delete(kind, name, namespace, uid=meta.get("uid"),
                                    resource_version=meta.get("resourceVersion"))
                return None
            if live is None:
                return await client.create(kind, desired, namespace)
            if desired == live:
                return live
            if subresource == "status":
                version = (live.get("metadata") or {}).get("resourceVersion")
                return await client.patch(kind, name, {"metadata": {"resourceVersion": version},
                                                       "status": desired.get("status") or {}},
                                          namespace, subresource="status")
            return await client.replace(kind, desired, subresource=subresource)
        except (errors.Conflict, errors.AlreadyExists, errors.NotFound) as exc:
            if isinstance(exc, errors.NotFound) and desired is DELETE:
                return None
            logger.debug("%s %s/%s changed underneath us (attempt #%d/%d): %s", kind.kind, namespace, name,
                         attempt, attempts, exc)
            if attempt == attempts:
                raise errors.Conflict(409, "Conflict", f"{kind.kind} {namespace}/{name}: gave up after "
                                                       f"{attempts} conflicting writes") from exc
            await asyncio.sleep(random.uniform(0, JITTER_SECONDS))
            live = await client.get_or_none(kind, name, namespace)
    raise AssertionError("unreachable")
