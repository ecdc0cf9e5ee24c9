"""The two ONVIF device-service SOAP calls discovery needs (Akri onvif/src/discovery_utils.rs).

- `GetSystemDateAndTime`, unauthenticated: a camera counts as responsive when it answers HTTP 200
  with an XML body within the timeout (Akri: 1 s).
- `GetNetworkInterfaces`, with a WS-Security UsernameToken (PasswordDigest) header when a
  credential exists: the first `NetworkInterfaces/IPv4/Config/*/Address` and the first
  `NetworkInterfaces/Info/HwAddress` (matched by local name, as Akri's XPaths do).

Envelopes are SOAP 1.2, built and parsed with lxml (entity resolution and network access off);
requests go through httpx with `Content-Type: application/soap+xml; charset=utf-8;
action="http://www.onvif.org/ver10/device/wsdl/<Op>"`, proxies from the environment ignored,
and a hard per-call deadline. The UsernameToken follows username_token.rs: the nonce is a random
UUID string, `Nonce` = base64(nonce), `Password` = base64(SHA1(nonce + created + password)).

`OnvifCallError` messages carry only the URL and the failure reason — never the request body,
so neither the username nor the digest can leak into logs.

Why not zeep / onvif-zeep-async: discovery needs two fixed operations and reads the reply with
Akri's local-name XPaths (cameras differ in prefixes and schema versions); a zeep client would
first parse the ONVIF device WSDL and its schemas (about 0.5 s on a 2-core machine, against the
1 s responsiveness budget) and then validate replies strictly against them. Both XML directions
still go through a maintained parser (lxml); nothing is parsed with regular expressions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx
from lxml import etree

from agent.discovery.handlers._onvif_credentials import Credential

__all__ = [
    "OnvifCallError",
    "UsernameToken",
    "password_digest",
    "make_username_token",
    "build_request",
    "parse_network_interfaces",
    "OnvifSoapClient",
]

SOAP_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
DEVICE_WSDL_NS = "http://www.onvif.org/ver10/device/wsdl"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)
BASE64_BINARY_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_IP_XPATH = etree.XPath(
    "//*[local-name()='GetNetworkInterfacesResponse']/*[local-name()='NetworkInterfaces']"
    "/*[local-name()='IPv4']/*[local-name()='Config']/*/*[local-name()='Address']/text()"
)
_MAC_XPATH = etree.XPath(
    "//*[local-name()='GetNetworkInterfacesResponse']/*[local-name()='NetworkInterfaces']"
    "/*[local-name()='Info']/*[local-name()='HwAddress']/text()"
)


class OnvifCallError(Exception):
    """A SOAP call failed (transport, timeout, non-200 status, unparsable body); message = URL + reason."""


@dataclass(frozen=True, slots=True, repr=False)
class UsernameToken:
    """WS-Security UsernameToken values (username_token.rs): `nonce` base64-encoded, `created` as sent."""

    username: str
    digest: str
    nonce: str
    created: str

    def __repr__(self) -> str:
        return "UsernameToken(<redacted>)"


def password_digest(nonce: str, created: str, password: str) -> str:
    """base64(SHA1(nonce + created + password)) over the UTF-8 text (username_token.rs `generate_token`).

    Example (the contract's test vector): nonce `nonce`, created `2000-01-01T12:34:56:789Z`,
    password `1234567` → `AGsoQQ+qNJu6Ha7h/QAPoQvYcV0=`.
    """
    raw = hashlib.sha1(f"{nonce}{created}{password}".encode()).digest()  # noqa: S324 - WS-Security mandates SHA-1
    return base64.b64encode(raw).decode("ascii")


def make_username_token(
    credential: Credential, *, nonce: str | None = None, created: str | None = None
) -> UsernameToken:
    """A UsernameToken for `credential`; `nonce` defaults to a random UUID string and `created` to
    now in UTC as RFC 3339 with milliseconds and `Z`. A missing password digests as ""."""
    nonce = nonce if nonce is not None else str(uuid.uuid4())
    if created is None:
        created = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return UsernameToken(
        username=credential.username,
        digest=password_digest(nonce, created, credential.password or ""),
        nonce=base64.b64encode(nonce.encode()).decode("ascii"),
        created=created,
    )


def _security_header(token: UsernameToken) -> etree._Element:
    security = etree.Element(f"{{{WSSE_NS}}}Security", nsmap={"wsse": WSSE_NS, "wsu": WSU_NS})
    security.set(f"{{{SOAP_ENV_NS}}}mustUnderstand", "1")
    username_token = etree.SubElement(security, f"{{{WSSE_NS}}}UsernameToken")
    etree.SubElement(username_token, f"{{{WSSE_NS}}}Username").text = token.username
    password = etree.SubElement(username_token, f"{{{WSSE_NS}}}Password", Type=PASSWORD_DIGEST_TYPE)
    password.text = token.digest
    nonce = etree.SubElement(username_token, f"{{{WSSE_NS}}}Nonce", EncodingType=BASE64_BINARY_TYPE)
    nonce.text = token.nonce
    etree.SubElement(username_token, f"{{{WSU_NS}}}Created").text = token.created
    return security


def build_request(operation: str, token: UsernameToken | None = None) -> bytes:
    """SOAP 1.2 envelope (UTF-8 bytes) calling device-service `operation` with no arguments,
    with a `wsse:Security` header (soap:mustUnderstand="1") when `token` is given."""
    envelope = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS, "tds": DEVICE_WSDL_NS})
    header = etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Header")
    if token is not None:
        header.append(_security_header(token))
    body = etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Body")
    etree.SubElement(body, f"{{{DEVICE_WSDL_NS}}}{operation}")
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def _first_text(xpath: etree.XPath, document: etree._Element) -> str | None:
    for text in xpath(document):
        value = str(text).strip()
        if value:
            return value
    return None


def parse_network_interfaces(document: etree._Element) -> tuple[str | None, str | None]:
    """(IPv4 address, MAC address) from a GetNetworkInterfacesResponse document; each None when absent."""
    return _first_text(_IP_XPATH, document), _first_text(_MAC_XPATH, document)


class OnvifSoapClient:
    """Calls device services over a caller-owned `httpx.AsyncClient`.

    timeout_seconds bounds each call end to end (connect, send, wait, read); Akri uses 1 s.
    """

    def __init__(self, http: httpx.AsyncClient, *, timeout_seconds: float) -> None:
        self._http = http
        self._timeout_seconds = timeout_seconds

    async def _call(self, url: str, operation: str, body: bytes) -> etree._Element:
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{DEVICE_WSDL_NS}/{operation}"'}
        try:
            async with asyncio.timeout(self._timeout_seconds):
                response = await self._http.post(url, content=body, headers=headers)
        except TimeoutError as exc:
            raise OnvifCallError(f"{operation} to {url}: no answer within {self._timeout_seconds} s") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise OnvifCallError(f"{operation} to {url}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise OnvifCallError(f"{operation} to {url}: HTTP {response.status_code}, expected 200")
        try:
            return etree.fromstring(response.content, parser=_XML_PARSER)
        except etree.XMLSyntaxError as exc:
            raise OnvifCallError(f"{operation} to {url}: response is not XML ({exc})") from None

    async def is_responding(self, url: str) -> bool:
        """True when `url` answers an unauthenticated GetSystemDateAndTime with HTTP 200 and XML in time."""
        try:
            await self._call(url, "GetSystemDateAndTime", build_request("GetSystemDateAndTime"))
        except OnvifCallError:
            return False
        return True

    async def network_interfaces(self, url: str, credential: Credential | None) -> tuple[str | None, str | None]:
        """(IPv4 address, MAC address) from GetNetworkInterfaces, authenticated when `credential` is given.

        Raises OnvifCallError when the call fails (e.g. HTTP 400/401 NotAuthorized without credentials).
        """
        token = make_username_token(credential) if credential is not None else None
        document = await self._call(url, "GetNetworkInterfaces", build_request("GetNetworkInterfaces", token))
        return parse_network_interfaces(document)
