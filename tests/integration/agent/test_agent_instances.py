"""Configurations → discovery → Instances on the API (emulator or real cluster), in-process agents."""

from __future__ import annotations

import asyncio

import pytest

from akri_api import naming
from tests.integration.agent.conftest import AgentRunner, Api, ControlledHandler, eventually

pytestmark = pytest.mark.integration


async def test_instances_appear_and_vanish_with_devices(api: Api, agents: AgentRunner) -> None:
    node = agents.node("node-a")
    shared, local = ControlledHandler("sharedctl", shared=True), ControlledHandler("localctl", shared=False)
    shared.set("cam-1", "cam-2")
    local.set("usb-1")
    agent = await agents.start(node, [shared, local], shared_grace=0.2, local_grace=0.0)
    await api.create_configuration("cams", "sharedctl", capacity=2, broker_properties={"RES": "800"})
    await api.create_configuration("usb", "localctl")

    cams = await eventually(lambda: _count(api, "cams", 2), message="two shared Instances")
    name = naming.instance_name("cams", "cam-1", shared=True)
    instance = cams[name]
    assert instance["metadata"]["labels"][naming.LABEL_CONFIGURATION] == "cams"
    owner = instance["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Configuration", "cams", True)
    assert owner["uid"] == (await api.configuration("cams"))["metadata"]["uid"]
    assert instance["spec"] == {"configurationName": "cams", "cdiName": f"akri.sh/cams={name[-6:]}", "capacity": 2,
                                "brokerProperties": {"DEVICE_ID": "cam-1", "RES": "800"}, "shared": True,
                                "nodes": [node], "deviceUsage": {}}
    usb = await eventually(lambda: _count(api, "usb", 1), message="one local Instance")
    assert list(usb) == [naming.instance_name("usb", "usb-1", shared=False, node=node)]
    assert usb[list(usb)[0]]["spec"]["shared"] is False
    assert agent.devices.get(instance["spec"]["cdiName"], namespace=api.namespace).device.id == "cam-1"
    metrics = agent.metrics.render().decode()
    assert 'akri_instance_count{configuration="cams",is_shared="true"} 2.0' in metrics
    assert 'akri_discovery_response_result{discovery_handler_name="sharedctl",result="Success"}' in metrics

    shared.set("cam-2")
    local.set()
    await eventually(lambda: _count(api, "cams", 1), message="cam-1 gone after its grace period")
    await eventually(lambda: _none(api, "usb"), message="local device gone at once")
    assert agent.devices.get(instance["spec"]["cdiName"], namespace=api.namespace) is None


async def test_device_back_within_grace_changes_nothing(api: Api, agents: AgentRunner) -> None:
    handler = ControlledHandler("flappy", shared=True)
    handler.set("cam")
    await agents.start(agents.node("node-a"), [handler], shared_grace=30.0)
    await api.create_configuration("flap", "flappy")
    (before,) = (await eventually(lambda: _count(api, "flap", 1))).values()
    handler.set()
    await asyncio.sleep(0.5)
    handler.set("cam")
    await asyncio.sleep(0.5)
    (after,) = (await api.instances("flap")).values()
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_two_agents_share_one_device(api: Api, agents: AgentRunner) -> None:
    node_a, node_b = agents.node("node-a"), agents.node("node-b")
    on_a, on_b = ControlledHandler("cams", shared=True), ControlledHandler("cams", shared=True)
    on_a.set("cam")
    on_b.set("cam")
    await agents.start(node_a, [on_a], shared_grace=0.2)
    await agents.start(node_b, [on_b], shared_grace=0.2)
    await api.create_configuration("shared", "cams")
    name = naming.instance_name("shared", "cam", shared=True)

    async def both() -> dict | None:
        found = await api.instances("shared")
        return found if name in found and sorted(found[name]["spec"]["nodes"]) == sorted([node_a, node_b]) else None

    first = (await eventually(both, message="one Instance listing both nodes"))
    assert list(first) == [name]
    uid = first[name]["metadata"]["uid"]
    on_a.set()

    async def only_b() -> bool:
        found = await api.instances("shared")
        return name in found and found[name]["spec"]["nodes"] == [node_b]

    await eventually(only_b, message="node-a left, node-b remains")
    assert (await api.instances("shared"))[name]["metadata"]["uid"] == uid
    on_b.set()
    await eventually(lambda: _none(api, "shared"), message="deleted when no node is left")


async def test_configuration_edits_and_deletion(api: Api, agents: AgentRunner) -> None:
    handler = ControlledHandler("editable", shared=True)
    handler.set("one", details="first")
    handler.set("two", details="second")
    agent = await agents.start(agents.node("node-a"), [handler], shared_grace=0.2)
    await api.create_configuration("edit", "editable", details="first", capacity=1, broker_properties={"A": "1"})
    (instance,) = (await eventually(lambda: _count(api, "edit", 1))).values()
    name = instance["metadata"]["name"]
    instance["spec"]["deviceUsage"] = {f"{name}-0": "some-node"}  # as a device plugin would
    await api.replace_instance(instance)

    await api.patch_configuration("edit", {"spec": {"capacity": 3, "brokerProperties": {"A": "2", "B": "3"}}})

    async def updated() -> dict | None:
        spec = (await api.instances("edit"))[name]["spec"]
        return spec if spec["capacity"] == 3 and spec["brokerProperties"].get("A") == "2" else None

    spec = await eventually(updated, message="capacity and brokerProperties propagated")
    assert spec["brokerProperties"] == {"DEVICE_ID": "one", "A": "2", "B": "3"}
    assert spec["deviceUsage"] == {f"{name}-0": "some-node"}
    assert (await api.instances("edit"))[name]["metadata"]["uid"] == instance["metadata"]["uid"]
    assert handler.calls == ["first"]
    assert dict(agent.devices.get(spec["cdiName"], namespace=api.namespace).broker_properties) == {"A": "2", "B": "3"}

    await api.patch_configuration("edit", {"spec": {"discoveryHandler": {"discoveryDetails": "second"}}})

    async def rediscovered() -> bool:
        found = await api.instances("edit")
        return [i["spec"]["brokerProperties"]["DEVICE_ID"] for i in found.values()] == ["two"]

    await eventually(rediscovered, message="details change restarts discovery")
    assert handler.calls == ["first", "second"]

    await api.delete_configuration("edit")
    await eventually(lambda: _none(api, "edit"), message="Instances go with the Configuration")

    async def forgotten() -> bool:
        return len(agent.devices) == 0 and not await api.instances("edit")

    await eventually(forgotten, message="the agent forgot the Configuration's devices")


async def _count(api: Api, configuration: str, wanted: int) -> dict | None:
    found = await api.instances(configuration)
    return found if len(found) == wanted else None


async def _none(api: Api, configuration: str) -> bool:
    return not await api.instances(configuration)
