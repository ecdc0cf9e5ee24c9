"""The ONVIF discovery handler (`onvif`, shared): IP cameras found by WS-Discovery.

Contract: akri-contract.md §5.4 (Akri discovery-handlers/onvif). Every `interval_seconds`
(Akri: 10 s) one probing round runs (`_onvif_wsdiscovery.probe`): a multicast Probe on every
multicast-capable IPv4 interface (or the interfaces given to the constructor; none disables
multicast) plus a unicast Probe to each `directedProbes` target, collecting ProbeMatches for
`discoveryTimeoutSeconds`. ProbeMatches failing the `scopes` filter are dropped; each XAddr is a
candidate camera `serviceUrl → uuid`. A candidate must answer GetSystemDateAndTime (HTTP 200 in
`http_timeout_seconds`, Akri: 1 s) in this round to stay listed. A candidate not already accepted
is then filtered in Akri's order: `uuids`; then — only when an `ipAddresses` or `macAddresses`
filter needs a value — GetNetworkInterfaces, authenticated with the camera's credential from
discoveryProperties when there is one; then `ipAddresses`, then `macAddresses` (all
case-insensitive). A camera whose IP/MAC cannot be read passes only filters that need no value.

Device: id `<serviceUrl>-<uuid>`; properties `ONVIF_DEVICE_SERVICE_URL`, `ONVIF_DEVICE_UUID`, and
`ONVIF_DEVICE_IP_ADDRESS` / `ONVIF_DEVICE_MAC_ADDRESS` only when they were read. The complete
list (sorted by id) is yielded after the first round and then whenever it changes.

discoveryDetails (YAML): `ipAddresses`, `macAddresses`, `scopes`, `uuids` (FilterList),
`discoveryTimeoutSeconds` (number > 0, default 1) and our addition `directedProbes`
(`["host-or-ipv4[:port]"]`, port default 3702) for cameras multicast cannot reach.

The SOAP stack (zeep over httpx and lxml, with the ONVIF device WSDL of onvif-zeep-async: about
29 MiB resident once the WSDL is parsed) is imported by the first `discover()` call (with
`_onvif_soap`), not with this module, so an agent without ONVIF Configurations never loads it
(the agent's memory limit is 79 MiB: akri-contract.md §6, DESIGN.md); `agent.discovery.embedded`
checks that it is installed (REQUIRED_PACKAGES) before it builds the handler.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handler import Device, DiscoveryHandler
from agent.discovery.handlers import _console, _onvif_netif, _onvif_wsdiscovery, filtering
from agent.discovery.handlers._onvif_credentials import CredentialStore

if TYPE_CHECKING:
    from agent.discovery.handlers._onvif_soap import OnvifSoapClient

__all__ = [
    "ONVIF_DEVICE_SERVICE_URL",
    "ONVIF_DEVICE_UUID",
    "ONVIF_DEVICE_IP_ADDRESS",
    "ONVIF_DEVICE_MAC_ADDRESS",
    "OnvifDetails",
    "parse_details",
    "OnvifDiscoveryHandler",
    "main",
]

logger = logging.getLogger(__name__)

REQUIRED_PACKAGES = ("httpx", "lxml", "zeep", "onvif")
"""Imported lazily by `discover()`; `agent.discovery.embedded` checks they are installed."""

ONVIF_DEVICE_SERVICE_URL = "ONVIF_DEVICE_SERVICE_URL"
ONVIF_DEVICE_UUID = "ONVIF_DEVICE_UUID"
ONVIF_DEVICE_IP_ADDRESS = "ONVIF_DEVICE_IP_ADDRESS"
ONVIF_DEVICE_MAC_ADDRESS = "ONVIF_DEVICE_MAC_ADDRESS"

MULTICAST_INTERFACES_ENV = "ONVIF_MULTICAST_INTERFACES"
MAX_INTERFACE_NAME_LENGTH = 15  # IFNAMSIZ - 1
DISCOVERY_INTERVAL_SECONDS = 10.0
HTTP_TIMEOUT_SECONDS = 1.0
DEFAULT_DISCOVERY_TIMEOUT_SECONDS = 1
MAX_DISCOVERY_TIMEOUT_SECONDS = 3600

_DETAILS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "ipAddresses": filtering.FILTER_LIST_SCHEMA,
        "macAddresses": filtering.FILTER_LIST_SCHEMA,
        "scopes": filtering.FILTER_LIST_SCHEMA,
        "uuids": filtering.FILTER_LIST_SCHEMA,
        "discoveryTimeoutSeconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_DISCOVERY_TIMEOUT_SECONDS,
        },
        "directedProbes": {"type": ["array", "null"], "items": {"type": "string", "minLength": 1}},
    },
}


@dataclass(frozen=True, slots=True)
class OnvifDetails:
    """Parsed ONVIF discoveryDetails; `directed_probes` are (host, port) pairs."""

    ip_addresses: filtering.FilterList | None = None
    mac_addresses: filtering.FilterList | None = None
    scopes: filtering.FilterList | None = None
    uuids: filtering.FilterList | None = None
    discovery_timeout_seconds: float = DEFAULT_DISCOVERY_TIMEOUT_SECONDS
    directed_probes: tuple[tuple[str, int], ...] = ()


def _directed_probe(index: int, target: str) -> tuple[str, int]:
    where = f"directedProbes[{index}]"
    try:
        parts = urlsplit(f"//{target.strip()}")
        port = parts.port
    except ValueError as exc:
        raise InvalidDiscoveryDetails(f"{where}: {target!r} is not host[:port] ({exc})") from None
    if not parts.hostname or parts.path or parts.query or parts.fragment or parts.username is not None:
        raise InvalidDiscoveryDetails(f"{where}: {target!r} is not host[:port]")
    if port == 0:
        raise InvalidDiscoveryDetails(f"{where}: {target!r} has port 0")
    return parts.hostname, port if port is not None else _onvif_wsdiscovery.WSD_PORT


def parse_details(text: str) -> OnvifDetails:
    """OnvifDetails from discoveryDetails YAML ("" means all defaults).

    Raises InvalidDiscoveryDetails naming the field and offending value, e.g.
    `uuids.action: 'include' is not one of ['Include', 'Exclude']` or
    `directedProbes[0]: '10.0.0.1:99999' is not host[:port] (Port out of range 0-65535)`.
    """
    raw = filtering.load_details(text, allow_empty=True)
    filtering.check_details(raw, _DETAILS_SCHEMA)
    timeout = raw.get("discoveryTimeoutSeconds", DEFAULT_DISCOVERY_TIMEOUT_SECONDS)
    if not math.isfinite(timeout):
        raise InvalidDiscoveryDetails(f"discoveryTimeoutSeconds: {timeout!r} is not a finite number")
    return OnvifDetails(
        ip_addresses=filtering.filter_list_from(raw.get("ipAddresses")),
        mac_addresses=filtering.filter_list_from(raw.get("macAddresses")),
        scopes=filtering.filter_list_from(raw.get("scopes")),
        uuids=filtering.filter_list_from(raw.get("uuids")),
        discovery_timeout_seconds=timeout,
        directed_probes=tuple(_directed_probe(i, t) for i, t in enumerate(raw.get("directedProbes") or ())),
    )


def _is_service_url(url: str) -> bool:
    """Whether an XAddr is an http(s) URL with a host and a valid port (cameras can send anything)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _same_ignoring_case(value: str, item: str) -> bool:
    return value.lower() == item.lower()


