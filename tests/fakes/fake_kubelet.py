"""A lightweight kubelet test double for device-plugin tests, plus an in-memory Instance store.

`FakeKubelet` speaks the real protocols over real unix sockets in a temporary directory (built
from the same protos as the agent):
- serves `v1beta1.Registration/Register` on `<dir>/kubelet.sock` and records every request;
  for each registration it connects back to `<dir>/<endpoint>`, calls `ListAndWatch` and keeps
  the latest device list per resource (`devices[resource] == {device ID: health}`);
- serves `v1.PodResourcesLister/List` on its own socket from `pods` (set with `set_pod`); a
  one-shot `after_list` coroutine function runs after the answer is built and before it is sent
  (a kubelet admitting a pod while the agent's List is in flight);
- `allocate(resource, [[ids], ...])` calls the registered plugin's Allocate like the kubelet does;
- `restart()` does what a restarting kubelet does to the directory: stops, deletes every plugin
  socket, and serves a *new* `kubelet.sock` (new inode);
- `wait_for(predicate)` waits (bounded) until the recorded state satisfies a predicate.

`MemoryInstances` implements `agent.plugins.instances.InstanceStore` in memory with the API
server's optimistic concurrency (resourceVersion precondition → `errors.Conflict`), so several
plugin managers ("nodes") can share it.

The fuller simulator (scheduling, pods, node capacity) is `akri_local/kubelet.py`; this one stays
small so plugin tests are fast and their failures easy to read. Socket paths must stay under the
107-byte unix limit: use `tempfile.mkdtemp(prefix="k", dir="/tmp")`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from agent.kube import errors as kube_errors
from agent.kube import watching
from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins._pb import pluginapi_pb2_grpc as pb_grpc
from agent.plugins._pb import podresources_pb2 as pr
from agent.plugins._pb import podresources_pb2_grpc as pr_grpc

__all__ = ["FakeKubelet", "FakePod", "MemoryInstances", "instance_object", "WAIT_SECONDS"]

WAIT_SECONDS = 5.0
KUBELET_SOCKET = "kubelet.sock"


@dataclass
class FakePod:
    """A pod as pod-resources sees it: `devices` = {resource name: [device IDs]} of one container.
    `ready` is not part of the pod-resources API; it lets a test say the pod is unready."""

    name: str
    namespace: str = "default"
    devices: dict[str, list[str]] = field(default_factory=dict)
    ready: bool = True


class _Registration(pb_grpc.RegistrationServicer):
    def __init__(self, kubelet: FakeKubelet) -> None:
        self._kubelet = kubelet

    async def Register(self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext) -> pb.Empty:  # noqa: N802
        if self._kubelet.refuse_registrations:
            self._kubelet.refused.append(request)
            self._kubelet._notify()
            await context.abort(grpc.StatusCode.UNAVAILABLE, "registrations refused by the test")
        if request.version != "v1beta1":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported version {request.version!r}")
        self._kubelet._on_register(request)
        return pb.Empty()


class _PodResources(pr_grpc.PodResourcesListerServicer):
    def __init__(self, kubelet: FakeKubelet) -> None:
        self._kubelet = kubelet

    async def List(self, request: pr.ListPodResourcesRequest,  # noqa: N802
                   context: grpc.aio.ServicerContext) -> pr.ListPodResourcesResponse:
        self._kubelet.pod_resources_calls += 1
        response = pr.ListPodResourcesResponse()
        for pod in self._kubelet.pods.values():
            container = pr.ContainerResources(name="main", devices=[
                pr.ContainerDevices(resource_name=resource, device_ids=ids) for resource, ids in pod.devices.items()])
            response.pod_resources.append(pr.PodResources(name=pod.name, namespace=pod.namespace,
                                                          containers=[container]))
        hook, self._kubelet.after_list = self._kubelet.after_list, None
        if hook is not None:
            await hook()
        return response


class FakeKubelet:
    """See module docstring. `directory`: the device-plugins dir; `pod_resources_socket`: path."""

    def __init__(self, directory: str, pod_resources_socket: str) -> None:
        self.directory = directory
        self.pod_resources_socket = pod_resources_socket
        self.registrations: list[pb.RegisterRequest] = []
        self.refused: list[pb.RegisterRequest] = []
        self.endpoints: dict[str, str] = {}
        self.devices: dict[str, dict[str, str]] = {}
        self.device_updates: dict[str, int] = {}
        self.pods: dict[str, FakePod] = {}
        self.pod_resources_calls = 0
        self.after_list: Callable[[], Awaitable[None]] | None = None
        self.refuse_registrations = False
        self.serve_pod_resources = True
        self._servers: list[grpc.aio.Server] = []
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()

    @property
    def kubelet_socket(self) -> str:
        """`<directory>/kubelet.sock`."""
        return os.path.join(self.directory, KUBELET_SOCKET)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve Registration (and PodResourcesLister unless `serve_pod_resources` is false)."""
        registration = grpc.aio.server()
        pb_grpc.add_RegistrationServicer_to_server(_Registration(self), registration)
        registration.add_insecure_port("unix://" + self.kubelet_socket)
        await registration.start()
        self._servers.append(registration)
        if self.serve_pod_resources:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pod_resources_socket)
            lister = grpc.aio.server()
            pr_grpc.add_PodResourcesListerServicer_to_server(_PodResources(self), lister)
            lister.add_insecure_port("unix://" + self.pod_resources_socket)
            await lister.start()
            self._servers.append(lister)

    async def stop(self) -> None:
        """Stop serving and watching; remove kubelet.sock."""
        for task in self._watchers.values():
            task.cancel()
        for task in self._watchers.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watchers.clear()
        for server in self._servers:
            await server.stop(None)
        self._servers.clear()
        for path in (self.kubelet_socket, self.pod_resources_socket):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    async def restart(self, *, delete_plugin_sockets: bool = True) -> None:
        """Stop, delete the plugin sockets (as the kubelet's device manager does at start-up),
        forget registrations, and serve a new kubelet.sock."""
        await self.stop()
        if delete_plugin_sockets:
            for name in os.listdir(self.directory):
                if name.endswith(".sock"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(self.directory, name))
        self.registrations.clear()
        self.endpoints.clear()
        self.devices.clear()
        await self.start()

    # -- registrations and ListAndWatch ------------------------------------------------------------

    def _on_register(self, request: pb.RegisterRequest) -> None:
        self.registrations.append(request)
        self.endpoints[request.resource_name] = request.endpoint
        old = self._watchers.pop(request.resource_name, None)
        if old is not None:
            old.cancel()
        self._watchers[request.resource_name] = asyncio.get_running_loop().create_task(
            self._watch(request.resource_name, request.endpoint), name=f"fake-kubelet-watch-{request.resource_name}")
        self._notify()

    async def _watch(self, resource: str, endpoint: str) -> None:
        path = os.path.join(self.directory, endpoint)
        with contextlib.suppress(grpc.aio.AioRpcError):
            async with grpc.aio.insecure_channel("unix://" + path) as channel:
                async for response in pb_grpc.DevicePluginStub(channel).ListAndWatch(pb.Empty()):
                    self.devices[resource] = {device.ID: device.health for device in response.devices}
                    self.device_updates[resource] = self.device_updates.get(resource, 0) + 1
                    self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for(self, predicate: Callable[[], object], *, timeout: float = WAIT_SECONDS,
                       poll_seconds: float = 0.05) -> None:
        """Return once `predicate()` is truthy; AssertionError after `timeout` seconds. Re-checks
        on every recorded change and every `poll_seconds` (for file-system conditions)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(poll_seconds, remaining))

    def healthy(self, resource: str) -> list[str]:
        """IDs the latest ListAndWatch of `resource` reported Healthy, sorted."""
        return sorted(i for i, health in self.devices.get(resource, {}).items() if health == "Healthy")

    # -- calls into plugins ---------------------------------------------------------------------------

    def _stub(self, channel: grpc.aio.Channel) -> pb_grpc.DevicePluginStub:
        return pb_grpc.DevicePluginStub(channel)

    def _target(self, resource: str) -> str:
        return "unix://" + os.path.join(self.directory, self.endpoints[resource])

    async def allocate(self, resource: str, container_ids: Sequence[Sequence[str]], *,
                       timeout: float = WAIT_SECONDS) -> pb.AllocateResponse:
        """Allocate on the plugin registered for `resource`; one container request per inner
        list. Raises grpc.aio.AioRpcError as the kubelet would see it."""
        request = pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devicesIDs=list(ids))
                                                         for ids in container_ids])
        async with grpc.aio.insecure_channel(self._target(resource)) as channel:
            return await self._stub(channel).Allocate(request, timeout=timeout)

    async def options(self, resource: str) -> pb.DevicePluginOptions:
        """GetDevicePluginOptions of the plugin registered for `resource`."""
        async with grpc.aio.insecure_channel(self._target(resource)) as channel:
            return await self._stub(channel).GetDevicePluginOptions(pb.Empty(), timeout=WAIT_SECONDS)

    async def call(self, resource: str, method: str, request: Any) -> Any:
        """Any unary DevicePlugin method by name (e.g. "PreStartContainer")."""
        async with grpc.aio.insecure_channel(self._target(resource)) as channel:
            return await getattr(self._stub(channel), method)(request, timeout=WAIT_SECONDS)

    # -- pods -------------------------------------------------------------------------------------------

    def set_pod(self, name: str, devices: Mapping[str, Sequence[str]], *, namespace: str = "default",
                ready: bool = True) -> None:
        """Add or replace a pod holding `devices` ({resource: [device IDs]})."""
        self.pods[name] = FakePod(name, namespace, {k: list(v) for k, v in devices.items()}, ready)

    def remove_pod(self, name: str) -> None:
        """Forget a pod (its devices are no longer held)."""
        self.pods.pop(name, None)


class MemoryInstances:
    """In-memory `InstanceStore` with resourceVersion preconditions and a watch feed.

    `put(obj)` creates/updates like a controller would (the test's hand); `replace` is what the
    plugins call. `conflicts_to_inject` makes the next N replaces fail with Conflict.
    """

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._version = 0
        self._subscribers: list[asyncio.Queue[watching.WatchEvent]] = []
        self.replace_calls = 0
        self.conflicts_to_inject = 0

    def _bump(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._version)
        return obj

    def _emit(self, event_type: str, obj: dict[str, Any]) -> None:
        for queue in self._subscribers:
            queue.put_nowait(watching.WatchEvent(event_type, copy.deepcopy(obj)))

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store `obj` unconditionally (new resourceVersion) and emit ADDED/MODIFIED."""
        key = watching.object_key(obj)
        event_type = watching.MODIFIED if key in self._objects else watching.ADDED
        stored = self._bump(copy.deepcopy(obj))
        self._objects[key] = stored
        self._emit(event_type, stored)
        return copy.deepcopy(stored)

    def delete(self, namespace: str, name: str) -> None:
        """Remove and emit DELETED."""
        obj = self._objects.pop((namespace, name))
        self._emit(watching.DELETED, obj)

    def peek(self, namespace: str, name: str) -> dict[str, Any]:
        """The stored object (a copy)."""
        return copy.deepcopy(self._objects[(namespace, name)])

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self._objects.get((namespace, name))
        await asyncio.sleep(0)
        return copy.deepcopy(obj) if obj is not None else None

    async def replace(self, instance: dict[str, Any]) -> dict[str, Any]:
        self.replace_calls += 1
        await asyncio.sleep(0)
        key = watching.object_key(instance)
        current = self._objects.get(key)
        if current is None:
            raise kube_errors.NotFound(404, "NotFound", f"instances {key[1]} not found")
        if self.conflicts_to_inject > 0:
            self.conflicts_to_inject -= 1
            raise kube_errors.Conflict(409, "Conflict", "injected conflict")
        if instance.get("metadata", {}).get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise kube_errors.Conflict(409, "Conflict", "the object has been modified")
        stored = self._bump(copy.deepcopy(instance))
        self._objects[key] = stored
        self._emit(watching.MODIFIED, stored)
        return copy.deepcopy(stored)

    async def watch(self) -> AsyncIterator[watching.WatchEvent]:
        queue: asyncio.Queue[watching.WatchEvent] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            for obj in list(self._objects.values()):
                yield watching.WatchEvent(watching.ADDED, copy.deepcopy(obj))
            yield watching.WatchEvent(watching.LISTED)
            while True:
                yield await queue.get()
        finally:
            self._subscribers.remove(queue)


def instance_object(name: str, *, configuration: str, nodes: Sequence[str], capacity: int = 1,
                    device_usage: Mapping[str, str] | None = None, broker_properties: Mapping[str, str] | None = None,
                    cdi_hash: str | None = None, namespace: str = "default", shared: bool = True) -> dict[str, Any]:
    """An `akri.sh/v0` Instance dict as the agent core writes it (cdiName from the name's hash)."""
    hash_ = cdi_hash or name.rpartition("-")[2]
    return {
        "apiVersion": "akri.sh/v0", "kind": "Instance",
        "metadata": {"name": name, "namespace": namespace, "labels": {"akri.sh/configuration": configuration}},
        "spec": {"configurationName": configuration, "cdiName": f"akri.sh/{configuration}={hash_}",
                 "capacity": capacity, "brokerProperties": dict(broker_properties or {}), "shared": shared,
                 "nodes": list(nodes), "deviceUsage": dict(device_usage or {})},
    }
