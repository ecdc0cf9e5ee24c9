"""Calls the agent makes to the kubelet, and how it notices a kubelet restart.

- `register`: `/v1beta1.Registration/Register` on `<device-plugins dir>/kubelet.sock` with
  `RegisterRequest{version: "v1beta1", endpoint: <socket file name only>, resource_name,
  options: {pre_start_required: false, get_preferred_allocation_available: false}}`
  (akri-contract.md §2.5, Appendix A).
- `PodResourcesClient.held_devices`: `/v1.PodResourcesLister/List` on the pod-resources socket;
  the (resource name, device ID) pairs of every container device whose resource starts with
  `akri.sh/` (contract §2.6). Device IDs are as the kubelet reports them: not prefixed.
- `socket_identity`: (device, inode, ctime) of a socket file; a kubelet restart recreates
  `kubelet.sock`, which changes it (contract §9 row 13).

All gRPC is `grpc.aio` over unix sockets (`unix:///abs/path`); each call opens and closes its own
channel, so a kubelet that restarted between calls is simply reached again.
"""

from __future__ import annotations

import os
from typing import Protocol

import grpc

from agent.plugins import errors
from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins._pb import pluginapi_pb2_grpc as pb_grpc
from agent.plugins._pb import podresources_pb2 as pr
from agent.plugins._pb import podresources_pb2_grpc as pr_grpc
from akri_api import naming

__all__ = ["DEVICE_PLUGIN_API_VERSION", "register", "PodResourcesSource", "PodResourcesClient", "held_akri_devices",
           "socket_identity", "unix_target", "CHANNEL_OPTIONS"]

DEVICE_PLUGIN_API_VERSION = "v1beta1"
AKRI_RESOURCE_PREFIX = f"{naming.AKRI_PREFIX}/"
POD_RESOURCES_TIMEOUT_SECONDS = 5.0
CHANNEL_OPTIONS = (("grpc.enable_http_proxy", 0),)

HeldDevice = tuple[str, str]
"""(resource name, device ID), e.g. ("akri.sh/cfg-8120fe", "cfg-8120fe-0")."""


def unix_target(path: str) -> str:
    """gRPC target for a unix socket: `unix://` + absolute path."""
    return "unix://" + os.path.abspath(path)


async def register(kubelet_socket: str, *, endpoint: str, resource_name: str, timeout_seconds: float) -> None:
    """Register one device plugin with the kubelet.

    endpoint: the plugin's socket file name (relative to the device-plugins directory).
    Raises errors.RegistrationFailed with the gRPC status when the kubelet is unreachable,
    refuses the registration or does not answer within timeout_seconds.
    """
    request = pb.RegisterRequest(version=DEVICE_PLUGIN_API_VERSION, endpoint=endpoint, resource_name=resource_name,
                                 options=pb.DevicePluginOptions(pre_start_required=False,
                                                                get_preferred_allocation_available=False))
    async with grpc.aio.insecure_channel(unix_target(kubelet_socket), options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.RegistrationStub(channel)  # type: ignore[no-untyped-call]
        try:
            await stub.Register(request, timeout=timeout_seconds)
        except grpc.aio.AioRpcError as exc:
            raise errors.RegistrationFailed(
                f"kubelet at {kubelet_socket} did not register {resource_name} (endpoint {endpoint}): "
                f"{exc.code().name} {exc.details()}") from exc


class PodResourcesSource(Protocol):
    """Where the reclaimer learns which Akri devices pods hold."""

    async def held_devices(self) -> frozenset[HeldDevice]:
        """(resource name, device ID) of every `akri.sh/` device held by a container on this node.
        Raises errors.PodResourcesUnavailable."""


class PodResourcesClient:
    """`PodResourcesSource` over the kubelet's `v1.PodResourcesLister` (socket path given)."""

    def __init__(self, socket_path: str, *, timeout_seconds: float = POD_RESOURCES_TIMEOUT_SECONDS) -> None:
        self._socket_path = socket_path
        self._timeout_seconds = timeout_seconds

    async def held_devices(self) -> frozenset[HeldDevice]:
        """List pod resources and keep the `akri.sh/` devices. Raises errors.PodResourcesUnavailable."""
        async with grpc.aio.insecure_channel(unix_target(self._socket_path), options=CHANNEL_OPTIONS) as channel:
            stub = pr_grpc.PodResourcesListerStub(channel)  # type: ignore[no-untyped-call]
            try:
                response = await stub.List(pr.ListPodResourcesRequest(), timeout=self._timeout_seconds)
            except grpc.aio.AioRpcError as exc:
                raise errors.PodResourcesUnavailable(
                    f"kubelet pod-resources at {self._socket_path}: {exc.code().name} {exc.details()}") from exc
        return held_akri_devices(response)


def held_akri_devices(response: pr.ListPodResourcesResponse) -> frozenset[HeldDevice]:
    """The (resource name, device ID) pairs of `akri.sh/` resources in a List response; pods
    without Akri devices contribute nothing."""
    return frozenset((devices.resource_name, device_id)
                     for pod in response.pod_resources
                     for container in pod.containers
                     for devices in container.devices
                     if devices.resource_name.startswith(AKRI_RESOURCE_PREFIX)
                     for device_id in devices.device_ids)


def socket_identity(path: str) -> tuple[int, int, int] | None:
    """(st_dev, st_ino, st_ctime_ns) of `path`, None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns)
