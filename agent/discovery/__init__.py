"""Discovery: the handler interface, the agent's handler registry and its gRPC protocol (Akri v0).

Modules: `handler` (DiscoveryHandler ABC, Device), `errors`, `endpoints` (embedded and gRPC
endpoints), `registry` (name → endpoints), `registration` (the agent's `v0.Registration` server),
`properties` (discoveryProperties from Secrets/ConfigMaps), `requests` (one running discovery per
Configuration), `embedded` (handlers run in the agent), `standalone` (a handler as its own
process), `handlers/` (debugEcho, udev, onvif, opcua). Internal code imports modules.
"""

from agent.discovery.endpoints import EmbeddedEndpoint, Endpoint, GrpcEndpoint
from agent.discovery.errors import DiscoveryError, HandlerUnavailable, InvalidDiscoveryDetails, UnsolvableProperty
from agent.discovery.handler import Device, DeviceSpec, DiscoveryHandler, Mount
from agent.discovery.registry import DiscoveryHandlerRegistry
from agent.discovery.standalone import run_handler, serve_handler

__all__ = [
    "Device", "DeviceSpec", "DiscoveryError", "DiscoveryHandler", "DiscoveryHandlerRegistry", "EmbeddedEndpoint",
    "Endpoint", "GrpcEndpoint", "HandlerUnavailable", "InvalidDiscoveryDetails", "Mount", "UnsolvableProperty",
    "run_handler", "serve_handler",
]
