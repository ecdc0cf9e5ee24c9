"""Device bookkeeping of the kubelet simulator (kubelet device manager semantics)."""

from __future__ import annotations

import pytest

from akri_local._kubelet_devices import AllocationError, DeviceState

RES = "akri.sh/cfg-abc123"


def _pod(main=1, init=None, second=None):
    containers = [{"name": "main", "resources": {"limits": {RES: str(main)}}}]
    if second is not None:
        containers.append({"name": "side", "resources": {"limits": {RES: str(second)}}})
    spec = {"containers": containers}
    if init is not None:
        spec["initContainers"] = [{"name": "init", "resources": {"limits": {RES: str(init)}}}]
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": spec}


def _state(devices):
    state = DeviceState()
    state.set_devices(RES, devices)
    return state


def test_counts_are_capacity_and_healthy_and_stay_zero_after_removal():
    state = _state({"d-0": True, "d-1": False})
    assert state.counts() == {RES: (2, 1)}
    assert state.remove_resource(RES)
    assert state.counts() == {RES: (0, 0)}


def test_init_container_devices_are_reused_by_app_containers():
    state = _state({"d-0": True, "d-1": True, "d-2": True})
    plan = state.plan_pod("u1", _pod(main=1, init=1, second=1))
    assert [(a.container, a.init, a.device_ids) for a in plan] == [
        ("init", True, ("d-0",)), ("main", False, ("d-0",)), ("side", False, ("d-1",))]


def test_devices_of_other_pods_and_unhealthy_ones_are_never_given():
    state = _state({"d-0": True, "d-1": False, "d-2": True})
    state.commit("u1", "ns", "p1", ("main",), state.plan_pod("u1", _pod(main=1)))
    assert state.in_use(RES) == {"d-0"}
    assert [a.device_ids for a in state.plan_pod("u2", _pod(main=1))] == [("d-2",)]
    with pytest.raises(AllocationError, match="Requested: 2, Available: 1"):
        state.plan_pod("u2", _pod(main=2))
    assert state.release("u1")
    assert state.in_use(RES) == set()


def test_unknown_resource_cannot_be_allocated():
    with pytest.raises(AllocationError, match="unavailable for akri.sh/cfg-abc123"):
        DeviceState().plan_pod("u", _pod())
