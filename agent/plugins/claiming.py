"""Slot claims persisted in `Instance.spec.deviceUsage` by optimistic concurrency.

Every change is a read-modify-write (DESIGN.md §2.2): GET the Instance, check and change one
deviceUsage key, PUT the whole object back with the resourceVersion that was read. A concurrent
writer — another node claiming the same slot, or the agent core updating `spec.nodes` — makes
the PUT fail with 409; the loop then waits a small random delay (0-200 ms, Akri's
`MAX_INSTANCE_UPDATE_TRIES` pattern), re-reads and decides again, at most `max_tries` times.
Because the decision is always taken on the freshly read object and the write is conditional on
it, two nodes can never both turn the same free slot into their own claim. Every other field of
the Instance is written back exactly as read.

Akri itself uses server-side apply with one field manager per node; resourceVersion CAS gives the
same mutual exclusion, works on any API server and writes `""`-free maps (a freed key is deleted).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from agent.kube import errors as kube_errors
from agent.plugins import errors
from agent.plugins.instances import InstanceStore
from agent.plugins.slots import SlotTable, may_claim, read_usage
from akri_api import model

__all__ = ["SlotClaimer", "MAX_TRIES", "RETRY_DELAY_SECONDS"]

logger = logging.getLogger(__name__)

MAX_TRIES = 8
"""Read-modify-write attempts before a claim fails (Akri: 5)."""
RETRY_DELAY_SECONDS = 0.2
"""Upper bound of the uniform random delay before re-reading after a 409."""

Obj = dict[str, Any]
Mutation = Callable[[Obj], bool]


def _device_usage(instance: Obj) -> dict[str, Any]:
    spec = instance.setdefault("spec", {})
    usage = spec.get("deviceUsage")
    if isinstance(usage, dict):
        return usage
    fresh: dict[str, Any] = {}
    spec["deviceUsage"] = fresh
    return fresh


def _capacity(instance: Obj) -> int:
    capacity = (instance.get("spec") or {}).get("capacity")
    return capacity if isinstance(capacity, int) and not isinstance(capacity, bool) else 0


class SlotClaimer:
    """Claims and frees slots of Instances for one node.

    store: where Instances are read and replaced; max_tries / retry_delay_seconds bound the
    conflict retries; `rng` (returns [0, 1)) is a test seam for the delay.
    """

    def __init__(self, *, store: InstanceStore, max_tries: int = MAX_TRIES,
                 retry_delay_seconds: float = RETRY_DELAY_SECONDS,
                 rng: Callable[[], float] = random.random) -> None:
        self._store = store
        self._max_tries = max_tries
        self._retry_delay_seconds = retry_delay_seconds
        self._rng = rng

    async def claim_slot(self, namespace: str, instance: str, index: int,
                         usage: model.SlotUsage) -> tuple[Obj, bool]:
        """Set slot `index` of `namespace/instance` to `usage` if it is free or already `usage`.

        Returns (the Instance as stored afterwards, whether this call changed the slot).
        Raises errors.UnknownDevice when index >= spec.capacity, errors.SlotUnavailable when the
        slot is held otherwise (message names the slot and the holder), errors.ClaimFailed when
        the Instance is gone, the API fails, or conflicts outlast `max_tries`.
        """
        key = model.slot_key(instance, index)
        value = model.format_slot_usage(usage)

        def mutate(obj: Obj) -> bool:
            wrote.clear()
            capacity = _capacity(obj)
            if index >= capacity:
                raise errors.UnknownDevice(f"device {key}: slot {index} is not below capacity {capacity} "
                                           f"of Instance {namespace}/{instance}")
            device_usage = _device_usage(obj)
            raw = device_usage.get(key, "")
            if not may_claim(read_usage(raw), usage):
                raise errors.SlotUnavailable(f"slot {key} is held by {raw!r}, cannot claim it as {value!r}")
            if raw == value:
                return False
            device_usage[key] = value
            wrote.append(True)
            return True

        wrote: list[bool] = []
        stored = await self._update(namespace, instance, mutate)
        if wrote:
            logger.info("slot %s claimed as %r", key, value)
        return stored, bool(wrote)

    async def claim_first_free(self, namespace: str, instance: str, usage: model.SlotUsage) -> tuple[int, Obj]:
        """Set the lowest free slot of `namespace/instance` to `usage`.

        Returns (slot index, stored Instance). Raises errors.SlotUnavailable when no slot is free,
        errors.ClaimFailed as `claim_slot`.
        """
        chosen: list[int] = []
        value = model.format_slot_usage(usage)

        def mutate(obj: Obj) -> bool:
            table = SlotTable.from_device_usage(instance, _capacity(obj), _device_usage(obj))
            free = table.free_slots()
            if not free:
                raise errors.SlotUnavailable(f"Instance {namespace}/{instance} has no free slot for {value!r}")
            chosen[:] = [free[0]]
            _device_usage(obj)[table.device_id(free[0])] = value
            return True

        stored = await self._update(namespace, instance, mutate)
        logger.info("slot %s claimed as %r", model.slot_key(instance, chosen[0]), value)
        return chosen[0], stored

    async def release(self, namespace: str, instance: str, key: str, expected: model.SlotUsage) -> Obj | None:
        """Delete deviceUsage `key` of `namespace/instance` if it still holds `expected`.

        Returns the stored Instance, or None when the Instance no longer exists. A key already
        free or held by someone else is left alone (not an error). Raises errors.ClaimFailed on
        API failure or exhausted conflict retries.
        """
        def mutate(obj: Obj) -> bool:
            wrote.clear()
            device_usage = _device_usage(obj)
            if key not in device_usage or read_usage(device_usage[key]) != expected:
                return False
            del device_usage[key]
            wrote.append(True)
            return True

        wrote: list[bool] = []
        try:
            stored = await self._update(namespace, instance, mutate, missing_ok=True)
        except _Gone:
            return None
        if wrote:
            logger.info("slot %s freed (was %r)", key, str(expected))
        return stored

    async def _update(self, namespace: str, name: str, mutate: Mutation, *, missing_ok: bool = False) -> Obj:
        for attempt in range(1, self._max_tries + 1):
            try:
                current = await self._store.get(namespace, name)
                if current is None:
                    if missing_ok:
                        raise _Gone()
                    raise errors.ClaimFailed(f"Instance {namespace}/{name} no longer exists")
                if not mutate(current):
                    return current
                return await self._store.replace(current)
            except kube_errors.Conflict:
                delay = self._rng() * self._retry_delay_seconds
                logger.debug("Instance %s/%s changed while writing deviceUsage (attempt #%d/%d); re-reading in %.3fs",
                             namespace, name, attempt, self._max_tries, delay)
                await asyncio.sleep(delay)
            except kube_errors.NotFound as exc:
                if missing_ok:
                    raise _Gone() from exc
                raise errors.ClaimFailed(f"Instance {namespace}/{name} no longer exists") from exc
            except kube_errors.KubeError as exc:
                raise errors.ClaimFailed(f"cannot write deviceUsage of Instance {namespace}/{name}: {exc}") from exc
        raise errors.ClaimFailed(f"deviceUsage of Instance {namespace}/{name} kept changing; "
                                 f"gave up after {self._max_tries} attempts")


class _Gone(Exception):
    """The Instance vanished while releasing (nothing left to free)."""
