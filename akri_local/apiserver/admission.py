"""Validating admission webhooks: match ``ValidatingWebhookConfiguration`` rules and call the
webhooks over HTTPS with ``admission.k8s.io/v1`` ``AdmissionReview`` (the contract of
https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/).

Matching honours ``rules`` (operations, apiGroups, apiVersions, resources incl. ``*``,
``*/*``, ``<r>/<sub>``, scope), ``namespaceSelector`` and ``objectSelector``. A call verifies
TLS against ``clientConfig.caBundle`` (system roots when absent) and the host name the
apiserver would use (the URL host, or ``<service>.<namespace>.svc`` for ``clientConfig.service``,
whose address comes from the settable ``service_urls`` mapping because there is no cluster
DNS here). It waits at most ``timeoutSeconds`` (default 10). Outcomes follow the apiserver:
denial -> the webhook's status code (>= 400, default 400) with
``admission webhook "<name>" denied the request: <message>``; call failure ->
500 InternalError under ``failurePolicy: Fail`` (the default), ignored under ``Ignore``;
``response.warnings`` are returned for ``Warning`` headers.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from akri_local.apiserver import errors, selectors
from akri_local.apiserver.kinds import ResourceType

__all__ = ["AdmissionRequest", "ServiceUrls", "WebhookDispatcher"]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10
MAX_RESPONSE_BYTES = 3 * 1024 * 1024
ServiceUrls = dict[tuple[str, str, int], str]
_OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}
_EXEMPT = {("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
           ("admissionregistration.k8s.io", "mutatingwebhookconfigurations")}


@dataclasses.dataclass(frozen=True)
class AdmissionRequest:
    """What is being admitted: ``operation`` CREATE/UPDATE/DELETE on ``rt`` (``subresource``
    "" or e.g. "status"), the new ``obj`` (None for DELETE) and ``old`` (None for CREATE)."""

    operation: str
    rt: ResourceType
    subresource: str
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None
    dry_run: bool = False


class WebhookCallError(Exception):
    """A webhook could not be called or answered nonsense."""


def _resource_matches(patterns: list[str], resource: str, subresource: str) -> bool:
    """``rules[].resources`` matching (``*``, ``*/*``, ``pods``, ``pods/status``, ``*/status``)."""
    for pattern in patterns:
        if pattern == "*/*":
            return True
        base, _, sub = pattern.partition("/")
        if base not in ("*", resource):
            continue
        if (sub or "") == subresource or sub == "*":
            return True
    return False


def _rule_matches(rule: Mapping[str, Any], request: AdmissionRequest) -> bool:
    """One ``RuleWithOperations`` against the request."""
    rt = request.rt
    operations = rule.get("operations") or []
    if "*" not in operations and request.operation not in operations:
        return False
    groups = rule.get("apiGroups") or []
    versions = rule.get("apiVersions") or []
    if "*" not in groups and rt.group not in groups:
        return False
    if "*" not in versions and rt.version not in versions:
        return False
    if not _resource_matches(rule.get("resources") or [], rt.plural, request.subresource):
        return False
    scope = rule.get("scope") or "*"
    return scope == "*" or (scope == "Namespaced") == rt.namespaced


def _labels(obj: Mapping[str, Any] | None) -> dict[str, str]:
    """``metadata.labels`` of ``obj`` (empty when None)."""
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def _peer_names(cert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(type, value)`` subjectAltName entries of a verified peer certificate."""
    return [(kind, value) for kind, value in cert.get("subjectAltName", ())]


def _name_matches(pattern: str, host: str) -> bool:
    """DNS name match with a single left-most wildcard label (RFC 6125)."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        return "." in host and host.split(".", 1)[1] == pattern[2:]
    return pattern == host


def _host_allowed(cert: Mapping[str, Any], hosts: list[str]) -> bool:
    """True when the certificate's SANs cover one of ``hosts`` (DNS names or IP literals)."""
    for host in hosts:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        for kind, value in _peer_names(cert):
            if address is not None and kind == "IP Address":
                try:
                    if ipaddress.ip_address(value.strip()) == address:
                        return True
                except ValueError:
                    continue
            elif address is None and kind == "DNS" and _name_matches(value, host):
                return True
    return False


