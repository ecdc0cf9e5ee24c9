"""Validating admission webhook for Configurations: AdmissionReview in, AdmissionReview out.

Replaces Akri's `webhooks/validating/configuration` (akri-contract.md §4) with the shared
validator `akri_api.validation`, so `akri validate` and the webhook give the same verdict.
Differences from Akri, all deliberate (akri-contract.md §9 row 10): an unparsable Configuration is
*denied* with every problem listed (Akri panics, which the API server turns into a rejection, so
the outcome `allowed=false` is kept); each udev discoveryDetails problem gets its own message
naming the field (`...discoveryDetails.permissions: must be one of r, w, ...`, `...udevRules:
required`, a rule's parse error) where Akri says `Invalid udev discovery details device
permissions` for all of them; and legal-but-suspicious Configurations are allowed with
`warnings` (shown by kubectl).

Accepted: `admission.k8s.io/v1` and `v1beta1` reviews (the answer uses the request's apiVersion).
The review itself being unreadable (not an object, unknown apiVersion, no `request`, no
`request.uid`) raises HookInputError, which app.py answers with HTTP 400 like Akri does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akri_api import naming, validation
from hooks import _input
from hooks.errors import HookInputError

__all__ = ["review_configuration", "warm_up", "ADMISSION_API_VERSIONS", "NO_DATA_MESSAGE"]

ADMISSION_API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
NO_DATA_MESSAGE = "AdmissionRequest object contains no data"
"""Akri's denial message for a review without `request.object` (akri-contract.md §4 step 1)."""

DENIED_STATUS_CODE = 400


def review_configuration(review: Mapping[str, Any]) -> dict[str, Any]:
    """The AdmissionReview answering `review` (Kubernetes admission.k8s.io v1/v1beta1).

    review: `{"apiVersion", "kind": "AdmissionReview", "request": {"uid", "object", ...}}`.
    Returns `{"apiVersion": <same>, "kind": "AdmissionReview", "response": {"uid": <request.uid>,
    "allowed": bool, "status": {"code": 400, "message": ...} (denied only), "warnings": [str]
    (when there are any)}}`. The message lists every problem as `FIELD.PATH: message`, joined by
    `"; "`. A missing/null/empty `request.object`, or one that is not an akri.sh/v0 Configuration,
    is denied with a message saying so.
    Raises HookInputError when the review is not an object, its apiVersion is not one of
    ADMISSION_API_VERSIONS, or `request`/`request.uid` is missing or mistyped.
    """
    _input.check(review, Mapping, "body")
    api_version = _input.get(review, "apiVersion", str, path="")
    if api_version not in ADMISSION_API_VERSIONS:
        raise HookInputError("apiVersion", api_version, f"expected one of {', '.join(ADMISSION_API_VERSIONS)}")
    request = _input.get(review, "request", Mapping, path="")
    uid = _input.get(request, "uid", str, path="request")
    if not uid:
        raise HookInputError("request.uid", uid, "expected a non-empty string")

    obj = request.get("object")
    if obj is None or (isinstance(obj, Mapping) and not obj):
        return _answer(api_version, uid, denial=NO_DATA_MESSAGE)
    if (
        not isinstance(obj, Mapping)
        or obj.get("apiVersion") != naming.API_VERSION
        or obj.get("kind") != "Configuration"
    ):
        return _answer(api_version, uid, denial=_not_a_configuration(obj))

    problems = validation.validate_configuration(obj)
    warnings = validation.configuration_warnings(obj)
    if problems:
        return _answer(api_version, uid, denial="; ".join(str(problem) for problem in problems), warnings=warnings)
    return _answer(api_version, uid, warnings=warnings)


def _not_a_configuration(obj: Any) -> str:
    if not isinstance(obj, Mapping):
        kind = _JSON_TYPE_NAMES.get(type(obj), type(obj).__name__)
        return f"AdmissionRequest object is {kind}, not an {naming.API_VERSION} Configuration"
    return (
        f"AdmissionRequest object has apiVersion={_short(obj.get('apiVersion'))} "
        f"kind={_short(obj.get('kind'))}, not an {naming.API_VERSION} Configuration"
    )


_JSON_TYPE_NAMES = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
_SHORT_MAX_CHARS = 60


def _short(value: Any) -> str:
    text = (
        repr(value)
        if isinstance(value, (str, int, float, bool, type(None)))
        else _JSON_TYPE_NAMES.get(type(value), "an object")
    )
    return text if len(text) <= _SHORT_MAX_CHARS else text[: _SHORT_MAX_CHARS - 3] + "..."


def _answer(
    api_version: str, uid: str, *, denial: str | None = None, warnings: list[str] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": denial is None}
    if denial is not None:
        response["status"] = {"code": DENIED_STATUS_CODE, "message": denial}
    if warnings:
        response["warnings"] = list(warnings)
    return {"apiVersion": api_version, "kind": "AdmissionReview", "response": response}


def warm_up() -> None:
    """Run the validator once so its lazily imported schema is loaded before the first review.

    The shared validator imports the Kubernetes model metadata on first use (about a second);
    `hooks.server` calls this in each worker so the API server's first call is not the slow one.
    """
    validation.validate_configuration(
        {
            "apiVersion": naming.API_VERSION,
            "kind": "Configuration",
            "metadata": {"name": "warm-up"},
            "spec": {
                "discoveryHandler": {"name": "debugEcho"},
                "brokerSpec": {"brokerPodSpec": {"containers": [{"name": "broker", "image": "broker"}]}},
                "instanceServiceSpec": {"ports": [{"port": 80}]},
            },
        }
    )
