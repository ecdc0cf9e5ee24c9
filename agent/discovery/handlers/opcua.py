"""The OPC UA discovery handler (`opcua`, shared): servers found with OPC UA FindServers.

Contract: akri-contract.md §5.5 (Akri discovery-handlers/opcua). Every `interval_seconds` (Akri:
10 s) FindServers is called on each `opcuaDiscoveryMethod.standard.discoveryUrls` entry (a server
or a Local Discovery Server) through asyncua, all URLs in parallel, each exchange bounded by
`timeout_seconds` per step (TCP connect, Hello, OpenSecureChannel, FindServers; Akri: 3 s for the
connect test) and by an overall deadline, so a URL that refuses connections or accepts TCP and
never answers is skipped without holding up the others.

From each answer only `ApplicationType.Server` applications whose `applicationName` passes the
`applicationNames` FilterList (`should_include`) are kept. Of an application's DiscoveryUrls the
first `opc.tcp` one is chosen (else the first); when its host does not resolve (a server
advertising a hostname only it knows), the host of the URL the user configured is substituted,
keeping the advertised scheme, port and path. Results are de-duplicated (Akri only drops
consecutive duplicates; Instance names would collapse them anyway). Device: id = that URL,
property `OPCUA_DISCOVERY_URL`. The full list (sorted by id) is yielded after the first round
and then whenever it changes.

asyncua (with its cryptography and aiofiles, about 20 MiB resident) is imported by the first
discovery round, not with this module, so an agent without OPC UA Configurations never loads it
(the agent's memory limit is 79 MiB: akri-contract.md §6, DESIGN.md); `agent.discovery.embedded`
checks that it is installed (REQUIRED_PACKAGES) before it builds the handler.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handler import Device, DiscoveryHandler
from agent.discovery.handlers import _console, filtering

if TYPE_CHECKING:
    from asyncua import ua

__all__ = ["OPCUA_DISCOVERY_URL", "OpcuaDetails", "parse_details", "replace_host", "OpcuaDiscoveryHandler", "main"]

logger = logging.getLogger(__name__)

REQUIRED_PACKAGES = ("asyncua",)
"""Imported lazily by the discovery rounds; `agent.discovery.embedded` checks it is installed."""

OPCUA_DISCOVERY_URL = "OPCUA_DISCOVERY_URL"
OPC_TCP_SCHEME = "opc.tcp"
DEFAULT_DISCOVERY_URLS = ("opc.tcp://localhost:4840/",)
DEFAULT_OPCUA_PORT = 4840
DISCOVERY_INTERVAL_SECONDS = 10.0
TIMEOUT_SECONDS = 3.0
#: asyncua steps in one FindServers exchange (connect, Hello, OpenSecureChannel, FindServers)
_EXCHANGE_STEPS = 4
CLIENT_APPLICATION_NAME = "DiscoveryHandlerClient"
CLIENT_APPLICATION_URI = "urn:DiscoveryHandlerClient"

_DETAILS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["opcuaDiscoveryMethod"],
    "properties": {
        "opcuaDiscoveryMethod": {
            "type": "object",
            "required": ["standard"],
            "properties": {
                "standard": {
                    "type": ["object", "null"],
                    "properties": {"discoveryUrls": {"type": "array", "items": {"type": "string"}}},
                },
            },
        },
        "applicationNames": filtering.FILTER_LIST_SCHEMA,
    },
}


@dataclass(frozen=True, slots=True)
class OpcuaDetails:
    """Parsed OPC UA discoveryDetails."""

    discovery_urls: tuple[str, ...] = DEFAULT_DISCOVERY_URLS
    application_names: filtering.FilterList | None = None


def _check_discovery_url(index: int, url: str) -> str:
    where = f"opcuaDiscoveryMethod.standard.discoveryUrls[{index}]"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidDiscoveryDetails(f"{where}: {url!r} is not a valid URL ({exc})") from None
    if parts.scheme != OPC_TCP_SCHEME or not parts.hostname or port is None:
        raise InvalidDiscoveryDetails(f"{where}: {url!r} is not opc.tcp://host:port[/path] (explicit port required)")
    return url


def parse_details(text: str) -> OpcuaDetails:
    """OpcuaDetails from discoveryDetails YAML; `opcuaDiscoveryMethod: {standard: {}}` gives the
    default URL `opc.tcp://localhost:4840/`.

    Raises InvalidDiscoveryDetails naming the field and value: empty details or a missing
    `opcuaDiscoveryMethod` (required, as in Akri), a method other than `standard`, a URL that is not
    `opc.tcp://host:port[/path]` (Akri skips those at run time; we reject them up front), a bad filter.
    """
    raw = filtering.load_details(text, allow_empty=False)
    filtering.check_details(raw, _DETAILS_SCHEMA)
    method = raw["opcuaDiscoveryMethod"]
    others = sorted(key for key in method if key != "standard")
    if others:
        raise InvalidDiscoveryDetails(f"opcuaDiscoveryMethod: unsupported method {others[0]!r} (only 'standard')")
    urls = (method["standard"] or {}).get("discoveryUrls", list(DEFAULT_DISCOVERY_URLS))
    return OpcuaDetails(
        discovery_urls=tuple(_check_discovery_url(i, url) for i, url in enumerate(urls)),
        application_names=filtering.filter_list_from(raw.get("applicationNames")),
    )


def replace_host(parts: SplitResult, host: str) -> str:
    """`parts` as a URL with its host replaced by `host` (bracketed when IPv6), port and path kept."""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class _Settings:
    interval_seconds: float
    timeout_seconds: float


class OpcuaDiscoveryHandler(DiscoveryHandler):
    """Discovers OPC UA servers; devices are shared.

    interval_seconds: pause between rounds (Akri: 10 s).
    timeout_seconds: deadline of each network step of one FindServers exchange and of resolving an
        advertised host (Akri: 3 s TCP connect test); one exchange never exceeds 4× this.
    """

    name = "opcua"
    shared = True

    def __init__(
        self, *, interval_seconds: float = DISCOVERY_INTERVAL_SECONDS, timeout_seconds: float = TIMEOUT_SECONDS
    ) -> None:
        if not interval_seconds >= 0 or not timeout_seconds > 0:
            raise ValueError(f"interval_seconds={interval_seconds!r} must be >= 0 and "
                             f"timeout_seconds={timeout_seconds!r} > 0")
        self._settings = _Settings(interval_seconds=interval_seconds, timeout_seconds=timeout_seconds)

    async def _find_servers(self, url: str) -> list[ua.ApplicationDescription]:
        """FindServers at `url`; [] (logged) when it cannot be reached or does not answer in time."""
        from asyncua import Client, ua  # lazily: see the module docstring

        client = Client(url, timeout=self._settings.timeout_seconds)
        client.name = CLIENT_APPLICATION_NAME
        client.description = CLIENT_APPLICATION_NAME
        client.application_uri = CLIENT_APPLICATION_URI
        try:
            async with asyncio.timeout(self._settings.timeout_seconds * _EXCHANGE_STEPS):
                return list(await client.connect_and_find_servers())
        except TimeoutError:
            logger.warning("FindServers at %s: no answer within the timeout; skipped", url)
        except (OSError, EOFError, ValueError, struct.error, ua.UaError) as exc:  # any faulty peer answer
            logger.warning("FindServers at %s failed: %s: %s; skipped", url, type(exc).__name__, exc)
        finally:
            client.disconnect_socket()
        return []

    async def _resolves(self, parts: SplitResult) -> bool:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._settings.timeout_seconds):
                await loop.getaddrinfo(parts.hostname, parts.port or DEFAULT_OPCUA_PORT)
        except (OSError, TimeoutError):
            return False
        return True

    async def _server_url(self, application: ua.ApplicationDescription, given: str) -> str | None:
        """The discovery URL to publish for one selected application (`given`: the URL it was
        found through), or None when it has no usable DiscoveryUrl."""
        urls = [str(url) for url in application.DiscoveryUrls or [] if url]
        if not urls:
            logger.debug("Server %s from %s has no DiscoveryUrls", application.ApplicationUri, given)
            return None
        chosen = next((url for url in urls if url.startswith(OPC_TCP_SCHEME)), urls[0])
        try:
            parts = urlsplit(chosen)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            logger.warning("Server %s from %s advertises an invalid URL %r", application.ApplicationUri, given, chosen)
            return None
        if parts.hostname and await self._resolves(parts):
            return chosen
        given_host = urlsplit(given).hostname or ""
        substituted = replace_host(parts, given_host)
        logger.debug("Host of %s does not resolve; using %s", chosen, substituted)
        return substituted

    def _selected(self, application: ua.ApplicationDescription, names: filtering.FilterList | None) -> bool:
        """Whether an application is a Server whose name passes `applicationNames` (Akri)."""
        from asyncua import ua

        if application.ApplicationType != ua.ApplicationType.Server:
            return False
        name = application.ApplicationName.Text if application.ApplicationName is not None else None
        return filtering.should_include(names, name or "")

    async def _discover_once(self, details: OpcuaDetails) -> list[Device]:
        answers = await asyncio.gather(*(self._find_servers(url) for url in details.discovery_urls))
        found: list[str] = []
        for given, applications in zip(details.discovery_urls, answers, strict=True):
            for application in applications:
                if not self._selected(application, details.application_names):
                    continue
                url = await self._server_url(application, given)
                if url is not None and url not in found:
                    found.append(url)
        return [Device(id=url, properties={OPCUA_DISCOVERY_URL: url}) for url in sorted(found)]

    async def discover(self, details: str, properties: Mapping[str, bytes | None]) -> AsyncIterator[list[Device]]:
        """Yield the servers after the first round, then the full list whenever it changes.

        details: OPC UA discoveryDetails YAML (see `parse_details`); properties are not used.
        Raises InvalidDiscoveryDetails before the first round when `details` is invalid.
        """
        config = parse_details(details)
        logger.info("OPC UA discovery started for %s", ", ".join(config.discovery_urls))
        last_sent: list[Device] | None = None
        while True:
            devices = await self._discover_once(config)
            if devices != last_sent:
                logger.info("OPC UA servers changed: %d server(s)", len(devices))
                last_sent = devices
                yield list(devices)
            await asyncio.sleep(self._settings.interval_seconds)


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Console script `akri-opcua-discovery`: serve this handler standalone (registers with the agent).

    Environment (default `os.environ`): what `run_handler` reads (`DISCOVERY_HANDLERS_DIRECTORY`,
    `POD_IP`, ...); the handler itself has no settings. Returns the exit code.
    """
    return _console.run("akri-opcua-discovery", lambda _environ: OpcuaDiscoveryHandler(), argv=argv,
                        environ=environ)
