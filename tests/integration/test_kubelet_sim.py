"""The kubelet simulator against the local API emulator (or a cluster with `--kubeconfig`).

A fake device plugin (real gRPC on a Unix socket, same protos as the agent) registers with the
simulator; the tests check what a kubelet must do for Akri (akri-contract.md §2.5-§2.6, DESIGN.md
§4): node capacity/allocatable, scheduling by extended resources, one Allocate per container,
env readable through `exec_env`, pod-resources `List`, freeing on deletion, restart behaviour.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from kubernetes import client as k8s

from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins._pb import pluginapi_pb2_grpc as pb_grpc
from agent.plugins._pb import podresources_pb2 as pr
from agent.plugins._pb import podresources_pb2_grpc as pr_grpc
from akri_local.kubelet import ADMISSION_ERROR, KubeletSimulator, PodNotRunning

pytestmark = pytest.mark.integration

RESOURCE = "akri.sh/fake-dev-a1b2c3"
WAIT_SECONDS = 10.0


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll `predicate` until truthy (returned) or fail the test naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


class FakePlugin(pb_grpc.DevicePluginServicer):
    """A device plugin: advertises `devices` (id → health), records Allocate requests.

    `fail_allocate` makes Allocate answer gRPC UNKNOWN with that message.
    """

    def __init__(self, directory: str, resource: str = RESOURCE, devices: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.resource = resource
        self.endpoint = f"fake-{uuid.uuid4().hex[:8]}.sock"
        self.devices = dict(devices or {})
        self.allocations: list[list[list[str]]] = []
        self.fail_allocate: str | None = None
        self._updates: queue.Queue[dict[str, str]] = queue.Queue()
        self._server: grpc.Server | None = None
        self._stopped = threading.Event()

    @property
    def socket(self) -> str:
        return os.path.join(self.directory, self.endpoint)

    def serve(self) -> None:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_DevicePluginServicer_to_server(self, self._server)
        self._server.add_insecure_port(f"unix://{self.socket}")
        self._server.start()

    def register(self, version: str = "v1beta1", kubelet_socket: str | None = None) -> None:
        with grpc.insecure_channel(f"unix://{kubelet_socket or os.path.join(self.directory, 'kubelet.sock')}") as ch:
            pb_grpc.RegistrationStub(ch).Register(pb.RegisterRequest(
                version=version, endpoint=self.endpoint, resource_name=self.resource,
                options=pb.DevicePluginOptions()), timeout=5)

    def set_devices(self, devices: dict[str, str]) -> None:
        self.devices = dict(devices)
        self._updates.put(self.devices)

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.stop(0).wait(5)

    # -- DevicePlugin -------------------------------------------------------------------------------

    def GetDevicePluginOptions(self, request, context):  # noqa: N802
        return pb.DevicePluginOptions()

    def ListAndWatch(self, request, context):  # noqa: N802
        yield pb.ListAndWatchResponse(devices=[pb.Device(ID=i, health=h) for i, h in sorted(self.devices.items())])
        while context.is_active() and not self._stopped.is_set():
            try:
                devices = self._updates.get(timeout=0.05)
            except queue.Empty:
                continue
            yield pb.ListAndWatchResponse(devices=[pb.Device(ID=i, health=h) for i, h in sorted(devices.items())])

    def Allocate(self, request, context):  # noqa: N802
        self.allocations.append([list(r.devicesIDs) for r in request.container_requests])
        if self.fail_allocate:
            context.abort(grpc.StatusCode.UNKNOWN, self.fail_allocate)
        return pb.AllocateResponse(container_responses=[pb.ContainerAllocateResponse(
            envs={"FAKE_DEVICES": ",".join(r.devicesIDs), "FAKE_CALL": str(len(self.allocations))},
            mounts=[pb.Mount(container_path="/data", host_path="/tmp/data", read_only=True)],
            devices=[pb.DeviceSpec(container_path="/dev/fake", host_path="/dev/null", permissions="rw")])
            for r in request.container_requests])


@pytest.fixture
def node_name() -> str:
    return f"sim-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kubelet(kubeconfig: str, node_name: str, pytestconfig: pytest.Config) -> Iterator[KubeletSimulator]:
    root = tempfile.mkdtemp(prefix="k", dir="/tmp")
    # On a real cluster (--kubeconfig) kube-scheduler binds the pods (they ask for this node by
    # affinity); the simulator must never bind the cluster's other pending pods to its fake node.
    schedule = pytestconfig.getoption("--kubeconfig") is None
    simulator = KubeletSimulator(kubeconfig, node_name, root, schedule=schedule, delete_node_on_stop=True)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def plugin(kubelet: KubeletSimulator) -> Iterator[FakePlugin]:
    fake = FakePlugin(kubelet.device_plugins_dir, devices={"dev-0": "Healthy", "dev-1": "Healthy",
                                                            "dev-2": "Unhealthy"})
    fake.serve()
    fake.register()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def core(api_client: k8s.ApiClient) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api_client)


def node_resource(core: k8s.CoreV1Api, node: str, field: str) -> str | None:
    status = core.read_node(node).status
    values = getattr(status, field) or {}
    return values.get(RESOURCE)


def make_pod(core: k8s.CoreV1Api, namespace: str, name: str, node: str, *, count: int = 1,
             init: bool = False) -> None:
    resources = k8s.V1ResourceRequirements(limits={RESOURCE: str(count)}, requests={RESOURCE: str(count)})
    containers = [k8s.V1Container(name="main", image="busybox", resources=resources,
                                  env=[k8s.V1EnvVar(name="FROM_SPEC", value="spec")])]
    init_containers = [k8s.V1Container(name="prepare", image="busybox", resources=resources)] if init else None
    affinity = k8s.V1Affinity(node_affinity=k8s.V1NodeAffinity(
        required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(node_selector_terms=[
            k8s.V1NodeSelectorTerm(match_fields=[k8s.V1NodeSelectorRequirement(
                key="metadata.name", operator="In", values=[node])])])))
    core.create_namespaced_pod(namespace, k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1PodSpec(containers=containers, init_containers=init_containers, affinity=affinity)))


def pod_phase(core: k8s.CoreV1Api, namespace: str, name: str) -> str | None:
    return core.read_namespaced_pod(name, namespace).status.phase


def list_pod_resources(kubelet: KubeletSimulator) -> dict[tuple[str, str, str], dict[str, list[str]]]:
    with grpc.insecure_channel(f"unix://{kubelet.pod_resources_socket}") as channel:
        response = pr_grpc.PodResourcesListerStub(channel).List(pr.ListPodResourcesRequest(), timeout=5)
    return {(p.namespace, p.name, c.name): {d.resource_name: list(d.device_ids) for d in c.devices}
            for p in response.pod_resources for c in p.containers}


def test_node_registered_ready_and_allocatable_follows_plugin(core, kubelet, plugin, node_name):
    node = core.read_node(node_name)
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
    wait_for(lambda: node_resource(core, node_name, "allocatable") == "2", "allocatable 2 (healthy devices)")
    assert node_resource(core, node_name, "capacity") == "3"
    plugin.set_devices({"dev-0": "Healthy"})
    wait_for(lambda: node_resource(core, node_name, "capacity") == "1", "capacity 1 after ListAndWatch update")
    kubelet.set_ready(False)
    node = core.read_node(node_name)
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "False"


def test_pod_scheduled_allocated_per_container_and_env_visible(core, kubelet, plugin, namespace, node_name):
    wait_for(lambda: node_resource(core, node_name, "allocatable") == "2", "allocatable 2")
    make_pod(core, namespace, "broker", node_name, init=True)
    wait_for(lambda: pod_phase(core, namespace, "broker") == "Running", "pod Running")
    pod = core.read_namespaced_pod("broker", namespace)
    assert pod.spec.node_name == node_name
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
    assert pod.status.start_time is not None and [s.name for s in pod.status.container_statuses] == ["main"]
    # One Allocate per container (init first), one ContainerAllocateRequest each; the init
    # container's device is reused by the main container, as the kubelet does.
    assert plugin.allocations == [[["dev-0"]], [["dev-0"]]]
    env = kubelet.exec_env(namespace, "broker", "main")
    assert env["FAKE_DEVICES"] == "dev-0" and env["FAKE_CALL"] == "2" and env["FROM_SPEC"] == "spec"
    assert kubelet.exec_env(namespace, "broker", "prepare")["FAKE_CALL"] == "1"
    with open(os.path.join(kubelet.pods_dir, f"{namespace}_broker", "main.json")) as stream:
        record = json.load(stream)
    assert record["deviceIDs"] == {RESOURCE: ["dev-0"]}
    assert record["mounts"] == [{"container_path": "/data", "host_path": "/tmp/data", "read_only": True}]
    assert record["devices"] == [{"container_path": "/dev/fake", "host_path": "/dev/null", "permissions": "rw"}]
    assert list_pod_resources(kubelet) == {(namespace, "broker", "main"): {RESOURCE: ["dev-0"]}}
    with pytest.raises(PodNotRunning):
        kubelet.exec_env(namespace, "broker", "nope")


def test_deletion_frees_devices_and_pending_pods_wait_for_capacity(core, kubelet, plugin, namespace, node_name):
    wait_for(lambda: node_resource(core, node_name, "allocatable") == "2", "allocatable 2")
    make_pod(core, namespace, "first", node_name, count=2)
    wait_for(lambda: pod_phase(core, namespace, "first") == "Running", "first pod Running")
    make_pod(core, namespace, "second", node_name, count=1)
    make_pod(core, namespace, "big", node_name, count=3)
    time.sleep(0.5)  # give the scheduler a chance to (wrongly) bind them
    assert core.read_namespaced_pod("second", namespace).spec.node_name is None
    assert pod_phase(core, namespace, "second") == "Pending"
    core.delete_namespaced_pod("first", namespace)  # the kubelet finishes the graceful deletion
    wait_for(lambda: not [p for p in core.list_namespaced_pod(namespace).items if p.metadata.name == "first"],
             "first pod deleted by the kubelet")
    wait_for(lambda: pod_phase(core, namespace, "second") == "Running", "second pod Running after the free")
    assert list(list_pod_resources(kubelet)) == [(namespace, "second", "main")]
    plugin.set_devices({f"dev-{i}": "Healthy" for i in range(4)})  # capacity grows: big fits now
    wait_for(lambda: pod_phase(core, namespace, "big") == "Running", "big pod Running after capacity grew")
    assert set(kubelet.exec_env(namespace, "big", "main")["FAKE_DEVICES"].split(",")).isdisjoint(
        set(kubelet.exec_env(namespace, "second", "main")["FAKE_DEVICES"].split(",")))


def test_allocate_error_fails_the_pod(core, kubelet, plugin, namespace, node_name):
    wait_for(lambda: node_resource(core, node_name, "allocatable") == "2", "allocatable 2")
    plugin.fail_allocate = "Unable to claim slot"
    make_pod(core, namespace, "unlucky", node_name)
    wait_for(lambda: pod_phase(core, namespace, "unlucky") == "Failed", "pod Failed")
    status = core.read_namespaced_pod("unlucky", namespace).status
    assert status.reason == ADMISSION_ERROR
    assert "Unable to claim slot" in status.message and "code = Unknown" in status.message
    assert list_pod_resources(kubelet) == {}


def test_plugin_going_away_zeroes_the_resource(core, kubelet, plugin, node_name):
    wait_for(lambda: node_resource(core, node_name, "allocatable") == "2", "allocatable 2")
    plugin.stop()
    wait_for(lambda: node_resource(core, node_name, "allocatable") == "0", "allocatable 0 after the plugin left")
    assert node_resource(core, node_name, "capacity") == "0"
    assert kubelet.devices() == {}


def test_restart_forgets_plugins_until_they_register_again(core, kubelet, plugin, node_name):
    wait_for(lambda: node_resource(core, node_name, "allocatable") == "2", "allocatable 2")
    kubelet_inode = os.stat(kubelet.registration_socket).st_ino
    checkpoint = os.path.join(kubelet.device_plugins_dir, "kubelet_internal_checkpoint")
    open(checkpoint, "w").close()
    kubelet.restart()
    assert os.stat(kubelet.registration_socket).st_ino != kubelet_inode
    assert not os.path.exists(plugin.socket), "plugin sockets are removed like the kubelet's cleanup does"
    assert os.path.exists(checkpoint)
    wait_for(lambda: node_resource(core, node_name, "allocatable") == "0", "allocatable 0 after restart")
    again = FakePlugin(kubelet.device_plugins_dir, devices={"dev-0": "Healthy"})
    again.serve()
    try:
        again.register()
        wait_for(lambda: node_resource(core, node_name, "allocatable") == "1", "allocatable 1 after re-registering")
    finally:
        again.stop()


def test_bad_registrations_are_refused(kubelet):
    wrong_version = FakePlugin(kubelet.device_plugins_dir)
    wrong_version.serve()
    try:
        with pytest.raises(grpc.RpcError, match="not supported"):
            wrong_version.register(version="v1alpha")
        not_extended = FakePlugin(kubelet.device_plugins_dir, resource="cpu")
        with pytest.raises(grpc.RpcError, match="not an extended resource"):
            not_extended.register()
        nobody_listening = FakePlugin(kubelet.device_plugins_dir, resource="akri.sh/ghost")
        with pytest.raises(grpc.RpcError, match="failed to dial"):
            nobody_listening.register()
    finally:
        wrong_version.stop()
    assert kubelet.devices() == {}


def test_without_scheduler_only_pods_bound_to_the_node_run(kubeconfig, core, namespace, node_name):
    root = tempfile.mkdtemp(prefix="k", dir="/tmp")
    simulator = KubeletSimulator(kubeconfig, node_name, root, schedule=False, delete_node_on_stop=True)
    simulator.start()
    try:
        core.create_namespaced_pod(namespace, k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="unbound"), spec=k8s.V1PodSpec(
            containers=[k8s.V1Container(name="main", image="busybox")])))
        core.create_namespaced_pod(namespace, k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="bound"), spec=k8s.V1PodSpec(
            node_name=node_name, containers=[k8s.V1Container(name="main", image="busybox",
                                                             env=[k8s.V1EnvVar(name="X", value="1")])])))
        wait_for(lambda: pod_phase(core, namespace, "bound") == "Running", "pre-bound pod Running")
        assert simulator.exec_env(namespace, "bound", "main") == {"X": "1"}
        assert core.read_namespaced_pod("unbound", namespace).spec.node_name is None
    finally:
        simulator.stop()
        shutil.rmtree(root, ignore_errors=True)
