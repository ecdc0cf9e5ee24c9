"""ONVIF discovery handler against fake cameras on 127.0.0.1 (directed WS-Discovery probes).

Every camera is a real peer (UDP WS-Discovery responder + HTTP SOAP device service from
`onvif_responder`). The handler is built with `multicast_interfaces=()`, and an autouse guard
fails the test if anything sends a datagram to a non-loopback address.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest
import yaml

from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handler import Device
from agent.discovery.handlers.onvif import OnvifDiscoveryHandler
from tests.integration.handlers.onvif_responder import (
    Camera,
    DeviceService,
    WsDiscoveryResponder,
    probe_matches,
)

pytestmark = pytest.mark.integration

UUID_A = "5f5a69c2-e0ae-504f-829b-00fcdab169cc"
UUID_B = "7a21dc67-8438-5588-1547-4d1349048438"
UUID_C = "6a67158b-42b1-400b-8afe-1bec9a5d7909"
SCOPE_A = "onvif://www.onvif.org/name/CamA"
SCOPE_B = "onvif://www.onvif.org/name/CamB"
COMMON_SCOPE = "onvif://www.onvif.org/type/video_encoder"
PROBE_TIMEOUT = 0.3


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything in this test sends a datagram off the loopback interface."""
    original = socket.socket.sendto

    def guarded(self: socket.socket, data: bytes, *args: object) -> int:
        destination = args[-1]
        if isinstance(destination, tuple) and not ipaddress.ip_address(destination[0]).is_loopback:
            raise AssertionError(f"test tried to send a datagram to {destination}")
        return original(self, data, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "sendto", guarded)


class Peers:
    """Starts fake cameras and responders; everything is stopped at teardown."""

    def __init__(self) -> None:
        self.started: list[DeviceService | WsDiscoveryResponder] = []

    def camera(self, camera: Camera) -> DeviceService:
        service = DeviceService(camera)
        self.started.append(service)
        return service

    def responder(self, reply: Callable[[str], Sequence[bytes]]) -> WsDiscoveryResponder:
        responder = WsDiscoveryResponder(reply)
        self.started.append(responder)
        return responder

    def stop(self) -> None:
        for peer in reversed(self.started):
            peer.stop()


@pytest.fixture
def peers() -> Iterator[Peers]:
    started = Peers()
    yield started
    started.stop()


def handler() -> OnvifDiscoveryHandler:
    return OnvifDiscoveryHandler(interval_seconds=0.05, http_timeout_seconds=3.0, multicast_interfaces=())


def details(responder: WsDiscoveryResponder, **extra: object) -> str:
    return yaml.safe_dump({"discoveryTimeoutSeconds": PROBE_TIMEOUT, "directedProbes": [responder.target], **extra})


def match(address: str, xaddrs: str | None, scopes: str | None = COMMON_SCOPE) -> dict[str, str | None]:
    return {"address": address, "xaddrs": xaddrs, "scopes": scopes}


def device(service: DeviceService, uuid: str, **extra: str) -> Device:
    return Device(id=f"{service.url}-{uuid}",
                  properties={"ONVIF_DEVICE_SERVICE_URL": service.url, "ONVIF_DEVICE_UUID": uuid, **extra})


async def first_list(details_yaml: str, properties: Mapping[str, bytes | None] | None = None) -> list[Device]:
    stream = handler().discover(details_yaml, properties or {})
    try:
        return await asyncio.wait_for(anext(stream), timeout=15)
    finally:
        await stream.aclose()


def assert_probes_valid(responder: WsDiscoveryResponder) -> None:
    assert responder.probes, "the responder never received a Probe"
    assert [probe.problem for probe in responder.probes] == [None] * len(responder.probes)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/onvif/device_service"


# --- WS-Discovery ------------------------------------------------------------------------------

async def test_probe_matches_are_parsed_and_bad_datagrams_skipped(peers: Peers) -> None:
    cam_a = peers.camera(Camera(UUID_A))
    cam_b = peers.camera(Camera(UUID_B))
    stranger = peers.camera(Camera(UUID_C))
    no_xaddrs = peers.camera(Camera("00000000-0000-4000-8000-000000000004"))

    def reply(message_id: str) -> list[bytes]:
        return [
            b"<not-xml",
            probe_matches("uuid:someone-elses-probe", [match(f"urn:uuid:{UUID_C}", stranger.url)]),
            probe_matches(message_id, [
                # two ProbeMatches in one datagram; unusable XAddrs are skipped
                match(f"urn:uuid:{UUID_A.upper()}", f"http://127.0.0.1:99999/x uri_one {cam_a.url}"),
                match(f"uuid:{UUID_B}", cam_b.url),
                match("urn:uuid:00000000-0000-4000-8000-000000000004", None),  # no XAddrs
            ]),
            b"\xff\xfe\x00garbage",
        ]

    responder = peers.responder(reply)
    devices = await first_list(details(responder))

    assert devices == sorted([device(cam_a, UUID_A), device(cam_b, UUID_B)], key=lambda d: d.id)
    assert stranger.requests == [] and no_xaddrs.requests == []
    assert_probes_valid(responder)
    assert [r.operation for r in cam_a.requests] == ["GetSystemDateAndTime"]
    assert 'action="http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"' in cam_a.requests[0].content_type


