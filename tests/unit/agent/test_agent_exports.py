"""Each agent package's `__all__` names exactly its public (non-underscore) re-exports (STYLE.md §5.3)."""

from __future__ import annotations

import importlib
import types

import pytest


@pytest.mark.parametrize("package", ["agent.aiokits", "agent.controllers", "agent.devices", "agent.discovery", "agent.kube",
                                     "agent.plugins"])
def test_all_matches_public_names(package: str) -> None:
    module = importlib.import_module(package)
    public = {name for name, value in vars(module).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert sorted(module.__all__) == sorted(public)
