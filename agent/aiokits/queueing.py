"""Per-key serial work with coalesced triggers, timers and error backoff.

The reconcile model of kopf (`_core/reactor/queueing.py`) and Akri's controllers
(`util/discovery_configuration_controller.rs` `error_policy`): events for one key are processed
one at a time, in parallel with other keys; triggers that arrive while a key is being processed
coalesce into one more pass; `process(key)` may ask to run again after N seconds (grace timers);
an exception re-runs the key after a backoff that doubles from `backoff_initial` (0.5 s) up to
`backoff_max` (300 s, our cap) and resets on success (STYLE.md §5.9).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from agent.aiokits.tasks import cancel_tasks

__all__ = ["KeyedQueue", "BACKOFF_INITIAL_SECONDS", "BACKOFF_MAX_SECONDS"]

logger = logging.getLogger(__name__)

BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 300.0

K = TypeVar("K", bound=Hashable)


@dataclass(eq=False)
class _Slot:
    backoff: float
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    due: float | None = None
    task: asyncio.Task[Any] | None = None


class KeyedQueue(Generic[K]):
    """Runs `process(key)` serially per key; returns of `process` are "run again after N seconds"
    (float) or None. Must be used from one event loop; `close()` cancels every worker."""

    def __init__(self, process: Callable[[K], Awaitable[float | None]], *, name: str,
                 backoff_initial: float = BACKOFF_INITIAL_SECONDS,
                 backoff_max: float = BACKOFF_MAX_SECONDS) -> None:
        self._process = process
        self._name = name
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._slots: dict[K, _Slot] = {}

    def trigger(self, key: K, *, after: float = 0.0) -> None:
        """Process `key` in `after` seconds (or sooner if already due sooner)."""
        loop = asyncio.get_running_loop()
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(backoff=self._backoff_initial)
            slot.task = loop.create_task(self._work(key, slot), name=f"{self._name}:{key}")
        due = loop.time() + max(0.0, after)
        if slot.due is None or due < slot.due:
            slot.due = due
            slot.wake.set()

    def forget(self, key: K) -> None:
        """Stop processing `key` (its running pass is cancelled); a later trigger starts afresh."""
        slot = self._slots.pop(key, None)
        if slot is not None and slot.task is not None and slot.task is not asyncio.current_task():
            slot.task.cancel()

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    async def close(self) -> None:
        """Cancel every worker and wait for them."""
        slots, self._slots = list(self._slots.values()), {}
        await cancel_tasks([s.task for s in slots if s.task is not None])

    async def _work(self, key: K, slot: _Slot) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while slot.due is None or slot.due > loop.time():
                slot.wake.clear()
                timeout = None if slot.due is None else slot.due - loop.time()
                try:
                    await asyncio.wait_for(slot.wake.wait(), timeout)
                except TimeoutError:
                    pass
            slot.due = None
            try:
                again = await self._process(key)
            except asyncio.CancelledError:
                raise
            except Exception:  # a reconcile failure: log, back off, retry (task guard of this key)
                delay, slot.backoff = slot.backoff, min(slot.backoff * 2, self._backoff_max)
                logger.exception("%s %s failed; retrying in %.1fs", self._name, key, delay)
                if self._slots.get(key) is not slot:
                    return
                self.trigger(key, after=delay)
                continue
            if self._slots.get(key) is not slot:  # forgotten while processing: this worker ends
                return
            slot.backoff = self._backoff_initial
            if again is not None:
                self.trigger(key, after=again)
            await asyncio.sleep(0)  # let others run even if the key is due again at once
