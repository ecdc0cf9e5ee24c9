"""A small ONVIF camera peer for tests: WS-Discovery responder + SOAP device service.

No maintained Python camera emulator fits: PyPI `ipycam` needs numpy/OpenCV, binds UDP 3702 on
every interface, multicasts Hello/Bye on start-up (packets on the host's network) and has no
GetNetworkInterfaces. So this module plays the camera side with real sockets:

- `DeviceService`: an HTTP server (thread) on 127.0.0.1 answering SOAP 1.2 GetSystemDateAndTime
  and GetNetworkInterfaces; with `Camera.username` set, GetNetworkInterfaces requires a WS-Security
  UsernameToken whose PasswordDigest = base64(SHA1(base64decode(Nonce) + Created + password))
  checks out (else HTTP 400 with a `ter:NotAuthorized` fault, as ONVIF cameras answer).
- `WsDiscoveryResponder`: a UDP socket (thread) that validates each Probe (SOAP envelope, Probe
  action, `d:Types` naming `NetworkVideoTransmitter` in the ONVIF network WSDL namespace through a
  declared prefix) and answers with whatever datagrams `reply` returns for it. Bound to
  127.0.0.1:<random> for directed probes, or to 0.0.0.0:3702 joined to the WS-Discovery group
  on 127.0.0.1 — only ever inside a network namespace a test created.
- `probe_matches(...)` builds a ProbeMatches datagram like a camera sends (lxml, real namespaces).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lxml import etree

SOAP_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
WSA_NS = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD_NS = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
ONVIF_NETWORK_NS = "http://www.onvif.org/ver10/network/wsdl"
DEVICE_WSDL_NS = "http://www.onvif.org/ver10/device/wsdl"
SCHEMA_NS = "http://www.onvif.org/ver10/schema"
ERROR_NS = "http://www.onvif.org/ver10/error"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROBE_ACTION = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
PROBE_MATCHES_ACTION = "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches"
WSD_GROUP = "239.255.255.250"
_IP_PKTINFO = 8  # linux/in.h; not exported by the socket module
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


@dataclass
class Camera:
    """What the fake camera reports; `username` set = GetNetworkInterfaces needs that login."""

    uuid: str
    ip_address: str = "192.0.2.10"
    mac_address: str = "AA:BB:CC:00:00:01"
    username: str | None = None
    password: str = ""


@dataclass
class SoapRequest:
    """One request the device service received: operation, authentication outcome (None = no
    token) and the token's secret-bearing texts (username, digest, nonce) for leak checks."""

    operation: str
    authenticated: bool | None
    content_type: str
    token_texts: tuple[str, ...] = ()


def _soap(body_child: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={
        "SOAP-ENV": SOAP_ENV_NS, "tds": DEVICE_WSDL_NS, "tt": SCHEMA_NS, "ter": ERROR_NS})
    etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Body").append(body_child)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _date_time_response() -> bytes:
    response = etree.Element(f"{{{DEVICE_WSDL_NS}}}GetSystemDateAndTimeResponse")
    info = etree.SubElement(response, f"{{{DEVICE_WSDL_NS}}}SystemDateAndTime")
    etree.SubElement(info, f"{{{SCHEMA_NS}}}DateTimeType").text = "NTP"
    return _soap(response)


def _network_interfaces_response(camera: Camera) -> bytes:
    response = etree.Element(f"{{{DEVICE_WSDL_NS}}}GetNetworkInterfacesResponse")
    interfaces = etree.SubElement(response, f"{{{DEVICE_WSDL_NS}}}NetworkInterfaces", token="eth0")
    etree.SubElement(interfaces, f"{{{SCHEMA_NS}}}Enabled").text = "true"
    info = etree.SubElement(interfaces, f"{{{SCHEMA_NS}}}Info")
    etree.SubElement(info, f"{{{SCHEMA_NS}}}Name").text = "eth0"
    etree.SubElement(info, f"{{{SCHEMA_NS}}}HwAddress").text = camera.mac_address
    ipv4 = etree.SubElement(interfaces, f"{{{SCHEMA_NS}}}IPv4")
    etree.SubElement(ipv4, f"{{{SCHEMA_NS}}}Enabled").text = "true"
    config = etree.SubElement(ipv4, f"{{{SCHEMA_NS}}}Config")
    manual = etree.SubElement(config, f"{{{SCHEMA_NS}}}Manual")
    etree.SubElement(manual, f"{{{SCHEMA_NS}}}Address").text = camera.ip_address
    etree.SubElement(manual, f"{{{SCHEMA_NS}}}PrefixLength").text = "24"
    return _soap(response)


