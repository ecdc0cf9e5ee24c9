"""Endpoint addressing, DiscoverRequest encoding and the embedded endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest

from agent.discovery import errors
from agent.discovery._pb import discovery_pb2 as pb
from agent.discovery.endpoints import NETWORK, UDS, EmbeddedEndpoint, GrpcEndpoint, discover_request, grpc_target
from agent.discovery.handler import Device, DiscoveryHandler
from agent.discovery.registration import endpoint_from_request


@pytest.mark.parametrize(("endpoint", "kind", "target"), [
    ("/var/lib/akri/udev.sock", UDS, "unix:/var/lib/akri/udev.sock"),
    ("unix:///var/lib/akri/udev.sock", UDS, "unix:/var/lib/akri/udev.sock"),
    ("http://10.0.0.7:10000", NETWORK, "10.0.0.7:10000"),
    ("http://[fd00::7]:10000/", NETWORK, "[fd00::7]:10000"),
    ("10.0.0.7:10000", NETWORK, "10.0.0.7:10000"),
])
def test_grpc_target(endpoint: str, kind: str, target: str) -> None:
    assert grpc_target(endpoint, kind) == target


@pytest.mark.parametrize(("endpoint", "kind"), [("", UDS), ("relative.sock", UDS), ("http://10.0.0.7", NETWORK)])
def test_bad_endpoints(endpoint: str, kind: str) -> None:
    with pytest.raises(ValueError):
        grpc_target(endpoint, kind)


def test_uid_is_name_at_endpoint() -> None:
    endpoint = GrpcEndpoint(name="udev", endpoint="/d/udev.sock", endpoint_type=UDS, shared=False)
    assert endpoint.uid == "udev@/d/udev.sock"
    assert endpoint.same_registration(GrpcEndpoint(name="udev", endpoint="/d/udev.sock", endpoint_type=UDS,
                                                   shared=False))
    assert not endpoint.same_registration(GrpcEndpoint(name="udev", endpoint="/d/udev.sock", endpoint_type=UDS,
                                                       shared=True))


def test_registration_request_validation() -> None:
    request = pb.RegisterDiscoveryHandlerRequest(name="onvif", endpoint="http://10.1.1.1:10000",
                                                 endpoint_type=pb.RegisterDiscoveryHandlerRequest.NETWORK,
                                                 shared=True)
    endpoint = endpoint_from_request(request)
    assert (endpoint.target, endpoint.shared, endpoint.uid) == ("10.1.1.1:10000", True, "onvif@http://10.1.1.1:10000")
    with pytest.raises(ValueError, match="name is empty"):
        endpoint_from_request(pb.RegisterDiscoveryHandlerRequest(endpoint="/x.sock"))
    with pytest.raises(ValueError, match="endpoint: "):
        endpoint_from_request(pb.RegisterDiscoveryHandlerRequest(name="x", endpoint="x.sock"))


def test_discover_request_distinguishes_unset_from_empty() -> None:
    request = discover_request("descriptions: [a]", {"NONE": None, "EMPTY": b"", "V": b"\x01"})
    assert request.discovery_details == "descriptions: [a]"
    props = request.discovery_properties
    assert not props["NONE"].HasField("vec")
    assert props["EMPTY"].HasField("vec") and props["EMPTY"].vec == b""
    assert props["V"].vec == b"\x01"
    decoded = pb.DiscoverRequest.FromString(request.SerializeToString())
    assert not decoded.discovery_properties["NONE"].HasField("vec")


class _Handler(DiscoveryHandler):
    name = "test"
    shared = True

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure

    async def discover(self, details: str, properties: Mapping[str, bytes | None]) -> AsyncIterator[list[Device]]:
        yield [Device(id=details)]
        if self.failure is not None:
            raise self.failure


async def test_embedded_endpoint_streams_the_handler() -> None:
    endpoint = EmbeddedEndpoint(_Handler())
    assert (endpoint.uid, endpoint.shared, endpoint.closable) == ("embedded-test", True, False)
    assert [devices async for devices in endpoint.discover("dev", {})] == [[Device(id="dev")]]


async def test_embedded_endpoint_passes_discovery_errors_and_wraps_bugs() -> None:
    with pytest.raises(errors.InvalidDiscoveryDetails):
        async for _ in EmbeddedEndpoint(_Handler(errors.InvalidDiscoveryDetails("bad"))).discover("d", {}):
            pass
    with pytest.raises(errors.HandlerUnavailable, match="embedded handler test failed: KeyError"):
        async for _ in EmbeddedEndpoint(_Handler(KeyError("k"))).discover("d", {}):
            pass
