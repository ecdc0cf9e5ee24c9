"""The ONVIF and OPC UA handlers load their heavy libraries on first use, not on import, so an
agent without such Configurations stays small (agent memory limit 79 MiB, DESIGN.md)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from agent.discovery import embedded

HEAVY = ("asyncua", "zeep", "lxml", "httpx", "onvif")
PROBE = """
import json, sys
import agent.discovery.handlers.onvif, agent.discovery.handlers.opcua
from agent.discovery import embedded
handlers = embedded.build_handlers(("onvif", "opcua"), environ={})
print(json.dumps({"handlers": [h.name for h in handlers],
                  "loaded": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def test_importing_and_building_the_handlers_loads_no_heavy_library() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == {"handlers": ["onvif", "opcua"], "loaded": []}


def test_the_lazy_libraries_are_declared() -> None:
    assert embedded.handler_class("onvif").__module__ == "agent.discovery.handlers.onvif"
    from agent.discovery.handlers import onvif, opcua

    assert (onvif.REQUIRED_PACKAGES, opcua.REQUIRED_PACKAGES) == (("httpx", "lxml", "zeep", "onvif"), ("asyncua",))


def test_a_handler_whose_library_is_missing_is_skipped(monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    real_find_spec = embedded.importlib.util.find_spec
    monkeypatch.setattr(embedded.importlib.util, "find_spec",
                        lambda name, *args: None if name == "asyncua" else real_find_spec(name, *args))
    with caplog.at_level(logging.ERROR, logger=embedded.__name__):
        handlers = embedded.build_handlers(("opcua", "onvif"), environ={})
    assert [handler.name for handler in handlers] == ["onvif"]
    assert "opcua is unavailable" in caplog.text and "needs asyncua, which is not installed" in caplog.text