def _scope_matches(scope: str, item: str) -> bool:
    return scope == item


@dataclass(frozen=True, slots=True)
class _Settings:
    interval_seconds: float
    http_timeout_seconds: float
    multicast_interfaces: tuple[str, ...] | None
    multicast_group: tuple[str, int]


class OnvifDiscoveryHandler(DiscoveryHandler):
    """Discovers ONVIF cameras; devices are shared (visible from every node on the network).

    interval_seconds: pause between probing rounds (Akri: 10 s).
    http_timeout_seconds: deadline of each SOAP call (Akri: 1 s).
    multicast_interfaces: interface names to multicast the Probe on; None = every interface that
        is up, multicast-capable and has IPv4; () = no multicast (only `directedProbes`).
    multicast_group: WS-Discovery (group address, port), normally 239.255.255.250:3702.
    """

    name = "onvif"
    shared = True

    def __init__(
        self,
        *,
        interval_seconds: float = DISCOVERY_INTERVAL_SECONDS,
        http_timeout_seconds: float = HTTP_TIMEOUT_SECONDS,
        multicast_interfaces: Sequence[str] | None = None,
        multicast_group: tuple[str, int] = (_onvif_wsdiscovery.WSD_MULTICAST_GROUP, _onvif_wsdiscovery.WSD_PORT),
    ) -> None:
        if isinstance(multicast_interfaces, str):
            raise TypeError("multicast_interfaces must be a sequence of interface names, not a string")
        if not interval_seconds >= 0 or not http_timeout_seconds > 0:
            raise ValueError(f"interval_seconds={interval_seconds!r} must be >= 0 and "
                             f"http_timeout_seconds={http_timeout_seconds!r} > 0")
        self._settings = _Settings(
            interval_seconds=interval_seconds,
            http_timeout_seconds=http_timeout_seconds,
            multicast_interfaces=None if multicast_interfaces is None else tuple(multicast_interfaces),
            multicast_group=multicast_group,
        )

    @property
    def multicast_interfaces(self) -> tuple[str, ...] | None:
        """Interface names the Probe is multicast on (None = every multicast-capable one)."""
        return self._settings.multicast_interfaces

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OnvifDiscoveryHandler:
        """Handler configured from `ONVIF_MULTICAST_INTERFACES`: unset = every multicast-capable
        interface; a comma-separated list of interface names = only those; empty = no multicast.

        Raises ValueError naming the variable and the bad interface name.
        """
        raw = environ.get(MULTICAST_INTERFACES_ENV)
        if raw is None:
            return cls()
        names = tuple(name.strip() for name in raw.split(",") if name.strip())
        for name in names:
            if len(name) > MAX_INTERFACE_NAME_LENGTH or "/" in name or any(ch.isspace() for ch in name):
                raise ValueError(f"{MULTICAST_INTERFACES_ENV}={raw!r}: {name!r} is not an interface name")
        return cls(multicast_interfaces=names)

    async def _candidates(self, details: OnvifDetails) -> dict[str, str]:
        """serviceUrl → uuid from one probing round, after the `scopes` filter."""
        interfaces = _onvif_netif.multicast_ipv4_interfaces(self._settings.multicast_interfaces)
        matches = await _onvif_wsdiscovery.probe(
            interfaces=interfaces,
            group=self._settings.multicast_group,
            targets=details.directed_probes,
            timeout_seconds=details.discovery_timeout_seconds,
        )
        candidates: dict[str, str] = {}
        for match in matches:
            if filtering.execute_filter(details.scopes, match.scopes, _scope_matches):
                logger.debug("Camera %s filtered out by scopes", match.uuid)
                continue
            for url in match.xaddrs:
                if _is_service_url(url):
                    candidates[url] = match.uuid
                else:
                    logger.warning("Camera %s advertises an unusable service URL %r; skipped", match.uuid, url)
        return candidates

    async def _admit(
        self, soap: OnvifSoapClient, details: OnvifDetails, credentials: CredentialStore, url: str, uuid: str
    ) -> Device | None:
        """The Device for a responsive camera, or None when a filter drops it (Akri `apply_filters`)."""
        from agent.discovery.handlers._onvif_soap import OnvifCallError

        if filtering.execute_filter(details.uuids, [uuid], _same_ignoring_case):
            logger.debug("Camera %s at %s filtered out by uuids", uuid, url)
            return None
        ip_address = mac_address = None
        if filtering.filter_needs_value(details.ip_addresses) or filtering.filter_needs_value(details.mac_addresses):
            try:
                ip_address, mac_address = await soap.network_interfaces(url, credentials.get(uuid))
            except OnvifCallError as exc:
                logger.warning("Cannot read the network interfaces of camera %s: %s", uuid, exc)
        if filtering.execute_filter(details.ip_addresses, None if ip_address is None else [ip_address],
                                    _same_ignoring_case):
            logger.debug("Camera %s at %s filtered out by ipAddresses (IP %s)", uuid, url, ip_address)
            return None
        if filtering.execute_filter(details.mac_addresses, None if mac_address is None else [mac_address],
                                    _same_ignoring_case):
            logger.debug("Camera %s at %s filtered out by macAddresses (MAC %s)", uuid, url, mac_address)
            return None
        properties = {ONVIF_DEVICE_SERVICE_URL: url, ONVIF_DEVICE_UUID: uuid}
        if ip_address is not None:
            properties[ONVIF_DEVICE_IP_ADDRESS] = ip_address
        if mac_address is not None:
            properties[ONVIF_DEVICE_MAC_ADDRESS] = mac_address
        return Device(id=f"{url}-{uuid}", properties=properties)

    async def discover(self, details: str, properties: Mapping[str, bytes | None]) -> AsyncIterator[list[Device]]:
        """Yield the cameras after the first round, then the full list whenever it changes.

        details: ONVIF discoveryDetails YAML (see `parse_details`); properties: discoveryProperties
        holding camera credentials (see `_onvif_credentials`). Raises InvalidDiscoveryDetails
        before the first round when `details` is invalid. Runs until closed or cancelled.
        """
        config = parse_details(details)
        credentials = CredentialStore.from_properties(properties)
        from agent.discovery.handlers import _onvif_soap  # lazily: see the module docstring

        soap = await _onvif_soap.shared_client(self._settings.http_timeout_seconds)
        logger.info("ONVIF discovery started (%d directed probe target(s), %d credential(s))",
                    len(config.directed_probes), len(credentials))
        accepted: dict[str, tuple[str, Device]] = {}  # serviceUrl → (uuid, Device)
        last_sent: list[Device] | None = None
        while True:
            candidates = await self._candidates(config)
            urls = list(candidates)
            answers = await asyncio.gather(*(soap.is_responding(url) for url in urls))
            responsive = {url: candidates[url] for url, ok in zip(urls, answers, strict=True) if ok}
            for url in sorted(set(candidates) - set(responsive)):
                logger.debug("Camera at %s does not answer GetSystemDateAndTime", url)
            accepted = {url: kept for url, kept in accepted.items() if responsive.get(url) == kept[0]}
            pending = [(url, uuid) for url, uuid in responsive.items() if url not in accepted]
            admitted = await asyncio.gather(
                *(self._admit(soap, config, credentials, url, uuid) for url, uuid in pending)
            )
            for (url, uuid), device in zip(pending, admitted, strict=True):
                if device is not None:
                    accepted[url] = (uuid, device)
            devices = sorted((device for _, device in accepted.values()), key=lambda d: d.id)
            if devices != last_sent:
                logger.info("ONVIF cameras changed: %d camera(s)", len(devices))
                last_sent = devices
                yield list(devices)
            await asyncio.sleep(self._settings.interval_seconds)


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Console script `akri-onvif-discovery`: serve this handler standalone (registers with the agent).

    Environment (default `os.environ`): `ONVIF_MULTICAST_INTERFACES` (see
    `OnvifDiscoveryHandler.from_env`) plus what `run_handler` reads (`DISCOVERY_HANDLERS_DIRECTORY`,
    `POD_IP`, ...). Returns the exit code (2 for invalid settings).
    """
    return _console.run("akri-onvif-discovery", OnvifDiscoveryHandler.from_env, argv=argv, environ=environ)
