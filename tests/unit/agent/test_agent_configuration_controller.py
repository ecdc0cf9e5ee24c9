"""The Configuration controller, reconcile by reconcile, against the fake API and fake endpoints.

Time is a fake clock; the work queue is replaced by a recorder (`scheduled`) so every reconcile is
an explicit call. Discovery runs through the real DiscoveryRequest and registry.
"""

from __future__ import annotations

import copy
import datetime

import pytest

from agent.controllers.configurations import ConfigurationController, ConfigurationSettings
from agent.devices.store import DeviceStore
from agent.discovery import errors
from agent.discovery.handler import Device
from agent.discovery.registry import DiscoveryHandlerRegistry
from agent.kube import errors as kube_errors
from agent.kube.resources import CONFIGURATIONS, EVENTS, INSTANCES
from agent.kube.watching import LISTED, WatchEvent
from agent.metrics import AgentMetrics
from tests.unit.agent.discovery_fakes import FakeEndpoint, settle
from tests.unit.agent.fakekube import FakeKube

NOW = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
KEY = ("default", "cfg")


def configuration(name: str = "cfg", *, handler: str = "fake", details: str = "d", capacity: int = 2,
                  broker: dict | None = None) -> dict:
    return {"apiVersion": "akri.sh/v0", "kind": "Configuration",
            "metadata": {"name": name, "namespace": "default", "generation": 1},
            "spec": {"discoveryHandler": {"name": handler, "discoveryDetails": details}, "capacity": capacity,
                     "brokerProperties": broker if broker is not None else {"B": "1"}}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Node:
    """One agent's Configuration controller on a shared FakeKube."""

    def __init__(self, kube: FakeKube, name: str, clock: Clock, *, shared_grace: float = 60.0,
                 local_grace: float = 0.0, settle_seconds: float = 5.0, existing: list[dict] | None = None) -> None:
        self.kube = kube
        self.registry = DiscoveryHandlerRegistry()
        self.devices = DeviceStore()
        self.metrics = AgentMetrics(process_metrics=False)
        self.scheduled: list[tuple[str, str]] = []
        self.controller = ConfigurationController(
            kube=kube, watch=None, registry=self.registry, devices=self.devices, metrics=self.metrics,  # type: ignore[arg-type]
            settings=ConfigurationSettings(node=name, shared_grace_seconds=shared_grace,
                                           local_grace_seconds=local_grace, settle_seconds=settle_seconds),
            clock=clock, wall_clock=lambda: NOW, schedule=self.scheduled.append)
        for obj in existing or []:
            self.controller.instances.apply(WatchEvent("ADDED", obj))
        self.controller.instances.apply(WatchEvent(LISTED))
        kube.subscribe(INSTANCES, self.controller.instances.apply)

    def endpoint(self, name: str = "fake", *, shared: bool = True) -> FakeEndpoint:
        endpoint = FakeEndpoint(name, uid=f"{name}@{id(self)}", shared=shared)
        self.registry.register(endpoint)
        return endpoint

    def apply(self, obj: dict, event_type: str = "ADDED") -> None:
        self.controller.on_configuration_event(WatchEvent(event_type, copy.deepcopy(obj)))

    def listed(self) -> None:
        self.controller.on_configuration_event(WatchEvent(LISTED))

    async def reconcile(self, key: tuple[str, str] = KEY) -> float | None:
        await settle()
        result = await self.controller.reconcile(key)
        await settle()
        return result

    async def close(self) -> None:
        await self.controller.close()


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def instances(kube: FakeKube) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in kube.all(INSTANCES)}


async def start(node: Node, kube: FakeKube, obj: dict | None = None) -> dict:
    stored = kube.put(CONFIGURATIONS, obj or configuration())
    node.apply(stored)
    node.listed()
    await node.reconcile()
    return stored


