"""JSON shapes exchanged with Metacontroller, as TypedDicts (metacontroller-contract.md §5, §6, §11).

Requests are read through `hooks._input` (they are untrusted `Mapping`s); these types describe
what the hooks return.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class Condition(TypedDict):
    """One entry of `status.conditions`; no timestamps (status must be replayable, contract §6)."""

    type: str
    status: str  # "True" | "False"
    reason: str
    message: str


class CompositeSyncResponse(TypedDict):
    """Response of a CompositeController sync hook (metacontroller-contract.md §6).

    `children` is the complete desired set (omitted observed children are deleted);
    `resyncAfterSeconds` (float seconds > 0) asks for one more sync after that delay.
    """

    status: dict[str, Any]
    children: list[dict[str, Any]]
    resyncAfterSeconds: NotRequired[float]


class RelatedResourceRule(TypedDict):
    """One rule of a customize response (metacontroller-contract.md §11)."""

    apiVersion: str
    resource: str
    namespace: NotRequired[str]
    names: NotRequired[list[str]]
    labelSelector: NotRequired[dict[str, Any]]


class CustomizeResponse(TypedDict):
    """Response of a customize hook (metacontroller-contract.md §11)."""

    relatedResources: list[RelatedResourceRule]


def condition(type_: str, ok: bool, reason: str, message: str) -> Condition:
    """A status condition with status `"True"`/`"False"`."""
    return {"type": type_, "status": "True" if ok else "False", "reason": reason, "message": message}
