"""A client-go style work queue for the local control plane's worker threads.

Guarantees the Metacontroller runner relies on (metacontroller-contract.md §14, client-go
workqueue): a key is never handed to two workers at once; adding a key that is already queued is
a no-op (events coalesce); adding a key while it is being processed queues it again once the worker
calls `done`. `add_after` schedules a one-shot delayed add (the earliest pending time wins);
`add_rate_limited` delays by a per-key doubling backoff (`base × 2ⁿ`, capped) that `forget` resets.
The clock is injectable so the queue's logic is testable without sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["WorkQueue", "BACKOFF_BASE_SECONDS", "BACKOFF_MAX_SECONDS"]

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 300.0

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Thread-safe queue of hashable keys with per-key serialisation, coalescing and delays.

    clock: monotonic seconds; backoff_base_seconds/backoff_max_seconds: rate-limited requeue delays.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 backoff_base_seconds: float = BACKOFF_BASE_SECONDS,
                 backoff_max_seconds: float = BACKOFF_MAX_SECONDS) -> None:
        self._clock = clock
        self._base = backoff_base_seconds
        self._max = backoff_max_seconds
        self._cond = threading.Condition()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._failures: dict[K, int] = {}
        self._seq = itertools.count()
        self._shut_down = False

    def add(self, key: K) -> None:
        """Queue `key` now (no-op when already queued; deferred when being processed)."""
        with self._cond:
            self._add_locked(key)

    def add_after(self, key: K, delay_seconds: float) -> None:
        """Queue `key` after `delay_seconds` (≤ 0 → now); an earlier pending time for it wins."""
        if delay_seconds <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shut_down:
                return
            due = self._clock() + delay_seconds
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
            heapq.heappush(self._waiting, (due, next(self._seq), key))
            self._cond.notify()

    def add_rate_limited(self, key: K) -> float:
        """Queue `key` after its backoff (base × 2^failures, capped); returns the delay in seconds."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        delay = min(self._max, self._base * float(2 ** failures))
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset the backoff of `key` (after a successful sync)."""
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        """Consecutive rate-limited requeues of `key` since the last `forget`."""
        with self._cond:
            return self._failures.get(key, 0)

    def get(self, timeout: float | None = None) -> K | None:
        """The next key to process, marked as processing; None on shutdown or after `timeout` seconds.

        timeout 0 polls without blocking; None blocks until a key or shutdown.
        """
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                self._promote_due_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                if self._shut_down:
                    return None
                now = self._clock()
                waits = [w for w in (self._waiting[0][0] - now if self._waiting else None,
                                     None if deadline is None else deadline - now) if w is not None]
                wait = min(waits) if waits else None
                if deadline is not None and now >= deadline:
                    return None
                self._cond.wait(None if wait is None else max(0.0, wait))

    def done(self, key: K) -> None:
        """Mark `key` processed; if it was added meanwhile it is queued again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def shut_down(self) -> None:
        """Wake every waiting `get` with None; later adds are ignored."""
        with self._cond:
            self._shut_down = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def _add_locked(self, key: K) -> None:
        if self._shut_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def _promote_due_locked(self) -> None:
        now = self._clock()
        while self._waiting and self._waiting[0][0] <= now:
            due, _, key = heapq.heappop(self._waiting)
            if self._due.get(key) == due:
                del self._due[key]
                self._add_locked(key)
