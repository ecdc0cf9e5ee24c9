"""Stopper, guarded tasks and the per-key queue."""

from __future__ import annotations

import asyncio
import logging

import pytest

from agent.aiokits import KeyedQueue, Stopper, cancel_tasks, spawn


async def test_stopper_keeps_the_first_reason() -> None:
    stopper = Stopper()
    assert not stopper.is_stopped
    stopper.stop("first")
    stopper.stop("second")
    await asyncio.wait_for(stopper.wait(), 1)
    assert stopper.reason == "first"


async def test_a_failing_task_is_logged_and_stops_the_process(caplog: pytest.LogCaptureFixture) -> None:
    stopper = Stopper()

    async def broken() -> None:
        raise RuntimeError("kaput")

    task = spawn(broken(), name="broken", stopper=stopper)
    await asyncio.wait_for(stopper.wait(), 1)
    await task
    assert stopper.reason == "task broken failed"
    assert "task broken failed" in caplog.text and "kaput" in caplog.text


async def test_an_eternal_task_that_returns_is_an_error() -> None:
    stopper = Stopper()

    async def quits() -> None:
        return None

    await spawn(quits(), name="quits", stopper=stopper)
    assert stopper.reason == "task quits exited"


async def test_cancel_tasks_cancels() -> None:
    task = spawn(asyncio.Event().wait(), name="waiter")
    await asyncio.sleep(0)
    await cancel_tasks([task], timeout=1)
    assert task.cancelled()


async def test_queue_is_serial_per_key_and_coalesces() -> None:
    running: set[str] = set()
    calls: list[str] = []
    release = asyncio.Event()

    async def process(key: str) -> None:
        assert key not in running
        running.add(key)
        calls.append(key)
        await release.wait()
        running.discard(key)

    queue: KeyedQueue[str] = KeyedQueue(process, name="test")
    queue.trigger("a")
    await asyncio.sleep(0)
    for _ in range(5):
        queue.trigger("a")  # while "a" runs: one more pass, not five
    queue.trigger("b")
    await asyncio.sleep(0)
    assert sorted(running) == ["a", "b"]
    release.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert calls.count("a") == 2 and calls.count("b") == 1
    await queue.close()


async def test_queue_retries_failures_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    attempts: list[int] = []
    done = asyncio.Event()

    async def process(key: str) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("not yet")
        done.set()

    queue: KeyedQueue[str] = KeyedQueue(process, name="test", backoff_initial=0.001, backoff_max=0.002)
    queue.trigger("k")
    await asyncio.wait_for(done.wait(), 2)
    assert len(attempts) == 3
    assert "test k failed; retrying" in caplog.text
    await queue.close()


async def test_forget_ends_the_worker() -> None:
    async def process(key: str) -> float:
        return 0.0  # would run forever if not forgotten

    queue: KeyedQueue[str] = KeyedQueue(process, name="test")
    queue.trigger("k")
    await asyncio.sleep(0)
    queue.forget("k")
    assert "k" not in queue
    await queue.close()
