"""One gRPC server per device plugin, registered with the kubelet, on exactly one live socket.

`DevicePluginServicer` answers pluginapi.proto `v1beta1.DevicePlugin` for a `DevicePlugin`
(akri-contract.md §2.5): GetDevicePluginOptions → both options false; ListAndWatch → the full
device list at once and again on every change; Allocate → the plugin's answer, or the gRPC status
of its `AllocationError`; GetPreferredAllocation → UNIMPLEMENTED; PreStartContainer → empty.

`PluginServer.run` keeps one plugin served and registered:
1. bind a new server (`h2grpc.UnixGrpcServer`: ~5 KiB per kubelet connection, where a
   `grpc.aio` server costs ~60 KiB) on `<dir>/<name>-<unixSeconds>-<serial>.sock`: Akri's
   `<name>-<unixSeconds>` plus a process-wide serial, so no two sockets of this process ever share
   a name (an Instance deleted and re-created within one second gets a new one — stopping a server
   removes its socket path, which would otherwise take the new plugin's socket with it);
2. `Register` with the kubelet (endpoint = that file name);
3. wait for a restart request (the manager's kubelet watch: `kubelet.sock` recreated, or this
   socket file deleted), then stop the server, remove the socket and start over at 1.
A failed registration stops the server and removes its socket before retrying after a doubling
delay (capped; a restart request cuts the wait short). Cancelling `run` stops the server and
removes the socket, so no stale socket is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
import re
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable

import grpc

from agent.plugins import errors, kubelet
from agent.plugins._pb import pluginapi_pb2 as pb
from agent.plugins.h2grpc import Method, RpcError, UnixGrpcServer
from agent.plugins.plugin import DevicePlugin
from agent.plugins.settings import PluginSettings
from akri_api import naming

__all__ = ["DevicePluginServicer", "DEVICE_PLUGIN_METHODS", "PluginServer", "socket_file_name", "remove_dead_sockets",
           "REGISTRATION_CONCURRENCY"]

logger = logging.getLogger(__name__)

INITIAL_BACKOFF_SECONDS = 0.25
REGISTRATION_CONCURRENCY = 4
"""Register calls in flight at once across all plugins of the agent."""


_SOCKET_FILE_RE = re.compile(r"^[a-z0-9][-a-z0-9.]*-[0-9]+\.sock$")
"""Plugin socket names of this agent and of Akri (`<name>-<unixSeconds>[-<serial>].sock`)."""

SOCKET_PATH_MAX_BYTES = 107
"""Longest unix socket path Linux binds: `sockaddr_un.sun_path` is 108 bytes with the final NUL."""

_SOCKET_SERIALS = itertools.count()
"""Process-wide serial numbers for socket names (shared by every PluginServer)."""


def socket_file_name(name: str, unix_seconds: int, serial: int, *, directory: str = "") -> str:
    """`<name>-<unixSeconds>-<serial>.sock`: Akri's plugin socket naming plus a serial number.

    When `<directory>/<that>` would be longer than SOCKET_PATH_MAX_BYTES (Instance names reach 63
    characters; under /var/lib/kubelet/device-plugins/ about 55 fit), `name` is cut and followed
    by the 6-hex digest Akri uses for Instance names (`naming.device_hash`) of the whole name, which
    keeps names of different plugins apart:
    `<name prefix>-<digest>-<unixSeconds>-<serial>.sock`. The kubelet only uses the file name as
    an opaque endpoint. A directory too long for even that is left to bind() to refuse.
    """
    suffix = f"-{unix_seconds}-{serial}.sock"
    room = SOCKET_PATH_MAX_BYTES - len(os.path.join(directory, "").encode()) - len(suffix)
    if len(name.encode()) > room:
        digest = naming.device_hash(name, shared=True)
        name = f"{name[:max(1, room - len(digest) - 1)].rstrip('-.')}-{digest}"
    return name + suffix


def remove_dead_sockets(directory: str) -> list[str]:
    """Delete the plugin sockets in `directory` that nobody listens on; returns their file names.

    A socket file outlives its server when the agent is killed (SIGKILL, OOM): a clean stop removes
    it, a crash cannot. Only files named like ours (`<name>-<digits>.sock`, never `kubelet.sock`)
    that are unix sockets refusing connections (ECONNREFUSED: no listener) are removed, so a live
    socket — ours or another device plugin's — is never touched. Missing directory → [].
    """
    removed: list[str] = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        if not _SOCKET_FILE_RE.match(name) or not _is_socket(path) or _listening(path):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            removed.append(name)
    return removed


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _listening(path: str) -> bool:
    """False only when connecting is refused (no listener); any other outcome counts as alive."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        code = probe.connect_ex(path)
    return code != errno.ECONNREFUSED


