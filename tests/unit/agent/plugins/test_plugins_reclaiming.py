"""Slot reclaim: pure round logic and the reclaimer with a fake pod-resources source (contract §2.6)."""

from __future__ import annotations

import logging

import pytest

from collections.abc import Callable

from agent.plugins import errors, kubelet
from agent.plugins._pb import podresources_pb2 as pr
from agent.plugins.reclaiming import HeldClaim, SlotReclaimer, reclaim_step
from agent.plugins.settings import PluginSettings

RES = "akri.sh/cfg-8120fe"
CLAIM = (RES, "cfg-8120fe-0", "cfg-8120fe-0")


def test_step_marks_then_frees_after_grace() -> None:
    stalled, due = reclaim_step({}, [CLAIM], frozenset(), now=100.0, grace_seconds=20)
    assert stalled == {CLAIM: 100.0} and due == []
    stalled, due = reclaim_step(stalled, [CLAIM], frozenset(), now=119.0, grace_seconds=20)
    assert stalled == {CLAIM: 100.0} and due == []
    stalled, due = reclaim_step(stalled, [CLAIM], frozenset(), now=120.0, grace_seconds=20)
    assert due == [CLAIM]


def test_step_held_claim_is_never_stalled_and_resets() -> None:
    stalled, _ = reclaim_step({}, [CLAIM], frozenset(), now=0.0, grace_seconds=20)
    stalled, due = reclaim_step(stalled, [CLAIM], frozenset({(RES, "cfg-8120fe-0")}), now=30.0, grace_seconds=20)
    assert stalled == {} and due == []
    stalled, due = reclaim_step(stalled, [CLAIM], frozenset(), now=31.0, grace_seconds=20)
    assert stalled == {CLAIM: 31.0} and due == []


def test_step_compares_unprefixed_ids_per_resource() -> None:
    """Akri bug #3: kubelet IDs carry no `akri.sh/` prefix; same ID under another resource doesn't count."""
    held = frozenset({("akri.sh/other", "cfg-8120fe-0"), (RES, "akri.sh/cfg-8120fe-0")})
    _stalled, due = reclaim_step({}, [CLAIM], held, now=0.0, grace_seconds=0)
    assert due == [CLAIM]


def test_held_akri_devices_ignores_pods_without_akri_resources() -> None:
    response = pr.ListPodResourcesResponse(pod_resources=[
        pr.PodResources(name="broker", containers=[pr.ContainerResources(devices=[
            pr.ContainerDevices(resource_name=RES, device_ids=["cfg-8120fe-1"]),
            pr.ContainerDevices(resource_name="nvidia.com/gpu", device_ids=["GPU-1"])])]),
        pr.PodResources(name="unrelated-unready", containers=[pr.ContainerResources(name="c")]),
    ])
    assert kubelet.held_akri_devices(response) == frozenset({(RES, "cfg-8120fe-1")})


class FakePodResources:
    """`held` is what List answers (None: unreachable); `after_list` runs once the answer is
    taken, before the reclaimer sees it (the kubelet acting between List and release)."""

    def __init__(self) -> None:
        self.held: frozenset[tuple[str, str]] | None = frozenset()
        self.after_list: Callable[[], None] | None = None

    async def held_devices(self) -> frozenset[tuple[str, str]]:
        if self.held is None:
            raise errors.PodResourcesUnavailable("socket gone")
        held = self.held
        if self.after_list is not None:
            self.after_list()
        return held


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


class Grants:
    """A stand-in for the node's AllocationClock plus the slot stamps of its plugins."""

    def __init__(self) -> None:
        self.ticks = 0
        self.stamps: dict[str, int] = {}

    def now(self) -> int:
        return self.ticks

    def grant(self, key: str) -> None:
        self.ticks += 1
        self.stamps[key] = self.ticks


def reclaimer_with(claims: list[HeldClaim], source: FakePodResources, clock: Clock,
                   grants: Grants | None = None) -> SlotReclaimer:
    settings = PluginSettings(reclaim_interval_seconds=10, reclaim_grace_seconds=20)
    return SlotReclaimer(pod_resources=source, claims=lambda: claims, allocations=(grants or Grants()).now,
                         settings=settings, clock=clock)


def claim(released: list[str], key: str = "cfg-8120fe-0", *, fail: bool = False,
          grants: Grants | None = None) -> HeldClaim:
    async def release(since: int) -> bool:
        if fail:
            raise errors.ClaimFailed("api down")
        if grants is not None and grants.stamps.get(key, 0) > since:
            return False
        released.append(key)
        return True
    return HeldClaim(RES, key, key, release)


async def test_reclaimer_frees_after_grace_and_logs_start_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.plugins.reclaiming")
    released: list[str] = []
    source, clock = FakePodResources(), Clock()
    reclaimer = reclaimer_with([claim(released)], source, clock)
    assert await reclaimer.reclaim_once() == 0
    clock.now = 25.0
    assert await reclaimer.reclaim_once() == 1
    assert released == ["cfg-8120fe-0"]
    assert "reclaiming unused slots - start" in caplog.messages


async def test_reclaimer_keeps_claims_a_pod_holds() -> None:
    released: list[str] = []
    source, clock = FakePodResources(), Clock()
    source.held = frozenset({(RES, "cfg-8120fe-0")})
    reclaimer = reclaimer_with([claim(released)], source, clock)
    await reclaimer.reclaim_once()
    clock.now = 100.0
    assert await reclaimer.reclaim_once() == 0 and released == []


async def test_reclaimer_retries_failed_release_next_round() -> None:
    source, clock = FakePodResources(), Clock()
    reclaimer = reclaimer_with([claim([], fail=True)], source, clock)
    await reclaimer.reclaim_once()
    clock.now = 30.0
    assert await reclaimer.reclaim_once() == 0
    released: list[str] = []
    reclaimer._claims = lambda: [claim(released)]  # the API is back
    clock.now = 31.0
    assert await reclaimer.reclaim_once() == 1 and released == ["cfg-8120fe-0"]


async def test_startup_reconcile_frees_at_once_or_skips_when_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    released: list[str] = []
    source, clock = FakePodResources(), Clock()
    reclaimer = reclaimer_with([claim(released)], source, clock)
    source.held = None
    assert await reclaimer.reconcile_at_startup() == 0
    assert "start-up slot reconciliation skipped" in caplog.text
    source.held = frozenset()
    assert await reclaimer.reconcile_at_startup() == 1 and released == ["cfg-8120fe-0"]


async def test_unreachable_pod_resources_frees_nothing() -> None:
    released: list[str] = []
    source, clock = FakePodResources(), Clock()
    source.held = None
    reclaimer = reclaimer_with([claim(released)], source, clock)
    await reclaimer.reclaim_once()
    clock.now = 100.0
    assert await reclaimer.reclaim_once() == 0 and released == []


async def test_claim_granted_between_list_and_release_is_kept() -> None:
    """The kubelet hands the stale slot to a new pod after List answered (without that pod): the
    round must not free it; the stalled timer restarts."""
    released: list[str] = []
    source, clock, grants = FakePodResources(), Clock(), Grants()
    reclaimer = reclaimer_with([claim(released, grants=grants)], source, clock, grants)
    source.after_list = lambda: grants.grant("cfg-8120fe-0")
    assert await reclaimer.reclaim_once(grace_seconds=0) == 0
    assert released == []
    source.after_list = None
    assert await reclaimer.reconcile_at_startup() == 1  # a later listing without the pod frees it
    assert released == ["cfg-8120fe-0"]
