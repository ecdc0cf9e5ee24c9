"""The agent's registry of discovery-handler endpoints: handler name → {uid → endpoint}.

Akri's `DiscoveryHandlerRegistry` (agent/src/discovery_handler_manager/discovery_handler_registry.rs,
akri-contract.md §2.2): any number of endpoints per handler name; registering an endpoint with a
known uid replaces it — unless it describes exactly the same endpoint (same uid, type and shared
flag), in which case the live one is kept so running Discover streams are not restarted (a
standalone handler re-registers every time the agent drops one of its streams, and restarting
the others would make it re-register forever). Listeners (one per discovery request) are told
the handler name after every change and compare endpoints themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.discovery.endpoints import Endpoint

__all__ = ["DiscoveryHandlerRegistry", "Listener"]

logger = logging.getLogger(__name__)

Listener = Callable[[str], None]
"""Called with a handler name whenever that name's endpoints change (or are re-confirmed)."""


class DiscoveryHandlerRegistry:
    """Registered endpoints and change listeners. Single event loop; no I/O."""

    def __init__(self) -> None:
        self._endpoints: dict[str, dict[str, Endpoint]] = {}
        self._listeners: list[Listener] = []

    def register(self, endpoint: Endpoint) -> Endpoint:
        """Add or replace `endpoint`; returns the endpoint now registered under its uid (the
        existing object when `endpoint` describes the same registration). Listeners are told in
        both cases, so requests whose stream to this uid ended query it again."""
        by_uid = self._endpoints.setdefault(endpoint.name, {})
        current = by_uid.get(endpoint.uid)
        if current is not None and current.same_registration(endpoint):
            logger.debug("discovery handler %s re-registered (unchanged)", endpoint.uid)
            registered = current
        else:
            by_uid[endpoint.uid] = registered = endpoint
            logger.info("discovery handler registered: %s (shared=%s)%s", endpoint.uid, endpoint.shared,
                        " replacing an older registration" if current is not None else "")
        self._notify(endpoint.name)
        return registered

    def unregister(self, endpoint: Endpoint) -> bool:
        """Remove `endpoint` if it is still the one registered under its uid; True if removed."""
        by_uid = self._endpoints.get(endpoint.name, {})
        if by_uid.get(endpoint.uid) is not endpoint:
            return False
        del by_uid[endpoint.uid]
        if not by_uid:
            del self._endpoints[endpoint.name]
        logger.info("discovery handler unregistered: %s", endpoint.uid)
        self._notify(endpoint.name)
        return True

    def endpoints(self, name: str) -> list[Endpoint]:
        """Endpoints registered for handler `name`, ordered by uid (deterministic merge order)."""
        by_uid = self._endpoints.get(name, {})
        return [by_uid[uid] for uid in sorted(by_uid)]

    def names(self) -> list[str]:
        """Handler names with at least one endpoint, sorted."""
        return sorted(self._endpoints)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(name)` after every change; returns the function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
        return unsubscribe

    def _notify(self, name: str) -> None:
        for listener in list(self._listeners):
            listener(name)
