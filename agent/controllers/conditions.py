"""The `DiscoveryFailed` condition agents write on a Configuration's status (pure functions).

Akri reports discovery failures only in agent logs; we also surface them on the Configuration as
one condition shared by every node, with one entry per failing node:

    status.conditions[type=DiscoveryFailed]:
      status: "True" while at least one node reports a failure, else "False"
      reason: the failing nodes' reason (CamelCase: InvalidDiscoveryDetails, UnsolvableProperty,
              DiscoveryHandlerUnavailable, NoDiscoveryHandler, InvalidConfiguration,
              InstanceWriteFailed) when they all agree, MIXED_REASON when they do not,
              RECOVERED_REASON ("Discovering") when none is failing
      message: "node <node>: <Reason>: <what happened>; node <other>: ..." sorted by node, or
              RECOVERED_MESSAGE when none is failing
      lastTransitionTime: RFC 3339, changes only when `status` flips
      observedGeneration: the Configuration's metadata.generation at the last write

Each node edits only its own entry (a read-modify-write on resourceVersion, so concurrent nodes
never lose each other's entries), level-triggered: its entry must say what its discovery says
now, whatever happened to the object meanwhile (e.g. Metacontroller replacing the status from a
stale snapshot). `with_discovery_condition` returns None when the object already shows this
node's state, so an agent whose state did not change writes nothing. A node whose discovery is
healthy and that has no entry never writes, so a healthy cluster never writes this condition.
To keep entries separable, a message has its whitespace collapsed and ";" replaced by ",", and is
cut at MESSAGE_MAX_CHARS; text in the message that is not in this format (e.g. written by an older
agent) is dropped on the next rewrite. Other condition types are left exactly as they are.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

from agent.discovery.requests import DiscoveryStatus

__all__ = ["CONDITION_TYPE", "RECOVERED_REASON", "RECOVERED_MESSAGE", "MIXED_REASON", "MESSAGE_MAX_CHARS",
           "NodeFailure", "find_condition", "failures", "is_reported", "with_discovery_condition"]

CONDITION_TYPE = "DiscoveryFailed"
RECOVERED_REASON = "Discovering"
RECOVERED_MESSAGE = "no node reports a discovery failure"
MIXED_REASON = "MultipleFailures"
MESSAGE_MAX_CHARS = 1024

_SEPARATOR = "; "
_ENTRY = re.compile(r"^node (?P<node>[^\s:;]+): (?P<reason>[A-Z][A-Za-z0-9]*)(?:: (?P<message>.*))?$")

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class NodeFailure:
    """One node's entry: a CamelCase `reason` and a one-line `message`."""

    reason: str
    message: str

    @classmethod
    def of(cls, status: DiscoveryStatus) -> NodeFailure:
        """The entry for a failing status, message normalised as stored (see the module docstring)."""
        message = re.sub(r"\s+", " ", status.message).replace(";", ",").strip()[:MESSAGE_MAX_CHARS]
        return cls(status.reason or "Failed", message)

    def render(self, node: str) -> str:
        """`node <node>: <reason>: <message>` (`: <message>` left out when empty)."""
        return f"node {node}: {self.reason}" + (f": {self.message}" if self.message else "")


def find_condition(configuration: Obj) -> Obj | None:
    """The DiscoveryFailed condition of a Configuration object, or None."""
    status = configuration.get("status")
    conditions = (status.get("conditions") if isinstance(status, dict) else None) or []
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == CONDITION_TYPE), None)


def failures(configuration: Obj) -> dict[str, NodeFailure]:
    """node → its entry in the DiscoveryFailed condition ({} when absent, "False", or unparseable)."""
    condition = find_condition(configuration)
    if condition is None or condition.get("status") != "True":
        return {}
    found: dict[str, NodeFailure] = {}
    for part in str(condition.get("message") or "").split(_SEPARATOR):
        match = _ENTRY.match(part)
        if match is not None:
            found[match["node"]] = NodeFailure(match["reason"], match["message"] or "")
    return found


def is_reported(configuration: Obj, *, node: str, status: DiscoveryStatus) -> bool:
    """True when the object shows `status` for `node`: its entry when failing, no entry when ok."""
    mine = failures(configuration).get(node)
    return mine is None if status.ok else mine == NodeFailure.of(status)


def with_discovery_condition(configuration: Obj | None, *, node: str, status: DiscoveryStatus,
                             now: datetime.datetime) -> Obj | None:
    """The Configuration with this node's entry set (failing) or removed (ok), or None when nothing
    needs writing (absent object, or `is_reported` already). Entries of other nodes are kept.
    `lastTransitionTime` (RFC 3339, from `now`) changes only when the condition's `status` flips.
    The input object is edited in place (callers pass a copy)."""
    if configuration is None or is_reported(configuration, node=node, status=status):
        return None
    entries = failures(configuration)
    if status.ok:
        entries.pop(node, None)
    else:
        entries[node] = NodeFailure.of(status)
    if entries:
        reasons = {f.reason for f in entries.values()}
        wanted = {"status": "True", "reason": reasons.pop() if len(reasons) == 1 else MIXED_REASON,
                  "message": _SEPARATOR.join(entries[n].render(n) for n in sorted(entries))}
    else:
        wanted = {"status": "False", "reason": RECOVERED_REASON, "message": RECOVERED_MESSAGE}
    existing = find_condition(configuration)
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
