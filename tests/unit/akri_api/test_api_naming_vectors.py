"""Instance names: Akri's BLAKE2b test vectors (akri-contract.md §2.4)."""

from __future__ import annotations

import pytest

from akri_api import naming


@pytest.mark.parametrize(
    ("device_id", "node", "expected"),
    [
        ("my_local_device", "my_node", "e77db4"),
        ("my_local_device", "my_other_node", "099763"),
    ],
)
def test_local_device_hash_includes_the_node(device_id: str, node: str, expected: str) -> None:
    assert naming.device_hash(device_id, shared=False, node=node) == expected


@pytest.mark.parametrize(
    ("device_id", "expected"),
    [
        ("my_shared_device", "4294ea"),
        ("foo0", "8120fe"),
        ("foo1", "a19705"),
        ("bar0", "d46b65"),
        ("bar1", "ab76e6"),
    ],
)
def test_shared_device_hash(device_id: str, expected: str) -> None:
    assert naming.device_hash(device_id, shared=True) == expected
    # the node is not part of a shared device's identity
    assert naming.device_hash(device_id, shared=True, node="node-a") == expected


def test_instance_name_and_cdi_name_of_the_changelog_example() -> None:
    name = naming.instance_name("akri-debug-echo-foo", "foo0", shared=True)
    assert name == "akri-debug-echo-foo-8120fe"
    assert naming.cdi_name("akri-debug-echo-foo", "8120fe") == "akri.sh/akri-debug-echo-foo=8120fe"


def test_local_device_without_node_is_rejected() -> None:
    with pytest.raises(ValueError, match="my_local_device"):
        naming.device_hash("my_local_device", shared=False)
