"""hooks.certs (self-signed CA + serving certificate) and hooks.certgen's logic, with a fake cluster."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from hooks import certgen, certs

NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)
NAMES = certs.service_dns_names("akri-hooks", "akri")


def test_service_dns_names():
    assert NAMES == ["akri-hooks", "akri-hooks.akri", "akri-hooks.akri.svc", "akri-hooks.akri.svc.cluster.local"]


def test_serving_certificate_is_signed_by_the_ca_and_names_the_service():
    bundle = certs.generate(NAMES, now=NOW, valid_days=10)
    ca = x509.load_pem_x509_certificate(bundle.ca_pem)
    cert = x509.load_pem_x509_certificate(bundle.cert_pem)

    cert.verify_directly_issued_by(ca)  # raises if not
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == NAMES
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert cert.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert cert.not_valid_after_utc == NOW + timedelta(days=10)
    assert bundle.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_generate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="dns_names"):
        certs.generate([], now=NOW)
    with pytest.raises(ValueError, match="valid_days"):
        certs.generate(NAMES, now=NOW, valid_days=0)


def test_needs_renewal():
    pem = certs.generate(NAMES, now=NOW, valid_days=60).cert_pem
    assert not certs.needs_renewal(pem, NAMES, now=NOW)
    assert certs.needs_renewal(pem, NAMES, now=NOW + timedelta(days=31))
    assert certs.needs_renewal(pem, [*NAMES, "other.example"], now=NOW)
    assert certs.needs_renewal(b"not a certificate", NAMES, now=NOW)


class FakeStore:
    """In-memory CertStore."""

    def __init__(self, secret=None, webhook_exists_after=0):
        self.secret = secret
        self.writes = 0
        self.ca_bundle = None
        self.patch_calls = 0
        self.webhook_exists_after = webhook_exists_after

    def read_secret(self, namespace, name):
        assert (namespace, name) == ("akri", "akri-hooks-tls")
        return dict(self.secret) if self.secret is not None else None

    def write_secret(self, namespace, name, data):
        self.secret = dict(data)
        self.writes += 1

    def patch_ca_bundle(self, webhook, ca_pem):
        assert webhook == "akri-hooks"
        self.patch_calls += 1
        if self.patch_calls <= self.webhook_exists_after:
            raise certgen.WebhookNotFound(webhook)
        self.ca_bundle = ca_pem
        return 1


def ensure(store, now=NOW):
    return certgen.ensure_certificate(store, namespace="akri", service="akri-hooks", secret="akri-hooks-tls", now=now)


def test_certgen_creates_the_secret_once_and_keeps_a_valid_one():
    store = FakeStore()
    first = ensure(store)
    assert store.writes == 1
    assert set(store.secret) == {"tls.crt", "tls.key", "ca.crt"}
    assert store.secret["ca.crt"] == first.ca_pem

    second = ensure(store, now=NOW + timedelta(days=100))
    assert store.writes == 1
    assert second == first


def test_certgen_renews_an_expiring_or_incomplete_secret():
    store = FakeStore()
    first = ensure(store)
    ensure(store, now=NOW + timedelta(days=3650 - 10))
    assert store.writes == 2
    assert store.secret["tls.crt"] != first.cert_pem

    partial = FakeStore(secret={"tls.crt": first.cert_pem})
    ensure(partial)
    assert partial.writes == 1


def test_certgen_waits_for_the_webhook_configuration():
    store = FakeStore(webhook_exists_after=2)
    slept = []
    assert (
        certgen.patch_with_retries(store, "akri-hooks", b"CA", attempts=5, delay_seconds=0.5, sleep=slept.append) == 1
    )
    assert store.ca_bundle == b"CA"
    assert slept == [0.5, 0.5]


def test_certgen_gives_up_after_the_last_attempt():
    store = FakeStore(webhook_exists_after=10)
    with pytest.raises(certgen.WebhookNotFound):
        certgen.patch_with_retries(store, "akri-hooks", b"CA", attempts=3, delay_seconds=0, sleep=lambda s: None)
    assert store.patch_calls == 3


def test_certgen_main_fails_cleanly_without_a_cluster(tmp_path, caplog):
    assert certgen.main(["--kubeconfig", str(tmp_path / "missing-kubeconfig")]) == 1
    assert "certgen failed" in caplog.text
