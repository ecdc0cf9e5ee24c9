"""Pure Instance edits: Akri's shape on create; join/leave/refresh keep what others own."""

from __future__ import annotations

import copy

from agent.controllers import instances as edits
from agent.discovery.handler import Device
from agent.discovery.requests import DiscoveredDevice
from agent.kube.updating import DELETE
from akri_api import model

CONFIG = model.Configuration.from_dict({
    "apiVersion": "akri.sh/v0", "kind": "Configuration",
    "metadata": {"name": "akri-debug-echo-foo", "namespace": "default", "uid": "cfg-uid"},
    "spec": {"discoveryHandler": {"name": "debugEcho", "discoveryDetails": ""}, "capacity": 2,
             "brokerProperties": {"RESOLUTION_WIDTH": "800", "DEBUG_ECHO_DESCRIPTION": "override"}}})
FOO0 = DiscoveredDevice(Device("foo0", {"DEBUG_ECHO_DESCRIPTION": "foo0", "OWN": "x"}), True,
                        "akri-debug-echo-foo-8120fe", "akri.sh/akri-debug-echo-foo=8120fe", "embedded-debugEcho")


def test_new_instance_matches_akri_appendix_b() -> None:
    instance = edits.new_instance(CONFIG, FOO0, "node-a")
    assert instance["metadata"] == {
        "name": "akri-debug-echo-foo-8120fe", "namespace": "default",
        "labels": {"akri.sh/configuration": "akri-debug-echo-foo"},
        "ownerReferences": [{"apiVersion": "akri.sh/v0", "kind": "Configuration", "name": "akri-debug-echo-foo",
                             "uid": "cfg-uid", "controller": True}]}
    assert instance["spec"] == {
        "configurationName": "akri-debug-echo-foo", "cdiName": "akri.sh/akri-debug-echo-foo=8120fe",
        "capacity": 2, "brokerProperties": {"DEBUG_ECHO_DESCRIPTION": "override", "OWN": "x",
                                            "RESOLUTION_WIDTH": "800"},
        "shared": True, "nodes": ["node-a"], "deviceUsage": {}}


def test_join_adds_the_node_and_keeps_what_others_own() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    live["metadata"]["finalizers"] = ["node-a"]
    live["metadata"]["labels"]["team"] = "cams"
    live["spec"]["deviceUsage"] = {"akri-debug-echo-foo-8120fe-0": "node-a"}
    joined = edits.joined(copy.deepcopy(live), configuration=CONFIG, device=FOO0, node="node-b")
    assert joined["spec"]["nodes"] == ["node-a", "node-b"]
    assert joined["spec"]["deviceUsage"] == {"akri-debug-echo-foo-8120fe-0": "node-a"}
    assert joined["metadata"]["finalizers"] == ["node-a"] and joined["metadata"]["labels"]["team"] == "cams"
    again = edits.joined(copy.deepcopy(joined), configuration=CONFIG, device=FOO0, node="node-b")
    assert again == joined  # idempotent: no write needed


def test_join_applies_configuration_edits() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    edited = model.Configuration.from_dict({**CONFIG.to_dict(), "spec": {
        **CONFIG.to_dict()["spec"], "capacity": 5, "brokerProperties": {"NEW": "1"}}})
    joined = edits.joined(live, configuration=edited, device=FOO0, node="node-a")
    assert joined["spec"]["capacity"] == 5
    assert joined["spec"]["brokerProperties"] == {"DEBUG_ECHO_DESCRIPTION": "foo0", "OWN": "x", "NEW": "1"}


def test_join_replaces_a_stale_owner_reference() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    live["metadata"]["ownerReferences"] = [
        {"apiVersion": "akri.sh/v0", "kind": "Configuration", "name": "akri-debug-echo-foo", "uid": "old",
         "controller": True}, {"apiVersion": "v1", "kind": "ConfigMap", "name": "keep", "uid": "cm"}]
    joined = edits.joined(live, configuration=CONFIG, device=FOO0, node="node-a")
    assert [r["uid"] for r in joined["metadata"]["ownerReferences"]] == ["cm", "cfg-uid"]


