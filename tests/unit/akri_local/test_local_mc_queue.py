"""Work queue semantics (client-go workqueue; metacontroller-contract.md §14) with a fake clock."""

from __future__ import annotations

from akri_local._metacontroller_queue import WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _queue(clock=None):
    return WorkQueue(clock=clock or FakeClock(), backoff_base_seconds=0.5, backoff_max_seconds=3.0)


def test_adds_coalesce_and_keys_are_never_handed_out_twice():
    queue = _queue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert queue.get(timeout=0) == "a"
    queue.add("a")  # while processing: deferred, not handed to another worker
    assert queue.get(timeout=0) == "b"
    assert queue.get(timeout=0) is None
    queue.done("a")
    assert queue.get(timeout=0) == "a"


def test_add_after_waits_for_the_clock_and_earliest_time_wins():
    clock = FakeClock()
    queue = _queue(clock)
    queue.add_after("a", 5)
    queue.add_after("a", 2)
    queue.add_after("a", 10)
    assert queue.get(timeout=0) is None
    clock.now += 2
    assert queue.get(timeout=0) == "a"
    queue.done("a")
    clock.now += 10
    assert queue.get(timeout=0) is None  # the later duplicates were dropped


def test_rate_limited_backoff_doubles_caps_and_resets():
    queue = _queue()
    assert [queue.add_rate_limited("a") for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert queue.failures("a") == 5
    queue.forget("a")
    assert queue.add_rate_limited("a") == 0.5


def test_shut_down_wakes_getters():
    queue = _queue()
    queue.shut_down()
    assert queue.get() is None
    queue.add("a")
    assert len(queue) == 0
