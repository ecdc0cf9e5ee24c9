"""Selecting objects for list and watch: options, matching, continue tokens, watch streams.

:class:`ListOptions` carries parsed ``labelSelector`` / ``fieldSelector`` / ``limit`` /
``continue``; :func:`matches` applies them (plus a namespace); :class:`WatchStream` turns a
store :class:`store.Watcher` into the events one watch request should see, with the watch
cache's selector transitions (an object that starts matching arrives as ADDED, one that stops
matching as DELETED) and BOOKMARK events that never overtake queued events.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from typing import Any

from akri_local.apiserver import errors, kinds, selectors
from akri_local.apiserver.kinds import ResourceType
from akri_local.apiserver.store import ADDED, DELETED, MODIFIED, Event, Store, Watcher

__all__ = ["INITIAL_EVENTS_END", "ListOptions", "WatchStream", "check_field_selector",
           "decode_continue", "encode_continue", "matches"]

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclasses.dataclass(frozen=True)
class ListOptions:
    """Query options of list/watch/deletecollection (already parsed); ``limit`` 0 = all."""

    label_selector: selectors.LabelSelector = selectors.LabelSelector()
    field_selector: selectors.FieldSelector = selectors.FieldSelector()
    limit: int = 0
    continue_token: str = ""


def matches(rt: ResourceType, obj: dict[str, Any], namespace: str | None, options: ListOptions) -> bool:
    """True when ``obj`` is in ``namespace`` (None = any) and satisfies both selectors."""
    obj_meta = obj.get("metadata") or {}
    if namespace is not None and obj_meta.get("namespace", "") != namespace:
        return False
    return (options.label_selector.matches(obj_meta.get("labels"))
            and options.field_selector.matches(kinds.field_values(rt, obj)))


def check_field_selector(rt: ResourceType, options: ListOptions) -> None:
    """BadRequest ``field label not supported: <f>`` for a field ``rt`` cannot select on."""
    unsupported = options.field_selector.fields - kinds.supported_field_labels(rt)
    if unsupported:
        raise errors.BadRequest(f"field label not supported: {sorted(unsupported)[0]}")


def encode_continue(namespace: str, name: str) -> str:
    """An opaque continue token resuming a list after the object ``(namespace, name)``."""
    return base64.urlsafe_b64encode(json.dumps({"after": [namespace, name]}).encode()).decode()


def decode_continue(token: str) -> tuple[str, str]:
    """The ``(namespace, name)`` key a continue token resumes after; BadRequest when malformed."""
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
        return str(namespace), str(name)
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.BadRequest(f"continue key is not valid: {exc}") from exc


class WatchStream:
    """The events of one watch request (see module docstring).

    ``output`` renders a stored object as served (apiVersion of the request's version);
    ``initial_events_end`` asks for the ``sendInitialEvents`` end-of-list BOOKMARK.
    """

    def __init__(self, *, store: Store, watcher: Watcher, rt: ResourceType, namespace: str | None,
                 options: ListOptions, output: Callable[[dict[str, Any]], dict[str, Any]],
                 initial_events_end: bool) -> None:
        self._store = store
        self._watcher = watcher
        self._rt = rt
        self._namespace = namespace
        self._options = options
        self._output = output
        self._pending_initial_end = initial_events_end

    def _matches(self, obj: dict[str, Any] | None) -> bool:
        return obj is not None and matches(self._rt, obj, self._namespace, self._options)

    def _translate(self, event: Event) -> dict[str, Any] | None:
        now, before = self._matches(event.object), self._matches(event.previous)
        if event.type == ADDED:
            kind = ADDED if now else None
        elif event.type == DELETED:
            kind = DELETED if before or now else None
        elif now:
            kind = MODIFIED if before else ADDED
        else:
            kind = DELETED if before else None
        if kind is None:
            return None
        return {"type": kind, "object": self._output(event.object)}

    def next(self, timeout: float) -> Any:
        """The next ``{"type", "object"}`` event, None when idle ``timeout`` seconds, or
        :data:`Watcher.CLOSED` when the subscription ended."""
        while True:
            item = self._watcher.next_event(timeout)
            if item is Watcher.CLOSED or item is Watcher.IDLE:
                return item
            event = self._translate(item)
            if event is not None:
                return event

    def bookmark(self) -> dict[str, Any] | None:
        """A BOOKMARK at the current revision, or None while events are still queued."""
        revision = self._store.idle_revision(self._watcher)
        if revision is None:
            return None
        return {"type": "BOOKMARK", "object": {
            "kind": self._rt.kind, "apiVersion": self._rt.api_version,
            "metadata": {"resourceVersion": str(revision)}}}

    def initial_events_end(self) -> dict[str, Any] | None:
        """The ``k8s.io/initial-events-end`` BOOKMARK, once (sendInitialEvents); else None."""
        if not self._pending_initial_end:
            return None
        event = self.bookmark()
        if event is not None:
            self._pending_initial_end = False
            event["object"]["metadata"]["annotations"] = {INITIAL_EVENTS_END: "true"}
        return event

    def close(self) -> None:
        """Release the store subscription."""
        self._watcher.close()
