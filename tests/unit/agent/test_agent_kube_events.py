"""Kubernetes Events about Configurations."""

from __future__ import annotations

import datetime

from agent.kube.events import MESSAGE_MAX_CHARS, event_body, record_event
from agent.kube.resources import EVENTS
from tests.unit.agent.fakekube import FakeKube

CONFIG = {"apiVersion": "akri.sh/v0", "kind": "Configuration",
          "metadata": {"name": "cfg", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"}}
NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def test_event_points_at_the_object() -> None:
    body = event_body(CONFIG, reason="InvalidDiscoveryDetails", message="x" * 5000, event_type="Warning",
                      host="node-a", now=NOW)
    assert body["involvedObject"] == {"apiVersion": "akri.sh/v0", "kind": "Configuration", "name": "cfg",
                                      "namespace": "ns", "uid": "u-1", "resourceVersion": "7"}
    assert body["metadata"] == {"generateName": "cfg.", "namespace": "ns"}
    assert body["reason"] == "InvalidDiscoveryDetails" and body["type"] == "Warning"
    assert body["source"] == {"component": "akri-agent", "host": "node-a"}
    assert body["firstTimestamp"] == "2024-05-01T12:00:00Z"
    assert len(body["message"]) == MESSAGE_MAX_CHARS


async def test_record_event_creates_it_in_the_objects_namespace() -> None:
    kube = FakeKube()
    await record_event(kube, CONFIG, reason="R", message="m", host="node-a", now=NOW)
    (event,) = kube.all(EVENTS)
    assert event["metadata"]["namespace"] == "ns" and event["metadata"]["name"].startswith("cfg.")
