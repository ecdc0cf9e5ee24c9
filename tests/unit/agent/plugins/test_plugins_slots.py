"""Pure slot table: deviceUsage grammar → slots, health, claims (akri-contract.md §1.2, §2.5)."""

from __future__ import annotations

from agent.plugins import slots
from akri_api import model

INSTANCE = "akri-debug-echo-foo-8120fe"
NODE = "node-a"


def table(capacity: int, usage: dict[str, object]) -> slots.SlotTable:
    return slots.SlotTable.from_device_usage(INSTANCE, capacity, usage)


def test_absent_and_empty_keys_are_free() -> None:
    t = table(3, {f"{INSTANCE}-1": ""})
    assert t.usages == (slots.FREE,) * 3
    assert t.free_slots() == (0, 1, 2)


def test_values_follow_akri_grammar() -> None:
    t = table(3, {f"{INSTANCE}-0": "node-a", f"{INSTANCE}-2": "C:akri-debug-echo-foo-0:node-b"})
    assert t.usages[0] == model.SlotUsage.instance_use("node-a")
    assert t.usages[1].is_free
    assert t.usages[2] == model.SlotUsage.configuration_use("akri-debug-echo-foo-0", "node-b")


def test_health_free_or_ours_healthy_everything_else_unhealthy() -> None:
    t = table(5, {
        f"{INSTANCE}-1": NODE,                       # ours, instance-level
        f"{INSTANCE}-2": "node-b",                   # another node
        f"{INSTANCE}-3": "C:cfg-0:node-b",           # configuration use elsewhere
        f"{INSTANCE}-4": f"C:cfg-1:{NODE}",          # our configuration-level use
    })
    assert t.devices(NODE) == (
        (f"{INSTANCE}-0", "Healthy"), (f"{INSTANCE}-1", "Healthy"), (f"{INSTANCE}-2", "Unhealthy"),
        (f"{INSTANCE}-3", "Unhealthy"), (f"{INSTANCE}-4", "Unhealthy"))


def test_unreadable_value_is_held_never_free_never_ours() -> None:
    t = table(2, {f"{INSTANCE}-0": "C:node-a", f"{INSTANCE}-1": 7})
    assert not t.usages[0].is_free and t.usages[0].node != NODE
    assert t.health(0, NODE) == "Unhealthy" and t.health(1, NODE) == "Unhealthy"
    assert not slots.may_claim(t.usages[0], model.SlotUsage.instance_use(NODE))


def test_foreign_and_out_of_range_keys_are_not_slots() -> None:
    t = table(2, {"other-instance-0": "node-b", f"{INSTANCE}-x": "node-b", f"{INSTANCE}-5": "node-b"})
    assert t.free_slots() == (0, 1)


def test_index_of_accepts_only_own_ids_below_capacity() -> None:
    t = table(2, {})
    assert t.index_of(f"{INSTANCE}-1") == 1
    assert t.index_of(f"{INSTANCE}-2") is None
    assert t.index_of(f"{INSTANCE}--1") is None
    assert t.index_of("akri-debug-echo-foo-a19705-0") is None


def test_node_claims_include_out_of_range_and_configuration_claims() -> None:
    claims = slots.node_claims(INSTANCE, {
        f"{INSTANCE}-0": NODE, f"{INSTANCE}-1": "node-b", f"{INSTANCE}-7": NODE,
        f"{INSTANCE}-2": f"C:cfg-3:{NODE}", f"{INSTANCE}-3": "",
    }, NODE)
    assert [(c.key, c.device_id) for c in claims] == [
        (f"{INSTANCE}-0", f"{INSTANCE}-0"), (f"{INSTANCE}-2", "cfg-3"), (f"{INSTANCE}-7", f"{INSTANCE}-7")]
    assert claims[1].usage == model.SlotUsage.configuration_use("cfg-3", NODE)


def test_may_claim_free_or_same_usage_only() -> None:
    mine = model.SlotUsage.instance_use(NODE)
    assert slots.may_claim(slots.FREE, mine)
    assert slots.may_claim(mine, mine)
    assert not slots.may_claim(model.SlotUsage.instance_use("node-b"), mine)
    assert not slots.may_claim(model.SlotUsage.configuration_use("cfg-0", NODE), mine)


def test_negative_capacity_counts_as_zero() -> None:
    assert table(-1, {}).devices(NODE) == ()
