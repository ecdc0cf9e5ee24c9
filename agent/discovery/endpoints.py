"""Discovery-handler endpoints: the one interface the agent queries, embedded or over gRPC.

An endpoint is one registered place that answers `Discover` for a handler name (akri-contract.md
§2.2): `GrpcEndpoint` calls an external handler's `v0.DiscoveryHandler/Discover` server stream over
a unix socket (`UDS`, endpoint = socket path) or TCP (`NETWORK`, endpoint `http://ip:port`);
`EmbeddedEndpoint` calls a `DiscoveryHandler` object in this process. Both yield complete device
lists (replace semantics) and translate failures into `agent.discovery.errors`:
gRPC INVALID_ARGUMENT → InvalidDiscoveryDetails; UNAVAILABLE (cannot connect, or the handler went
away) → HandlerUnavailable with `connect_failed=True`, upon which the caller unregisters the
endpoint (as Akri marks an endpoint closed when it cannot connect); any other code →
HandlerUnavailable (endpoint kept, retried later). Each Discover call gets its own channel with a
local subchannel pool, so a channel stuck in reconnect backoff never outlives the call that saw it.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc

from agent.discovery import errors
from agent.discovery._pb import discovery_pb2 as pb
from agent.discovery._pb import discovery_pb2_grpc as pb_grpc
from agent.discovery.handler import Device, DiscoveryHandler, device_from_proto

__all__ = ["Endpoint", "EmbeddedEndpoint", "GrpcEndpoint", "UDS", "NETWORK", "grpc_target",
           "discover_request"]

logger = logging.getLogger(__name__)

UDS = "UDS"
NETWORK = "NETWORK"
CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)


class Endpoint(abc.ABC):
    """One place that serves discovery for handler `name`.

    uid: registry key (`<name>@<endpoint>` external, `embedded-<name>` embedded); shared: whether
    its devices are shared between nodes (akri-contract.md §2.2: a property of the endpoint);
    closable: whether a connection failure removes it from the registry (embedded ones never close).
    """

    name: str
    shared: bool
    uid: str
    closable: bool = True

    @abc.abstractmethod
    def discover(self, details: str, properties: Mapping[str, bytes | None]) -> AsyncIterator[list[Device]]:
        """Stream of complete device lists for (discoveryDetails, resolved discoveryProperties).

        Ends when the handler ends the stream; raises errors.InvalidDiscoveryDetails or
        errors.HandlerUnavailable (see the module docstring).
        """

    def same_registration(self, other: Endpoint) -> bool:
        """True when `other` describes the same endpoint (uid and shared flag), so re-registering
        it must not restart running discovery."""
        return type(self) is type(other) and self.uid == other.uid and self.shared == other.shared

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uid} shared={self.shared}>"


class EmbeddedEndpoint(Endpoint):
    """A `DiscoveryHandler` running inside the agent (uid `embedded-<name>`, never closed)."""

    closable = False

    def __init__(self, handler: DiscoveryHandler) -> None:
        if not handler.name:
            raise ValueError(f"discovery handler {type(handler).__name__} has no name")
        self.handler = handler
        self.name = handler.name
        self.shared = bool(handler.shared)
        self.uid = f"embedded-{handler.name}"

    async def discover(self, details: str, properties: Mapping[str, bytes | None]) -> AsyncIterator[list[Device]]:
        """`handler.discover(...)`; an unexpected exception from the handler is logged with its
        traceback and reported as errors.HandlerUnavailable (the handler is third-party code)."""
        stream = self.handler.discover(details, properties)
        try:
            async for devices in stream:
                yield list(devices)
        except errors.DiscoveryError:
            raise
        except Exception as exc:  # boundary to handler code, like a request handler (STYLE.md §5.11)
            logger.exception("embedded discovery handler %s failed", self.name)
            raise errors.HandlerUnavailable(
                f"embedded handler {self.name} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            await stream.aclose()  # type: ignore[attr-defined]


def grpc_target(endpoint: str, endpoint_type: str) -> str:
    """gRPC target for a registered endpoint: `unix:<path>` for UDS, `host:port` for NETWORK.

    NETWORK endpoints come as `http://<ip>:<port>` (Akri's handlers send `http://$POD_IP:10000`);
    the scheme is dropped. Raises ValueError for an empty endpoint, a relative UDS path or a
    NETWORK endpoint without a port.
    """
    if not endpoint:
        raise ValueError("endpoint is empty")
    if endpoint_type == UDS:
        path = endpoint[len("unix://"):] if endpoint.startswith("unix://") else endpoint
        if not path.startswith("/"):
            raise ValueError(f"UDS endpoint {endpoint!r} is not an absolute socket path")
        return f"unix:{path}"
    address = endpoint.split("://", 1)[1] if "://" in endpoint else endpoint
    address = address.rstrip("/")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"NETWORK endpoint {endpoint!r} is not http://<host>:<port>")
    return address


def discover_request(details: str, properties: Mapping[str, bytes | None]) -> Any:
    """discovery.proto `DiscoverRequest`; a None property value is sent as `ByteData` with `vec` unset."""
    request = pb.DiscoverRequest(discovery_details=details)
    for key, value in properties.items():
        if value is None:
            request.discovery_properties[key].SetInParent()
        else:
            request.discovery_properties[key].vec = value
    return request


class GrpcEndpoint(Endpoint):
    """An external handler reached over gRPC (registered through `v0.Registration`)."""

    def __init__(self, *, name: str, endpoint: str, endpoint_type: str, shared: bool) -> None:
        self.name = name
        self.endpoint = endpoint
        self.endpoint_type = endpoint_type
        self.shared = shared
        self.target = grpc_target(endpoint, endpoint_type)
        self.uid = f"{name}@{endpoint}"

    def same_registration(self, other: Endpoint) -> bool:
        """Same uid, shared flag and endpoint type."""
        return (super().same_registration(other) and isinstance(other, GrpcEndpoint)
                and other.endpoint_type == self.endpoint_type)

    async def discover(self, details: str, properties: Mapping[str, bytes | None]) -> AsyncIterator[list[Device]]:
        """One `Discover` stream on a fresh channel; see the module docstring for error mapping."""
        async with grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS) as channel:
            call = pb_grpc.DiscoveryHandlerStub(channel).Discover(discover_request(details, properties))
            try:
                async for response in call:
                    yield [device_from_proto(d) for d in response.devices]
            except grpc.aio.AioRpcError as exc:
                raise self._translate(exc) from exc
            finally:
                call.cancel()

    def _translate(self, exc: grpc.aio.AioRpcError) -> errors.DiscoveryError:
        code, detail = exc.code(), exc.details() or ""
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return errors.InvalidDiscoveryDetails(detail or "discovery handler rejected discoveryDetails")
        return errors.HandlerUnavailable(f"{self.uid}: {code.name}: {detail}",
                                         connect_failed=code == grpc.StatusCode.UNAVAILABLE)
