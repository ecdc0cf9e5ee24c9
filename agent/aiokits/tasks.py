"""Named, guarded long-lived tasks (kopf `aiotasks.guard`, STYLE.md §5.8).

`spawn(coro, name=..., stopper=...)` starts a task that logs its failure (or its unexpected return:
these tasks are meant to run until cancelled) the moment it happens and then stops the `stopper`,
so one broken component ends the process instead of leaving it half alive (as Akri's agent does
when any of its tasks fails, akri-contract.md §2.1). `cancel_tasks` cancels a set of tasks and
waits for them with a timeout, logging any that hang.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

from agent.aiokits.stopper import Stopper

__all__ = ["spawn", "cancel_tasks", "CANCEL_TIMEOUT_SECONDS"]

logger = logging.getLogger(__name__)

CANCEL_TIMEOUT_SECONDS = 5.0


def spawn(coro: Coroutine[Any, Any, Any], *, name: str, stopper: Stopper | None = None,
          eternal: bool = True) -> asyncio.Task[Any]:
    """Start `coro` as a task named `name`, guarded.

    An exception (other than cancellation) is logged at ERROR with its traceback; a return of an
    `eternal` task is logged at ERROR too. Either way `stopper.stop()` is called when given.
    The task's result/exception is consumed by the guard, so nothing is reported twice.
    """
    return asyncio.get_running_loop().create_task(_guard(coro, name, stopper, eternal), name=name)


async def _guard(coro: Coroutine[Any, Any, Any], name: str, stopper: Stopper | None, eternal: bool) -> Any:
    try:
        result = await coro
    except asyncio.CancelledError:
        raise
    except Exception:  # the task guard: report at once, then end the process (STYLE.md §5.11)
        logger.exception("task %s failed", name)
        if stopper is not None:
            stopper.stop(f"task {name} failed")
        return None
    if eternal:
        logger.error("task %s exited unexpectedly", name)
        if stopper is not None:
            stopper.stop(f"task {name} exited")
    return result


async def cancel_tasks(tasks: Iterable[asyncio.Task[Any]], *, timeout: float = CANCEL_TIMEOUT_SECONDS) -> None:
    """Cancel `tasks` and wait up to `timeout` seconds for them; log the names of hung ones."""
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if not pending:
        return
    _done, hung = await asyncio.wait(pending, timeout=timeout)
    for task in hung:
        logger.error("task %s did not stop within %.1fs", task.get_name(), timeout)