def test_join_waits_for_a_deleting_instance() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    live["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert edits.joined(live, configuration=CONFIG, device=FOO0, node="node-b") is None


def test_leave_removes_only_this_node_and_deletes_when_last() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    live["spec"]["nodes"] = ["node-a", "node-b"]
    after = edits.left(copy.deepcopy(live), node="node-a")
    assert after["spec"]["nodes"] == ["node-b"]
    assert edits.left(after, node="node-b") is DELETE
    assert edits.left(live, node="node-c") is None
    assert edits.left(None, node="node-a") is None


def test_refresh_keeps_nodes_and_needs_this_node_listed() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    edited = model.Configuration.from_dict({**CONFIG.to_dict(), "spec": {**CONFIG.to_dict()["spec"], "capacity": 7}})
    refreshed = edits.refreshed(copy.deepcopy(live), configuration=edited, device=None, node="node-a")
    assert refreshed["spec"]["capacity"] == 7 and refreshed["spec"]["nodes"] == ["node-a"]
    assert refreshed["spec"]["brokerProperties"] == live["spec"]["brokerProperties"]
    assert edits.refreshed(live, configuration=edited, device=None, node="node-z") is None


def test_vanished_node_loses_its_nodes_entry_and_claims() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    live["spec"]["nodes"] = ["node-a", "node-b"]
    live["spec"]["deviceUsage"] = {"i-0": "node-b", "i-1": "C:cfg-0:node-b", "i-2": "node-a",
                                   "i-3": "C:cfg-1:node-a", "i-4": "", "i-5": "C:broken"}
    cleaned = edits.without_node(copy.deepcopy(live), node="node-b")
    assert cleaned["spec"]["nodes"] == ["node-a"]
    assert cleaned["spec"]["deviceUsage"] == {"i-2": "node-a", "i-3": "C:cfg-1:node-a", "i-4": "",
                                              "i-5": "C:broken"}
    assert edits.without_node(copy.deepcopy(cleaned), node="node-b") is None  # idempotent
    assert edits.without_node(cleaned, node="node-a") is DELETE


def test_claims_without_nodes_entry_are_still_cleared() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    live["spec"]["deviceUsage"] = {"i-0": "node-gone"}
    cleaned = edits.without_node(live, node="node-gone")
    assert cleaned["spec"]["deviceUsage"] == {} and cleaned["spec"]["nodes"] == ["node-a"]


def test_leave_also_drops_this_nodes_claims() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    live["spec"]["nodes"] = ["node-a", "node-b"]
    live["spec"]["deviceUsage"] = {"i-0": "node-a", "i-1": "C:cfg-0:node-a", "i-2": "node-b",
                                   "i-3": "C:cfg-1:node-b", "i-4": ""}
    after = edits.left(copy.deepcopy(live), node="node-a")
    assert after["spec"]["nodes"] == ["node-b"]
    assert after["spec"]["deviceUsage"] == {"i-2": "node-b", "i-3": "C:cfg-1:node-b", "i-4": ""}
    assert edits.left(copy.deepcopy(after), node="node-a") is None


FOO0_ELSEWHERE = DiscoveredDevice(Device("foo0", {"DEBUG_ECHO_DESCRIPTION": "foo0", "OWN": "y", "RSSI": "-70"}),
                                  False, FOO0.instance_name, FOO0.cdi_name, "embedded-debugEcho")


def test_only_the_device_owner_writes_the_devices_properties() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    joined = edits.joined(copy.deepcopy(live), configuration=CONFIG, device=FOO0_ELSEWHERE, node="node-b")
    assert joined["spec"]["nodes"] == ["node-a", "node-b"]
    assert edits.device_owner(joined) == "node-a"
    # node-b's different view of the device changes nothing but spec.nodes
    assert joined["spec"]["brokerProperties"] == live["spec"]["brokerProperties"]
    assert joined["spec"]["shared"] is True
    # each node, re-joining, finds nothing to write: no back-and-forth
    assert edits.joined(copy.deepcopy(joined), configuration=CONFIG, device=FOO0, node="node-a") == joined
    assert edits.joined(copy.deepcopy(joined), configuration=CONFIG, device=FOO0_ELSEWHERE, node="node-b") == joined
    assert edits.refreshed(copy.deepcopy(joined), configuration=CONFIG, device=FOO0_ELSEWHERE,
                           node="node-b") == joined


def test_configuration_edits_are_applied_by_any_node() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    live["spec"]["nodes"] = ["node-a", "node-b"]
    edited = model.Configuration.from_dict({**CONFIG.to_dict(), "spec": {
        **CONFIG.to_dict()["spec"], "capacity": 5, "brokerProperties": {"RESOLUTION_WIDTH": "1024"}}})
    by_b = edits.joined(copy.deepcopy(live), configuration=edited, device=FOO0_ELSEWHERE, node="node-b")
    assert by_b["spec"]["capacity"] == 5
    assert by_b["spec"]["brokerProperties"] == {"DEBUG_ECHO_DESCRIPTION": "override", "OWN": "x",
                                                "RESOLUTION_WIDTH": "1024"}
    # the owner then drops the key the Configuration no longer sets; node-b agrees with the result
    by_a = edits.joined(copy.deepcopy(by_b), configuration=edited, device=FOO0, node="node-a")
    assert by_a["spec"]["brokerProperties"] == {"DEBUG_ECHO_DESCRIPTION": "foo0", "OWN": "x",
                                                "RESOLUTION_WIDTH": "1024"}
    assert edits.joined(copy.deepcopy(by_a), configuration=edited, device=FOO0_ELSEWHERE, node="node-b") == by_a


def test_the_next_listed_node_owns_the_device_once_the_first_left() -> None:
    live = edits.new_instance(CONFIG, FOO0, "node-a")
    live["spec"]["nodes"] = ["node-a", "node-b"]
    after = edits.left(live, node="node-a")
    assert edits.device_owner(after) == "node-b"
    rejoined = edits.joined(copy.deepcopy(after), configuration=CONFIG, device=FOO0_ELSEWHERE, node="node-b")
    assert rejoined["spec"]["brokerProperties"]["OWN"] == "y" and rejoined["spec"]["shared"] is False