class DevicePluginServicer:
    """pluginapi.proto `v1beta1.DevicePlugin` for one DevicePlugin (served with `DEVICE_PLUGIN_METHODS`)."""

    def __init__(self, plugin: DevicePlugin) -> None:
        self._plugin = plugin

    async def get_device_plugin_options(self, request: pb.Empty) -> pb.DevicePluginOptions:
        """Both options false: no PreStartContainer, no GetPreferredAllocation."""
        return pb.DevicePluginOptions(pre_start_required=False, get_preferred_allocation_available=False)

    async def list_and_watch(self, request: pb.Empty) -> AsyncIterator[pb.ListAndWatchResponse]:
        """The full device list now and after every change, until the kubelet hangs up."""
        logger.info("kubelet watches %s", self._plugin.resource_name)
        async for devices in self._plugin.published.updates():
            logger.debug("sending %d devices of %s", len(devices), self._plugin.resource_name)
            yield pb.ListAndWatchResponse(devices=[pb.Device(ID=device_id, health=health)
                                                   for device_id, health in devices])

    async def get_preferred_allocation(self, request: pb.PreferredAllocationRequest) -> pb.PreferredAllocationResponse:
        """UNIMPLEMENTED (the option is advertised as false)."""
        raise RpcError(grpc.StatusCode.UNIMPLEMENTED, "GetPreferredAllocation is not offered")

    async def allocate(self, request: pb.AllocateRequest) -> pb.AllocateResponse:
        """One ContainerAllocateResponse per container request; a refused request ends with the
        error's gRPC code (NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE, UNKNOWN) and a message naming the slot."""
        container_requests = [list(container.devicesIDs) for container in request.container_requests]
        try:
            responses = await self._plugin.allocate(container_requests)
        except errors.AllocationError as exc:
            logger.warning("Allocate %s on %s refused: %s", container_requests, self._plugin.resource_name, exc)
            raise RpcError(exc.code, str(exc)) from exc
        except Exception as exc:  # request handler: answer the kubelet with what went wrong
            logger.exception("Allocate %s on %s failed", container_requests, self._plugin.resource_name)
            raise RpcError(grpc.StatusCode.UNKNOWN, f"Allocate of {container_requests} failed: {exc}") from exc
        logger.info("allocated %s on %s", container_requests, self._plugin.resource_name)
        return pb.AllocateResponse(container_responses=responses)

    async def pre_start_container(self, request: pb.PreStartContainerRequest) -> pb.PreStartContainerResponse:
        """Empty (never requested: pre_start_required is false)."""
        return pb.PreStartContainerResponse()


DEVICE_PLUGIN_METHODS: dict[str, Method] = {
    "/v1beta1.DevicePlugin/GetDevicePluginOptions": Method(DevicePluginServicer.get_device_plugin_options, pb.Empty),
    "/v1beta1.DevicePlugin/ListAndWatch": Method(DevicePluginServicer.list_and_watch, pb.Empty, streaming=True),
    "/v1beta1.DevicePlugin/GetPreferredAllocation": Method(DevicePluginServicer.get_preferred_allocation,
                                                           pb.PreferredAllocationRequest),
    "/v1beta1.DevicePlugin/Allocate": Method(DevicePluginServicer.allocate, pb.AllocateRequest),
    "/v1beta1.DevicePlugin/PreStartContainer": Method(DevicePluginServicer.pre_start_container,
                                                      pb.PreStartContainerRequest),
}
"""The service's methods by gRPC path, shared by every plugin's server (one table, not one per plugin)."""


