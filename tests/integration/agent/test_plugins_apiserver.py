"""Device plugins against the API emulator (or a real cluster with --kubeconfig) through the real
`kubernetes` client: deviceUsage read-modify-write with resourceVersion, the cross-node race for
the last slot, and Instance lifecycle seen through a real watch. The kubelet is the fake one
(tests/fakes/fake_kubelet.py) over real unix sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from kubernetes import client

from agent.devices.store import DeviceRecord, DeviceStore
from agent.discovery.handler import Device
from agent.kube.client import KubeClient
from agent.plugins import PluginManager, PluginSettings
from agent.plugins._pb import pluginapi_pb2 as pb
from tests.fakes.fake_kubelet import FakeKubelet, instance_object

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "akri.sh", "v0", "instances"
CFG = "akri-debug-echo-foo"
A = "akri-debug-echo-foo-8120fe"


@dataclass
class Node:
    name: str
    root: str
    kubelet: FakeKubelet
    kube: KubeClient
    manager: PluginManager
    task: asyncio.Task[None]

    @property
    def directory(self) -> str:
        return os.path.join(self.root, "dp")

    def plugin_sockets(self) -> list[str]:
        return sorted(n for n in os.listdir(self.directory) if n != "kubelet.sock")


class Cluster:
    """Nodes (fake kubelet + plugin manager) sharing one API server, and Instance helpers."""

    def __init__(self, kubeconfig: str, api_client: client.ApiClient, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.custom = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.suffix = uuid.uuid4().hex[:6]
        self.nodes: list[Node] = []

    def node_name(self, name: str) -> str:
        return f"{name}-{self.suffix}"

    async def start_node(self, name: str, *, reclaim_grace_seconds: float = 30.0) -> Node:
        root = tempfile.mkdtemp(prefix="k", dir="/tmp")
        for sub in ("dp", "pr"):
            os.makedirs(os.path.join(root, sub))
        settings = PluginSettings(device_plugins_directory=os.path.join(root, "dp"),
                                  pod_resources_socket=os.path.join(root, "pr", "kubelet.sock"),
                                  reclaim_interval_seconds=0.1, reclaim_grace_seconds=reclaim_grace_seconds,
                                  kubelet_restart_check_seconds=0.1, registration_backoff_max_seconds=0.2)
        kubelet = FakeKubelet(settings.device_plugins_directory, settings.pod_resources_socket)
        await kubelet.start()
        devices = DeviceStore()
        devices.put(f"akri.sh/{CFG}=8120fe", DeviceRecord(Device("foo0", {"DEBUG_ECHO_DESCRIPTION": "foo0"}),
                                                          {"RESOLUTION_WIDTH": "800"}), namespace=self.namespace)
        kube = KubeClient.from_kubeconfig(self.kubeconfig)
        manager = PluginManager(kube=kube, devices=devices, node=name, settings=settings)
        task = asyncio.create_task(manager.run(), name=f"plugins-{name}")
        node = Node(name, root, kubelet, kube, manager, task)
        self.nodes.append(node)
        started = asyncio.create_task(manager.started.wait())
        done, _ = await asyncio.wait({started, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert started in done, f"plugin manager of {name} did not start"
        return node

    async def stop(self) -> None:
        for node in self.nodes:
            node.task.cancel()
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await node.task
            finally:
                await node.kubelet.stop()
                node.kube.close()
                shutil.rmtree(node.root, ignore_errors=True)

    async def create(self, name: str, nodes: list[str], *, capacity: int = 1,
                     usage: dict[str, str] | None = None) -> dict[str, Any]:
        body = instance_object(name, configuration=CFG, nodes=nodes, capacity=capacity, device_usage=usage,
                               broker_properties={"DEBUG_ECHO_DESCRIPTION": "foo0"}, namespace=self.namespace)
        return await asyncio.to_thread(self.custom.create_namespaced_custom_object, GROUP, VERSION,
                                       self.namespace, PLURAL, body)

    async def get(self, name: str = A) -> dict[str, Any]:
        return await asyncio.to_thread(self.custom.get_namespaced_custom_object, GROUP, VERSION,
                                       self.namespace, PLURAL, name)

    async def patch(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.custom.patch_namespaced_custom_object, GROUP, VERSION,
                                       self.namespace, PLURAL, name, {"spec": spec})

    async def delete(self, name: str = A) -> None:
        await asyncio.to_thread(self.custom.delete_namespaced_custom_object, GROUP, VERSION,
                                self.namespace, PLURAL, name)

    async def eventually_usage(self, expected: dict[str, str], name: str = A, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while (usage := (await self.get(name))["spec"].get("deviceUsage") or {}) != expected:
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"deviceUsage {usage} never became {expected}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def cluster(kubeconfig: str, api_client: client.ApiClient, namespace: str,
                  install_crds: list[str]) -> AsyncIterator[Cluster]:
    c = Cluster(kubeconfig, api_client, namespace)
    try:
        yield c
    finally:
        await c.stop()


async def test_allocate_records_claim_and_keeps_other_fields(cluster: Cluster) -> None:
    node = await cluster.start_node(cluster.node_name("node-a"))
    other = cluster.node_name("node-b")
    await cluster.create(A, [node.name, other], capacity=2)
    k, res = node.kubelet, f"akri.sh/{A}"
    await k.wait_for(lambda: k.healthy(res) == [f"{A}-0", f"{A}-1"], timeout=10)
    response = await k.allocate(res, [[f"{A}-1"]])
    assert dict(response.container_responses[0].envs)["DEBUG_ECHO_DESCRIPTION_8120FE"] == "foo0"
    stored = await cluster.get()
    assert stored["spec"]["deviceUsage"] == {f"{A}-1": node.name}
    assert stored["spec"]["nodes"] == [node.name, other]
    assert stored["spec"]["brokerProperties"] == {"DEBUG_ECHO_DESCRIPTION": "foo0"}
    assert stored["spec"]["capacity"] == 2 and stored["spec"]["cdiName"] == f"akri.sh/{CFG}=8120fe"


async def test_two_agents_race_for_the_last_slot_exactly_one_wins(cluster: Cluster) -> None:
    a = await cluster.start_node(cluster.node_name("node-a"))
    b = await cluster.start_node(cluster.node_name("node-b"))
    await cluster.create(A, [a.name, b.name], capacity=1)
    res = f"akri.sh/{A}"
    for node in (a, b):
        await node.kubelet.wait_for(lambda node=node: node.kubelet.healthy(res) == [f"{A}-0"], timeout=10)
    results = await asyncio.gather(a.kubelet.allocate(res, [[f"{A}-0"]], timeout=20),
                                   b.kubelet.allocate(res, [[f"{A}-0"]], timeout=20), return_exceptions=True)
    winners = [i for i, r in enumerate(results) if isinstance(r, pb.AllocateResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].code() == grpc.StatusCode.FAILED_PRECONDITION and f"{A}-0" in (losers[0].details() or "")
    winner, loser = (a, b) if winners[0] == 0 else (b, a)
    assert (await cluster.get())["spec"]["deviceUsage"] == {f"{A}-0": winner.name}
    await loser.kubelet.wait_for(lambda: loser.kubelet.devices[res] == {f"{A}-0": "Unhealthy"}, timeout=10)


async def test_slot_freed_elsewhere_and_capacity_change_reach_the_plugin(cluster: Cluster) -> None:
    node = await cluster.start_node(cluster.node_name("node-a"))
    other = cluster.node_name("node-b")
    await cluster.create(A, [node.name, other], capacity=1, usage={f"{A}-0": other})
    k, res = node.kubelet, f"akri.sh/{A}"
    await k.wait_for(lambda: k.devices.get(res) == {f"{A}-0": "Unhealthy"}, timeout=10)
    current = await cluster.get()
    current["spec"]["deviceUsage"] = {}
    current["spec"]["capacity"] = 2
    await asyncio.to_thread(cluster.custom.replace_namespaced_custom_object, GROUP, VERSION, cluster.namespace,
                            PLURAL, A, current)
    await k.wait_for(lambda: k.devices.get(res) == {f"{A}-0": "Healthy", f"{A}-1": "Healthy"}, timeout=10)


async def test_reclaim_frees_slot_when_the_pod_is_gone(cluster: Cluster) -> None:
    node = await cluster.start_node(cluster.node_name("node-a"), reclaim_grace_seconds=0.3)
    await cluster.create(A, [node.name], capacity=1)
    k, res = node.kubelet, f"akri.sh/{A}"
    await k.wait_for(lambda: res in k.devices, timeout=10)
    k.set_pod("broker", {res: [f"{A}-0"]})
    await k.allocate(res, [[f"{A}-0"]])
    await cluster.eventually_usage({f"{A}-0": node.name})
    k.remove_pod("broker")
    await cluster.eventually_usage({})


async def test_instance_deletion_and_node_removal_remove_sockets(cluster: Cluster) -> None:
    node = await cluster.start_node(cluster.node_name("node-a"))
    await cluster.create(A, [node.name], capacity=1)
    await node.kubelet.wait_for(lambda: len(node.plugin_sockets()) == 2, timeout=10)
    await cluster.patch(A, {"nodes": [cluster.node_name("node-b")]})
    await node.kubelet.wait_for(lambda: node.plugin_sockets() == [], timeout=10)
    await cluster.patch(A, {"nodes": [node.name]})
    await node.kubelet.wait_for(lambda: len(node.plugin_sockets()) == 2, timeout=10)
    await cluster.delete()
    await node.kubelet.wait_for(lambda: node.plugin_sockets() == [], timeout=10)