async def test_only_responsive_service_urls_are_listed(peers: Peers) -> None:
    cam = peers.camera(Camera(UUID_A))
    dead_url = closed_port_url()
    responder = peers.responder(lambda mid: [probe_matches(mid, [match(UUID_A, f"{dead_url} {cam.url}")])])

    assert await first_list(details(responder)) == [device(cam, UUID_A)]


SCOPES_CASES = [
    ({"items": [SCOPE_A]}, {"a"}),
    ({"items": [SCOPE_A], "action": "Exclude"}, {"b", "bare"}),
    ({"items": [COMMON_SCOPE]}, {"a", "b"}),  # exact token match within the whitespace-separated list
    ({"items": ["onvif://www.onvif.org/name"]}, set()),  # a prefix is not a match
    ({"items": []}, set()),
    ({"items": [], "action": "Exclude"}, {"a", "b", "bare"}),
]


@pytest.mark.parametrize(("scopes", "expected"), SCOPES_CASES)
async def test_scopes_filter(peers: Peers, scopes: dict, expected: set[str]) -> None:
    cams = {"a": peers.camera(Camera(UUID_A)), "b": peers.camera(Camera(UUID_B)), "bare": peers.camera(Camera(UUID_C))}
    responder = peers.responder(lambda mid: [probe_matches(mid, [
        match(UUID_A, cams["a"].url, f"{COMMON_SCOPE} {SCOPE_A}"),
        match(UUID_B, cams["b"].url, f"{COMMON_SCOPE} {SCOPE_B}"),
        match(UUID_C, cams["bare"].url, None),  # no Scopes element = no scopes
    ])])

    devices = await first_list(details(responder, scopes=scopes))
    assert {d.properties["ONVIF_DEVICE_SERVICE_URL"] for d in devices} == {cams[k].url for k in expected}


@pytest.mark.parametrize(
    ("uuids", "expected"),
    [({"items": [UUID_A.upper()]}, {UUID_A}), ({"items": [UUID_A], "action": "Exclude"}, {UUID_B})],
)
async def test_uuids_filter_is_case_insensitive(peers: Peers, uuids: dict, expected: set[str]) -> None:
    cam_a, cam_b = peers.camera(Camera(UUID_A)), peers.camera(Camera(UUID_B))
    responder = peers.responder(lambda mid: [probe_matches(mid, [match(UUID_A, cam_a.url), match(UUID_B, cam_b.url)])])

    devices = await first_list(details(responder, uuids=uuids))
    assert {d.properties["ONVIF_DEVICE_UUID"] for d in devices} == expected


# --- GetNetworkInterfaces and the IP / MAC filters ----------------------------------------------

IP_A, MAC_A = "192.0.2.10", "AA:BB:CC:00:00:0A"
IP_B, MAC_B = "192.0.2.11", "AA:BB:CC:00:00:0B"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"ipAddresses": {"items": [IP_A]}}, {UUID_A}),
        ({"ipAddresses": {"items": [IP_A], "action": "Exclude"}}, {UUID_B}),
        ({"macAddresses": {"items": [MAC_B.lower()]}}, {UUID_B}),
        ({"macAddresses": {"items": [MAC_B], "action": "Exclude"}}, {UUID_A}),
        ({"ipAddresses": {"items": [IP_A, IP_B]}, "macAddresses": {"items": [MAC_A]}}, {UUID_A}),
    ],
)
async def test_ip_and_mac_filters(peers: Peers, filters: dict, expected: set[str]) -> None:
    cam_a = peers.camera(Camera(UUID_A, ip_address=IP_A, mac_address=MAC_A))
    cam_b = peers.camera(Camera(UUID_B, ip_address=IP_B, mac_address=MAC_B))
    responder = peers.responder(lambda mid: [probe_matches(mid, [match(UUID_A, cam_a.url), match(UUID_B, cam_b.url)])])

    devices = await first_list(details(responder, **filters))

    wanted = {UUID_A: device(cam_a, UUID_A, ONVIF_DEVICE_IP_ADDRESS=IP_A, ONVIF_DEVICE_MAC_ADDRESS=MAC_A),
              UUID_B: device(cam_b, UUID_B, ONVIF_DEVICE_IP_ADDRESS=IP_B, ONVIF_DEVICE_MAC_ADDRESS=MAC_B)}
    assert devices == [wanted[uuid] for uuid in sorted(expected, key=lambda u: wanted[u].id)]
    assert [r.operation for r in cam_a.requests] == ["GetSystemDateAndTime", "GetNetworkInterfaces"]


