"""The DiscoveryFailed condition: one entry per failing node, own entry only, other conditions untouched."""

from __future__ import annotations

import datetime

from agent.controllers.conditions import NodeFailure, failures, find_condition, is_reported, with_discovery_condition
from agent.discovery.requests import DiscoveryStatus

NOW = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
LATER = NOW + datetime.timedelta(minutes=5)
BAD = DiscoveryStatus(False, "InvalidDiscoveryDetails", "descriptions: expected a list")
SECRET = DiscoveryStatus(False, "UnsolvableProperty", "secret missing")
OK = DiscoveryStatus(True)


def config(**status):
    return {"metadata": {"name": "c", "generation": 4}, "status": status}


def test_failure_is_added_next_to_other_conditions() -> None:
    obj = with_discovery_condition(config(conditions=[{"type": "Ready", "status": "True"}], observedGeneration=4),
                                   node="node-a", status=BAD, now=NOW)
    assert obj["status"]["conditions"][0] == {"type": "Ready", "status": "True"}
    assert obj["status"]["observedGeneration"] == 4
    assert find_condition(obj) == {
        "type": "DiscoveryFailed", "status": "True", "reason": "InvalidDiscoveryDetails",
        "message": "node node-a: InvalidDiscoveryDetails: descriptions: expected a list",
        "lastTransitionTime": "2024-05-01T00:00:00Z", "observedGeneration": 4}


def test_same_report_writes_nothing() -> None:
    obj = with_discovery_condition(config(), node="node-a", status=BAD, now=NOW)
    assert is_reported(obj, node="node-a", status=BAD)
    assert with_discovery_condition(obj, node="node-a", status=BAD, now=LATER) is None


def test_every_failing_node_has_its_entry_and_recovery_removes_only_its_own() -> None:
    obj = with_discovery_condition(config(), node="node-a", status=SECRET, now=NOW)
    obj = with_discovery_condition(obj, node="node-b", status=BAD, now=NOW)
    condition = find_condition(obj)
    assert condition["message"] == ("node node-a: UnsolvableProperty: secret missing; "
                                    "node node-b: InvalidDiscoveryDetails: descriptions: expected a list")
    assert condition["reason"] == "MultipleFailures"
    obj = with_discovery_condition(obj, node="node-b", status=OK, now=LATER)
    condition = find_condition(obj)
    assert (condition["status"], condition["reason"]) == ("True", "UnsolvableProperty")
    assert condition["message"] == "node node-a: UnsolvableProperty: secret missing"
    assert condition["lastTransitionTime"] == "2024-05-01T00:00:00Z"
    # node-a still failing the same way: its entry is there, nothing to write
    assert with_discovery_condition(obj, node="node-a", status=SECRET, now=LATER) is None
    assert failures(obj) == {"node-a": NodeFailure("UnsolvableProperty", "secret missing")}


def test_last_recovery_turns_the_condition_false() -> None:
    mine = with_discovery_condition(config(), node="node-a", status=BAD, now=NOW)
    assert with_discovery_condition(mine, node="node-b", status=OK, now=LATER) is None
    cleared = with_discovery_condition(mine, node="node-a", status=OK, now=LATER)
    condition = find_condition(cleared)
    assert (condition["status"], condition["reason"]) == ("False", "Discovering")
    assert condition["lastTransitionTime"] == "2024-05-01T00:05:00Z"
    assert with_discovery_condition(cleared, node="node-a", status=OK, now=LATER) is None


def test_healthy_and_nothing_recorded_writes_nothing() -> None:
    assert with_discovery_condition(config(), node="node-a", status=OK, now=NOW) is None


def test_a_wiped_entry_is_reported_again() -> None:
    both = with_discovery_condition(config(), node="node-a", status=BAD, now=NOW)
    both = with_discovery_condition(both, node="node-b", status=SECRET, now=NOW)
    wiped = config(conditions=[{"type": "InstancesDiscovered", "status": "True"}])  # status replaced wholesale
    assert not is_reported(wiped, node="node-a", status=BAD)
    again = with_discovery_condition(wiped, node="node-a", status=BAD, now=LATER)
    assert set(failures(again)) == {"node-a"}
    assert again["status"]["conditions"][0] == {"type": "InstancesDiscovered", "status": "True"}


def test_transition_time_kept_while_status_stays() -> None:
    first = with_discovery_condition(config(), node="node-a", status=BAD, now=NOW)
    second = with_discovery_condition(first, node="node-a", status=SECRET, now=LATER)
    assert find_condition(second)["lastTransitionTime"] == "2024-05-01T00:00:00Z"
    assert find_condition(second)["reason"] == "UnsolvableProperty"


def test_messages_stay_one_separable_line() -> None:
    noisy = DiscoveryStatus(False, "InvalidDiscoveryDetails", "line 1;\n  node x: Fake: y\t" + "z" * 5000)
    obj = with_discovery_condition(config(), node="node-a", status=noisy, now=NOW)
    obj = with_discovery_condition(obj, node="node-b", status=SECRET, now=NOW)
    entries = failures(obj)
    assert set(entries) == {"node-a", "node-b"}
    assert entries["node-a"].message.startswith("line 1, node x: Fake: y z")
    assert len(entries["node-a"].message) == 1024
    assert is_reported(obj, node="node-a", status=noisy)


def test_text_not_in_the_entry_format_is_dropped_on_rewrite() -> None:
    legacy = config(conditions=[{"type": "DiscoveryFailed", "status": "True", "reason": "X",
                                 "message": "node node-z: something old"}])
    assert failures(legacy) == {}
    obj = with_discovery_condition(legacy, node="node-a", status=BAD, now=NOW)
    assert set(failures(obj)) == {"node-a"}
