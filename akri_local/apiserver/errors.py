"""Kubernetes API errors as exceptions that render to ``Status`` objects.

Every failure the emulator reports is an :class:`ApiError`; the HTTP layer turns it into
the JSON body a real kube-apiserver sends (``k8s.io/apimachinery/pkg/api/errors``), so
``kubernetes.client.ApiException.status`` / ``.body`` look the same as against a real cluster::

    ApiError (code, reason, message, details)
    ├── BadRequest        400 BadRequest
    ├── Forbidden         403 Forbidden
    ├── NotFound          404 NotFound
    ├── MethodNotAllowed  405 MethodNotAllowed
    ├── Conflict          409 Conflict
    ├── AlreadyExists     409 AlreadyExists
    ├── Gone              410 Expired / Gone
    ├── UnsupportedMediaType 415 UnsupportedMediaType
    ├── Invalid           422 Invalid (with details.causes naming each field)
    ├── InternalError     500 InternalError
    └── Timeout           504 Timeout
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "FieldCause",
    "Forbidden",
    "Gone",
    "InternalError",
    "Invalid",
    "MethodNotAllowed",
    "NotFound",
    "Timeout",
    "UnsupportedMediaType",
]


class ApiError(Exception):
    """An API failure with its HTTP ``code``, Kubernetes ``reason`` and human ``message``.

    ``details`` is the optional ``Status.details`` mapping (name, group, kind, causes);
    ``warnings`` are admission warnings to send as ``Warning`` headers with the error.
    """

    code = 500
    reason = "InternalError"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 code: int | None = None, reason: str | None = None,
                 warnings: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.warnings = list(warnings or [])
        if code is not None:
            self.code = code
        if reason is not None:
            self.reason = reason

    def status(self) -> dict[str, Any]:
        """The ``meta/v1 Status`` body: kind, apiVersion, status=Failure, message, reason, code."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details:
            body["details"] = self.details
        return body


def _details(resource: str, group: str, name: str | None) -> dict[str, Any]:
    """``Status.details`` for a named object: ``{"name", "group", "kind": <plural>}``."""
    details: dict[str, Any] = {"kind": resource}
    if group:
        details["group"] = group
    if name:
        details["name"] = name
    return details


def _qualified(resource: str, group: str) -> str:
    """``pods`` or ``instances.akri.sh`` as the apiserver spells a group-resource."""
    return f"{resource}.{group}" if group else resource


class BadRequest(ApiError):
    """400: malformed body, query parameter or selector."""

    code = 400
    reason = "BadRequest"


class Forbidden(ApiError):
    """403: the request is refused by policy (e.g. terminating namespace)."""

    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    """404: ``<resource>.<group> "<name>" not found`` (or an unknown path)."""

    code = 404
    reason = "NotFound"

    @classmethod
    def object(cls, resource: str, group: str, name: str) -> NotFound:
        """The error for a missing named object, as ``errors.NewNotFound`` words it."""
        return cls(f'{_qualified(resource, group)} "{name}" not found',
                   details=_details(resource, group, name))


class MethodNotAllowed(ApiError):
    """405: the verb is not supported on this path."""

    code = 405
    reason = "MethodNotAllowed"


class Conflict(ApiError):
    """409 Conflict: stale resourceVersion or failed precondition."""

    code = 409
    reason = "Conflict"

    @classmethod
    def stale(cls, resource: str, group: str, name: str) -> Conflict:
        """The optimistic-concurrency failure, worded as ``errors.NewConflict`` + storage."""
        return cls(
            f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": '
            "the object has been modified; please apply your changes to the latest "
            "version and try again",
            details=_details(resource, group, name),
        )


class AlreadyExists(ApiError):
    """409 AlreadyExists: create of a name that exists."""

    code = 409
    reason = "AlreadyExists"

    @classmethod
    def object(cls, resource: str, group: str, name: str) -> AlreadyExists:
        """The error for a duplicate name, as ``errors.NewAlreadyExists`` words it."""
        return cls(f'{_qualified(resource, group)} "{name}" already exists',
                   details=_details(resource, group, name))


class Gone(ApiError):
    """410: a resourceVersion or continue token older than the retained history."""

    code = 410
    reason = "Expired"


class UnsupportedMediaType(ApiError):
    """415: unknown ``Content-Type`` for the verb."""

    code = 415
    reason = "UnsupportedMediaType"


class FieldCause(dict):  # type: ignore[type-arg]
    """One ``Status.details.causes`` entry: ``{"reason", "message", "field"}``."""

    def __init__(self, field: str, message: str, reason: str = "FieldValueInvalid") -> None:
        super().__init__(reason=reason, message=message, field=field)


class Invalid(ApiError):
    """422: ``<Kind>.<group> "<name>" is invalid: <field>: <message>, ...``."""

    code = 422
    reason = "Invalid"

    @classmethod
    def fields(cls, kind: str, group: str, name: str, causes: list[FieldCause]) -> Invalid:
        """Build the error for ``causes`` (each names its field path, e.g. ``spec.capacity``)."""
        parts = [f"{c['field']}: {c['message']}" if c["field"] else c["message"] for c in causes]
        summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        details = _details(kind, group, name)
        details["causes"] = [dict(c) for c in causes]
        return cls(f'{_qualified(kind, group)} "{name}" is invalid: {summary}', details=details)


class InternalError(ApiError):
    """500: an unexpected failure (e.g. a webhook call failed with failurePolicy Fail)."""

    code = 500
    reason = "InternalError"


class Timeout(ApiError):
    """504: the request could not be completed in time."""

    code = 504
    reason = "Timeout"