async def test_no_network_interfaces_call_when_no_filter_needs_it(peers: Peers) -> None:
    cam = peers.camera(Camera(UUID_A))
    responder = peers.responder(lambda mid: [probe_matches(mid, [match(UUID_A, cam.url)])])
    filters = ("ipAddresses", "macAddresses", "scopes", "uuids")
    helm_defaults = {key: {"action": "Exclude", "items": []} for key in filters}

    assert await first_list(details(responder, **helm_defaults)) == [device(cam, UUID_A)]
    assert [r.operation for r in cam.requests] == ["GetSystemDateAndTime"]


USERNAME, PASSWORD = "camera-admin", "s3cr3t-Pa55"


def credential_forms() -> list[tuple[str, dict[str, bytes | None]]]:
    """The four discoveryProperties forms of akri-contract.md §5.4 naming camera UUID_A."""
    c_identifier = UUID_A.replace("-", "_")
    return [
        ("device_credential_list", {
            "device_credential_list": b'["camera-list"]',
            "camera-list": json.dumps({UUID_A: {"username": USERNAME, "password":
                                                base64.b64encode(PASSWORD.encode()).decode(),
                                                "base64encoded": True}}).encode(),
        }),
        ("device_credential_ref_list", {
            "device_credential_ref_list": b'["camera-refs"]',
            "camera-refs": json.dumps({UUID_A: {"username_ref": "cam_user", "password_ref": "cam_pass"}}).encode(),
            "cam_user": USERNAME.encode(),
            "cam_pass": PASSWORD.encode(),
        }),
        ("username_<id>", {f"username_{c_identifier}": USERNAME.encode(),
                           f"password_{c_identifier}": PASSWORD.encode()}),
        ("username_default", {"username_default": USERNAME.encode(), "password_default": PASSWORD.encode()}),
    ]


@pytest.mark.parametrize(("form", "properties"), credential_forms(), ids=[form for form, _ in credential_forms()])
async def test_authenticated_camera_with_credentials_never_leaks_them(
    peers: Peers, caplog: pytest.LogCaptureFixture, form: str, properties: dict[str, bytes | None]
) -> None:
    caplog.set_level(logging.DEBUG)
    cam = peers.camera(Camera(UUID_A, ip_address=IP_A, mac_address=MAC_A, username=USERNAME, password=PASSWORD))
    responder = peers.responder(lambda mid: [probe_matches(mid, [match(UUID_A, cam.url)])])

    devices = await first_list(details(responder, ipAddresses={"items": [IP_A]}), properties)

    assert devices == [device(cam, UUID_A, ONVIF_DEVICE_IP_ADDRESS=IP_A, ONVIF_DEVICE_MAC_ADDRESS=MAC_A)]
    authenticated = [r for r in cam.requests if r.operation == "GetNetworkInterfaces"]
    assert [r.authenticated for r in authenticated] == [True]
    secrets = {USERNAME, PASSWORD, base64.b64encode(PASSWORD.encode()).decode(), *authenticated[0].token_texts}
    visible = caplog.text + repr(devices) + json.dumps([dict(d.properties) for d in devices])
    assert [secret for secret in secrets if secret in visible] == []


