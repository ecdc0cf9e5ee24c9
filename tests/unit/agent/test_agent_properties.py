"""discoveryProperties resolution (akri-contract.md §2.3)."""

from __future__ import annotations

import base64

import pytest

from agent.discovery.errors import UnsolvableProperty
from agent.discovery.properties import solve_properties
from agent.kube import errors
from agent.kube.resources import CONFIGMAPS, SECRETS
from tests.unit.agent.fakekube import FakeKube


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def kube() -> FakeKube:
    kube = FakeKube()
    kube.put(SECRETS, {"metadata": {"name": "creds", "namespace": "default"},
                       "data": {"user": b64(b"admin"), "raw": b64(b"\x00\xff")}})
    kube.put(SECRETS, {"metadata": {"name": "other-ns", "namespace": "cams"}, "data": {"k": b64(b"v")}})
    kube.put(CONFIGMAPS, {"metadata": {"name": "cm", "namespace": "default"},
                          "data": {"text": "héllo"}, "binaryData": {"bin": b64(b"\x01\x02"), "text": b64(b"no")}})
    return kube


async def test_every_source(kube: FakeKube) -> None:
    solved = await solve_properties([
        {"name": "LITERAL", "value": "plain"},
        {"name": "USER", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}},
        {"name": "RAW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "raw", "namespace": "default"}}},
        {"name": "OTHER", "valueFrom": {"secretKeyRef": {"name": "other-ns", "key": "k", "namespace": "cams"}}},
        {"name": "TEXT", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "text"}}},
        {"name": "BIN", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "bin"}}},
        {"name": "EMPTY"},
    ], kube)
    assert solved == {"LITERAL": b"plain", "USER": b"admin", "RAW": b"\x00\xff", "OTHER": b"v",
                      "TEXT": "héllo".encode(), "BIN": b"\x01\x02", "EMPTY": None}


async def test_value_wins_over_value_from(kube: FakeKube) -> None:
    solved = await solve_properties([{"name": "P", "value": "v", "valueFrom": {
        "secretKeyRef": {"name": "missing", "key": "k"}}}], kube)
    assert solved == {"P": b"v"}


async def test_namespace_defaults_to_default_not_the_configurations(kube: FakeKube) -> None:
    with pytest.raises(UnsolvableProperty, match="Secret default/other-ns not found"):
        await solve_properties([{"name": "P", "valueFrom": {"secretKeyRef": {"name": "other-ns", "key": "k"}}}], kube)


async def test_optional_missing_object_or_key_is_omitted(kube: FakeKube) -> None:
    solved = await solve_properties([
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
        {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope", "optional": True}}},
        {"name": "C", "value": "c"}], kube)
    assert solved == {"C": b"c"}


@pytest.mark.parametrize(("prop", "message"), [
    ({"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}},
     r"discoveryProperties\[0\] \(A\): discoveryProperties' referenced Secret default/nope not found"),
    ({"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope"}}},
     r"key 'nope' not found in ConfigMap default/cm"),
    ({"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}, "needs secretKeyRef or configMapKeyRef"),
    ({"value": "x"}, "non-empty name"),
])
async def test_unsolvable(kube: FakeKube, prop: dict, message: str) -> None:
    with pytest.raises(UnsolvableProperty, match=message):
        await solve_properties([prop], kube)


async def test_api_errors_become_unsolvable_without_leaking_values(kube: FakeKube) -> None:
    kube.fail_next = [("get", errors.KubeClientError(403, "Forbidden", "secrets is forbidden"))]
    with pytest.raises(UnsolvableProperty, match="cannot read Secret default/creds: 403 Forbidden"):
        await solve_properties([{"name": "U", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}}], kube)


async def test_no_properties() -> None:
    assert await solve_properties(None, FakeKube()) == {}
