"""Endpoint registry: any number of endpoints per name, replace by uid, keep identical ones."""

from __future__ import annotations

from agent.discovery.registry import DiscoveryHandlerRegistry
from tests.unit.agent.discovery_fakes import FakeEndpoint


def test_many_endpoints_per_name_in_uid_order() -> None:
    registry = DiscoveryHandlerRegistry()
    b, a = FakeEndpoint("x", uid="x@b"), FakeEndpoint("x", uid="x@a")
    registry.register(b)
    registry.register(a)
    registry.register(FakeEndpoint("y"))
    assert registry.endpoints("x") == [a, b]
    assert registry.names() == ["x", "y"]
    assert registry.endpoints("none") == []


def test_identical_reregistration_keeps_the_live_endpoint_but_notifies() -> None:
    registry = DiscoveryHandlerRegistry()
    seen: list[str] = []
    registry.subscribe(seen.append)
    first = FakeEndpoint("x", uid="x@1")
    assert registry.register(first) is first
    assert registry.register(FakeEndpoint("x", uid="x@1")) is first
    assert seen == ["x", "x"]


def test_changed_registration_replaces() -> None:
    registry = DiscoveryHandlerRegistry()
    registry.register(FakeEndpoint("x", uid="x@1", shared=True))
    second = FakeEndpoint("x", uid="x@1", shared=False)
    assert registry.register(second) is second
    assert registry.endpoints("x") == [second]


def test_unregister_only_the_registered_object() -> None:
    registry = DiscoveryHandlerRegistry()
    old = FakeEndpoint("x", uid="x@1", shared=True)
    registry.register(old)
    new = FakeEndpoint("x", uid="x@1", shared=False)
    registry.register(new)
    assert registry.unregister(old) is False  # a stale failure must not remove the new registration
    assert registry.unregister(new) is True
    assert registry.names() == []


def test_unsubscribe() -> None:
    registry = DiscoveryHandlerRegistry()
    seen: list[str] = []
    unsubscribe = registry.subscribe(seen.append)
    unsubscribe()
    registry.register(FakeEndpoint("x"))
    assert seen == []