def _not_authorized() -> bytes:
    fault = etree.Element(f"{{{SOAP_ENV_NS}}}Fault")
    code = etree.SubElement(fault, f"{{{SOAP_ENV_NS}}}Code")
    etree.SubElement(code, f"{{{SOAP_ENV_NS}}}Value").text = "SOAP-ENV:Sender"
    subcode = etree.SubElement(code, f"{{{SOAP_ENV_NS}}}Subcode")
    etree.SubElement(subcode, f"{{{SOAP_ENV_NS}}}Value").text = "ter:NotAuthorized"
    return _soap(fault)


def _check_token(envelope: etree._Element, camera: Camera) -> bool | None:
    """None without a UsernameToken; else whether username and PasswordDigest are right."""
    token = envelope.find(f"{{{SOAP_ENV_NS}}}Header/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
    if token is None:
        return None
    username = token.findtext(f"{{{WSSE_NS}}}Username")
    password = token.find(f"{{{WSSE_NS}}}Password")
    nonce = token.findtext(f"{{{WSSE_NS}}}Nonce") or ""
    created = token.findtext(f"{{{WSU_NS}}}Created") or ""
    if password is None or not (password.get("Type") or "").endswith("#PasswordDigest"):
        return False
    raw_nonce = base64.b64decode(nonce)
    expected = base64.b64encode(
        hashlib.sha1(raw_nonce + created.encode() + camera.password.encode()).digest()  # noqa: S324
    ).decode()
    return username == camera.username and password.text == expected


class DeviceService:
    """HTTP SOAP device service of one `Camera` on 127.0.0.1:<random>; `requests` records calls."""

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.requests: list[SoapRequest] = []
        service = self

        class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: one request per connection, so stop() is final
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                status, body = service.handle(self.rfile.read(length), self.headers.get("Content-Type") or "")
                self.send_response(status)
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"onvif-device-{camera.uuid[:8]}", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/onvif/device_service"

    def handle(self, data: bytes, content_type: str) -> tuple[int, bytes]:
        """(HTTP status, body) for one SOAP request."""
        try:
            envelope = etree.fromstring(data, parser=_PARSER)
        except etree.XMLSyntaxError:
            return 400, b""
        body = envelope.find(f"{{{SOAP_ENV_NS}}}Body")
        if body is None or len(body) == 0:
            return 400, b""
        operation = etree.QName(body[0]).localname
        authenticated = _check_token(envelope, self.camera)
        token_texts = tuple(
            element.text for element in envelope.iter(f"{{{WSSE_NS}}}Username", f"{{{WSSE_NS}}}Password",
                                                       f"{{{WSSE_NS}}}Nonce") if element.text
        )
        self.requests.append(SoapRequest(operation, authenticated, content_type, token_texts))
        if f'action="{DEVICE_WSDL_NS}/{operation}"' not in content_type:
            return 400, b""
        if operation == "GetSystemDateAndTime":
            return 200, _date_time_response()
        if operation == "GetNetworkInterfaces":
            if self.camera.username is not None and authenticated is not True:
                return 400, _not_authorized()
            return 200, _network_interfaces_response(self.camera)
        return 400, b""

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def probe_matches(relates_to: str, matches: Sequence[dict[str, str | None]]) -> bytes:
    """A ProbeMatches datagram; each match has `address` (EndpointReference), and optionally
    `xaddrs` and `scopes` (None = element left out)."""
    nsmap = {"SOAP-ENV": SOAP_ENV_NS, "wsa": WSA_NS, "d": WSD_NS, "dn": ONVIF_NETWORK_NS, "tds": DEVICE_WSDL_NS}
    envelope = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Header")
    etree.SubElement(header, f"{{{WSA_NS}}}MessageID").text = "urn:uuid:00000000-0000-4000-8000-00000000cafe"
    etree.SubElement(header, f"{{{WSA_NS}}}RelatesTo").text = relates_to
    etree.SubElement(header, f"{{{WSA_NS}}}To").text = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    etree.SubElement(header, f"{{{WSA_NS}}}Action").text = PROBE_MATCHES_ACTION
    body = etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Body")
    container = etree.SubElement(body, f"{{{WSD_NS}}}ProbeMatches")
    for match in matches:
        element = etree.SubElement(container, f"{{{WSD_NS}}}ProbeMatch")
        reference = etree.SubElement(element, f"{{{WSA_NS}}}EndpointReference")
        etree.SubElement(reference, f"{{{WSA_NS}}}Address").text = match["address"]
        etree.SubElement(element, f"{{{WSD_NS}}}Types").text = "dn:NetworkVideoTransmitter tds:Device"
        if match.get("scopes") is not None:
            etree.SubElement(element, f"{{{WSD_NS}}}Scopes").text = match["scopes"]
        if match.get("xaddrs") is not None:
            etree.SubElement(element, f"{{{WSD_NS}}}XAddrs").text = match["xaddrs"]
        etree.SubElement(element, f"{{{WSD_NS}}}MetadataVersion").text = "1"
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


@dataclass
class ReceivedProbe:
    """A Probe the responder got: its MessageID, where it was sent to, and why it was invalid (if so)."""

    message_id: str
    destination: str | None
    problem: str | None = None


def parse_probe(data: bytes) -> tuple[str, str | None]:
    """(MessageID, problem or None) of a Probe, checked the way a strict camera would."""
    try:
        envelope = etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        return "", f"not namespace-valid XML: {exc}"
    message_id = envelope.findtext(f"{{{SOAP_ENV_NS}}}Header/{{{WSA_NS}}}MessageID") or ""
    if envelope.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        return message_id, f"root is {envelope.tag}"
    if envelope.findtext(f"{{{SOAP_ENV_NS}}}Header/{{{WSA_NS}}}Action") != PROBE_ACTION:
        return message_id, "not a Probe action"
    types = envelope.find(f"{{{SOAP_ENV_NS}}}Body/{{{WSD_NS}}}Probe/{{{WSD_NS}}}Types")
    if types is None or not types.text:
        return message_id, "no d:Types"
    for qname in types.text.split():
        prefix, _, local = qname.rpartition(":")
        if types.nsmap.get(prefix or None) == ONVIF_NETWORK_NS and local == "NetworkVideoTransmitter":
            return message_id, None
    return message_id, f"d:Types {types.text!r} does not name dn:NetworkVideoTransmitter"


Reply = Callable[[str], Sequence[bytes]]


@dataclass
class WsDiscoveryResponder:
    """UDP WS-Discovery responder; `reply(message_id)` gives the datagrams to send back per Probe."""

    reply: Reply
    multicast: bool = False
    probes: list[ReceivedProbe] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if self.multicast:  # only inside a test network namespace
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind(("0.0.0.0", 3702))  # noqa: S104 - namespace-local
            membership = struct.pack("4s4s", socket.inet_aton(WSD_GROUP), socket.inet_aton("127.0.0.1"))
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        else:
            self._sock.bind(("127.0.0.1", 0))
        self._sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
        self._sock.settimeout(0.05)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ws-discovery-responder", daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        """`host:port` for `directedProbes`."""
        host, port = self._sock.getsockname()
        return f"127.0.0.1:{port}"

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                data, ancillary, _, sender = self._sock.recvmsg(65536, socket.CMSG_SPACE(12))
            except TimeoutError:
                continue
            except OSError:
                return
            destination = None
            for level, kind, payload in ancillary:
                if level == socket.IPPROTO_IP and kind == _IP_PKTINFO:
                    destination = socket.inet_ntoa(payload[8:12])
            message_id, problem = parse_probe(data)
            self.probes.append(ReceivedProbe(message_id, destination, problem))
            if problem is None:
                for datagram in self.reply(message_id):
                    self._sock.sendto(datagram, sender)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._sock.close()