async def test_devices_become_instances(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    endpoint = node.endpoint()
    stored = await start(node, kube)
    assert endpoint.calls == [("d", {})]
    endpoint.push("foo0", "foo1")
    await node.reconcile()
    found = instances(kube)
    assert set(found) == {"cfg-8120fe", "cfg-a19705"}
    instance = found["cfg-8120fe"]
    assert instance["metadata"]["labels"] == {"akri.sh/configuration": "cfg"}
    assert instance["metadata"]["ownerReferences"][0]["uid"] == stored["metadata"]["uid"]
    assert instance["spec"] == {"configurationName": "cfg", "cdiName": "akri.sh/cfg=8120fe", "capacity": 2,
                                "brokerProperties": {"ID": "foo0", "B": "1"}, "shared": True,
                                "nodes": ["node-a"], "deviceUsage": {}}
    record = node.devices.get("akri.sh/cfg=8120fe")
    assert record is not None and record.device.id == "foo0" and dict(record.broker_properties) == {"B": "1"}
    assert 'akri_instance_count{configuration="cfg",is_shared="true"} 2.0' in node.metrics.render().decode()
    writes = len(kube.writes)
    await node.reconcile()  # nothing changed: no API write
    assert len(kube.writes) == writes
    await node.close()


async def test_duplicate_and_status_only_events_change_nothing(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    stored = kube.put(CONFIGURATIONS, configuration())
    node.apply(stored)
    assert node.scheduled == [KEY]
    node.scheduled.clear()
    node.apply(stored)
    node.apply(stored, "MODIFIED")
    with_status = copy.deepcopy(stored)
    with_status["status"] = {"observedGeneration": 1}
    with_status["metadata"]["resourceVersion"] = "999"
    node.apply(with_status, "MODIFIED")
    assert node.scheduled == []
    edited = copy.deepcopy(stored)
    edited["spec"]["brokerProperties"] = {"B": "2"}
    node.apply(edited, "MODIFIED")
    assert node.scheduled == [KEY]


async def test_shared_device_on_two_nodes_makes_one_instance(kube: FakeKube, clock: Clock) -> None:
    a, b = Node(kube, "node-a", clock), Node(kube, "node-b", clock)
    ea, eb = a.endpoint(), b.endpoint()
    stored = await start(a, kube)
    b.apply(stored)
    b.listed()
    await b.reconcile()
    ea.push("cam")
    eb.push("cam")
    await a.reconcile()
    await b.reconcile()
    (instance,) = instances(kube).values()
    assert instance["spec"]["nodes"] == ["node-a", "node-b"]
    # node-a stops seeing it: held for the shared grace period, then only node-a leaves.
    ea.push()
    assert await a.reconcile() == pytest.approx(60.0)
    assert instances(kube)[instance["metadata"]["name"]]["spec"]["nodes"] == ["node-a", "node-b"]
    clock.now += 60
    await a.reconcile()
    assert instances(kube)[instance["metadata"]["name"]]["spec"]["nodes"] == ["node-b"]
    assert a.devices.get(instance["spec"]["cdiName"]) is None
    # node-b too: the Instance goes.
    eb.push()
    await b.reconcile()
    clock.now += 60
    await b.reconcile()
    assert instances(kube) == {}
    await a.close()
    await b.close()


async def test_device_back_within_grace_changes_nothing(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    endpoint = node.endpoint()
    await start(node, kube)
    endpoint.push("cam")
    await node.reconcile()
    writes = len(kube.writes)
    endpoint.push()
    await node.reconcile()
    clock.now += 59
    endpoint.push("cam")
    await node.reconcile()
    clock.now += 120
    await node.reconcile()
    assert len(kube.writes) == writes
    assert len(instances(kube)) == 1
    await node.close()


async def test_local_devices_are_per_node_and_go_at_once(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "my_node", clock)
    endpoint = node.endpoint(shared=False)
    await start(node, kube)
    endpoint.push("my_local_device")
    await node.reconcile()
    (instance,) = instances(kube).values()
    assert instance["metadata"]["name"] == "cfg-e77db4" and instance["spec"]["shared"] is False
    endpoint.push()
    await node.reconcile()
    assert instances(kube) == {}
    assert len(node.devices) == 0
    await node.close()


async def test_configuration_edits_reach_instances_and_keep_device_usage(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    endpoint = node.endpoint()
    stored = await start(node, kube)
    endpoint.push("cam")
    await node.reconcile()
    (name,) = instances(kube)
    live = kube.stored(INSTANCES, name)
    live["spec"]["deviceUsage"] = {f"{name}-0": "node-a"}  # written by a device plugin
    await kube.replace(INSTANCES, live)
    edited = copy.deepcopy(stored)
    edited["spec"]["capacity"] = 4
    edited["spec"]["brokerProperties"] = {"B": "2", "C": "3"}
    node.apply(edited, "MODIFIED")
    await node.reconcile()
    spec = instances(kube)[name]["spec"]
    assert spec["capacity"] == 4 and spec["brokerProperties"] == {"ID": "cam", "B": "2", "C": "3"}
    assert spec["deviceUsage"] == {f"{name}-0": "node-a"}
    assert len(endpoint.calls) == 1  # brokerProperties/capacity do not restart discovery
    assert dict(node.devices.get(spec["cdiName"]).broker_properties) == {"B": "2", "C": "3"}
    await node.close()


async def test_details_change_restarts_discovery_and_drops_old_devices_at_settle(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    endpoint = node.endpoint()
    stored = await start(node, kube)
    endpoint.push("old")
    await node.reconcile()
    edited = copy.deepcopy(stored)
    edited["spec"]["discoveryHandler"]["discoveryDetails"] = "new details"
    node.apply(edited, "MODIFIED")
    await node.reconcile()
    assert [c[0] for c in endpoint.calls] == ["d", "new details"]
    assert endpoint.active == 1  # the old stream was dropped
    # The new request has not answered: "old" is kept until it settles.
    assert [i["spec"]["brokerProperties"]["ID"] for i in instances(kube).values()] == ["old"]
    endpoint.push("new")
    await node.reconcile()  # settled: "old" is released without the 60 s grace
    assert [i["spec"]["brokerProperties"]["ID"] for i in instances(kube).values()] == ["new"]
    await node.close()


async def test_deleting_the_configuration_stops_discovery_and_removes_instances(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    endpoint = node.endpoint()
    stored = await start(node, kube)
    endpoint.push("a", "b")
    await node.reconcile()
    assert len(instances(kube)) == 2
    node.apply(stored, "DELETED")
    await node.reconcile()
    assert instances(kube) == {}
    assert endpoint.active == 0 and len(node.devices) == 0
    assert 'akri_instance_count{configuration="cfg"' not in node.metrics.render().decode()
    await node.close()


async def test_restart_adopts_instances_without_churn(kube: FakeKube, clock: Clock) -> None:
    first = Node(kube, "node-a", clock)
    endpoint = first.endpoint()
    stored = await start(first, kube)
    endpoint.push("kept", "gone")
    await first.reconcile()
    await first.close()
    before = instances(kube)
    writes = len(kube.writes)

    second = Node(kube, "node-a", clock, existing=list(before.values()))  # the restarted agent
    again = second.endpoint()
    second.apply(stored)
    second.listed()
    await second.reconcile()
    assert len(kube.writes) == writes  # nothing removed while discovery has not answered
    again.push("kept")
    assert await second.reconcile() == pytest.approx(60.0)  # "gone" waits one grace period
    assert instances(kube) == before and len(kube.writes) == writes
    clock.now += 60
    await second.reconcile()
    after = instances(kube)
    assert list(after) == [n for n in before if before[n]["spec"]["brokerProperties"]["ID"] == "kept"]
    kept = next(iter(after))
    assert after[kept]["metadata"]["uid"] == before[kept]["metadata"]["uid"]
    await second.close()


async def test_nothing_is_removed_while_discovery_has_not_settled(kube: FakeKube, clock: Clock) -> None:
    existing = {"apiVersion": "akri.sh/v0", "kind": "Instance",
                "metadata": {"name": "cfg-abcdef", "namespace": "default"},
                "spec": {"configurationName": "cfg", "cdiName": "akri.sh/cfg=abcdef", "capacity": 1,
                         "shared": False, "nodes": ["node-a"], "deviceUsage": {}, "brokerProperties": {}}}
    stored_instance = kube.put(INSTANCES, existing)
    node = Node(kube, "node-a", clock, existing=[stored_instance], settle_seconds=5)
    node.endpoint(shared=False)  # registered but silent
    wake = await start(node, kube)
    assert instances(kube)
    assert await node.reconcile() == pytest.approx(5.01)
    clock.now += 5.01
    await node.reconcile()  # settled by deadline; local grace 0 → released
    assert instances(kube) == {}
    del wake
    await node.close()


async def test_invalid_details_reported_while_other_configurations_work(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    bad_endpoint = node.endpoint("bad")
    good_endpoint = node.endpoint("good")
    bad = kube.put(CONFIGURATIONS, configuration("broken", handler="bad"))
    good = kube.put(CONFIGURATIONS, configuration("fine", handler="good"))
    node.apply(bad)
    node.apply(good)
    node.listed()
    await node.reconcile(("default", "broken"))
    await node.reconcile(("default", "fine"))
    bad_endpoint.feed.put_nowait(errors.InvalidDiscoveryDetails("descriptions: expected a list, got 'x'"))
    good_endpoint.push("ok")
    await node.reconcile(("default", "broken"))
    await node.reconcile(("default", "fine"))
    status = kube.stored(CONFIGURATIONS, "broken")["status"]
    (condition,) = status["conditions"]
    assert condition["type"] == "DiscoveryFailed" and condition["status"] == "True"
    assert condition["reason"] == "InvalidDiscoveryDetails"
    assert condition["message"] == "node node-a: InvalidDiscoveryDetails: descriptions: expected a list, got 'x'"
    (event,) = kube.all(EVENTS)
    assert event["reason"] == "InvalidDiscoveryDetails"
    assert event["involvedObject"]["name"] == "broken" and event["involvedObject"]["kind"] == "Configuration"
    assert [i["spec"]["configurationName"] for i in kube.all(INSTANCES)] == ["fine"]
    assert "status" not in kube.stored(CONFIGURATIONS, "fine")
    # Same failure again: no second status write, no second Event.
    writes = len(kube.writes)
    await node.reconcile(("default", "broken"))
    assert len(kube.writes) == writes
    await node.close()


async def test_waiting_for_a_handler_is_reported_then_cleared(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock, settle_seconds=5)
    await start(node, kube)
    assert "status" not in kube.stored(CONFIGURATIONS, "cfg")  # not reported during the settle time
    clock.now += 6
    await node.reconcile()
    condition = kube.stored(CONFIGURATIONS, "cfg")["status"]["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("True", "NoDiscoveryHandler")
    endpoint = node.endpoint()
    await settle()
    endpoint.push("x")
    await node.reconcile()
    condition = kube.stored(CONFIGURATIONS, "cfg")["status"]["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "Discovering")
    assert len(instances(kube)) == 1
    assert kube.all(EVENTS) == []  # waiting is not a Warning
    await node.close()


async def test_invalid_configuration_is_reported(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    broken = configuration()
    broken["spec"]["capacity"] = "many"
    stored = kube.put(CONFIGURATIONS, broken)
    node.apply(stored)
    await node.reconcile()
    condition = kube.stored(CONFIGURATIONS, "cfg")["status"]["conditions"][0]
    assert condition["reason"] == "InvalidConfiguration" and "spec.capacity" in condition["message"]
    await node.close()


async def test_instances_of_a_vanished_configuration_are_left_after_listing(kube: FakeKube, clock: Clock) -> None:
    orphan = kube.put(INSTANCES, {
        "metadata": {"name": "gone-123456", "namespace": "default"},
        "spec": {"configurationName": "gone", "cdiName": "akri.sh/gone=123456", "capacity": 1, "shared": True,
                 "nodes": ["node-a", "node-b"], "deviceUsage": {}, "brokerProperties": {}}})
    node = Node(kube, "node-a", clock, existing=[orphan])
    node.listed()
    assert node.scheduled == [("default", "gone")]
    await node.reconcile(("default", "gone"))
    assert kube.stored(INSTANCES, "gone-123456")["spec"]["nodes"] == ["node-b"]
    await node.close()


async def test_nodes_seeing_different_properties_do_not_rewrite_each_other(kube: FakeKube, clock: Clock) -> None:
    a, b = Node(kube, "node-a", clock), Node(kube, "node-b", clock)
    ea, eb = a.endpoint(), b.endpoint()
    stored = kube.put(CONFIGURATIONS, configuration())
    for node in (a, b):
        node.apply(stored)
        node.listed()
        await node.reconcile()
    ea.feed.put_nowait([Device(id="cam", properties={"ID": "cam", "RSSI": "-40"})])
    eb.feed.put_nowait([Device(id="cam", properties={"ID": "cam", "RSSI": "-70"})])
    for _ in range(5):
        await a.reconcile()
        await b.reconcile()
    assert len(kube.writes_of(INSTANCES)) == 2  # node-a creates, node-b joins; then nothing
    (instance,) = instances(kube).values()
    assert instance["spec"]["nodes"] == ["node-a", "node-b"]
    assert instance["spec"]["brokerProperties"] == {"ID": "cam", "RSSI": "-40", "B": "1"}  # the creator's view
    # each node still hands its own view of the device to its brokers
    assert b.devices.get(instance["spec"]["cdiName"]).device.properties["RSSI"] == "-70"
    # a Configuration edit is applied once, by whichever node gets there first
    edited = copy.deepcopy(stored)
    edited["spec"]["brokerProperties"] = {"B": "2"}
    a.apply(edited, "MODIFIED")
    b.apply(edited, "MODIFIED")
    await b.reconcile()
    await a.reconcile()
    await b.reconcile()
    assert len(kube.writes_of(INSTANCES)) == 3
    assert instances(kube)[instance["metadata"]["name"]]["spec"]["brokerProperties"]["B"] == "2"
    await a.close()
    await b.close()


async def test_leaving_frees_this_nodes_slots(kube: FakeKube, clock: Clock) -> None:
    a, b = Node(kube, "node-a", clock), Node(kube, "node-b", clock, shared_grace=0)
    ea, eb = a.endpoint(), b.endpoint()
    stored = await start(a, kube)
    b.apply(stored)
    b.listed()
    await b.reconcile()
    ea.push("cam")
    eb.push("cam")
    await a.reconcile()
    await b.reconcile()
    (name,) = instances(kube)
    live = kube.stored(INSTANCES, name)
    live["spec"]["deviceUsage"] = {f"{name}-0": "node-b", f"{name}-1": "C:cfg-0:node-a"}  # device plugins' claims
    await kube.replace(INSTANCES, live)
    eb.push()
    await b.reconcile()
    spec = instances(kube)[name]["spec"]
    assert spec["nodes"] == ["node-a"] and spec["deviceUsage"] == {f"{name}-1": "C:cfg-0:node-a"}
    await a.close()
    await b.close()


def discovery_failed(kube: FakeKube) -> dict | None:
    conditions = (kube.stored(CONFIGURATIONS, "cfg").get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "DiscoveryFailed"), None)


async def test_one_nodes_recovery_does_not_hide_anothers_failure(kube: FakeKube, clock: Clock) -> None:
    a, b = Node(kube, "node-a", clock, settle_seconds=5), Node(kube, "node-b", clock, settle_seconds=5)
    ea = a.endpoint()  # node-b has no discovery handler yet
    stored = kube.put(CONFIGURATIONS, configuration())
    for node in (a, b):
        node.apply(stored)
        node.listed()
        await node.reconcile()
    ea.feed.put_nowait(errors.InvalidDiscoveryDetails("bad on a"))
    clock.now += 6
    for node in (a, b):
        node.apply(kube.stored(CONFIGURATIONS, "cfg"), "MODIFIED")
        await node.reconcile()
    condition = discovery_failed(kube)
    assert condition["reason"] == "MultipleFailures"
    assert condition["message"] == ("node node-a: InvalidDiscoveryDetails: bad on a; "
                                    "node node-b: NoDiscoveryHandler: " + condition["message"].split(
                                        "node node-b: NoDiscoveryHandler: ")[1])
    eb = b.endpoint()  # node-b recovers, node-a keeps failing
    await settle()
    eb.push("cam")
    b.apply(kube.stored(CONFIGURATIONS, "cfg"), "MODIFIED")
    await b.reconcile()
    condition = discovery_failed(kube)
    assert (condition["status"], condition["reason"]) == ("True", "InvalidDiscoveryDetails")
    assert condition["message"] == "node node-a: InvalidDiscoveryDetails: bad on a"
    writes = len(kube.writes)
    a.apply(kube.stored(CONFIGURATIONS, "cfg"), "MODIFIED")
    await a.reconcile()  # node-a's entry is still there: nothing to write
    assert len(kube.writes) == writes
    await a.close()
    await b.close()


async def test_a_wiped_report_is_written_again_on_the_next_event(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    endpoint = node.endpoint()
    await start(node, kube)
    endpoint.feed.put_nowait(errors.InvalidDiscoveryDetails("descriptions: expected a list"))
    await node.reconcile()
    assert discovery_failed(kube)["status"] == "True"
    node.apply(kube.stored(CONFIGURATIONS, "cfg"), "MODIFIED")  # the event of our own write
    node.scheduled.clear()
    # Metacontroller replaces the status from a snapshot taken before the report
    live = kube.stored(CONFIGURATIONS, "cfg")
    await kube.patch(CONFIGURATIONS, "cfg", {"metadata": {"resourceVersion": live["metadata"]["resourceVersion"]},
                                             "status": {"conditions": [{"type": "InstancesDiscovered",
                                                                        "status": "False"}]}},
                     "default", subresource="status")
    wiped = kube.stored(CONFIGURATIONS, "cfg")
    assert discovery_failed(kube) is None
    node.apply(wiped, "MODIFIED")
    assert node.scheduled == [KEY]  # a status-only event, but it no longer shows this node's failure
    await node.reconcile()
    assert discovery_failed(kube)["message"] == "node node-a: InvalidDiscoveryDetails: descriptions: expected a list"
    assert [c["type"] for c in kube.stored(CONFIGURATIONS, "cfg")["status"]["conditions"]] == [
        "InstancesDiscovered", "DiscoveryFailed"]
    assert len(kube.all(EVENTS)) == 1  # re-asserting is not a new failure
    # the event of that write shows the report: nothing scheduled, and a pass writes nothing
    node.scheduled.clear()
    node.apply(kube.stored(CONFIGURATIONS, "cfg"), "MODIFIED")
    assert node.scheduled == []
    writes = len(kube.writes)
    await node.reconcile()
    assert len(kube.writes) == writes
    await node.close()


async def test_a_stale_report_of_this_node_is_removed(kube: FakeKube, clock: Clock) -> None:
    stale = configuration()
    stale["status"] = {"conditions": [{"type": "DiscoveryFailed", "status": "True", "reason": "UnsolvableProperty",
                                       "message": "node node-a: UnsolvableProperty: gone; "
                                                  "node node-b: UnsolvableProperty: still"}]}
    node = Node(kube, "node-a", clock)
    endpoint = node.endpoint()
    await start(node, kube, stale)  # e.g. written before this agent restarted
    endpoint.push("cam")
    await node.reconcile()
    assert discovery_failed(kube)["message"] == "node node-b: UnsolvableProperty: still"
    await node.close()


async def test_a_failed_instance_write_does_not_stop_the_others(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    endpoint = node.endpoint()
    await start(node, kube)
    kube.fail_next.append(("create", kube_errors.Invalid(422, "Invalid", "metadata.labels: Invalid value")))
    endpoint.push("foo0", "foo1")
    wake = await node.reconcile()
    assert len(instances(kube)) == 1  # the second device was still written
    condition = discovery_failed(kube)
    assert (condition["status"], condition["reason"]) == ("True", "InstanceWriteFailed")
    assert condition["message"] == ("node node-a: InstanceWriteFailed: could not write Instance default/cfg-8120fe: "
                                    "metadata.labels: Invalid value")
    (event,) = kube.all(EVENTS)
    assert event["reason"] == "InstanceWriteFailed"
    assert wake == pytest.approx(1.0)  # retried after a backoff
    await node.reconcile()
    assert len(instances(kube)) == 2
    assert discovery_failed(kube)["status"] == "False"
    await node.close()


async def test_same_named_configurations_in_two_namespaces_keep_their_devices(kube: FakeKube, clock: Clock) -> None:
    node = Node(kube, "node-a", clock)
    first, second = node.endpoint("one"), node.endpoint("two")
    one = kube.put(CONFIGURATIONS, configuration(handler="one", broker={"WHERE": "default"}))
    other = configuration(handler="two", broker={"WHERE": "other"})
    other["metadata"]["namespace"] = "other"
    two = kube.put(CONFIGURATIONS, other)
    node.apply(one)
    node.apply(two)
    node.listed()
    await node.reconcile(("default", "cfg"))
    await node.reconcile(("other", "cfg"))
    first.push("cam")
    second.push("cam")
    await node.reconcile(("default", "cfg"))
    await node.reconcile(("other", "cfg"))
    assert sorted(i["metadata"]["namespace"] for i in kube.all(INSTANCES)) == ["default", "other"]
    cdi = next(iter(instances(kube).values()))["spec"]["cdiName"]
    assert dict(node.devices.get(cdi, namespace="default").broker_properties) == {"WHERE": "default"}
    assert dict(node.devices.get(cdi, namespace="other").broker_properties) == {"WHERE": "other"}
    node.apply(two, "DELETED")
    await node.reconcile(("other", "cfg"))
    assert node.devices.get(cdi, namespace="other") is None
    assert node.devices.get(cdi, namespace="default") is not None
    await node.close()
