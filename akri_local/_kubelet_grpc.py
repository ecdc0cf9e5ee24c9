"""The kubelet simulator's gRPC surfaces: device-plugin registration, plugin clients, pod-resources.

Kubelet device-plugin API v1beta1 and pod-resources API v1 (akri-contract.md §2.5-§2.6,
Appendix A), with the stubs in `agent/plugins/_pb`:
- `RegistrationServer` serves `/v1beta1.Registration/Register` on `<root>/device-plugins/kubelet.sock`
  and hands each valid request to a callback (as the kubelet, it rejects versions other than
  `v1beta1` and resource names that are not extended resources, with gRPC UNKNOWN);
- `PluginConnection` is the kubelet's side of one registered plugin: it dials
  `<root>/device-plugins/<endpoint>`, reads `GetDevicePluginOptions`, streams `ListAndWatch` on a
  thread, and calls `Allocate` / `PreStartContainer`;
- `PodResourcesServer` serves `/v1.PodResourcesLister/{List,GetAllocatableResources}` on
  `<root>/pod-resources/kubelet.sock` from a snapshot callback.
Sync gRPC on threads (this is test infrastructure, not the agent; STYLE.md §5.7 binds the agent).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from typing import Any

import grpc

from agent.plugins._pb import pluginapi_pb2, pluginapi_pb2_grpc, podresources_pb2, podresources_pb2_grpc
from akri_local._kubelet_scheduling import is_extended_resource

__all__ = ["RegistrationServer", "PluginConnection", "PodResourcesServer", "DEVICE_PLUGIN_VERSION",
           "CONNECT_TIMEOUT_SECONDS", "CALL_TIMEOUT_SECONDS", "serve_unix"]

logger = logging.getLogger(__name__)

DEVICE_PLUGIN_VERSION = "v1beta1"
CONNECT_TIMEOUT_SECONDS = 10.0
CALL_TIMEOUT_SECONDS = 10.0
HEALTHY = "Healthy"


def serve_unix(path: str, add: Callable[[Any, grpc.Server], None], servicer: Any, *, workers: int = 4) -> grpc.Server:
    """Start a gRPC server for `servicer` on the Unix socket `path` (an existing file is replaced).

    Raises OSError (path too long: the UDS limit is 107 bytes) or RuntimeError when binding fails.
    """
    if len(path.encode()) > 107:
        raise OSError(f"unix socket path {path!r} is longer than 107 bytes")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kubelet-grpc"))
    add(servicer, server)
    server.add_insecure_port(f"unix://{path}")
    server.start()
    return server


class _UnixService:
    """`start()` / `stop()` of a servicer served on its own Unix socket `socket_path`; subclasses
    name the generated `add_*Servicer_to_server` function in `_ADD`."""

    _ADD: Callable[[Any, grpc.Server], None]
    socket_path: str
    _server: grpc.Server | None = None

    def start(self) -> None:
        """Serve on `socket_path` (an existing file is replaced). Raises OSError/RuntimeError."""
        self._server = serve_unix(self.socket_path, self._ADD, self)

    def stop(self) -> None:
        """Stop serving (in-flight calls are cancelled, waits up to 5 s) and remove the socket file."""
        if self._server is not None:
            self._server.stop(0).wait(5)
            self._server = None
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)


class RegistrationServer(_UnixService, pluginapi_pb2_grpc.RegistrationServicer):
    """`Registration/Register`: validates, then calls `on_register(resource_name, endpoint)`.

    on_register returns None on success or an error message, which is sent back as gRPC UNKNOWN.
    """

    _ADD = staticmethod(pluginapi_pb2_grpc.add_RegistrationServicer_to_server)

    def __init__(self, socket_path: str, on_register: Callable[[str, str], str | None]) -> None:
        self.socket_path = socket_path
        self._on_register = on_register
        self._server = None

    def Register(self, request: pluginapi_pb2.RegisterRequest, context: grpc.ServicerContext) -> pluginapi_pb2.Empty:  # noqa: N802
        """Kubelet `Register` (device_plugin server.go): version and resource name checks, then connect."""
        logger.info("registration request for %s at endpoint %s", request.resource_name, request.endpoint)
        if request.version != DEVICE_PLUGIN_VERSION:
            context.abort(grpc.StatusCode.UNKNOWN, f"requested device plugin API version {request.version!r} is not "
                          f"supported by kubelet; supported versions are ['{DEVICE_PLUGIN_VERSION}']")
        if not is_extended_resource(request.resource_name):
            context.abort(grpc.StatusCode.UNKNOWN, f"invalid name of device plugin socket: resource name "
                          f"{request.resource_name!r} is not an extended resource name")
        if not request.endpoint or "/" in request.endpoint:
            context.abort(grpc.StatusCode.UNKNOWN, f"invalid endpoint {request.endpoint!r}: must be a file name "
                          "inside the device-plugins directory")
        error = self._on_register(request.resource_name, request.endpoint)
        if error:
            context.abort(grpc.StatusCode.UNKNOWN, error)
        return pluginapi_pb2.Empty()


class PluginConnection:
    """The kubelet's client of one registered device plugin.

    `connect()` dials and reads the options (raises grpc.RpcError / grpc.FutureTimeoutError);
    `start_stream()` runs ListAndWatch on a daemon thread, calling `on_devices(self, {id: healthy})`
    for every message and `on_end(self)` once when the stream ends for any reason.
    """

    def __init__(self, resource: str, socket_path: str, *,
                 on_devices: Callable[[PluginConnection, dict[str, bool]], None],
                 on_end: Callable[[PluginConnection], None]) -> None:
        self.resource = resource
        self.socket_path = socket_path
        self.options = pluginapi_pb2.DevicePluginOptions()
        self._on_devices = on_devices
        self._on_end = on_end
        self._channel = grpc.insecure_channel(f"unix://{socket_path}")
        self._stub = pluginapi_pb2_grpc.DevicePluginStub(self._channel)
        self._call: Any = None
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def connect(self, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
        """Wait for the plugin socket and read `GetDevicePluginOptions`."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)
        self.options = self._stub.GetDevicePluginOptions(pluginapi_pb2.Empty(), timeout=timeout)

    def start_stream(self) -> None:
        """Start streaming ListAndWatch."""
        self._call = self._stub.ListAndWatch(pluginapi_pb2.Empty())
        self._thread = threading.Thread(target=self._pump, name=f"listandwatch-{self.resource}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for response in self._call:
                self._on_devices(self, {d.ID: d.health == HEALTHY for d in response.devices})
        except grpc.RpcError as exc:
            if not self._closed.is_set():
                logger.info("ListAndWatch of %s ended: %s", self.resource, exc.code())
        finally:
            if not self._closed.is_set():
                self._on_end(self)

    def allocate(self, device_ids: Sequence[str], timeout: float = CALL_TIMEOUT_SECONDS
                 ) -> pluginapi_pb2.ContainerAllocateResponse:
        """`Allocate` with ONE ContainerAllocateRequest (one container); its first response.

        Raises grpc.RpcError from the plugin, ValueError when it answers without a container response.
        """
        request = pluginapi_pb2.AllocateRequest(
            container_requests=[pluginapi_pb2.ContainerAllocateRequest(devicesIDs=list(device_ids))])
        response = self._stub.Allocate(request, timeout=timeout)
        if not response.container_responses:
            raise ValueError(f"plugin for {self.resource} answered Allocate without a container response")
        first: pluginapi_pb2.ContainerAllocateResponse = response.container_responses[0]
        return first

    def pre_start(self, device_ids: Sequence[str], timeout: float = CALL_TIMEOUT_SECONDS) -> None:
        """`PreStartContainer` (only when the plugin asked for it in its options)."""
        if self.options.pre_start_required:
            self._stub.PreStartContainer(pluginapi_pb2.PreStartContainerRequest(devicesIDs=list(device_ids)),
                                         timeout=timeout)

    def close(self) -> None:
        """Cancel the stream (without calling `on_end`) and close the channel."""
        self._closed.set()
        if self._call is not None:
            self._call.cancel()
        self._channel.close()


PodSnapshot = list[tuple[str, str, list[tuple[str, Mapping[str, Sequence[str]]]]]]
"""[(namespace, pod name, [(container name, {resource: device ids})])]."""


class PodResourcesServer(_UnixService, podresources_pb2_grpc.PodResourcesListerServicer):
    """`PodResourcesLister` from two callbacks: `pods()` (PodSnapshot) and `allocatable()`
    (resource → healthy device ids)."""

    _ADD = staticmethod(podresources_pb2_grpc.add_PodResourcesListerServicer_to_server)

    def __init__(self, socket_path: str, *, pods: Callable[[], PodSnapshot],
                 allocatable: Callable[[], Mapping[str, Sequence[str]]]) -> None:
        self.socket_path = socket_path
        self._pods = pods
        self._allocatable = allocatable
        self._server = None

    def List(self, request: podresources_pb2.ListPodResourcesRequest,  # noqa: N802
             context: grpc.ServicerContext) -> podresources_pb2.ListPodResourcesResponse:
        """Every admitted pod with its app containers and the device ids each holds (plugin ID form)."""
        return podresources_pb2.ListPodResourcesResponse(pod_resources=[
            podresources_pb2.PodResources(name=name, namespace=namespace, containers=[
                podresources_pb2.ContainerResources(name=container, devices=[
                    podresources_pb2.ContainerDevices(resource_name=resource, device_ids=list(ids))
                    for resource, ids in sorted(devices.items())])
                for container, devices in containers])
            for namespace, name, containers in self._pods()])

    def GetAllocatableResources(self, request: podresources_pb2.AllocatableResourcesRequest,  # noqa: N802
                                context: grpc.ServicerContext) -> podresources_pb2.AllocatableResourcesResponse:
        """Healthy devices per resource."""
        return podresources_pb2.AllocatableResourcesResponse(devices=[
            podresources_pb2.ContainerDevices(resource_name=resource, device_ids=list(ids))
            for resource, ids in sorted(self._allocatable().items())])
