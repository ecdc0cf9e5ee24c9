"""The two ONVIF device-service SOAP calls discovery needs (Akri onvif/src/discovery_utils.rs), on zeep.

- `GetSystemDateAndTime`, unauthenticated: a camera counts as responsive when it answers with a
  SOAP 1.2 reply zeep can read (HTTP 200, XML) within the timeout (Akri: 1 s).
- `GetNetworkInterfaces`, with a WS-Security UsernameToken (PasswordDigest) header when a
  credential exists: IP = the first `IPv4/Config/*/Address` and MAC = the first `Info/HwAddress`
  over the interfaces in reply order (akri-contract.md §5.4; zeep keeps schema order, so
  "first" is Manual, then LinkLocal, then FromDHCP, as in a valid reply's document order).

zeep builds and reads the messages from the ONVIF device WSDL shipped by onvif-zeep-async
(`onvif/wsdl/devicemgmt.wsdl`, binding `tds:DeviceBinding`); requests carry `Content-Type:
application/soap+xml; charset=utf-8; action="http://www.onvif.org/ver10/device/wsdl/<Op>"`.
Parsing that WSDL takes about 0.2-0.5 s and ~9 MiB, so it is parsed once per process
(`device_document`, from local files only) and `shared_client` keeps one client per process (per
timeout value, normally only Akri's 1 s), built in a worker thread so the event loop never
blocks on it. zeep binds WS-Security to a client, so an authenticated call uses a throwaway
zeep client over the same parsed WSDL and the same HTTP transport (microseconds; this is also
how onvif-zeep-async's `ONVIFService` does it).

WS-Security: zeep's own `UsernameToken(use_digest=True)`; digest = base64(SHA1(nonce + created +
password)) over the raw nonce string, `Nonce` = base64(nonce) (username_token.rs). Two
differences from Akri that zeep imposes: `Created` has whole seconds (`2024-05-01T10:00:00Z`,
zeep drops sub-seconds), and zeep leaves out `soap:mustUnderstand`, which `_SecurityHeader` adds.

HTTP: httpx with no proxies from the environment, no redirects and no keep-alive (a pooled
connection belongs to the event loop that opened it, and the client outlives loops), plus a hard
end-to-end deadline per call. zeep's transport logs whole request bodies at DEBUG — the
UsernameToken included — so `_DeviceTransport` sends without logging. `OnvifCallError`
messages carry only the URL, the operation and the failure class (HTTP status, fault codes),
never camera-supplied text or the request, so neither username nor digest can leak.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import zeep
from lxml import etree
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport, Transport
from zeep.utils import detect_soap_env
from zeep.wsdl import Document
from zeep.wsse import utils as wsse_utils
from zeep.wsse.username import UsernameToken

from agent.discovery.handlers._onvif_credentials import Credential

__all__ = [
    "DEVICE_BINDING",
    "OnvifCallError",
    "OnvifSoapClient",
    "device_document",
    "device_wsdl_path",
    "network_addresses",
    "security_header",
    "shared_client",
]

DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
ONVIF_WSDL_PACKAGE = "onvif"  # import name of onvif-zeep-async, which ships the ONVIF WSDLs
_LOAD_SETTINGS = zeep.Settings()  # the shipped schemas are trusted local files
_CALL_SETTINGS = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                               xml_huge_tree=False)  # camera replies are not
_LOCK = threading.RLock()
_document: Document | None = None
_shared: dict[float, OnvifSoapClient] = {}


class OnvifCallError(Exception):
    """A SOAP call failed (transport, timeout, HTTP status, SOAP fault, unreadable reply).

    The message is `<Op> to <url>: <reason>` and never contains request or reply text.
    """


class _LocalFilesTransport(Transport):
    """zeep transport for loading the shipped WSDL: local files only, never the network."""

    def _load_remote_data(self, url: str) -> bytes:
        raise RuntimeError(f"the ONVIF WSDL refers to {url}; only the files shipped with "
                           f"{ONVIF_WSDL_PACKAGE} are loaded")


def _refuse_download(request: httpx.Request) -> httpx.Response:
    raise RuntimeError(f"the ONVIF client does not load documents from the network ({request.url})")


_NO_NETWORK = httpx.MockTransport(_refuse_download)  # zeep's AsyncTransport wants a sync client for WSDL loading


class _DeviceTransport(AsyncTransport):
    """zeep's httpx transport, minus its DEBUG logging of every request and reply body."""

    async def post(self, address: str, message: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(address, content=message, headers=headers)


class _DeviceClient(zeep.AsyncClient):
    """zeep AsyncClient whose `create_service` returns an async proxy.

    zeep 4.3's AsyncClient inherits `Client.create_service`, which returns a synchronous
    ServiceProxy whose calls break on an async transport (onvif-zeep-async carries the same fix).
    """

    def create_service(self, binding_name: str, address: str) -> AsyncServiceProxy:
        """Async proxy for `binding_name` (a `{namespace}Name` QName) at `address` (service URL)."""
        return AsyncServiceProxy(self, self.wsdl.bindings[binding_name], address=address)


class _SecurityHeader:
    """zeep wsse plugin: zeep's UsernameToken, plus `soap:mustUnderstand="1"` on `wsse:Security`
    (Akri username_token.rs). repr() shows no username or password."""

    def __init__(self, token: UsernameToken) -> None:
        self._token = token

    def apply(self, envelope: etree._Element, headers: dict[str, str]) -> tuple[etree._Element, dict[str, str]]:
        """Add the UsernameToken to `envelope` (zeep's wsse plugin interface)."""
        envelope, headers = self._token.apply(envelope, headers)
        security = wsse_utils.get_security_header(envelope)
        security.set(etree.QName(detect_soap_env(envelope), "mustUnderstand"), "1")
        return envelope, headers

    def verify(self, envelope: etree._Element) -> None:
        """Replies are not signed; nothing to verify (zeep's wsse plugin interface)."""
        self._token.verify(envelope)

    def __repr__(self) -> str:
        return "SecurityHeader(<redacted>)"


def security_header(credential: Credential, *, nonce: str | None = None,
                    created: datetime | None = None) -> _SecurityHeader:
    """The WS-Security header plugin for `credential` (zeep `UsernameToken`, PasswordDigest).

    nonce: the raw nonce text (default: a fresh random UUID string, as username_token.rs);
    created: the `Created` instant (default: now; zeep sends it in UTC with whole seconds and `Z`).
    A missing password digests as "" (Akri). One header object serves one request.
    """
    token = UsernameToken(credential.username, credential.password or "", use_digest=True,
                          nonce=nonce if nonce is not None else str(uuid.uuid4()),
                          created=created, zulu_timestamp=True)
    return _SecurityHeader(token)


def device_wsdl_path() -> Path:
    """Path of `devicemgmt.wsdl` in onvif-zeep-async's package data, found without importing it.

    Raises FileNotFoundError naming the package when it is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(ONVIF_WSDL_PACKAGE)
    for location in (spec.submodule_search_locations or ()) if spec is not None else ():
        path = Path(location, "wsdl", "devicemgmt.wsdl")
        if path.is_file():
            return path
    raise FileNotFoundError("onvif/wsdl/devicemgmt.wsdl not found: is onvif-zeep-async installed?")


def device_document() -> Document:
    """The ONVIF device WSDL parsed by zeep; parsed on the first call (blocking, ~0.2-0.5 s), then
    cached for the process. Thread-safe. Raises FileNotFoundError (see `device_wsdl_path`)."""
    global _document
    with _LOCK:
        if _document is None:
            _document = Document(str(device_wsdl_path()), _LocalFilesTransport(), settings=_LOAD_SETTINGS)
        return _document


def _first(values: Iterable[Any]) -> str | None:
    for value in values:
        text = str(value).strip() if value is not None else ""
        if text:
            return text
    return None


def _config_addresses(interface: Any) -> list[Any]:
    config = interface.IPv4.Config if interface.IPv4 is not None else None
    if config is None:
        return []
    return [*(manual.Address for manual in config.Manual or ()),
            *(entry.Address for entry in (config.LinkLocal, config.FromDHCP) if entry is not None)]


def network_addresses(interfaces: Iterable[Any] | None) -> tuple[str | None, str | None]:
    """(IPv4 address, MAC address) from zeep's GetNetworkInterfaces result (a list of
    `tt:NetworkInterface`); each None when absent (akri-contract.md §5.4 XPaths)."""
    interfaces = list(interfaces or ())
    ip_address = _first(address for interface in interfaces for address in _config_addresses(interface))
    mac_address = _first(interface.Info.HwAddress for interface in interfaces if interface.Info is not None)
    return ip_address, mac_address


def _fault_reason(fault: Fault) -> str:
    subcodes = " ".join(getattr(code, "localname", str(code)) for code in fault.subcodes or ())
    return f"SOAP fault {fault.code or '?'}" + (f" ({subcodes})" if subcodes else "")


class OnvifSoapClient:
    """Calls ONVIF device services over an `httpx.AsyncClient` the caller owns (or `shared_client`).

    timeout_seconds bounds each call end to end (connect, send, wait, read); Akri uses 1 s.
    document: the parsed device WSDL (default `device_document()`, which may block on first use).
    """

    def __init__(self, http: httpx.AsyncClient, *, timeout_seconds: float, document: Document | None = None) -> None:
        self._timeout_seconds = timeout_seconds
        self._document = document if document is not None else device_document()
        self._transport = _DeviceTransport(client=http, wsdl_client=httpx.Client(transport=_NO_NETWORK))
        self._client = _DeviceClient(self._document, transport=self._transport, settings=_CALL_SETTINGS)

    def _zeep_client(self, security: _SecurityHeader | None) -> _DeviceClient:
        if security is None:
            return self._client
        return _DeviceClient(self._document, wsse=security, transport=self._transport, settings=_CALL_SETTINGS)

    def build_request(self, operation: str, security: _SecurityHeader | None = None) -> bytes:
        """The SOAP 1.2 envelope (UTF-8 XML bytes) this client sends for device-service `operation`
        with no arguments, with `security`'s `wsse:Security` header when given."""
        client = self._zeep_client(security)
        envelope = client.create_message(client.create_service(DEVICE_BINDING, "http://camera.invalid/"), operation)
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))

    async def _call(self, url: str, operation: str, security: _SecurityHeader | None) -> Any:
        service = self._zeep_client(security).create_service(DEVICE_BINDING, url)
        where = f"{operation} to {url}"
        try:
            async with asyncio.timeout(self._timeout_seconds):
                return await service[operation]()
        except TimeoutError:
            raise OnvifCallError(f"{where}: no answer within {self._timeout_seconds} s") from None
        except Fault as exc:
            raise OnvifCallError(f"{where}: {_fault_reason(exc)}") from None
        except TransportError as exc:
            raise OnvifCallError(f"{where}: HTTP {exc.status_code}, not a readable SOAP reply") from None
        except ZeepError as exc:
            raise OnvifCallError(f"{where}: unreadable reply ({type(exc).__name__})") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise OnvifCallError(f"{where}: {type(exc).__name__}: {exc}") from None

    async def is_responding(self, url: str) -> bool:
        """True when `url` answers an unauthenticated GetSystemDateAndTime in time."""
        try:
            await self._call(url, "GetSystemDateAndTime", None)
        except OnvifCallError:
            return False
        return True

    async def network_interfaces(self, url: str, credential: Credential | None) -> tuple[str | None, str | None]:
        """(IPv4 address, MAC address) from GetNetworkInterfaces (see `network_addresses`),
        authenticated when `credential` is given.

        Raises OnvifCallError when the call fails (e.g. `SOAP fault ... (NotAuthorized)`).
        """
        security = security_header(credential) if credential is not None else None
        return network_addresses(await self._call(url, "GetNetworkInterfaces", security))


def _new_shared_client(timeout_seconds: float) -> OnvifSoapClient:
    with _LOCK:
        client = _shared.get(timeout_seconds)
        if client is None:
            http = httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=timeout_seconds,
                                     limits=httpx.Limits(max_keepalive_connections=0))
            client = _shared[timeout_seconds] = OnvifSoapClient(http, timeout_seconds=timeout_seconds)
        return client


async def shared_client(timeout_seconds: float) -> OnvifSoapClient:
    """The process-wide client for `timeout_seconds` (seconds per call), built on first use in a
    worker thread (WSDL parsing blocks). Usable from any event loop. Raises FileNotFoundError
    when onvif-zeep-async's WSDL is missing."""
    client = _shared.get(timeout_seconds)
    if client is not None:
        return client
    return await asyncio.to_thread(_new_shared_client, timeout_seconds)
