"""Kubernetes Events (`core/v1`) about objects the agent works on, as `kubectl describe` shows them.

One `record_event` call creates one Event (generateName `<object>.`), with `involvedObject`
pointing at the object, `source.component = akri-agent` and `source.host = <node>`. Events are a
best-effort side channel: a failure to record one is logged and swallowed by the caller's choice
(`record_event` itself raises the typed `agent.kube.errors.KubeError`).
"""

from __future__ import annotations

import datetime
from typing import Any, Protocol

from agent.kube.resources import EVENTS, ResourceKind

__all__ = ["EventCreator", "record_event", "event_body", "COMPONENT", "MESSAGE_MAX_CHARS"]

COMPONENT = "akri-agent"
MESSAGE_MAX_CHARS = 1024

Obj = dict[str, Any]


class EventCreator(Protocol):
    """The part of `KubeClient` needed to post Events."""

    async def create(self, kind: ResourceKind, body: Obj, namespace: str | None = None) -> Obj: ...


def event_body(regarding: Obj, *, reason: str, message: str, event_type: str, host: str,
               now: datetime.datetime) -> Obj:
    """The Event object for `regarding` (a full object with apiVersion, kind and metadata).

    reason: CamelCase (e.g. `InvalidDiscoveryDetails`); event_type: `Normal` or `Warning`;
    message is cut to MESSAGE_MAX_CHARS characters; now: aware UTC time of the event.
    """
    meta = regarding.get("metadata") or {}
    stamp = now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    namespace = meta.get("namespace") or "default"
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name', 'object')}.", "namespace": namespace},
        "involvedObject": {k: v for k, v in {
            "apiVersion": regarding.get("apiVersion"), "kind": regarding.get("kind"),
            "name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion")}.items() if v},
        "reason": reason, "message": message[:MESSAGE_MAX_CHARS], "type": event_type,
        "source": {"component": COMPONENT, "host": host},
        "reportingComponent": COMPONENT, "reportingInstance": f"{COMPONENT}-{host}",
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }


async def record_event(client: EventCreator, regarding: Obj, *, reason: str, message: str, host: str,
                       event_type: str = "Warning", now: datetime.datetime | None = None) -> Obj:
    """Create one Event about `regarding` (see `event_body`). Raises agent.kube.errors.KubeError."""
    body = event_body(regarding, reason=reason, message=message, event_type=event_type, host=host,
                      now=now or datetime.datetime.now(datetime.timezone.utc))
    return await client.create(EVENTS, body, body["metadata"]["namespace"])
