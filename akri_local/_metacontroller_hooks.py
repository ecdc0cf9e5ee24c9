"""Calling Metacontroller hooks over HTTP and decoding their answers (metacontroller-contract.md §4-§6, §11).

`call_hook` POSTs the JSON request and returns the decoded body of a 200 answer. Everything else is
a `HookError` whose text mirrors Metacontroller's (`http error: …`, `unsupported status code: N
body: …`), except 429, which is `HookBackoff` carrying the `Retry-After` delay (integer seconds or
an HTTP date; missing or invalid → 0) so the runner requeues without an event. `parse_sync_response`
checks the JSON types of a sync/finalize answer (keys are case-sensitive; unknown keys are an error
for v2 hooks — `strict` — and only logged for v1 — `loose`).
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3

from akri_local._metacontroller_spec import HookSpec

__all__ = ["HookError", "HookBackoff", "SyncResponse", "call_hook", "parse_sync_response", "retry_after_seconds"]

logger = logging.getLogger(__name__)

SYNC_RESPONSE_KEYS = ("status", "children", "resyncAfterSeconds", "finalized")
BODY_IN_ERROR_MAX_CHARS = 512


class HookError(Exception):
    """A hook call that failed (transport, timeout, non-200 status, undecodable or mistyped body)."""


class HookBackoff(HookError):
    """The hook answered 429: retry after `retry_after` seconds, without a SyncError event."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SyncResponse:
    """A decoded sync/finalize answer (contract §6).

    status: object or None (None → status becomes {} + observedGeneration); children: list of
    desired objects (null → []); resync_after_seconds: > 0 or None; finalized: bool.
    """

    status: Mapping[str, Any] | None
    children: list[Any]
    resync_after_seconds: float | None
    finalized: bool


def call_hook(pool: urllib3.PoolManager, hook: HookSpec, request: Mapping[str, Any]) -> Any:
    """POST `request` as JSON to `hook.url` within `hook.timeout_seconds`; the decoded 200 body.

    Raises HookBackoff on 429, HookError on any other failure.
    """
    body = json.dumps(request).encode()
    try:
        response = pool.request("POST", hook.url, body=body, headers={"Content-Type": "application/json"},
                                timeout=urllib3.Timeout(total=hook.timeout_seconds), retries=False)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise HookError(f"http error: Post {hook.url!r}: {exc}") from exc
    text = response.data.decode(errors="replace")
    if response.status == 429:
        delay = retry_after_seconds(response.headers.get("Retry-After"), now=time.time())
        raise HookBackoff(f"too many requests from {hook.url!r}; retry after {delay:g}s", delay)
    if response.status != 200:
        raise HookError(f"unsupported status code: {response.status} body: {text[:BODY_IN_ERROR_MAX_CHARS]}")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise HookError(f"response from {hook.url!r} is not JSON: {exc}: {text[:BODY_IN_ERROR_MAX_CHARS]}") from exc


def retry_after_seconds(value: str | None, *, now: float) -> float:
    """A `Retry-After` header as seconds from `now` (epoch seconds): integer seconds or an HTTP date."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - now)


def parse_sync_response(body: Any, *, strict: bool) -> SyncResponse:
    """Check and decode a sync/finalize answer. Raises HookError naming the offending key."""
    if not isinstance(body, Mapping):
        raise HookError(f"sync response must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(SYNC_RESPONSE_KEYS))
    if unknown:
        if strict:
            raise HookError(f"sync response has unknown fields {unknown} (strict v2 decoding)")
        logger.debug("ignoring unknown sync response fields %s", unknown)
    status = body.get("status")
    if status is not None and not isinstance(status, Mapping):
        raise HookError(f"sync response status must be an object or null, got {status!r}")
    children = body.get("children")
    if children is None:
        children = []
    if not isinstance(children, list):
        raise HookError(f"sync response children must be a list or null, got {type(children).__name__}")
    resync = body.get("resyncAfterSeconds")
    if resync is not None and (isinstance(resync, bool) or not isinstance(resync, int | float)):
        raise HookError(f"sync response resyncAfterSeconds must be a number, got {resync!r}")
    finalized = body.get("finalized", False)
    if finalized is None:
        finalized = False
    if not isinstance(finalized, bool):
        raise HookError(f"sync response finalized must be a boolean, got {finalized!r}")
    return SyncResponse(status=status, children=children,
                        resync_after_seconds=float(resync) if resync and resync > 0 else None,
                        finalized=finalized)
