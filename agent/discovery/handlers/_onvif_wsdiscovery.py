"""WS-Discovery (2005/04) Probe for ONVIF NetworkVideoTransmitters and its ProbeMatches.

One probing round (Akri onvif/src/discovery_impl.rs `simple_onvif_discover`, akri-contract.md
§5.4): a fresh UDP socket bound to `0.0.0.0:0` sends one Probe — with a new `uuid:` MessageID —
to the multicast group on each given interface (chosen with `IP_MULTICAST_IF`) and to each
directed unicast target, then collects datagrams (16 KiB each, decoded as lossy UTF-8) until the
timeout. Replies are unicast to the probing socket, so the socket joins no group.

Parsing (lxml, entity resolution and network access off): every `d:ProbeMatch` of a datagram
counts; `wsa:RelatesTo` must equal our MessageID (anything else — another client's exchange, a
Hello, a stale reply — is ignored); a ProbeMatch without XAddrs is skipped; a missing `d:Scopes`
means no scopes; the device uuid is `wsa:EndpointReference/wsa:Address` with `urn:` then `uuid:`
stripped and lower-cased. A datagram that is not a SOAP envelope is logged and skipped; the
round goes on.

Unlike Akri's probe (which uses the prefix `netwsdl:` without declaring it), ours declares every
prefix it uses, so `dn:NetworkVideoTransmitter` resolves to the ONVIF network WSDL namespace.

lxml is imported on first use (building or parsing a message), not with this module: the agent
imports the ONVIF handler even when no Configuration uses it (memory, DESIGN.md: agent ≤ 79 MiB).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "WSD_MULTICAST_GROUP",
    "WSD_PORT",
    "ProbeMatch",
    "DatagramRejected",
    "new_message_id",
    "build_probe",
    "parse_probe_matches",
    "device_uuid",
    "probe",
]

logger = logging.getLogger(__name__)

WSD_MULTICAST_GROUP = "239.255.255.250"
WSD_PORT = 3702
MAX_DATAGRAM_BYTES = 16 * 1024
MAX_DATAGRAMS_PER_ROUND = 4096

SOAP_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
WSA_NS = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD_NS = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
ONVIF_NETWORK_NS = "http://www.onvif.org/ver10/network/wsdl"
WSD_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
PROBE_ACTION = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"



@functools.cache
def _xml_parser() -> etree.XMLParser:
    """The hardened parser (no entities, no network, no huge trees), built on first use."""
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True, slots=True)
class ProbeMatch:
    """One `d:ProbeMatch`: device uuid (normalised), its XAddrs (service URLs) and scopes, in order."""

    uuid: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...]


class DatagramRejected(ValueError):
    """A datagram that yields no ProbeMatch for us; `malformed` False means well-formed but unrelated."""

    def __init__(self, reason: str, *, malformed: bool) -> None:
        super().__init__(reason)
        self.malformed = malformed


def new_message_id() -> str:
    """A fresh WS-Addressing MessageID, `uuid:<random v4>` as Akri sends."""
    return f"uuid:{uuid.uuid4()}"


def build_probe(message_id: str) -> bytes:
    """The Probe envelope (UTF-8 bytes with XML declaration) for `dn:NetworkVideoTransmitter`."""
    from lxml import etree

    nsmap = {"s": SOAP_ENV_NS, "a": WSA_NS, "d": WSD_NS, "dn": ONVIF_NETWORK_NS}
    envelope = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Header")
    etree.SubElement(header, f"{{{WSA_NS}}}MessageID").text = message_id
    etree.SubElement(header, f"{{{WSA_NS}}}To").text = WSD_TO
    etree.SubElement(header, f"{{{WSA_NS}}}Action").text = PROBE_ACTION
    body = etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Body")
    probe_element = etree.SubElement(body, f"{{{WSD_NS}}}Probe")
    etree.SubElement(probe_element, f"{{{WSD_NS}}}Types").text = "dn:NetworkVideoTransmitter"
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def device_uuid(address: str) -> str:
    """Device id from an EndpointReference address: strip `urn:`, then `uuid:`, lower-case (Akri
    `get_onvif_device_id`): `urn:uuid:ABC` → `abc`, `uuid:urn:e` → `urn:e`."""
    text = address.strip()
    text = text.removeprefix("urn:")
    text = text.removeprefix("uuid:")
    return text.lower()


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find(path, namespaces={"a": WSA_NS, "d": WSD_NS})
    return None if found is None or found.text is None else found.text


def parse_probe_matches(datagram: bytes, message_id: str) -> list[ProbeMatch]:
    """Every usable ProbeMatch of one datagram answering the Probe `message_id`.

    Raises DatagramRejected(malformed=True) when the datagram is not XML or not a SOAP 1.2
    envelope, and DatagramRejected(malformed=False) when `wsa:RelatesTo` is missing or differs.
    ProbeMatches without XAddrs are left out; a ProbeMatch without Scopes gets `scopes=()`.
    """
    from lxml import etree

    text = datagram.decode("utf-8", errors="replace").encode("utf-8")  # Akri: String::from_utf8_lossy
    try:
        root = etree.fromstring(text, parser=_xml_parser())
    except etree.XMLSyntaxError as exc:
        raise DatagramRejected(f"not XML: {exc}", malformed=True) from None
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise DatagramRejected(f"root element is {root.tag!r}, not a SOAP 1.2 Envelope", malformed=True)
    relates_to = root.find(f"{{{SOAP_ENV_NS}}}Header/{{{WSA_NS}}}RelatesTo")
    if relates_to is None or (relates_to.text or "").strip() != message_id:
        raise DatagramRejected("RelatesTo does not name our Probe", malformed=False)
    matches: list[ProbeMatch] = []
    for element in root.iterfind(f"{{{SOAP_ENV_NS}}}Body/{{{WSD_NS}}}ProbeMatches/{{{WSD_NS}}}ProbeMatch"):
        xaddrs = tuple((_text(element, "d:XAddrs") or "").split())
        if not xaddrs:
            logger.debug("ProbeMatch without XAddrs skipped")
            continue
        address = _text(element, "a:EndpointReference/a:Address") or ""
        scopes = tuple((_text(element, "d:Scopes") or "").split())
        matches.append(ProbeMatch(uuid=device_uuid(address), xaddrs=xaddrs, scopes=scopes))
    return matches


async def _resolve(host: str, port: int, timeout_seconds: float) -> str | None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_seconds):
            infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    except (OSError, TimeoutError) as exc:
        logger.warning("Directed probe target %s:%d does not resolve: %s", host, port, exc)
        return None
    return str(infos[0][4][0]) if infos else None


def _send(sock: socket.socket, data: bytes, destination: tuple[str, int], via: str) -> None:
    try:
        sock.sendto(data, destination)
    except OSError as exc:
        logger.warning("Sending the WS-Discovery Probe to %s:%d via %s failed: %s", *destination, via, exc)


async def probe(
    *,
    interfaces: Sequence[tuple[str, str]],
    group: tuple[str, int],
    targets: Sequence[tuple[str, int]],
    timeout_seconds: float,
) -> list[ProbeMatch]:
    """Run one probing round; every ProbeMatch received within `timeout_seconds`, in arrival order.

    interfaces: (name, IPv4 address) to multicast on — empty means no multicast at all.
    group: multicast (address, port), normally (239.255.255.250, 3702).
    targets: directed unicast (host or IPv4, port); hosts resolve (IPv4) with the round's timeout.
    Never raises for network trouble: failures to resolve, send or receive are logged.
    """
    message_id = new_message_id()
    data = build_probe(message_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        logger.warning("Cannot open a UDP socket for WS-Discovery: %s", exc)
        return []
    with sock:
        sock.setblocking(False)
        try:
            sock.bind(("0.0.0.0", 0))  # noqa: S104 - replies come back from any camera address
        except OSError as exc:
            logger.warning("Cannot bind the WS-Discovery socket: %s", exc)
            return []
        for name, address in interfaces:
            try:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
            except OSError as exc:
                logger.warning("Cannot multicast on interface %s (%s): %s", name, address, exc)
                continue
            _send(sock, data, group, name)
        for host, port in targets:
            resolved = await _resolve(host, port, max(deadline - loop.time(), 0.1))
            if resolved is not None:
                _send(sock, data, (resolved, port), "unicast")
        matches: list[ProbeMatch] = []
        for _ in range(MAX_DATAGRAMS_PER_ROUND):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    datagram, sender = await loop.sock_recvfrom(sock, MAX_DATAGRAM_BYTES)
            except TimeoutError:
                break
            except OSError as exc:
                logger.warning("Receiving WS-Discovery replies failed: %s", exc)
                break
            try:
                matches.extend(parse_probe_matches(datagram, message_id))
            except DatagramRejected as exc:
                log = logger.warning if exc.malformed else logger.debug
                log("Ignoring a WS-Discovery datagram from %s:%d: %s", sender[0], sender[1], exc)
        return matches
