"""Typed Kubernetes API errors, parsed from the API's `Status` body (as kopf and lightkube do).

    KubeError                    status code, reason and message of a failed call
    ├── KubeClientError          4xx
    │   ├── NotFound             404
    │   ├── Conflict             409 reason Conflict (stale resourceVersion, SSA field conflict)
    │   ├── AlreadyExists        409 reason AlreadyExists
    │   ├── Gone                 410 (watch or list from an expired resourceVersion)
    │   ├── Invalid              422
    │   └── TooManyRequests      429
    └── KubeServerError          5xx, and transport failures (status 0)
    KubeConfigError              no usable kubeconfig / in-cluster service account

Only `agent.kube` raises these; urllib3's exceptions never leave it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["KubeConfigError", "KubeError", "KubeClientError", "KubeServerError", "NotFound", "Conflict",
           "AlreadyExists", "Gone", "Invalid", "TooManyRequests", "from_response"]

TEXT_ERROR_MAX_SIZE = 256


class KubeError(Exception):
    """A failed Kubernetes API call: `status` (HTTP code, 0 for transport), `reason`, `message`,
    and `retry_after_seconds`: how long the server asked the client to wait (429 and some 5xx:
    the `Retry-After` header or `Status.details.retryAfterSeconds`), None when it did not say."""

    def __init__(self, status: int, reason: str, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after_seconds = retry_after_seconds


class KubeConfigError(Exception):
    """The client cannot be configured: the kubeconfig is missing or invalid, or (in-cluster) the
    service-account token / KUBERNETES_SERVICE_HOST is absent. `str()` says which."""


class KubeClientError(KubeError):
    """4xx: the request was wrong or conflicts with the current state."""


class KubeServerError(KubeError):
    """5xx or a transport failure: worth retrying."""


class NotFound(KubeClientError):
    """404."""


class Conflict(KubeClientError):
    """409 Conflict: stale resourceVersion or a server-side-apply field conflict."""


class AlreadyExists(KubeClientError):
    """409 AlreadyExists."""


class Gone(KubeClientError):
    """410: the resourceVersion is too old (watch must relist)."""


class Invalid(KubeClientError):
    """422: the object failed validation."""


class TooManyRequests(KubeClientError):
    """429."""


def from_response(status: int, body: bytes | str | None, *, retry_after: str | None = None) -> KubeError:
    """The typed error for an HTTP status and its body (a `Status` object or text, truncated);
    `retry_after`: the response's Retry-After header (delay-seconds; an HTTP date is ignored)."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    reason, message = "", text[:TEXT_ERROR_MAX_SIZE]
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError:
        parsed = None
    wait = _seconds(retry_after)
    if isinstance(parsed, dict):
        reason = str(parsed.get("reason") or "")
        message = str(parsed.get("message") or message)
        details = parsed.get("details")
        if wait is None and isinstance(details, dict):
            wait = _seconds(details.get("retryAfterSeconds"))
    if status == 404:
        cls: type[KubeError] = NotFound
    elif status == 409:
        cls = AlreadyExists if reason == "AlreadyExists" else Conflict
    elif status == 410:
        cls = Gone
    elif status == 422:
        cls = Invalid
    elif status == 429:
        cls = TooManyRequests
    elif 400 <= status < 500:
        cls = KubeClientError
    else:
        cls = KubeServerError
    return cls(status, reason or cls.__name__, message, retry_after_seconds=wait)


def _seconds(value: Any) -> float | None:
    """A non-negative number of seconds from a header or a Status field; None when not one."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 <= seconds < float("inf") else None