def post_review(url: str, body: bytes, *, ca_bundle: str | None, hosts: list[str],
                timeout: float) -> dict[str, Any]:
    """POST ``body`` (JSON) to the HTTPS ``url``; returns the decoded JSON answer.

    ``ca_bundle`` is the base64 PEM of ``clientConfig.caBundle``; the peer certificate must
    chain to it and name one of ``hosts``. ``timeout`` bounds connect and read (seconds).
    Raises :class:`WebhookCallError` on any failure.
    """
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise WebhookCallError(f"webhook URL {url!r} must use https and name a host")
    context = ssl.create_default_context()
    if ca_bundle:
        try:
            context = ssl.create_default_context(cadata=base64.b64decode(ca_bundle).decode())
        except (ValueError, ssl.SSLError) as exc:
            raise WebhookCallError(f"invalid caBundle: {exc}") from exc
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    port = parsed.port or 443
    path = (parsed.path or "/") + ("?" + parsed.query if parsed.query else "")
    try:
        raw = socket.create_connection((parsed.hostname, port), timeout=timeout)
        tls = context.wrap_socket(raw, server_hostname=hosts[0] if hosts else parsed.hostname)
        if not _host_allowed(tls.getpeercert() or {}, hosts):
            tls.close()
            raise WebhookCallError(f"x509: certificate is not valid for any of {hosts}")
        connection = http.client.HTTPSConnection(parsed.hostname, port, timeout=timeout,
                                                 context=context)
        connection.sock = tls
        try:
            connection.request("POST", path, body=body,
                               headers={"Content-Type": "application/json",
                                        "Accept": "application/json"})
            response = connection.getresponse()
            data = response.read(MAX_RESPONSE_BYTES + 1)
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as exc:
        raise WebhookCallError(str(exc) or type(exc).__name__) from exc
    if response.status != 200:
        raise WebhookCallError(f"webhook answered HTTP {response.status}: {data[:256]!r}")
    if len(data) > MAX_RESPONSE_BYTES:
        raise WebhookCallError("webhook response too large")
    try:
        decoded = json.loads(data)
    except ValueError as exc:
        raise WebhookCallError(f"webhook response is not JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise WebhookCallError("webhook response is not a JSON object")
    return decoded


class WebhookDispatcher:
    """Calls the validating webhooks matching a request (see module docstring).

    ``configurations()`` returns the current ValidatingWebhookConfiguration objects;
    ``namespace_labels(ns)`` the labels of a namespace (None when missing);
    ``service_urls`` maps ``(namespace, service, port)`` to ``https://host:port``.
    """

    def __init__(self, *, configurations: Callable[[], list[dict[str, Any]]],
                 namespace_labels: Callable[[str], dict[str, str] | None],
                 service_urls: ServiceUrls) -> None:
        self._configurations = configurations
        self._namespace_labels = namespace_labels
        self.service_urls = service_urls

    def _selected(self, webhook: Mapping[str, Any], request: AdmissionRequest) -> bool:
        """namespaceSelector and objectSelector of one webhook against the request."""
        try:
            object_selector = selectors.selector_from_object(webhook.get("objectSelector"))
            namespace_selector = selectors.selector_from_object(webhook.get("namespaceSelector"))
        except ValueError as exc:
            logger.warning("webhook %s has an invalid selector: %s", webhook.get("name"), exc)
            return False
        if not (object_selector.matches(_labels(request.obj))
                or object_selector.matches(_labels(request.old))):
            return False
        if request.rt.group_resource == ("", "namespaces"):
            return namespace_selector.matches(_labels(request.obj or request.old))
        if not request.rt.namespaced or not namespace_selector.requirements:
            return True
        return namespace_selector.matches(self._namespace_labels(request.namespace) or {})

    def matching(self, request: AdmissionRequest) -> list[dict[str, Any]]:
        """The webhooks (from all configurations, by configuration name) that apply."""
        if request.rt.group_resource in _EXEMPT:
            return []
        found = []
        for config in sorted(self._configurations(), key=lambda c: c["metadata"]["name"]):
            for webhook in config.get("webhooks") or []:
                if any(_rule_matches(rule, request) for rule in webhook.get("rules") or []) \
                        and self._selected(webhook, request):
                    found.append(webhook)
        return found

    def _target(self, webhook: Mapping[str, Any], timeout: int) -> tuple[str, list[str]]:
        """The URL to call and the host names its certificate may carry."""
        client_config = webhook.get("clientConfig") or {}
        if client_config.get("url"):
            url = client_config["url"]
            return url, [urllib.parse.urlsplit(url).hostname or ""]
        service = client_config.get("service") or {}
        namespace, name = service.get("namespace", ""), service.get("name", "")
        port = int(service.get("port") or 443)
        base = self.service_urls.get((namespace, name, port))
        if base is None:
            raise WebhookCallError(f'service "{namespace}/{name}:{port}" has no address '
                                   "(set ApiServer.service_urls)")
        path = service.get("path") or "/"
        url = base.rstrip("/") + path + f"?timeout={timeout}s"
        return url, [f"{name}.{namespace}.svc", urllib.parse.urlsplit(base).hostname or ""]

    def _review(self, request: AdmissionRequest, review_uid: str) -> dict[str, Any]:
        """The AdmissionReview v1 request body for ``request``."""
        rt = request.rt
        review = {
            "uid": review_uid,
            "kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "resource": {"group": rt.group, "version": rt.version, "resource": rt.plural},
            "subResource": request.subresource or None,
            "requestKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "requestResource": {"group": rt.group, "version": rt.version, "resource": rt.plural},
            "requestSubResource": request.subresource or None,
            "name": request.name,
            "namespace": request.namespace or None,
            "operation": request.operation,
            "userInfo": {"username": "system:admin",
                         "groups": ["system:masters", "system:authenticated"]},
            "object": request.obj,
            "oldObject": request.old,
            "dryRun": request.dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1",
                        "kind": _OPTIONS_KIND[request.operation]},
        }
        # Go's omitempty: empty strings vanish, object/oldObject stay (null when absent).
        review = {k: v for k, v in review.items() if v is not None or k in ("object", "oldObject")}
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": review}

    def _call(self, webhook: Mapping[str, Any], request: AdmissionRequest) -> list[str]:
        """Call one webhook; returns its warnings. Raises ApiError on denial or Fail policy."""
        name = webhook.get("name", "")
        timeout = int(webhook.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS)
        review_uid = str(uuid.uuid4())
        url = ""
        try:
            url, hosts = self._target(webhook, timeout)
            body = json.dumps(self._review(request, review_uid)).encode()
            answer = post_review(url, body, ca_bundle=(webhook.get("clientConfig") or {}).get("caBundle"),
                                 hosts=hosts, timeout=timeout)
            response = answer.get("response")
            if not isinstance(response, dict) or not isinstance(response.get("allowed"), bool):
                raise WebhookCallError("AdmissionReview response has no response.allowed")
            if response.get("uid") != review_uid:
                raise WebhookCallError(f"expected response.uid={review_uid!r}, "
                                       f"got {response.get('uid')!r}")
        except WebhookCallError as exc:
            if webhook.get("failurePolicy", "Fail") == "Ignore":
                logger.warning("ignoring failed call to webhook %s: %s", name, exc)
                return []
            raise errors.InternalError(
                f'Internal error occurred: failed calling webhook "{name}": failed to call '
                f'webhook: Post "{url}": {exc}') from exc
        warnings = [str(w) for w in response.get("warnings") or []]
        if response["allowed"]:
            return warnings
        status = response.get("status") or {}
        code = status["code"] if isinstance(status.get("code"), int) else 400
        denied = f'admission webhook "{name}" denied the request'
        explanation = status.get("message") or status.get("reason")
        message = f"{denied}: {explanation}" if explanation else f"{denied} without explanation"
        raise errors.ApiError(message, code=max(code, 400), reason=str(status.get("reason") or ""),
                              details=status.get("details"), warnings=warnings)

    def validate(self, request: AdmissionRequest) -> list[str]:
        """Run every matching webhook; returns the collected warnings.

        Raises :class:`errors.ApiError` for the first denial or unignored call failure.
        """
        warnings: list[str] = []
        for webhook in self.matching(request):
            warnings += self._call(webhook, request)
        return warnings