@pytest.mark.parametrize(
    ("properties", "filters", "expected_auth", "kept"),
    [
        ({}, {"ipAddresses": {"items": [IP_A]}}, None, False),
        ({}, {"ipAddresses": {"items": ["198.51.100.1"], "action": "Exclude"}}, None, False),  # IP unknown → dropped
        ({}, {"macAddresses": {"items": [MAC_A]}}, None, False),
        ({"username_default": USERNAME.encode(), "password_default": b"wrong"},
         {"ipAddresses": {"items": [IP_A]}}, False, False),
    ],
    ids=["no-credential-include", "no-credential-exclude", "no-credential-mac", "wrong-password"],
)
async def test_authenticated_camera_without_working_credentials(
    peers: Peers, caplog: pytest.LogCaptureFixture, properties: dict, filters: dict, expected_auth: bool | None,
    kept: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    cam = peers.camera(Camera(UUID_A, ip_address=IP_A, mac_address=MAC_A, username=USERNAME, password=PASSWORD))
    responder = peers.responder(lambda mid: [probe_matches(mid, [match(UUID_A, cam.url)])])

    assert await first_list(details(responder, **filters), properties) == []
    assert [r.authenticated for r in cam.requests if r.operation == "GetNetworkInterfaces"] == [expected_auth]
    assert USERNAME not in caplog.text and "wrong" not in caplog.text


async def test_authenticated_camera_without_ip_filter_is_listed_without_ip(peers: Peers) -> None:
    cam = peers.camera(Camera(UUID_A, username=USERNAME, password=PASSWORD))
    responder = peers.responder(lambda mid: [probe_matches(mid, [match(UUID_A, cam.url)])])

    assert await first_list(details(responder)) == [device(cam, UUID_A)]


# --- the discovery loop --------------------------------------------------------------------------

async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


async def test_camera_that_stops_answering_disappears_and_unchanged_lists_are_not_resent(peers: Peers) -> None:
    cam_a, cam_b = peers.camera(Camera(UUID_A)), peers.camera(Camera(UUID_B))
    online = {UUID_A: cam_a, UUID_B: cam_b}
    responder = peers.responder(lambda mid: [probe_matches(mid, [match(u, s.url) for u, s in list(online.items())])])
    received: list[list[Device]] = []

    async def consume() -> None:
        async for devices in handler().discover(details(responder), {}):
            received.append(devices)

    consumer = asyncio.create_task(consume())
    try:
        await wait_until(lambda: len(received) == 1, "first list")
        assert {d.properties["ONVIF_DEVICE_UUID"] for d in received[0]} == {UUID_A, UUID_B}
        probes_seen = len(responder.probes)
        await wait_until(lambda: len(responder.probes) >= probes_seen + 3, "three more rounds")
        assert len(received) == 1  # nothing changed, nothing re-sent

        del online[UUID_B]
        cam_b.stop()  # the camera is gone: no ProbeMatch, no device service
        await wait_until(lambda: len(received) == 2, "list without camera B")
        assert received[1] == [device(cam_a, UUID_A)]
    finally:
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer


async def test_camera_whose_device_service_stops_disappears(peers: Peers) -> None:
    cam_a, cam_b = peers.camera(Camera(UUID_A)), peers.camera(Camera(UUID_B))
    responder = peers.responder(lambda mid: [probe_matches(mid, [match(UUID_A, cam_a.url), match(UUID_B, cam_b.url)])])
    stream = handler().discover(details(responder), {})
    try:
        first = await asyncio.wait_for(anext(stream), timeout=15)
        assert len(first) == 2
        cam_b.stop()  # still announced by WS-Discovery, but GetSystemDateAndTime now fails
        assert await asyncio.wait_for(anext(stream), timeout=15) == [device(cam_a, UUID_A)]
    finally:
        await stream.aclose()


async def test_empty_first_result_is_yielded(peers: Peers) -> None:
    responder = peers.responder(lambda mid: [])
    assert await first_list(details(responder)) == []
    assert_probes_valid(responder)


# --- invalid discoveryDetails ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("uuids: {items: [a], action: include}", "uuids.action: 'include' is not one of ['Include', 'Exclude']"),
        ("ipAddresses: {action: Exclude}", "ipAddresses: 'items' is a required property"),
        ("discoveryTimeoutSeconds: -1", "discoveryTimeoutSeconds: -1 is less than or equal to the minimum of 0"),
        ("discoveryTimeoutSeconds: soon", "discoveryTimeoutSeconds: 'soon' is not of type 'number'"),
        ("directedProbes: ['127.0.0.1:99999']", "directedProbes[0]: '127.0.0.1:99999' is not host[:port]"),
        ("directedProbes: ['ok-host', 'http://cam/onvif']", "directedProbes[1]: 'http://cam/onvif' is not host[:port]"),
        ("[1, 2]", "discoveryDetails: expected a mapping, got list"),
    ],
)
async def test_invalid_details_are_rejected_before_anything_is_sent(text: str, message: str) -> None:
    stream = handler().discover(text, {})
    with pytest.raises(InvalidDiscoveryDetails) as excinfo:
        await anext(stream)
    assert str(excinfo.value).startswith(message)
