"""read_modify_write: optimistic concurrency with re-read on 409, preconditioned deletes."""

from __future__ import annotations

import pytest

from agent.kube import errors
from agent.kube.resources import CONFIGURATIONS, INSTANCES
from agent.kube.updating import DELETE, read_modify_write
from tests.unit.agent.fakekube import FakeKube

BODY = {"apiVersion": "akri.sh/v0", "kind": "Instance", "metadata": {"name": "i", "namespace": "default"},
        "spec": {"nodes": ["a"]}}


def add_node(node: str):
    def mutate(current):
        if current is None:
            return {**BODY, "spec": {"nodes": [node]}}
        if node not in current["spec"]["nodes"]:
            current["spec"]["nodes"].append(node)
        return current
    return mutate


async def test_creates_when_absent_and_is_a_noop_when_unchanged() -> None:
    kube = FakeKube()
    written = await read_modify_write(kube, INSTANCES, "i", "default", add_node("a"))
    assert written["spec"]["nodes"] == ["a"]
    again = await read_modify_write(kube, INSTANCES, "i", "default", add_node("a"))
    assert again == written
    assert [w[0] for w in kube.writes] == ["create"]


async def test_stale_copy_is_reread_and_both_changes_survive() -> None:
    kube = FakeKube()
    stale = kube.put(INSTANCES, BODY)
    # Someone else writes after we read: our first attempt conflicts, the re-read sees their change.
    current = kube.stored(INSTANCES, "i")
    current["spec"]["nodes"].append("b")
    await kube.replace(INSTANCES, current)
    result = await read_modify_write(kube, INSTANCES, "i", "default", add_node("c"), current=stale)
    assert result["spec"]["nodes"] == ["a", "b", "c"]


async def test_create_race_becomes_an_update() -> None:
    kube = FakeKube()
    kube.put(INSTANCES, {**BODY, "spec": {"nodes": ["other"]}})
    result = await read_modify_write(kube, INSTANCES, "i", "default", add_node("me"), current=None)
    assert result["spec"]["nodes"] == ["other", "me"]


async def test_delete_carries_preconditions_and_rereads_on_conflict() -> None:
    kube = FakeKube()
    stale = kube.put(INSTANCES, BODY)
    current = kube.stored(INSTANCES, "i")
    current["spec"]["nodes"] = ["a", "b"]  # another node joined after our read
    await kube.replace(INSTANCES, current)

    def leave_a(obj):
        if obj is None or "a" not in obj["spec"]["nodes"]:
            return None
        rest = [n for n in obj["spec"]["nodes"] if n != "a"]
        if not rest:
            return DELETE
        obj["spec"]["nodes"] = rest
        return obj

    result = await read_modify_write(kube, INSTANCES, "i", "default", leave_a, current=stale)
    assert result["spec"]["nodes"] == ["b"]  # not deleted: b is still there
    assert await read_modify_write(kube, INSTANCES, "i", "default", lambda o: DELETE) is None
    assert kube.stored(INSTANCES, "i") is None


async def test_gives_up_after_the_attempt_budget() -> None:
    kube = FakeKube()
    kube.put(INSTANCES, BODY)
    kube.fail_next = [("replace", errors.Conflict(409, "Conflict", "x"))] * 3
    with pytest.raises(errors.Conflict, match="gave up after 3"):
        await read_modify_write(kube, INSTANCES, "i", "default", add_node("z"), attempts=3)


async def test_other_errors_are_raised_at_once() -> None:
    kube = FakeKube()
    kube.put(INSTANCES, BODY)
    kube.fail_next = [("replace", errors.Invalid(422, "Invalid", "bad"))]
    with pytest.raises(errors.Invalid):
        await read_modify_write(kube, INSTANCES, "i", "default", add_node("z"))


async def test_status_is_written_as_a_conditional_merge_patch() -> None:
    kube = FakeKube()
    kube.put(CONFIGURATIONS, {"metadata": {"name": "c"}, "spec": {"capacity": 1},
                              "status": {"observedGeneration": 3, "conditions": [{"type": "Other", "status": "True"}]}})

    def mutate(obj):
        obj["status"]["conditions"].append({"type": "Mine", "status": "True"})
        obj["spec"]["capacity"] = 99  # must not be written through the status subresource
        return obj

    await read_modify_write(kube, CONFIGURATIONS, "c", "default", mutate, subresource="status")
    stored = kube.stored(CONFIGURATIONS, "c")
    assert [c["type"] for c in stored["status"]["conditions"]] == ["Other", "Mine"]
    assert stored["status"]["observedGeneration"] == 3
    assert stored["spec"]["capacity"] == 1
    assert kube.writes[-1][0] == "patch/status"
