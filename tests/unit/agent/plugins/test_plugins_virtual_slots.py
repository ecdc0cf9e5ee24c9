"""Virtual slot table of a Configuration-level plugin (akri-contract.md §2.5)."""

from __future__ import annotations

from agent.plugins.slots import SlotTable
from agent.plugins.virtual_slots import VirtualSlot, next_virtual_table

CFG = "cfg"
NODE = "node-a"


def tables(**usages: tuple[int, dict[str, str]]) -> dict[str, SlotTable]:
    return {name: SlotTable.from_device_usage(name, capacity, usage) for name, (capacity, usage) in usages.items()}


def test_no_instances_no_devices() -> None:
    assert next_virtual_table(CFG, {}, {}, NODE) == {}


def test_one_free_entry_per_instance_with_a_free_slot() -> None:
    t = next_virtual_table(CFG, {}, tables(**{"cfg-aaaaaa": (2, {}), "cfg-bbbbbb": (1, {"cfg-bbbbbb-0": "node-b"})}),
                           NODE)
    assert t == {"cfg-0": VirtualSlot("cfg-aaaaaa")}


def test_used_entries_for_this_nodes_configuration_claims_only() -> None:
    t = next_virtual_table(CFG, {}, tables(**{"cfg-aaaaaa": (3, {
        "cfg-aaaaaa-0": f"C:cfg-0:{NODE}", "cfg-aaaaaa-1": "C:cfg-1:node-b", "cfg-aaaaaa-2": NODE})}), NODE)
    assert t == {"cfg-0": VirtualSlot("cfg-aaaaaa", 0)}


def test_claiming_the_free_entry_moves_free_to_a_new_key() -> None:
    first = next_virtual_table(CFG, {}, tables(**{"cfg-aaaaaa": (2, {})}), NODE)
    assert first == {"cfg-0": VirtualSlot("cfg-aaaaaa")}
    second = next_virtual_table(CFG, first, tables(**{"cfg-aaaaaa": (2, {"cfg-aaaaaa-0": f"C:cfg-0:{NODE}"})}), NODE)
    assert second == {"cfg-0": VirtualSlot("cfg-aaaaaa", 0), "cfg-1": VirtualSlot("cfg-aaaaaa")}
    full = next_virtual_table(CFG, second, tables(**{"cfg-aaaaaa": (2, {
        "cfg-aaaaaa-0": f"C:cfg-0:{NODE}", "cfg-aaaaaa-1": f"C:cfg-1:{NODE}"})}), NODE)
    assert full == {"cfg-0": VirtualSlot("cfg-aaaaaa", 0), "cfg-1": VirtualSlot("cfg-aaaaaa", 1)}


def test_free_keys_are_stable_while_other_instances_come_and_go() -> None:
    first = next_virtual_table(CFG, {}, tables(**{"cfg-aaaaaa": (1, {}), "cfg-bbbbbb": (1, {})}), NODE)
    assert first == {"cfg-0": VirtualSlot("cfg-aaaaaa"), "cfg-1": VirtualSlot("cfg-bbbbbb")}
    without_a = next_virtual_table(CFG, first, tables(**{"cfg-bbbbbb": (1, {})}), NODE)
    assert without_a == {"cfg-1": VirtualSlot("cfg-bbbbbb")}
    new_c = next_virtual_table(CFG, without_a, tables(**{"cfg-bbbbbb": (1, {}), "cfg-cccccc": (1, {})}), NODE)
    assert new_c == {"cfg-1": VirtualSlot("cfg-bbbbbb"), "cfg-0": VirtualSlot("cfg-cccccc")}


def test_used_entry_displaces_a_free_entry_with_the_same_key() -> None:
    previous = {"cfg-0": VirtualSlot("cfg-bbbbbb")}
    t = next_virtual_table(CFG, previous, tables(**{
        "cfg-aaaaaa": (1, {"cfg-aaaaaa-0": f"C:cfg-0:{NODE}"}), "cfg-bbbbbb": (1, {})}), NODE)
    assert t == {"cfg-0": VirtualSlot("cfg-aaaaaa", 0), "cfg-1": VirtualSlot("cfg-bbbbbb")}


def test_duplicate_vdev_advertised_once() -> None:
    t = next_virtual_table(CFG, {}, tables(**{
        "cfg-aaaaaa": (1, {"cfg-aaaaaa-0": f"C:cfg-0:{NODE}"}),
        "cfg-bbbbbb": (1, {"cfg-bbbbbb-0": f"C:cfg-0:{NODE}"})}), NODE)
    assert t == {"cfg-0": VirtualSlot("cfg-aaaaaa", 0)}
