"""OPC UA discovery handler against real asyncua servers on 127.0.0.1.

Module peers (built once; asyncua needs seconds per server):
- `srv_b`: an OPC UA Server "Srv B" bound to 127.0.0.1 that advertises
  `opc.tcp://no-such-host.invalid:<port>/akri-b/` (a hostname only it knows);
- `lds`: a Local Discovery Server with "Srv B" registered for real plus records of applications
  that need not exist: a ClientAndServer HMI, one with an http URL before its opc.tcp URL, one
  with only an https URL, one on another unresolvable host.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from asyncua import Server, ua

from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handler import Device
from agent.discovery.handlers.opcua import OpcuaDiscoveryHandler
from tests.integration.handlers.opcua_peers import OpcuaPeers, free_port, record

pytestmark = pytest.mark.integration

UNRESOLVABLE = "no-such-host.invalid"
HTTP_FIRST_OPC_URL = "opc.tcp://localhost:4841/second/"  # resolves: kept, not rewritten to 127.0.0.1
HTTPS_ONLY_URL = "https://localhost:4843/only/"
FAR_AWAY_ADVERTISED = f"opc.tcp://far-away.{UNRESOLVABLE}:4855/far/"


class Peers:
    def __init__(self, peers: OpcuaPeers, srv_b: Server, lds: Server) -> None:
        self.peers, self.srv_b, self.lds = peers, srv_b, lds
        self.b_given = peers.given_url(srv_b)
        self.lds_given = peers.given_url(lds)
        port_b = srv_b.socket_address[1]  # type: ignore[index]
        self.b_found = f"opc.tcp://127.0.0.1:{port_b}/akri-b/"  # advertised URL with the given host
        self.far_found = "opc.tcp://127.0.0.1:4855/far/"  # LDS host, advertised port and path


@pytest.fixture(scope="module")
def opcua() -> Iterator[Peers]:
    peers = OpcuaPeers()
    try:
        srv_b = peers.start_server("Srv B", advertised_host=UNRESOLVABLE, path="/akri-b/")
        lds = peers.start_server("Test LDS", application_type=ua.ApplicationType.DiscoveryServer)
        peers.register(lds, servers=[srv_b], records=[
            record("Panel HMI", ["opc.tcp://127.0.0.1:4840/hmi/"], ua.ApplicationType.ClientAndServer),
            record("Http First", ["http://localhost:4842/first/", HTTP_FIRST_OPC_URL]),
            record("Https Only", [HTTPS_ONLY_URL]),
            record("Far Away", [FAR_AWAY_ADVERTISED]),
        ])
        yield Peers(peers, srv_b, lds)
    finally:
        peers.stop()


def handler(timeout_seconds: float = 2.0) -> OpcuaDiscoveryHandler:
    return OpcuaDiscoveryHandler(interval_seconds=0.1, timeout_seconds=timeout_seconds)


def details(*urls: str, application_names: dict | None = None) -> str:
    text = "opcuaDiscoveryMethod:\n  standard:\n    discoveryUrls:\n" + "".join(f"      - {u}\n" for u in urls)
    if application_names is not None:
        text += f"applicationNames: {application_names}\n"
    return text


def devices(*urls: str) -> list[Device]:
    return [Device(id=url, properties={"OPCUA_DISCOVERY_URL": url}) for url in sorted(urls)]


async def first_list(details_yaml: str, timeout_seconds: float = 2.0) -> list[Device]:
    stream = handler(timeout_seconds).discover(details_yaml, {})
    try:
        return await asyncio.wait_for(anext(stream), timeout=30)
    finally:
        await stream.aclose()


async def test_server_advertising_an_unresolvable_host_gets_the_given_host(opcua: Peers) -> None:
    assert opcua.peers.advertised_url(opcua.srv_b).startswith(f"opc.tcp://{UNRESOLVABLE}:")
    assert await first_list(details(opcua.b_given)) == devices(opcua.b_found)


async def test_discovery_server_lists_registered_servers_only(opcua: Peers) -> None:
    found = await first_list(details(opcua.lds_given))
    # not the LDS itself (DiscoveryServer) nor the HMI (ClientAndServer); opc.tcp preferred, else first URL
    assert found == devices(opcua.b_found, HTTP_FIRST_OPC_URL, HTTPS_ONLY_URL, opcua.far_found)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ({"items": ["Srv B", "Far Away"]}, ["b", "far"]),
        ({"items": ["Srv B", "Far Away"], "action": "Exclude"}, ["http-first", "https-only"]),
        ({"items": ["srv b"]}, []),  # exact, case-sensitive
        ({"items": []}, []),
        ({"items": [], "action": "Exclude"}, ["b", "http-first", "https-only", "far"]),
    ],
)
async def test_application_names_filter(opcua: Peers, names: dict, expected: list[str]) -> None:
    urls = {"b": opcua.b_found, "http-first": HTTP_FIRST_OPC_URL, "https-only": HTTPS_ONLY_URL, "far": opcua.far_found}
    found = await first_list(details(opcua.lds_given, application_names=names))
    assert found == devices(*(urls[key] for key in expected))


async def test_server_reported_directly_and_by_the_lds_is_listed_once(opcua: Peers) -> None:
    found = await first_list(details(opcua.b_given, opcua.lds_given, opcua.b_given,
                                     application_names={"items": ["Srv B"]}))
    assert found == devices(opcua.b_found)


async def test_refusing_and_silent_endpoints_time_out_without_blocking_others(opcua: Peers) -> None:
    refused = f"opc.tcp://127.0.0.1:{free_port()}/"
    silent = opcua.peers.start_silent_peer()
    started = time.monotonic()

    found = await first_list(details(refused, silent, opcua.b_given), timeout_seconds=1.0)

    assert found == devices(opcua.b_found)
    assert time.monotonic() - started < 10  # bounded by the timeouts, not hanging on the silent peer


async def test_list_is_resent_only_when_it_changes(opcua: Peers) -> None:
    received: list[list[Device]] = []

    async def consume() -> None:
        wanted = details(opcua.lds_given, application_names={"items": ["Late", "Srv B"]})
        async for found in handler().discover(wanted, {}):
            received.append(found)

    consumer = asyncio.create_task(consume())
    try:
        async with asyncio.timeout(20):
            while not received:
                await asyncio.sleep(0.02)
        assert received == [devices(opcua.b_found)]
        await asyncio.sleep(0.5)  # several rounds with the same answer
        assert len(received) == 1

        await opcua.peers.aregister(opcua.lds, [record("Late", ["opc.tcp://127.0.0.1:4999/late/"])])
        async with asyncio.timeout(20):
            while len(received) < 2:
                await asyncio.sleep(0.02)
        assert received[1] == devices(opcua.b_found, "opc.tcp://127.0.0.1:4999/late/")

        opcua.peers.forget(opcua.lds, "urn:akri-test:Late")
        async with asyncio.timeout(20):
            while len(received) < 3:
                await asyncio.sleep(0.02)
        assert received[2] == devices(opcua.b_found)
    finally:
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "discoveryDetails: must not be empty"),
        ("applicationNames: {items: [a]}", "discoveryDetails: 'opcuaDiscoveryMethod' is a required property"),
        ("opcuaDiscoveryMethod: {scan: {}}", "opcuaDiscoveryMethod: 'standard' is a required property"),
        ("opcuaDiscoveryMethod: {standard: {}, scan: {}}", "opcuaDiscoveryMethod: unsupported method 'scan'"),
        ("opcuaDiscoveryMethod: {standard: {discoveryUrls: ['opc.tcp://host/']}}",
         "opcuaDiscoveryMethod.standard.discoveryUrls[0]: 'opc.tcp://host/' is not opc.tcp://host:port"),
        ("opcuaDiscoveryMethod: {standard: {discoveryUrls: ['opc.tcp://a:1/', 'http://b:2/']}}",
         "opcuaDiscoveryMethod.standard.discoveryUrls[1]: 'http://b:2/' is not opc.tcp://host:port"),
        ("opcuaDiscoveryMethod: {standard: {discoveryUrls: ['opc.tcp://a:99999/']}}",
         "opcuaDiscoveryMethod.standard.discoveryUrls[0]: 'opc.tcp://a:99999/' is not a valid URL"),
        ("opcuaDiscoveryMethod: {standard: {}}\napplicationNames: {items: [a], action: Only}",
         "applicationNames.action: 'Only' is not one of ['Include', 'Exclude']"),
    ],
)
async def test_invalid_details_are_rejected_before_anything_is_sent(text: str, message: str) -> None:
    stream = handler().discover(text, {})
    with pytest.raises(InvalidDiscoveryDetails) as excinfo:
        await anext(stream)
    assert str(excinfo.value).startswith(message)