class PluginServer:
    """Serves one DevicePlugin and keeps it registered with the kubelet (see module docstring).

    settings: directory, registration timeout and backoff cap; registrations: a semaphore shared
    by all servers that bounds concurrent Register calls (1,000 plugins registering at once would
    open 1,000 channels to the kubelet and leave ~35 MB of freed heap behind); `clock` gives unix
    seconds for socket names (test seam; names stay unique through the process-wide serial).
    """

    def __init__(self, plugin: DevicePlugin, *, settings: PluginSettings,
                 registrations: asyncio.Semaphore | None = None, clock: Callable[[], float] = time.time) -> None:
        self.plugin = plugin
        self._settings = settings
        self._registrations = registrations or asyncio.Semaphore(1)
        self._clock = clock
        self._restart = asyncio.Event()
        self._server: UnixGrpcServer | None = None
        self._socket_path: str | None = None
        self.registered = False
        """True while the current socket is registered with the kubelet."""

    @property
    def socket_path(self) -> str | None:
        """Path of the live socket, None while not serving."""
        return self._socket_path

    def request_restart(self) -> None:
        """Re-serve on a new socket and re-register as soon as possible (kubelet restarted)."""
        self._restart.set()

    def socket_missing(self) -> bool:
        """True when serving but the socket file is gone (removed by a restarting kubelet)."""
        return self._socket_path is not None and not os.path.exists(self._socket_path)

    async def run(self) -> None:
        """Serve and stay registered until cancelled; then stop serving and remove the socket."""
        backoff = INITIAL_BACKOFF_SECONDS
        try:
            while True:
                self._restart.clear()
                try:
                    endpoint = await self._serve()
                    async with self._registrations:
                        await kubelet.register(self._settings.kubelet_socket, endpoint=endpoint,
                                               resource_name=self.plugin.resource_name,
                                               timeout_seconds=self._settings.registration_timeout_seconds)
                except errors.RegistrationFailed as exc:
                    logger.warning("%s not registered; retrying in %.2fs: %s", self.plugin.resource_name, backoff, exc)
                    await self._stop_serving()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._restart.wait(), backoff)
                    backoff = min(backoff * 2, self._settings.registration_backoff_max_seconds)
                    continue
                backoff = INITIAL_BACKOFF_SECONDS
                self.registered = True
                logger.info("device plugin %s registered on %s", self.plugin.resource_name, endpoint)
                await self._restart.wait()
                logger.info("re-serving %s after a kubelet restart", self.plugin.resource_name)
                await self._stop_serving()
        finally:
            await asyncio.shield(self._stop_serving())

    async def _serve(self) -> str:
        """Bind a new server on a new socket; returns the socket file name.
        Raises errors.RegistrationFailed when the socket cannot be bound."""
        await self._stop_serving()
        directory = self._settings.device_plugins_directory
        name = socket_file_name(self.plugin.name, int(self._clock()), next(_SOCKET_SERIALS), directory=directory)
        path = os.path.join(directory, name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        server = UnixGrpcServer(path, DEVICE_PLUGIN_METHODS, DevicePluginServicer(self.plugin))
        try:
            await server.start()
        except OSError as exc:
            raise errors.RegistrationFailed(f"cannot serve {self.plugin.resource_name} on {path}: {exc}") from exc
        self._server, self._socket_path = server, path
        logger.debug("serving %s on %s", self.plugin.resource_name, path)
        return name

    async def _stop_serving(self) -> None:
        self.registered = False
        server, path = self._server, self._socket_path
        self._server = self._socket_path = None
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if server is not None:
            await server.stop()
