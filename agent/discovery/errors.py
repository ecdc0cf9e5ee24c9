"""Discovery errors (mirrors Akri's `DiscoveryError`, agent/src/discovery_handler_manager/mod.rs).

    DiscoveryError
    ├── InvalidDiscoveryDetails   discoveryDetails do not parse/validate (gRPC InvalidArgument)
    ├── HandlerUnavailable        no endpoint registered, connect failed, or any other gRPC error
    └── UnsolvableProperty        a discoveryProperty's Secret/ConfigMap (or key) is missing and not optional
"""

from __future__ import annotations

__all__ = ["DiscoveryError", "InvalidDiscoveryDetails", "HandlerUnavailable", "UnsolvableProperty"]


class DiscoveryError(Exception):
    """Base of every discovery failure; `str()` is a one-line message safe to log (no credentials)."""


class InvalidDiscoveryDetails(DiscoveryError):
    """The Configuration's discoveryDetails are invalid for this handler (gRPC `INVALID_ARGUMENT`)."""


class HandlerUnavailable(DiscoveryError):
    """No usable endpoint for the handler name, or the endpoint failed with a non-InvalidArgument error.

    `connect_failed` is True when the endpoint could not be reached at all (gRPC UNAVAILABLE): the
    agent then removes it from its registry until the handler registers again.
    """

    def __init__(self, message: str, *, connect_failed: bool = False) -> None:
        super().__init__(message)
        self.connect_failed = connect_failed


class UnsolvableProperty(DiscoveryError):
    """A discoveryProperty `valueFrom` reference cannot be resolved and is not `optional`."""
