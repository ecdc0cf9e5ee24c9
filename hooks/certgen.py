"""`python -m hooks.certgen`: one-shot Job giving the webhook a TLS certificate without cert-manager.

Steps (idempotent, safe to re-run; replaces Akri's kube-webhook-certgen create/patch Jobs,
akri-contract.md §4):
1. read Secret `<secret>` (type kubernetes.io/tls: `tls.crt`, `tls.key`, `ca.crt`); keep it if it
   is complete, names the Service and has more than `--renew-before-days` left, else generate a
   new CA + serving certificate (`hooks.certs`) and write the Secret;
2. set `caBundle` of every webhook in ValidatingWebhookConfiguration `<webhook>` to the CA,
   retrying while it does not exist yet (kustomize applies webhook configurations last).

This is the only module of `hooks` that imports `kubernetes`; the cluster is reached through the
small `CertStore` protocol so the logic is tested with a fake.
"""

from __future__ import annotations

import argparse
import base64
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Protocol

from hooks import certs

__all__ = ["CertStore", "KubeCertStore", "WebhookNotFound", "ensure_certificate", "patch_with_retries", "main"]

logger = logging.getLogger(__name__)

TLS_CERT_KEY = "tls.crt"
TLS_KEY_KEY = "tls.key"
CA_CERT_KEY = "ca.crt"
REQUEST_TIMEOUT_SECONDS = 30
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
"""`webhooks` merges by `name` under a strategic merge patch, so only caBundle changes."""


class WebhookNotFound(Exception):
    """The ValidatingWebhookConfiguration to patch does not exist (yet)."""


class CertStore(Protocol):
    """What certgen needs from the cluster."""

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The Secret's decoded `data`, or None if it does not exist."""

    def write_secret(self, namespace: str, name: str, data: dict[str, bytes]) -> None:
        """Create or replace a `kubernetes.io/tls` Secret with `data`."""

    def patch_ca_bundle(self, webhook: str, ca_pem: bytes) -> int:
        """Set `caBundle` of every webhook of the named configuration; number patched.

        Raises WebhookNotFound when the configuration does not exist.
        """


def ensure_certificate(
    store: CertStore,
    *,
    namespace: str,
    service: str,
    secret: str,
    now: datetime,
    valid_days: int = 3650,
    renew_before_days: int = 30,
) -> certs.CertBundle:
    """The Secret's certificate if still good, else a new one written to the Secret (step 1)."""
    dns_names = certs.service_dns_names(service, namespace)
    data = store.read_secret(namespace, secret) or {}
    if all(data.get(key) for key in (TLS_CERT_KEY, TLS_KEY_KEY, CA_CERT_KEY)) and not certs.needs_renewal(
        data[TLS_CERT_KEY], dns_names, now=now, renew_before_days=renew_before_days
    ):
        logger.info("Secret %s/%s holds a valid certificate; keeping it", namespace, secret)
        return certs.CertBundle(ca_pem=data[CA_CERT_KEY], cert_pem=data[TLS_CERT_KEY], key_pem=data[TLS_KEY_KEY])
    bundle = certs.generate(dns_names, now=now, valid_days=valid_days)
    store.write_secret(
        namespace, secret, {TLS_CERT_KEY: bundle.cert_pem, TLS_KEY_KEY: bundle.key_pem, CA_CERT_KEY: bundle.ca_pem}
    )
    logger.info("wrote a new certificate for %s to Secret %s/%s", ", ".join(dns_names), namespace, secret)
    return bundle


def patch_with_retries(
    store: CertStore,
    webhook: str,
    ca_pem: bytes,
    *,
    attempts: int = 60,
    delay_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Step 2: patch the caBundle, waiting up to `attempts` × `delay_seconds` for the configuration.

    Returns the number of webhooks patched; raises WebhookNotFound after the last attempt.
    """
    for attempt in range(1, attempts + 1):
        try:
            count = store.patch_ca_bundle(webhook, ca_pem)
        except WebhookNotFound:
            if attempt == attempts:
                raise
            logger.warning("ValidatingWebhookConfiguration %s not found; attempt #%d/%d", webhook, attempt, attempts)
            sleep(delay_seconds)
        else:
            logger.info("set caBundle of %d webhook(s) in %s", count, webhook)
            return count
    raise AssertionError("unreachable")  # pragma: no cover


class KubeCertStore:
    """CertStore backed by the `kubernetes` client (in-cluster config, or a kubeconfig file)."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        from kubernetes import client, config

        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        else:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        self._client = client
        self._core = client.CoreV1Api()
        self._admission = client.AdmissionregistrationV1Api()

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            found = self._core.read_namespaced_secret(name, namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return {key: base64.b64decode(value) for key, value in (found.data or {}).items()}

    def write_secret(self, namespace: str, name: str, data: dict[str, bytes]) -> None:
        from kubernetes.client.exceptions import ApiException

        body = self._client.V1Secret(
            metadata=self._client.V1ObjectMeta(
                name=name, namespace=namespace, labels={"app.kubernetes.io/name": "akri-hooks"}
            ),
            type="kubernetes.io/tls",
            data={key: base64.b64encode(value).decode() for key, value in data.items()},
        )
        try:
            self._core.create_namespaced_secret(namespace, body, _request_timeout=REQUEST_TIMEOUT_SECONDS)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self._core.replace_namespaced_secret(name, namespace, body, _request_timeout=REQUEST_TIMEOUT_SECONDS)

    def patch_ca_bundle(self, webhook: str, ca_pem: bytes) -> int:
        from kubernetes.client.exceptions import ApiException

        try:
            current = self._admission.read_validating_webhook_configuration(
                webhook, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )
        except ApiException as exc:
            if exc.status == 404:
                raise WebhookNotFound(webhook) from exc
            raise
        encoded = base64.b64encode(ca_pem).decode()
        patch = {
            "webhooks": [{"name": item.name, "clientConfig": {"caBundle": encoded}} for item in current.webhooks or []]
        }
        self._admission.patch_validating_webhook_configuration(
            webhook, patch, _content_type=STRATEGIC_MERGE_PATCH, _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
        return len(patch["webhooks"])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the certgen Job; exit 0 on success, 1 on failure (the Job retries)."""
    parser = argparse.ArgumentParser(prog="python -m hooks.certgen", description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="akri", help="namespace of the Service and Secret (default akri)")
    parser.add_argument("--service", default="akri-hooks", help="Service the API server calls (default akri-hooks)")
    parser.add_argument("--secret", default="akri-hooks-tls", help="TLS Secret to create (default akri-hooks-tls)")
    parser.add_argument(
        "--webhook", default="akri-hooks", help="ValidatingWebhookConfiguration to patch (default akri-hooks)"
    )
    parser.add_argument("--valid-days", type=int, default=3650, help="certificate lifetime in days (default 3650)")
    parser.add_argument("--renew-before-days", type=int, default=30, help="renew when fewer days are left (default 30)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster configuration)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        store = KubeCertStore(args.kubeconfig)
        bundle = ensure_certificate(
            store,
            namespace=args.namespace,
            service=args.service,
            secret=args.secret,
            now=datetime.now(timezone.utc),
            valid_days=args.valid_days,
            renew_before_days=args.renew_before_days,
        )
        patch_with_retries(store, args.webhook, bundle.ca_pem)
    except Exception:  # one-shot task guard: report and let the Job retry
        logger.exception("certgen failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
