"""The public surface of akri_api is exactly its `__all__` (httpx tests/test_exported_members.py)."""

from __future__ import annotations

import types

import akri_api


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name in dir(akri_api)
        if not name.startswith("_") and not isinstance(getattr(akri_api, name), types.ModuleType)
    }
    assert set(akri_api.__all__) == public
    assert len(akri_api.__all__) == len(set(akri_api.__all__))


def test_every_exported_name_is_documented_or_a_constant() -> None:
    for name in akri_api.__all__:
        obj = getattr(akri_api, name)
        if callable(obj) and not isinstance(obj, type(akri_api.NodeName)):
            assert obj.__doc__, f"{name} has no docstring"
