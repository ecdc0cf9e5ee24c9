"""deviceUsage read-modify-write (claiming.py) against an in-memory store with real 409 semantics."""

from __future__ import annotations

import asyncio

import pytest

from agent.plugins import errors
from agent.plugins.claiming import SlotClaimer
from akri_api import model
from tests.fakes.fake_kubelet import MemoryInstances, instance_object

NAME = "cfg-8120fe"
MINE = model.SlotUsage.instance_use("node-a")


def store_with(**kwargs: object) -> MemoryInstances:
    store = MemoryInstances()
    store.put(instance_object(NAME, configuration="cfg", nodes=["node-a", "node-b"], **kwargs))  # type: ignore[arg-type]
    return store


def claimer(store: MemoryInstances, **kwargs: object) -> SlotClaimer:
    return SlotClaimer(store=store, rng=lambda: 0.0, **kwargs)  # type: ignore[arg-type]


async def test_claim_free_slot_writes_node_and_keeps_other_fields() -> None:
    store = store_with(capacity=2, broker_properties={"A": "1"})
    stored, changed = await claimer(store).claim_slot("default", NAME, 1, MINE)
    assert changed
    assert stored["spec"]["deviceUsage"] == {f"{NAME}-1": "node-a"}
    assert stored["spec"]["nodes"] == ["node-a", "node-b"] and stored["spec"]["brokerProperties"] == {"A": "1"}
    assert store.peek("default", NAME)["spec"]["deviceUsage"] == {f"{NAME}-1": "node-a"}


async def test_claim_of_empty_string_slot_and_reclaim_of_own_slot() -> None:
    store = store_with(capacity=1, device_usage={f"{NAME}-0": ""})
    c = claimer(store)
    _stored, changed = await c.claim_slot("default", NAME, 0, MINE)
    assert changed
    calls = store.replace_calls
    _stored, changed = await c.claim_slot("default", NAME, 0, MINE)
    assert not changed and store.replace_calls == calls  # already ours: no write


async def test_slot_held_elsewhere_names_slot_and_holder() -> None:
    store = store_with(capacity=1, device_usage={f"{NAME}-0": "node-b"})
    with pytest.raises(errors.SlotUnavailable, match=rf"slot {NAME}-0 is held by 'node-b'"):
        await claimer(store).claim_slot("default", NAME, 0, MINE)


async def test_index_beyond_capacity_is_unknown_device() -> None:
    with pytest.raises(errors.UnknownDevice, match=f"{NAME}-3"):
        await claimer(store_with(capacity=2)).claim_slot("default", NAME, 3, MINE)


async def test_conflict_rereads_and_retries() -> None:
    store = store_with(capacity=1)
    store.conflicts_to_inject = 2
    _stored, changed = await claimer(store).claim_slot("default", NAME, 0, MINE)
    assert changed and store.replace_calls == 3


async def test_conflicts_beyond_max_tries_fail() -> None:
    store = store_with(capacity=1)
    store.conflicts_to_inject = 10
    with pytest.raises(errors.ClaimFailed, match="gave up after 3 attempts"):
        await claimer(store, max_tries=3).claim_slot("default", NAME, 0, MINE)


async def test_concurrent_spec_change_is_preserved() -> None:
    """The agent core rewrites spec.nodes between our GET and PUT: we re-read and keep its change."""
    store = store_with(capacity=1)
    original_replace = store.replace

    async def replace_after_core_update(obj: dict) -> dict:  # type: ignore[type-arg]
        if store.replace_calls == 0:
            core = store.peek("default", NAME)
            core["spec"]["nodes"] = ["node-a", "node-b", "node-c"]
            store.put(core)
        return await original_replace(obj)

    store.replace = replace_after_core_update  # type: ignore[method-assign]
    stored, _ = await claimer(store).claim_slot("default", NAME, 0, MINE)
    assert stored["spec"]["nodes"] == ["node-a", "node-b", "node-c"]
    assert stored["spec"]["deviceUsage"] == {f"{NAME}-0": "node-a"}


async def test_two_nodes_race_for_last_slot_exactly_one_wins() -> None:
    store = store_with(capacity=1)
    results = await asyncio.gather(
        claimer(store).claim_slot("default", NAME, 0, model.SlotUsage.instance_use("node-a")),
        claimer(store).claim_slot("default", NAME, 0, model.SlotUsage.instance_use("node-b")),
        return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["SlotUnavailable", "tuple"]
    winner = next(r for r in results if isinstance(r, tuple))[0]["spec"]["deviceUsage"][f"{NAME}-0"]
    assert store.peek("default", NAME)["spec"]["deviceUsage"] == {f"{NAME}-0": winner}


async def test_claim_first_free_skips_held_slots() -> None:
    store = store_with(capacity=3, device_usage={f"{NAME}-0": "node-b"})
    usage = model.SlotUsage.configuration_use("cfg-0", "node-a")
    index, stored = await claimer(store).claim_first_free("default", NAME, usage)
    assert index == 1 and stored["spec"]["deviceUsage"][f"{NAME}-1"] == "C:cfg-0:node-a"


async def test_claim_first_free_without_free_slot() -> None:
    store = store_with(capacity=1, device_usage={f"{NAME}-0": "node-b"})
    with pytest.raises(errors.SlotUnavailable, match="no free slot"):
        await claimer(store).claim_first_free("default", NAME, model.SlotUsage.configuration_use("cfg-0", "node-a"))


async def test_release_only_removes_the_expected_claim() -> None:
    store = store_with(capacity=2, device_usage={f"{NAME}-0": "node-a", f"{NAME}-1": "node-b"})
    c = claimer(store)
    await c.release("default", NAME, f"{NAME}-1", MINE)  # not ours: untouched
    stored = await c.release("default", NAME, f"{NAME}-0", MINE)
    assert stored is not None and stored["spec"]["deviceUsage"] == {f"{NAME}-1": "node-b"}


async def test_release_of_vanished_instance_is_none_and_claim_fails() -> None:
    store = store_with(capacity=1)
    store.delete("default", NAME)
    assert await claimer(store).release("default", NAME, f"{NAME}-0", MINE) is None
    with pytest.raises(errors.ClaimFailed, match="no longer exists"):
        await claimer(store).claim_slot("default", NAME, 0, MINE)
