"""Self-signed TLS material for the admission webhook: a private CA and a serving certificate.

Used by `hooks.certgen` (clusters without cert-manager) and by tests that start the HTTPS server.
Pure (no I/O, `now` is an argument). The CA certificate is what goes into the
ValidatingWebhookConfiguration's `caBundle`; the serving certificate names the Service's DNS names
(`<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.cluster.local`), which is what the API
server verifies when it calls `https://<svc>.<ns>.svc:443/...`. Keys are ECDSA P-256.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertBundle", "service_dns_names", "generate", "needs_renewal"]

_BACKDATE = timedelta(minutes=5)  # tolerate clock skew between this Job and the API server


@dataclass(frozen=True)
class CertBundle:
    """PEM-encoded CA certificate, serving certificate and the serving key (PKCS#8, unencrypted)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def service_dns_names(service: str, namespace: str) -> list[str]:
    """The four DNS names a Service is reachable as inside the cluster."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]


def generate(
    dns_names: Sequence[str],
    *,
    now: datetime,
    valid_days: int = 3650,
    ip_addresses: Sequence[str] = (),
) -> CertBundle:
    """A new CA and a serving certificate for `dns_names` (+ `ip_addresses`), valid `valid_days` days.

    The first DNS name is the certificate's common name. Validity starts 5 minutes before `now`.
    Raises ValueError for no names, a non-positive validity or an invalid IP address.
    """
    if not dns_names:
        raise ValueError("dns_names: at least one DNS name is needed")
    if valid_days < 1:
        raise ValueError(f"valid_days: must be >= 1, got {valid_days}")
    not_before = now - _BACKDATE
    not_after = now + timedelta(days=valid_days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{dns_names[0]} webhook CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return CertBundle(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def needs_renewal(cert_pem: bytes, dns_names: Sequence[str], *, now: datetime, renew_before_days: int = 30) -> bool:
    """True if `cert_pem` is unreadable, lacks one of `dns_names`, or expires within `renew_before_days`."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        names = set(
            cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        )
    except (ValueError, x509.ExtensionNotFound):
        return True
    if not set(dns_names) <= names:
        return True
    return cert.not_valid_after_utc - now < timedelta(days=renew_before_days)
