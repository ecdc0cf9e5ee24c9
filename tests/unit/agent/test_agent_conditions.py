"""The DiscoveryFailed condition: own reports only, other conditions untouched."""

from __future__ import annotations

import datetime

from agent.controllers.conditions import find_condition, with_discovery_condition
from agent.discovery.requests import DiscoveryStatus

NOW = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
LATER = NOW + datetime.timedelta(minutes=5)
BAD = DiscoveryStatus(False, "InvalidDiscoveryDetails", "descriptions: expected a list")


def config(**status):
    return {"metadata": {"name": "c", "generation": 4}, "status": status}


def test_failure_is_added_next_to_other_conditions() -> None:
    obj = with_discovery_condition(config(conditions=[{"type": "Ready", "status": "True"}], observedGeneration=4),
                                   node="node-a", status=BAD, now=NOW)
    assert obj["status"]["conditions"][0] == {"type": "Ready", "status": "True"}
    assert obj["status"]["observedGeneration"] == 4
    assert find_condition(obj) == {
        "type": "DiscoveryFailed", "status": "True", "reason": "InvalidDiscoveryDetails",
        "message": "node node-a: descriptions: expected a list", "lastTransitionTime": "2024-05-01T00:00:00Z",
        "observedGeneration": 4}


def test_same_report_writes_nothing() -> None:
    obj = with_discovery_condition(config(), node="node-a", status=BAD, now=NOW)
    assert with_discovery_condition(obj, node="node-a", status=BAD, now=LATER) is None


def test_healthy_node_clears_only_its_own_report() -> None:
    mine = with_discovery_condition(config(), node="node-a", status=BAD, now=NOW)
    assert with_discovery_condition(mine, node="node-b", status=DiscoveryStatus(True), now=LATER) is None
    cleared = with_discovery_condition(mine, node="node-a", status=DiscoveryStatus(True), now=LATER)
    condition = find_condition(cleared)
    assert (condition["status"], condition["reason"]) == ("False", "Discovering")
    assert condition["lastTransitionTime"] == "2024-05-01T00:05:00Z"
    assert with_discovery_condition(cleared, node="node-a", status=DiscoveryStatus(True), now=LATER) is None


def test_healthy_and_nothing_recorded_writes_nothing() -> None:
    assert with_discovery_condition(config(), node="node-a", status=DiscoveryStatus(True), now=NOW) is None


def test_transition_time_kept_while_status_stays() -> None:
    first = with_discovery_condition(config(), node="node-a", status=BAD, now=NOW)
    other = DiscoveryStatus(False, "UnsolvableProperty", "secret missing")
    second = with_discovery_condition(first, node="node-a", status=other, now=LATER)
    assert find_condition(second)["lastTransitionTime"] == "2024-05-01T00:00:00Z"
    assert find_condition(second)["reason"] == "UnsolvableProperty"
