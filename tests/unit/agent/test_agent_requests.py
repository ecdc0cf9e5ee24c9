"""DiscoveryRequest: follows the registry, merges endpoints, reports health, settles."""

from __future__ import annotations

import pytest

from agent.discovery import errors
from agent.discovery.handler import Device
from agent.discovery.registry import DiscoveryHandlerRegistry
from agent.discovery.requests import DiscoveryRequest, merge_devices
from tests.unit.agent.discovery_fakes import FakeEndpoint, settle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Metrics:
    def __init__(self) -> None:
        self.results: list[tuple[str, str]] = []
        self.times: list[tuple[str, float]] = []

    def discovery_result(self, handler: str, result: str) -> None:
        self.results.append((handler, result))

    def discovery_response_time(self, configuration: str, seconds: float) -> None:
        self.times.append((configuration, seconds))


def make_request(registry: DiscoveryHandlerRegistry, clock: Clock, *, properties=None, solve=None,
                 metrics: Metrics | None = None) -> tuple[DiscoveryRequest, list[int]]:
    changes: list[int] = []

    async def default_solve(props):
        return {"P": b"1"}

    request = DiscoveryRequest(
        namespace="ns", configuration="cfg", handler_name="fake", details="details", properties=properties,
        node="node-a", registry=registry, solve=solve or default_solve, on_change=lambda: changes.append(1),
        settle_seconds=10.0, metrics=metrics, clock=clock, retry_initial=0.0, retry_max=0.0)
    return request, changes


def test_merge_hashes_like_akri_and_first_endpoint_wins() -> None:
    shared, local = FakeEndpoint("x", uid="x@1", shared=True), FakeEndpoint("x", uid="x@2", shared=False)
    merged = merge_devices("akri-debug-echo-foo", "my_node", [
        (shared, [Device("foo0", {"from": "1"})]),
        (shared, [Device("foo0", {"from": "duplicate"})]),
        (local, [Device("my_local_device")]),
    ])
    assert set(merged) == {"akri-debug-echo-foo-8120fe", "akri-debug-echo-foo-e77db4"}
    assert merged["akri-debug-echo-foo-8120fe"].device.properties == {"from": "1"}
    assert merged["akri-debug-echo-foo-8120fe"].cdi_name == "akri.sh/akri-debug-echo-foo=8120fe"
    assert merged["akri-debug-echo-foo-e77db4"].shared is False


async def test_every_endpoint_is_queried_and_results_merge() -> None:
    registry, clock, metrics = DiscoveryHandlerRegistry(), Clock(), Metrics()
    one, two = FakeEndpoint("fake", uid="fake@1"), FakeEndpoint("fake", uid="fake@2")
    registry.register(one)
    request, changes = make_request(registry, clock, metrics=metrics)
    request.start()
    registry.register(two)  # a late endpoint is queried too
    await settle()
    assert one.calls == [("details", {"P": b"1"})] and len(two.calls) == 1
    assert not request.settled
    one.push("a", "b")
    await settle()
    assert not request.settled  # two has not answered yet
    two.push("b", "c")
    await settle()
    assert request.settled
    assert sorted(d.device.id for d in request.devices().values()) == ["a", "b", "c"]
    assert request.status().ok
    assert metrics.results.count(("fake", "Success")) == 2 and len(metrics.times) == 2
    assert changes
    await request.stop()
    assert one.active == 0 and two.active == 0


async def test_no_handler_then_one_registers() -> None:
    registry, clock = DiscoveryHandlerRegistry(), Clock()
    request, _changes = make_request(registry, clock)
    request.start()
    status = request.status()
    assert (status.ok, status.reason) == (False, "NoDiscoveryHandler")
    assert "'fake'" in status.message
    clock.now += 1000
    assert not request.settled  # never settles without a handler
    endpoint = FakeEndpoint("fake")
    registry.register(endpoint)
    await settle()
    endpoint.push("d")
    await settle()
    assert list(request.devices().values())[0].device.id == "d"
    await request.stop()


async def test_settles_after_the_deadline_without_answers() -> None:
    registry, clock = DiscoveryHandlerRegistry(), Clock()
    registry.register(FakeEndpoint("fake"))
    request, _ = make_request(registry, clock)
    request.start()
    await settle()
    assert request.settle_deadline() == 110.0 and not request.settled
    clock.now = 110.0
    assert request.settled
    await request.stop()


