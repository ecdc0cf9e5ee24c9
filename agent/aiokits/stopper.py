"""A one-shot stop signal handed to components instead of global flags (akri `util/stopper.rs`).

`Stopper.stop(reason)` is idempotent; `await stopper.wait()` returns once stopped; `stopper.is_stopped`
polls. Components that loop check it or race their work against `wait()`.
"""

from __future__ import annotations

import asyncio

__all__ = ["Stopper"]


class Stopper:
    """Single-loop stop signal; `reason` says why the first `stop()` was called."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.reason = ""

    def stop(self, reason: str = "stopped") -> None:
        """Signal every waiter; later calls keep the first reason."""
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def is_stopped(self) -> bool:
        """True once `stop()` was called."""
        return self._event.is_set()

    async def wait(self) -> None:
        """Return when stopped (immediately if already stopped)."""
        await self._event.wait()
