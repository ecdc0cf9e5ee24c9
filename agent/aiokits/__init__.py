"""Small asyncio building blocks: a stop signal, guarded named tasks, a per-key work queue.

Internal code imports the modules (`from agent.aiokits import tasks`); these names are the
package's public surface.
"""

from agent.aiokits.queueing import KeyedQueue
from agent.aiokits.stopper import Stopper
from agent.aiokits.tasks import cancel_tasks, spawn

__all__ = ["KeyedQueue", "Stopper", "cancel_tasks", "spawn"]
