"""The `DiscoveryFailed` condition agents write on a Configuration's status (pure functions).

Akri reports discovery failures only in agent logs; we also surface them on the Configuration:
`status.conditions[type=DiscoveryFailed]` with `status: "True"`, a CamelCase `reason`
(`InvalidDiscoveryDetails`, `UnsolvableProperty`, `DiscoveryHandlerUnavailable`,
`NoDiscoveryHandler`, `InvalidConfiguration`) and `message: "node <node>: <what happened>"`.
Several agents share the condition: a node writes it when discovery fails on that node, and
turns it back to `status: "False"` (reason `Discovering`) only if it was that node's report, so
a healthy node never hides another node's failure. Other condition types (Metacontroller's hook
status) are left exactly as they are. Nothing is written while discovery is healthy and no failure
of this node is on record, so a healthy cluster never writes Configuration status at all.
"""

from __future__ import annotations

import datetime
from typing import Any

from agent.discovery.requests import DiscoveryStatus

__all__ = ["CONDITION_TYPE", "RECOVERED_REASON", "with_discovery_condition", "find_condition"]

CONDITION_TYPE = "DiscoveryFailed"
RECOVERED_REASON = "Discovering"

Obj = dict[str, Any]


def find_condition(configuration: Obj) -> Obj | None:
    """The DiscoveryFailed condition of a Configuration object, or None."""
    conditions = (configuration.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == CONDITION_TYPE), None)


def with_discovery_condition(configuration: Obj | None, *, node: str, status: DiscoveryStatus,
                             now: datetime.datetime) -> Obj | None:
    """The Configuration with this node's view of discovery in its DiscoveryFailed condition, or
    None when nothing needs writing (absent object, same condition already there, healthy and
    the current report is not ours). `lastTransitionTime` (RFC 3339, from `now`) changes only when
    `status` flips. The input object is edited in place (callers pass a copy)."""
    if configuration is None:
        return None
    prefix = f"node {node}: "
    existing = find_condition(configuration)
    if status.ok:
        if existing is None or existing.get("status") != "True" or \
                not str(existing.get("message", "")).startswith(prefix):
            return None
        wanted = {"status": "False", "reason": RECOVERED_REASON, "message": f"{prefix}discovery is running"}
    else:
        wanted = {"status": "True", "reason": status.reason, "message": prefix + status.message}
    if existing is not None and all(existing.get(k) == v for k, v in wanted.items()):
        return None
    stamp = now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if existing is not None and existing.get("status") == wanted["status"] and existing.get("lastTransitionTime"):
        stamp = existing["lastTransitionTime"]
    condition: Obj = {"type": CONDITION_TYPE, **wanted, "lastTransitionTime": stamp}
    generation = (configuration.get("metadata") or {}).get("generation")
    if isinstance(generation, int):
        condition["observedGeneration"] = generation
    current_status = configuration.get("status")
    status_obj: Obj = current_status if isinstance(current_status, dict) else {}
    conditions = [c for c in status_obj.get("conditions") or [] if not (isinstance(c, dict)
                                                                          and c.get("type") == CONDITION_TYPE)]
    status_obj["conditions"] = [*conditions, condition]
    configuration["status"] = status_obj
    return configuration
