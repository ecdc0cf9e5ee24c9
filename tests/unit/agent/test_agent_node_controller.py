"""Node lifecycle: deleted or long-NotReady nodes leave every Instance (contract §3.5)."""

from __future__ import annotations

import copy

import pytest

from agent.controllers.nodes import NodeController, NodeSettings, is_ready
from agent.kube.resources import INSTANCES
from agent.kube.watching import LISTED, WatchEvent
from tests.unit.agent.fakekube import FakeKube


def node(name: str, *statuses: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": s} for s in statuses]}}


def instance(name: str, nodes: list[str], usage: dict[str, str] | None = None, namespace: str = "default") -> dict:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"configurationName": "cfg", "cdiName": f"akri.sh/cfg={name}", "capacity": 2, "shared": True,
                     "nodes": nodes, "deviceUsage": usage or {}, "brokerProperties": {}}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("statuses", "ready"), [
    (("True",), True), (("False",), False), (("Unknown",), False), ((), False), (("False", "True"), True),
    (("True", "False"), False)])
def test_ready_means_the_last_ready_condition_is_true(statuses: tuple[str, ...], ready: bool) -> None:
    assert is_ready(node("n", *statuses)) is ready


def test_no_conditions_at_all_is_not_ready() -> None:
    assert not is_ready({"metadata": {"name": "n"}})


@pytest.fixture
def kube() -> FakeKube:
    kube = FakeKube()
    kube.put(INSTANCES, instance("both", ["node-a", "node-b"], {"both-0": "node-b", "both-1": "C:cfg-0:node-a"}))
    kube.put(INSTANCES, instance("only-b", ["node-b"], namespace="other"))
    kube.put(INSTANCES, instance("only-a", ["node-a"], {"only-a-0": "C:cfg-1:node-b"}))
    return kube


def controller(kube: FakeKube, clock: Clock, *, me: str = "node-a", grace: float = 30.0) -> tuple[NodeController, list]:
    nodes = NodeController(kube=kube, watch=None, settings=NodeSettings(node=me, not_ready_grace_seconds=grace),  # type: ignore[arg-type]
                           clock=clock)
    return nodes, []


def summary(kube: FakeKube) -> dict:
    return {i["metadata"]["name"]: (i["spec"]["nodes"], i["spec"]["deviceUsage"]) for i in kube.all(INSTANCES)}


async def test_deleted_node_is_removed_everywhere(kube: FakeKube) -> None:
    nodes, _ = controller(kube, Clock())
    assert await nodes.clean_up("node-b", why="deleted") == 3
    assert summary(kube) == {"both": (["node-a"], {"both-1": "C:cfg-0:node-a"}), "only-a": (["node-a"], {})}
    writes = len(kube.writes)
    assert await nodes.clean_up("node-b", why="deleted") == 0  # idempotent
    assert len(kube.writes) == writes


async def test_two_agents_cleaning_at_once_agree(kube: FakeKube) -> None:
    first, _ = controller(kube, Clock(), me="node-a")
    second, _ = controller(kube, Clock(), me="node-c")
    stale = kube.all(INSTANCES)

    async def racing_list(*args, **kwargs):
        return {"items": copy.deepcopy(stale)}

    second.kube = type("K", (), {})()  # a view of the same API that lists stale objects
    for verb in ("get_or_none", "create", "replace", "patch", "delete"):
        setattr(second.kube, verb, getattr(kube, verb))
    second.kube.list = racing_list
    await first.clean_up("node-b", why="deleted")
    await second.clean_up("node-b", why="deleted")  # every write conflicts, re-reads, finds nothing to do
    assert summary(kube) == {"both": (["node-a"], {"both-1": "C:cfg-0:node-a"}), "only-a": (["node-a"], {})}


async def test_events_drive_cleanup_after_the_not_ready_grace(kube: FakeKube) -> None:
    clock = Clock()
    nodes, _ = controller(kube, clock, grace=30)
    nodes.on_event(WatchEvent("ADDED", node("node-b", "True")))
    nodes.on_event(WatchEvent(LISTED))
    assert await nodes.process("node-b") is None
    nodes.on_event(WatchEvent("MODIFIED", node("node-b", "False")))
    clock.now = 10
    assert await nodes.process("node-b") == pytest.approx(20)
    assert summary(kube)["only-b"] == (["node-b"], {})
    clock.now = 31
    assert await nodes.process("node-b") is None
    assert "only-b" not in summary(kube)
    writes = len(kube.writes)
    nodes.on_event(WatchEvent("MODIFIED", node("node-b", "False")))  # still down: cleaned once only
    clock.now = 100
    await nodes.process("node-b")
    assert len(kube.writes) == writes
    await nodes._queue.close()


async def test_recovery_within_grace_cancels_cleanup(kube: FakeKube) -> None:
    clock = Clock()
    nodes, _ = controller(kube, clock, grace=30)
    nodes.on_event(WatchEvent("ADDED", node("node-b", "False")))
    clock.now = 10
    nodes.on_event(WatchEvent("MODIFIED", node("node-b", "True")))
    clock.now = 100
    assert await nodes.process("node-b") is None
    assert "only-b" in summary(kube)
    await nodes._queue.close()


async def test_deletion_event_cleans_at_once_and_own_node_is_never_cleaned(kube: FakeKube) -> None:
    nodes, _ = controller(kube, Clock())
    nodes.on_event(WatchEvent("DELETED", node("node-a")))  # this agent's own node: ignored
    assert await nodes.process("node-a") is None
    nodes.on_event(WatchEvent("DELETED", node("node-b")))
    assert await nodes.process("node-b") is None
    assert summary(kube) == {"both": (["node-a"], {"both-1": "C:cfg-0:node-a"}), "only-a": (["node-a"], {})}
    await nodes._queue.close()
