"""The discovery-handler protocol over real gRPC on unix sockets: registration, crashes,
re-registration after an agent restart, a standalone process, and bad discoveryDetails."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import grpc
import pytest

from agent.aiokits.stopper import Stopper
from agent.discovery._pb import discovery_pb2 as pb
from agent.discovery._pb import discovery_pb2_grpc as pb_grpc
from agent.discovery.handlers.debug_echo import DebugEchoHandler
from agent.discovery.standalone import serve_handler
from tests.integration.agent.conftest import AgentRunner, Api, ControlledHandler, eventually

pytestmark = pytest.mark.integration


async def _instances(api: Api, configuration: str, wanted: int) -> dict | None:
    found = await api.instances(configuration)
    return found if len(found) == wanted else None


async def _none(api: Api, configuration: str) -> bool:
    return not await api.instances(configuration)


def _serve(handler: ControlledHandler, directory: str) -> tuple[asyncio.Task[None], asyncio.Event]:
    registered = asyncio.Event()
    task = asyncio.create_task(serve_handler(handler, directory=directory, registered=registered,
                                             retry_backoffs=(0.1,), check_interval=0.1))
    return task, registered


async def test_handler_crash_reregistration_and_agent_restart(api: Api, agents: AgentRunner, short_dir: str) -> None:
    node = agents.node("node-a")
    agent = await agents.start(node, [], directory=short_dir, shared_grace=0.2, settle=2.0)
    handler = ControlledHandler("external", shared=True)
    handler.set("cam")
    served, registered = _serve(handler, short_dir)
    await asyncio.wait_for(registered.wait(), 10)
    endpoints = agent.registry.endpoints("external")
    assert [e.uid for e in endpoints] == [f"external@{short_dir}/external.sock"]
    await api.create_configuration("ext", "external")
    (first,) = (await eventually(lambda: _instances(api, "ext", 1), message="Instance via gRPC")).values()

    # The handler crashes: its devices are lost (after the shared grace period) ...
    served.cancel()
    await asyncio.gather(served, return_exceptions=True)
    await eventually(lambda: _none(api, "ext"), message="devices of a dead handler vanish")
    # ... and it comes back: it registers again and discovery resumes.
    served, registered = _serve(handler, short_dir)
    await asyncio.wait_for(registered.wait(), 10)
    (second,) = (await eventually(lambda: _instances(api, "ext", 1), message="discovery resumed")).values()
    assert second["metadata"]["name"] == first["metadata"]["name"]

    # The agent restarts: the handler notices the new registration socket and registers again;
    # the Instance is adopted, not recreated or rewritten.
    await agents.stop(agent)
    registered.clear()
    agent = await agents.start(node, [], directory=short_dir, shared_grace=0.2, settle=2.0)
    await asyncio.wait_for(registered.wait(), 10)
    await eventually(lambda: _has_device(agent, api.namespace, second["spec"]["cdiName"]),
                     message="rediscovered after restart")
    (third,) = (await api.instances("ext")).values()
    assert third["metadata"]["uid"] == second["metadata"]["uid"]
    assert third["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
    served.cancel()
    await asyncio.gather(served, return_exceptions=True)


async def test_idle_handler_reregisters_after_agent_restart(api: Api, agents: AgentRunner, short_dir: str) -> None:
    """No Configuration uses the handler, so no Discover stream drops: the handler notices the
    restart only by the recreated registration socket, and registers with the new agent."""
    node = agents.node("node-a")
    agent = await agents.start(node, [], directory=short_dir)
    handler = ControlledHandler("idle", shared=False)
    served, registered = _serve(handler, short_dir)
    await asyncio.wait_for(registered.wait(), 10)
    assert [e.name for e in agent.registry.endpoints("idle")] == ["idle"]
    await agents.stop(agent)
    registered.clear()
    agent = await agents.start(node, [], directory=short_dir)
    await asyncio.wait_for(registered.wait(), 10)
    assert [e.uid for e in agent.registry.endpoints("idle")] == [f"idle@{short_dir}/idle.sock"]
    assert handler.calls == []  # never asked to discover: it was the socket check
    served.cancel()
    await asyncio.gather(served, return_exceptions=True)


async def _has_device(agent: object, namespace: str, cdi_name: str) -> bool:
    return agent.devices.get(cdi_name, namespace=namespace) is not None  # type: ignore[attr-defined]


async def test_any_number_of_endpoints_per_handler_name(api: Api, agents: AgentRunner, short_dir: str) -> None:
    agent = await agents.start(agents.node("node-a"), [], directory=short_dir)
    one, two = ControlledHandler("multi", shared=True), ControlledHandler("multi", shared=True)
    one.set("a", "b")
    two.set("b", "c")
    sub_one, sub_two = os.path.join(short_dir, "1"), os.path.join(short_dir, "2")
    # Both register with the same agent socket but serve on different sockets.
    os.makedirs(sub_one)
    os.makedirs(sub_two)
    for sub in (sub_one, sub_two):
        os.symlink(os.path.join(short_dir, "agent-registration.sock"), os.path.join(sub, "agent-registration.sock"))
    tasks = []
    for handler, sub in ((one, sub_one), (two, sub_two)):
        task, registered = _serve(handler, sub)
        tasks.append(task)
        await asyncio.wait_for(registered.wait(), 10)
    assert len(agent.registry.endpoints("multi")) == 2
    await api.create_configuration("multi", "multi")
    found = await eventually(lambda: _instances(api, "multi", 3), message="merged, de-duplicated devices")
    assert sorted(i["spec"]["brokerProperties"]["DEVICE_ID"] for i in found.values()) == ["a", "b", "c"]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_invalid_details_are_reported_while_others_work(api: Api, agents: AgentRunner, tmp_path: Path) -> None:
    echo = DebugEchoHandler(shared=True, availability_file=str(tmp_path / "availability"),
                            poll_interval_seconds=0.1)
    agent = await agents.start(agents.node("node-a"), [echo])
    await api.create_configuration("broken", "debugEcho", details="descriptions: not-a-list")
    await api.create_configuration("fine", "debugEcho", details="descriptions: [foo0]")

    async def failed() -> dict | None:
        conditions = ((await api.configuration("broken")).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "DiscoveryFailed" and c["status"] == "True"), None)

    condition = await eventually(failed, message="DiscoveryFailed condition on the broken Configuration")
    assert condition["reason"] == "InvalidDiscoveryDetails"
    assert condition["message"].startswith(f"node {agent.config.node_name}: ")
    assert "descriptions" in condition["message"]

    async def warning() -> list:
        return [e for e in await api.events() if e.reason == "InvalidDiscoveryDetails"]

    (event,) = await eventually(warning, message="InvalidDiscoveryDetails Event")
    assert (event.involved_object.kind, event.involved_object.name, event.type) == ("Configuration", "broken",
                                                                                   "Warning")
    (instance,) = (await eventually(lambda: _instances(api, "fine", 1), message="other Configuration works")).values()
    assert instance["metadata"]["name"] == "fine-8120fe"
    assert not await api.instances("broken")

    # Fixing the details clears this node's report.
    await api.patch_configuration("broken", {"spec": {"discoveryHandler": {"discoveryDetails": "descriptions: [x]"}}})

    async def cleared() -> bool:
        conditions = ((await api.configuration("broken")).get("status") or {}).get("conditions") or []
        return any(c["type"] == "DiscoveryFailed" and c["status"] == "False" for c in conditions)

    await eventually(cleared, message="condition cleared after the fix")
    await eventually(lambda: _instances(api, "broken", 1), message="discovery works after the fix")


async def test_agent_rejects_a_malformed_registration(agents: AgentRunner, short_dir: str, api: Api) -> None:
    await agents.start(agents.node("node-a"), [], directory=short_dir)
    async with grpc.aio.insecure_channel(f"unix:{short_dir}/agent-registration.sock") as channel:
        stub = pb_grpc.RegistrationStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.RegisterDiscoveryHandler(pb.RegisterDiscoveryHandlerRequest(name="x", endpoint="relative"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "endpoint" in caught.value.details()
        reply = await stub.RegisterDiscoveryHandler(pb.RegisterDiscoveryHandlerRequest(
            name="net", endpoint="http://127.0.0.1:10000", endpoint_type=pb.RegisterDiscoveryHandlerRequest.NETWORK,
            shared=True))
        assert reply == pb.Empty()


async def test_standalone_debug_echo_process(api: Api, agents: AgentRunner, short_dir: str, tmp_path: Path) -> None:
    await agents.start(agents.node("node-a"), [], directory=short_dir)
    environment = {**os.environ, "DISCOVERY_HANDLERS_DIRECTORY": short_dir, "DEBUG_ECHO_INSTANCES_SHARED": "false",
                   "DEBUG_ECHO_AVAILABILITY_FILE": str(tmp_path / "availability")}
    environment.pop("POD_IP", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.discovery.handlers.debug_echo", env=environment,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await api.create_configuration("proc", "debugEcho", details="descriptions: [foo0]")
        found = await eventually(lambda: _instances(api, "proc", 1), timeout=20, message="Instance from a process")
        assert all(i["spec"]["shared"] is False for i in found.values())
        assert os.path.exists(os.path.join(short_dir, "debugEcho.sock"))
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, err.decode()
    assert not os.path.exists(os.path.join(short_dir, "debugEcho.sock"))


async def test_serve_handler_stops_on_its_stopper(short_dir: str) -> None:
    handler = ControlledHandler("lonely")
    stopper = Stopper()
    task = asyncio.create_task(serve_handler(handler, directory=short_dir, stopper=stopper,
                                             retry_backoffs=(0.05,), check_interval=0.05))
    await eventually(lambda: _exists(os.path.join(short_dir, "lonely.sock")), message="handler socket")
    stopper.stop("done")  # no agent ever listened: registration kept retrying, stop still works
    await asyncio.wait_for(task, 5)
    assert not os.path.exists(os.path.join(short_dir, "lonely.sock"))


async def _exists(path: str) -> bool:
    return os.path.exists(path)


async def test_invalid_details_over_grpc_and_network_endpoints(api: Api, agents: AgentRunner, short_dir: str) -> None:
    agent = await agents.start(agents.node("node-a"), [], directory=short_dir)
    handler = ControlledHandler("tcp", shared=True)
    handler.set("net-dev")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    registered = asyncio.Event()
    served = asyncio.create_task(serve_handler(handler, directory=short_dir, pod_ip="127.0.0.1", port=port,
                                               registered=registered, retry_backoffs=(0.1,), check_interval=0.1))
    try:
        await asyncio.wait_for(registered.wait(), 10)
        (endpoint,) = agent.registry.endpoints("tcp")
        assert endpoint.uid == f"tcp@http://127.0.0.1:{port}"
        await api.create_configuration("over-tcp", "tcp")
        await api.create_configuration("rejected", "tcp", details="invalid: yes")
        await eventually(lambda: _instances(api, "over-tcp", 1), message="Instance over a NETWORK endpoint")

        async def rejected() -> dict | None:
            conditions = ((await api.configuration("rejected")).get("status") or {}).get("conditions") or []
            return next((c for c in conditions if c["type"] == "DiscoveryFailed"), None)

        condition = await eventually(rejected, message="INVALID_ARGUMENT from the handler reported")
        assert condition["reason"] == "InvalidDiscoveryDetails"
        assert "rejected by the test handler" in condition["message"]
    finally:
        served.cancel()
        await asyncio.gather(served, return_exceptions=True)