@pytest.mark.parametrize(("failure", "reason"), [
    (errors.InvalidDiscoveryDetails("descriptions: expected a list"), "InvalidDiscoveryDetails"),
    (errors.HandlerUnavailable("boom"), "DiscoveryHandlerUnavailable"),
])
async def test_failures_are_reported_and_retried(failure: Exception, reason: str) -> None:
    registry, clock, metrics = DiscoveryHandlerRegistry(), Clock(), Metrics()
    endpoint = FakeEndpoint("fake")
    registry.register(endpoint)
    request, _ = make_request(registry, clock, metrics=metrics)
    request.start()
    endpoint.feed.put_nowait(failure)
    await settle()
    status = request.status()
    assert (status.ok, status.reason) == (False, reason)
    assert str(failure) in status.message
    assert ("fake", "Fail") in metrics.results
    assert len(endpoint.calls) == 2  # retried (zero backoff in this test)
    endpoint.push("x")
    await settle()
    assert request.status().ok and len(request.devices()) == 1
    await request.stop()


async def test_unsolvable_property_is_a_failure() -> None:
    registry, clock = DiscoveryHandlerRegistry(), Clock()
    registry.register(FakeEndpoint("fake"))

    async def solve(props):
        raise errors.UnsolvableProperty("discoveryProperties[0] (P): Secret default/s not found")

    request, _ = make_request(registry, clock, solve=solve)
    request.start()
    await settle()
    assert request.status().reason == "UnsolvableProperty"
    await request.stop()


async def test_unreachable_endpoint_loses_its_devices_and_is_unregistered() -> None:
    registry, clock = DiscoveryHandlerRegistry(), Clock()
    endpoint = FakeEndpoint("fake")
    registry.register(endpoint)
    request, _ = make_request(registry, clock)
    request.start()
    endpoint.push("x")
    await settle()
    assert len(request.devices()) == 1
    endpoint.feed.put_nowait(errors.HandlerUnavailable("gone", connect_failed=True))
    await settle()
    assert request.devices() == {}
    assert registry.endpoints("fake") == []
    assert request.status().reason == "NoDiscoveryHandler"
    # The handler registers again: discovery resumes.
    again = FakeEndpoint("fake")
    registry.register(again)
    await settle()
    again.push("x")
    await settle()
    assert len(request.devices()) == 1
    await request.stop()


async def test_embedded_endpoints_are_never_unregistered() -> None:
    registry, clock = DiscoveryHandlerRegistry(), Clock()
    endpoint = FakeEndpoint("fake", closable=False)
    registry.register(endpoint)
    request, _ = make_request(registry, clock)
    request.start()
    endpoint.feed.put_nowait(errors.HandlerUnavailable("x", connect_failed=True))
    await settle()
    assert registry.endpoints("fake") == [endpoint]
    await request.stop()


async def test_stream_end_drops_devices_and_requeries() -> None:
    registry, clock = DiscoveryHandlerRegistry(), Clock()
    endpoint = FakeEndpoint("fake")
    registry.register(endpoint)
    request, _ = make_request(registry, clock)
    request.start()
    endpoint.push("x")
    endpoint.feed.put_nowait(None)
    await settle()
    assert request.devices() == {}
    assert len(endpoint.calls) == 2
    await request.stop()


async def test_replaced_endpoint_restarts_its_stream_identical_one_does_not() -> None:
    registry, clock = DiscoveryHandlerRegistry(), Clock()
    registry.register(FakeEndpoint("fake", uid="fake@1", shared=True))
    request, _ = make_request(registry, clock)
    request.start()
    await settle()
    first = registry.endpoints("fake")[0]
    first.push("x")
    await settle()
    registry.register(FakeEndpoint("fake", uid="fake@1", shared=True))  # same registration
    await settle()
    assert len(first.calls) == 1 and len(request.devices()) == 1
    replacement = FakeEndpoint("fake", uid="fake@1", shared=False)
    registry.register(replacement)
    await settle()
    assert first.active == 0 and len(replacement.calls) == 1
    assert request.devices() == {}
    await request.stop()
