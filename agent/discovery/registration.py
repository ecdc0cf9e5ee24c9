"""The agent's `v0.Registration` gRPC server on `<DISCOVERY_HANDLERS_DIRECTORY>/agent-registration.sock`.

Wire contract: Akri's discovery.proto (akri-contract.md §2.2, Appendix A). External handlers call
`RegisterDiscoveryHandler{name, endpoint, endpoint_type, shared}`; each call becomes a
`GrpcEndpoint` in the `DiscoveryHandlerRegistry`. Akri answers `Empty` to anything; we answer
INVALID_ARGUMENT with a message naming the field for an empty name or an unusable endpoint, and
`Empty` otherwise. A stale socket file from a previous agent is removed before binding.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import grpc

from agent.discovery import endpoints
from agent.discovery._pb import discovery_pb2 as pb
from agent.discovery._pb import discovery_pb2_grpc as pb_grpc
from agent.discovery.registry import DiscoveryHandlerRegistry

__all__ = ["RegistrationServer", "RegistrationServicer", "endpoint_from_request"]

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 1.0


def endpoint_from_request(request: Any) -> endpoints.GrpcEndpoint:
    """`GrpcEndpoint` for a `RegisterDiscoveryHandlerRequest`. Raises ValueError naming the bad field."""
    if not request.name:
        raise ValueError("name is empty")
    endpoint_type = endpoints.NETWORK if request.endpoint_type == pb.RegisterDiscoveryHandlerRequest.NETWORK \
        else endpoints.UDS
    try:
        return endpoints.GrpcEndpoint(name=request.name, endpoint=request.endpoint,
                                      endpoint_type=endpoint_type, shared=request.shared)
    except ValueError as exc:
        raise ValueError(f"endpoint: {exc}") from None


class RegistrationServicer(pb_grpc.RegistrationServicer):
    """`v0.Registration` implementation backed by a registry."""

    def __init__(self, registry: DiscoveryHandlerRegistry) -> None:
        self.registry = registry

    async def RegisterDiscoveryHandler(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        """Register (or refresh) one external endpoint; INVALID_ARGUMENT for a malformed request."""
        try:
            endpoint = endpoint_from_request(request)
        except ValueError as exc:
            logger.warning("rejected discovery handler registration %r: %s", request.name, exc)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"RegisterDiscoveryHandlerRequest.{exc}")
        self.registry.register(endpoint)
        return pb.Empty()


class RegistrationServer:
    """grpc.aio server for `v0.Registration` on a unix socket; `start()` then `stop()`."""

    def __init__(self, registry: DiscoveryHandlerRegistry, socket_path: Path) -> None:
        self.registry = registry
        self.socket_path = Path(socket_path)
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        """Remove a stale socket file, bind and serve. Raises OSError/RuntimeError if binding fails."""
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        server = grpc.aio.server()
        pb_grpc.add_RegistrationServicer_to_server(RegistrationServicer(self.registry), server)
        if server.add_insecure_port(f"unix:{self.socket_path}") == 0:
            raise RuntimeError(f"cannot bind registration socket {self.socket_path}")
        await server.start()
        self._server = server
        logger.info("registration server listening on %s", self.socket_path)

    async def stop(self) -> None:
        """Stop serving and remove the socket file (so handlers notice the agent went away)."""
        if self._server is not None:
            await self._server.stop(STOP_GRACE_SECONDS)
            self._server = None
        self.socket_path.unlink(missing_ok=True)
