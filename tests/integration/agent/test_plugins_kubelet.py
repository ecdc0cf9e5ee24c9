"""Device plugins against a fake kubelet over real unix sockets (akri-contract.md §2.5, §2.6, §9
rows 3-6 and 13), with Instances in an in-memory store that has the API server's 409 semantics.

The same behaviours against the API emulator through the real `kubernetes` client are in
test_plugins_apiserver.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import grpc
import pytest

from agent.devices.store import DeviceRecord, DeviceStore
from agent.discovery.handler import Device, DeviceSpec
from agent.plugins import PluginManager, PluginSettings
from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins.plugin import DeviceList, DevicePlugin, PublishedDevices
from agent.plugins.serving import PluginServer
from tests.fakes.fake_kubelet import FakeKubelet, MemoryInstances, instance_object

CFG = "akri-debug-echo-foo"
A = "akri-debug-echo-foo-8120fe"
B = "akri-debug-echo-foo-a19705"
UDEV_CFG = "akri-udev"
U = "akri-udev-0b1c2d"


@dataclass
class Node:
    name: str
    root: str
    kubelet: FakeKubelet
    settings: PluginSettings
    devices: DeviceStore
    manager: PluginManager | None = None
    task: asyncio.Task[None] | None = None

    @property
    def directory(self) -> str:
        return self.settings.device_plugins_directory

    def plugin_sockets(self) -> list[str]:
        return sorted(n for n in os.listdir(self.directory) if n != "kubelet.sock")

    async def start(self, store: MemoryInstances) -> PluginManager:
        self.manager = PluginManager(kube=store, devices=self.devices, node=self.name, settings=self.settings)
        self.task = asyncio.create_task(self.manager.run(), name=f"manager-{self.name}")
        started = asyncio.create_task(self.manager.started.wait())
        done, _ = await asyncio.wait({started, self.task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert started in done, "plugin manager did not start"
        return self.manager

    async def stop_manager(self) -> None:
        if self.task is not None:
            task, self.task = self.task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def make_node(name: str, **overrides: float) -> Node:
    root = tempfile.mkdtemp(prefix="k", dir="/tmp")
    os.makedirs(os.path.join(root, "dp"))
    os.makedirs(os.path.join(root, "pr"))
    settings = PluginSettings(device_plugins_directory=os.path.join(root, "dp"),
                              pod_resources_socket=os.path.join(root, "pr", "kubelet.sock"),
                              reclaim_interval_seconds=overrides.get("interval", 0.1),
                              reclaim_grace_seconds=overrides.get("grace", 30.0),
                              kubelet_restart_check_seconds=0.1, registration_backoff_max_seconds=0.2)
    kubelet = FakeKubelet(settings.device_plugins_directory, settings.pod_resources_socket)
    devices = DeviceStore()
    devices.put(f"akri.sh/{CFG}=8120fe", DeviceRecord(Device("foo0", {"DEBUG_ECHO_DESCRIPTION": "foo0"}),
                                                      {"RESOLUTION_WIDTH": "800"}))
    devices.put(f"akri.sh/{CFG}=a19705", DeviceRecord(Device("foo1", {"DEBUG_ECHO_DESCRIPTION": "foo1"}),
                                                      {"RESOLUTION_WIDTH": "800"}))
    devices.put(f"akri.sh/{UDEV_CFG}=0b1c2d", UDEV_NULL)
    return Node(name, root, kubelet, settings, devices)


UDEV_NULL = DeviceRecord(Device(
    "/devices/virtual/mem/null", {"UDEV_DEVNODE": "/dev/null", "UDEV_DEVPATH": "/devices/virtual/mem/null"},
    device_specs=(DeviceSpec("/dev/null", "/dev/null", "rwm"),)))


@pytest.fixture
async def nodes() -> AsyncIterator[list[Node]]:
    created: list[Node] = []
    yield created
    for node in created:
        try:
            await node.stop_manager()
        finally:
            await node.kubelet.stop()
            shutil.rmtree(node.root, ignore_errors=True)


async def start_node(nodes: list[Node], store: MemoryInstances, name: str = "node-a", *,
                     start_kubelet: bool = True, **overrides: float) -> Node:
    node = make_node(name, **overrides)
    nodes.append(node)
    if start_kubelet:
        await node.kubelet.start()
    await node.start(store)
    return node


def debug_echo(store: MemoryInstances, name: str = A, *, nodes: tuple[str, ...] = ("node-a",), capacity: int = 2,
               usage: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    return store.put(instance_object(name, configuration=CFG, nodes=list(nodes), capacity=capacity,
                                     device_usage=usage, broker_properties={"DEBUG_ECHO_DESCRIPTION": name}))


def usage_of(store: MemoryInstances, name: str = A) -> dict[str, str]:
    return store.peek("default", name)["spec"]["deviceUsage"]


# -- registration and ListAndWatch -----------------------------------------------------------------


async def test_registers_instance_and_configuration_plugins(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store)
    node = await start_node(nodes, store)
    k = node.kubelet
    await k.wait_for(lambda: {f"akri.sh/{A}", f"akri.sh/{CFG}"} <= set(k.devices))
    by_resource = {r.resource_name: r for r in k.registrations}
    for name in (A, CFG):
        request = by_resource[f"akri.sh/{name}"]
        assert request.version == "v1beta1"
        assert request.endpoint.startswith(f"{name}-") and request.endpoint.endswith(".sock")
        assert "/" not in request.endpoint
        assert os.path.exists(os.path.join(node.directory, request.endpoint))
        assert not request.options.pre_start_required and not request.options.get_preferred_allocation_available
    assert k.devices[f"akri.sh/{A}"] == {f"{A}-0": "Healthy", f"{A}-1": "Healthy"}
    assert k.devices[f"akri.sh/{CFG}"] == {f"{CFG}-0": "Healthy"}
    assert len(node.plugin_sockets()) == 2  # one live socket per plugin
    options = await k.options(f"akri.sh/{A}")
    assert not options.pre_start_required and not options.get_preferred_allocation_available
    prestart = await k.call(f"akri.sh/{A}", "PreStartContainer", pb.PreStartContainerRequest())
    assert prestart == pb.PreStartContainerResponse()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await k.call(f"akri.sh/{A}", "GetPreferredAllocation", pb.PreferredAllocationRequest())
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_instances_for_other_nodes_get_no_plugin(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store, nodes=("node-b",))
    node = await start_node(nodes, store)
    debug_echo(store, B)
    await node.kubelet.wait_for(lambda: f"akri.sh/{B}" in node.kubelet.devices)
    assert f"akri.sh/{A}" not in node.kubelet.endpoints


async def test_list_and_watch_follows_usage_and_capacity(nodes: list[Node]) -> None:
    store = MemoryInstances()
    obj = debug_echo(store, nodes=("node-a", "node-b"))
    node = await start_node(nodes, store)
    k, res = node.kubelet, f"akri.sh/{A}"
    await k.wait_for(lambda: res in k.devices)
    obj["spec"]["deviceUsage"] = {f"{A}-1": "node-b"}
    obj = store.put(obj)
    await k.wait_for(lambda: k.devices[res] == {f"{A}-0": "Healthy", f"{A}-1": "Unhealthy"})
    obj["spec"]["deviceUsage"] = {}  # node-b freed its slot: free here too (quirk #4)
    obj = store.put(obj)
    await k.wait_for(lambda: k.devices[res] == {f"{A}-0": "Healthy", f"{A}-1": "Healthy"})
    obj["spec"]["capacity"] = 3  # quirk #6: applied to the running plugin
    obj = store.put(obj)
    await k.wait_for(lambda: len(k.devices[res]) == 3)
    obj["spec"]["capacity"] = 1
    store.put(obj)
    await k.wait_for(lambda: k.devices[res] == {f"{A}-0": "Healthy"})


# -- Allocate -------------------------------------------------------------------------------------------


async def test_allocate_debug_echo_env_and_reallocate_of_held_id(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store)
    node = await start_node(nodes, store)
    k, res = node.kubelet, f"akri.sh/{A}"
    await k.wait_for(lambda: res in k.devices)
    response = await k.allocate(res, [[f"{A}-0"]])
    assert len(response.container_responses) == 1
    assert dict(response.container_responses[0].envs) == {
        "DEBUG_ECHO_DESCRIPTION": "foo0", "DEBUG_ECHO_DESCRIPTION_8120FE": "foo0",
        "RESOLUTION_WIDTH": "800", "RESOLUTION_WIDTH_8120FE": "800"}
    assert usage_of(store) == {f"{A}-0": "node-a"}
    again = await k.allocate(res, [[f"{A}-0"], [f"{A}-0"]])  # initContainer + main container
    assert len(again.container_responses) == 2
    assert usage_of(store) == {f"{A}-0": "node-a"}
    await k.wait_for(lambda: k.devices[res][f"{A}-0"] == "Healthy")


async def test_allocate_udev_device_nodes(nodes: list[Node]) -> None:
    store = MemoryInstances()
    store.put(instance_object(U, configuration=UDEV_CFG, nodes=["node-a"], shared=False))
    node = await start_node(nodes, store)
    k, res = node.kubelet, f"akri.sh/{U}"
    await k.wait_for(lambda: res in k.devices)
    response = (await k.allocate(res, [[f"{U}-0"]])).container_responses[0]
    devices = [(d.container_path, d.host_path, d.permissions) for d in response.devices]
    assert devices == [("/dev/null", "/dev/null", "rwm")]
    assert dict(response.envs)["UDEV_DEVNODE_0B1C2D"] == "/dev/null"


async def test_allocate_of_slot_held_elsewhere_and_unknown_id_fail(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store, nodes=("node-a", "node-b"), usage={f"{A}-1": "node-b"})
    node = await start_node(nodes, store)
    k, res = node.kubelet, f"akri.sh/{A}"
    await k.wait_for(lambda: res in k.devices)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await k.allocate(res, [[f"{A}-1"]])
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"{A}-1" in (info.value.details() or "") and "node-b" in (info.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await k.allocate(res, [[f"{A}-7"]])
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and f"{A}-7" in (info.value.details() or "")
    assert usage_of(store) == {f"{A}-1": "node-b"}


async def test_configuration_level_allocate(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store, capacity=1)
    node = await start_node(nodes, store)
    k, res = node.kubelet, f"akri.sh/{CFG}"
    await k.wait_for(lambda: k.devices.get(res) == {f"{CFG}-0": "Healthy"})
    response = await k.allocate(res, [[f"{CFG}-0"]])
    assert dict(response.container_responses[0].envs)["DEBUG_ECHO_DESCRIPTION_8120FE"] == "foo0"
    assert usage_of(store) == {f"{A}-0": f"C:{CFG}-0:node-a"}
    # the slot is now Unhealthy on the Instance resource; the vdev stays advertised (held by the pod)
    await k.wait_for(lambda: k.devices[f"akri.sh/{A}"] == {f"{A}-0": "Unhealthy"})
    assert k.devices[res] == {f"{CFG}-0": "Healthy"}


async def test_two_agents_race_for_the_last_slot_exactly_one_wins(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store, nodes=("node-a", "node-b"), capacity=1)
    a = await start_node(nodes, store, "node-a")
    b = await start_node(nodes, store, "node-b")
    res = f"akri.sh/{A}"
    for node in (a, b):
        await node.kubelet.wait_for(lambda node=node: node.kubelet.healthy(res) == [f"{A}-0"])
    results = await asyncio.gather(a.kubelet.allocate(res, [[f"{A}-0"]]), b.kubelet.allocate(res, [[f"{A}-0"]]),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, pb.AllocateResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    winner = "node-a" if results[0] is winners[0] else "node-b"
    loser_node = b if winner == "node-a" else a
    assert usage_of(store) == {f"{A}-0": winner}
    await loser_node.kubelet.wait_for(lambda: loser_node.kubelet.devices[res] == {f"{A}-0": "Unhealthy"})


# -- reclaim ---------------------------------------------------------------------------------------------


async def test_reclaim_frees_slot_no_pod_holds_despite_unrelated_unready_pod(nodes: list[Node],
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.plugins")
    store = MemoryInstances()
    debug_echo(store)
    node = await start_node(nodes, store, grace=0.3)
    k, res = node.kubelet, f"akri.sh/{A}"
    await k.wait_for(lambda: res in k.devices)
    k.set_pod("unrelated", {"example.com/gpu": ["gpu-0"]}, ready=False)
    k.set_pod("broker", {res: [f"{A}-0"]})
    await k.allocate(res, [[f"{A}-0"]])
    calls = k.pod_resources_calls
    await k.wait_for(lambda: k.pod_resources_calls >= calls + 5)  # > grace while the pod holds it
    assert usage_of(store) == {f"{A}-0": "node-a"}
    k.remove_pod("broker")
    await k.wait_for(lambda: usage_of(store) == {})
    assert "reclaiming unused slots - start" in caplog.messages


async def test_reclaim_configuration_level_slot_by_vdev(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store, capacity=1)
    node = await start_node(nodes, store, grace=0.3)
    k, res = node.kubelet, f"akri.sh/{CFG}"
    await k.wait_for(lambda: res in k.devices)
    k.set_pod("broker", {res: [f"{CFG}-0"]})
    await k.allocate(res, [[f"{CFG}-0"]])
    calls = k.pod_resources_calls
    await k.wait_for(lambda: k.pod_resources_calls >= calls + 5)
    assert usage_of(store) == {f"{A}-0": f"C:{CFG}-0:node-a"}
    k.remove_pod("broker")
    await k.wait_for(lambda: usage_of(store) == {})


async def test_startup_frees_claims_no_pod_holds_before_serving(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store, nodes=("node-a", "node-b"), capacity=3,
               usage={f"{A}-0": "node-a", f"{A}-1": "node-a", f"{A}-2": "node-b"})
    node = make_node("node-a", interval=60, grace=60)  # only start-up reconciliation can free
    nodes.append(node)
    node.kubelet.set_pod("survivor", {f"akri.sh/{A}": [f"{A}-1"]})
    await node.kubelet.start()
    await node.start(store)
    assert usage_of(store) == {f"{A}-1": "node-a", f"{A}-2": "node-b"}  # done before `started`
    k = node.kubelet
    await k.wait_for(lambda: f"akri.sh/{A}" in k.devices)
    assert k.devices[f"akri.sh/{A}"] == {f"{A}-0": "Healthy", f"{A}-1": "Healthy", f"{A}-2": "Unhealthy"}


async def test_startup_without_pod_resources_keeps_claims_and_serves(nodes: list[Node],
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryInstances()
    debug_echo(store, usage={f"{A}-0": "node-a"})
    node = make_node("node-a", interval=60, grace=60)
    nodes.append(node)
    node.kubelet.serve_pod_resources = False
    await node.kubelet.start()
    await node.start(store)
    assert "start-up slot reconciliation skipped" in caplog.text
    assert usage_of(store) == {f"{A}-0": "node-a"}
    await node.kubelet.wait_for(lambda: f"akri.sh/{A}" in node.kubelet.devices)


# -- lifecycle ----------------------------------------------------------------------------------------------


async def test_kubelet_restart_reregisters_within_5s(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store)
    node = await start_node(nodes, store)
    k = node.kubelet
    await k.wait_for(lambda: len(k.devices) == 2)
    before = dict(k.endpoints)
    await k.restart()
    assert k.registrations == [] and node.plugin_sockets() == []
    await k.wait_for(lambda: len(k.devices) == 2, timeout=5)
    assert set(k.endpoints) == set(before)
    assert all(k.endpoints[r] != before[r] for r in before)  # new sockets
    await k.wait_for(lambda: node.plugin_sockets() == sorted(k.endpoints.values()))
    assert k.devices[f"akri.sh/{A}"] == {f"{A}-0": "Healthy", f"{A}-1": "Healthy"}


async def test_deleted_plugin_socket_is_reserved(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store)
    node = await start_node(nodes, store)
    k, res = node.kubelet, f"akri.sh/{A}"
    await k.wait_for(lambda: res in k.devices)
    old = k.endpoints[res]
    os.unlink(os.path.join(node.directory, old))
    await k.wait_for(lambda: k.endpoints[res] != old, timeout=5)
    await k.wait_for(lambda: os.path.exists(os.path.join(node.directory, k.endpoints[res])))


async def test_registration_failure_leaves_no_socket_then_recovers(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store)
    node = make_node("node-a")
    nodes.append(node)
    node.kubelet.refuse_registrations = True
    await node.kubelet.start()
    await node.start(store)
    k = node.kubelet
    await k.wait_for(lambda: sum(r.resource_name == f"akri.sh/{A}" for r in k.refused) >= 2)
    first = next(r for r in k.refused if r.resource_name == f"akri.sh/{A}")
    # the refused socket was removed before the next attempt (which uses a new socket name)
    assert not os.path.exists(os.path.join(node.directory, first.endpoint))
    assert len([s for s in node.plugin_sockets() if s.startswith(f"{A}-")]) <= 1
    node.kubelet.refuse_registrations = False
    await node.kubelet.wait_for(lambda: len(node.kubelet.devices) == 2, timeout=5)
    await node.kubelet.wait_for(lambda: len(node.plugin_sockets()) == 2)


async def test_sockets_removed_when_instance_goes_or_node_leaves(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store)
    obj_b = debug_echo(store, B)
    node = await start_node(nodes, store)
    k = node.kubelet
    await k.wait_for(lambda: len(node.plugin_sockets()) == 3 and len(k.devices) == 3)
    store.delete("default", A)
    await k.wait_for(lambda: len(node.plugin_sockets()) == 2)
    assert k.endpoints[f"akri.sh/{A}"] not in node.plugin_sockets()
    assert node.manager is not None and set(node.manager.instance_plugins) == {B}
    obj_b["spec"]["nodes"] = ["node-b"]
    store.put(obj_b)
    await k.wait_for(lambda: node.plugin_sockets() == [])  # the Configuration plugin went too
    assert node.manager.configuration_plugins == {}


async def test_cancel_removes_every_socket(nodes: list[Node]) -> None:
    store = MemoryInstances()
    debug_echo(store)
    node = await start_node(nodes, store)
    await node.kubelet.wait_for(lambda: len(node.plugin_sockets()) == 2)
    await node.stop_manager()
    assert node.plugin_sockets() == []


async def test_kubelet_sock_recreated_alone_triggers_reregistration(nodes: list[Node]) -> None:
    """A kubelet that restarts without deleting plugin sockets is still noticed (new kubelet.sock)."""
    store = MemoryInstances()
    debug_echo(store)
    node = await start_node(nodes, store)
    k = node.kubelet
    await k.wait_for(lambda: len(k.devices) == 2)
    before = dict(k.endpoints)
    await k.restart(delete_plugin_sockets=False)
    await k.wait_for(lambda: len(k.devices) == 2, timeout=5)
    assert all(k.endpoints[r] != before[r] for r in before)
    await k.wait_for(lambda: node.plugin_sockets() == sorted(k.endpoints.values()))  # old sockets removed


async def test_sockets_left_by_a_killed_agent_are_removed_at_start(nodes: list[Node]) -> None:
    """A socket file nobody listens on (its agent was SIGKILLed) goes at start-up; a live socket of
    another plugin, a file that is not a socket and names not like ours stay."""
    store = MemoryInstances()
    debug_echo(store)
    node = make_node("node-a")
    nodes.append(node)
    await node.kubelet.start()

    def dead_socket(name: str) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(os.path.join(node.directory, name))  # bound, closed, never unlinked

    dead_socket(f"{A}-1700000000.sock")
    dead_socket("other-vendor.sock")  # not our naming: not ours to judge
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(os.path.join(node.directory, "gpu-plugin-1700000001.sock"))
    live.listen()
    with open(os.path.join(node.directory, "notes-1700000002.sock"), "w") as regular:
        regular.write("not a socket")
    try:
        await node.start(store)
        names = set(os.listdir(node.directory))
        assert f"{A}-1700000000.sock" not in names
        assert {"other-vendor.sock", "gpu-plugin-1700000001.sock", "notes-1700000002.sock"} <= names
    finally:
        live.close()


# -- review fixes: device not yet discovered, reclaim vs. Allocate, socket names ------------------------------


async def test_after_reboot_slots_are_unhealthy_until_discovery_reports_the_device(nodes: list[Node]) -> None:
    """The Instance lists this node before discovery re-reported `/dev/null` into the device store:
    nothing may be admitted (a udev broker would run without its device node forever)."""
    store = MemoryInstances()
    store.put(instance_object(U, configuration=UDEV_CFG, nodes=["node-a"], shared=False))
    node = make_node("node-a")
    nodes.append(node)
    node.devices = DeviceStore()  # rebooted: discovery has reported nothing yet
    await node.kubelet.start()
    await node.start(store)
    k, res, cfg_res = node.kubelet, f"akri.sh/{U}", f"akri.sh/{UDEV_CFG}"
    await k.wait_for(lambda: res in k.devices and cfg_res in k.devices)
    assert k.devices[res] == {f"{U}-0": "Unhealthy"} and k.devices[cfg_res] == {}
    for resource, device_id in ((res, f"{U}-0"), (cfg_res, f"{UDEV_CFG}-0")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await k.allocate(resource, [[device_id]])
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        details = info.value.details() or ""
        assert device_id in details and f"akri.sh/{UDEV_CFG}=0b1c2d" in details
    assert usage_of(store, U) == {}
    node.devices.put(f"akri.sh/{UDEV_CFG}=0b1c2d", UDEV_NULL)  # discovery re-reports the device
    await k.wait_for(lambda: k.devices[res] == {f"{U}-0": "Healthy"}
                     and k.devices[cfg_res] == {f"{UDEV_CFG}-0": "Healthy"})
    response = (await k.allocate(res, [[f"{U}-0"]])).container_responses[0]
    assert [(d.container_path, d.host_path) for d in response.devices] == [("/dev/null", "/dev/null")]
    assert usage_of(store, U) == {f"{U}-0": "node-a"}


async def test_reclaim_keeps_a_slot_the_kubelet_grants_while_the_list_is_in_flight(nodes: list[Node]) -> None:
    """Reclaimer lists pod resources (the old broker is gone), the kubelet hands the stale slot to a
    new pod, then the reclaimer would free it: the new pod would run on a slot shown as free."""
    store = MemoryInstances()
    debug_echo(store, usage={f"{A}-0": "node-a"})
    node = make_node("node-a", grace=0.0)
    nodes.append(node)
    k, res = node.kubelet, f"akri.sh/{A}"
    k.set_pod("old-broker", {res: [f"{A}-0"]})  # start-up reconciliation keeps the claim
    await k.start()
    await node.start(store)
    await k.wait_for(lambda: k.devices.get(res) == {f"{A}-0": "Healthy", f"{A}-1": "Healthy"})

    async def admit_new_pod() -> None:  # runs after List built its answer (without any pod)
        await k.allocate(res, [[f"{A}-0"]])
        k.set_pod("new-broker", {res: [f"{A}-0"]})

    k.remove_pod("old-broker")
    k.after_list = admit_new_pod
    await k.wait_for(lambda: k.after_list is None)
    calls = k.pod_resources_calls
    await k.wait_for(lambda: k.pod_resources_calls >= calls + 3)  # that round finished, and more
    assert usage_of(store) == {f"{A}-0": "node-a"}


class StaticPlugin(DevicePlugin):
    """A plugin with a fixed device list (enough to be served and registered)."""

    def __init__(self, name: str, devices: DeviceList) -> None:
        self.name = name
        self.resource_name = f"akri.sh/{name}"
        self.published = PublishedDevices(devices)

    async def allocate(self, container_requests: Sequence[Sequence[str]]) -> list[pb.ContainerAllocateResponse]:
        return [pb.ContainerAllocateResponse() for _ in container_requests]


async def test_plugin_recreated_within_the_same_second_keeps_its_socket(nodes: list[Node]) -> None:
    """An Instance deleted and re-created within one second: the old server stopping (which unlinks
    its socket path) must not take the new server's socket with it."""
    node = make_node("node-a")
    nodes.append(node)
    k, res = node.kubelet, f"akri.sh/{A}"
    await k.start()
    same_second = lambda: 1_700_000_000.5  # noqa: E731
    old = PluginServer(StaticPlugin(A, ((f"{A}-0", "Healthy"),)), settings=node.settings, clock=same_second)
    old_task = asyncio.create_task(old.run())
    new_task: asyncio.Task[None] | None = None
    try:
        await k.wait_for(lambda: k.devices.get(res) == {f"{A}-0": "Healthy"})
        new = PluginServer(StaticPlugin(A, ((f"{A}-0", "Unhealthy"),)), settings=node.settings, clock=same_second)
        new_task = asyncio.create_task(new.run())
        await k.wait_for(lambda: k.devices.get(res) == {f"{A}-0": "Unhealthy"})
        old_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await old_task
        assert new.socket_path is not None and os.path.basename(new.socket_path).startswith(f"{A}-1700000000")
        assert os.path.exists(new.socket_path)
        assert node.plugin_sockets() == [os.path.basename(new.socket_path)]
        assert (await k.allocate(res, [[f"{A}-0"]])).container_responses  # still reachable
    finally:
        for task in (old_task, new_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
