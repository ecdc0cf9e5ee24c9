"""debugEcho handler (akri-contract.md §5.2): details, availability flips, environment, main()."""

from __future__ import annotations

import asyncio
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import agent.discovery
from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handlers import debug_echo
from agent.discovery.handlers.debug_echo import DebugEchoHandler, HandlerConfigError, parse_descriptions

TIMEOUT = 10.0
DETAILS = "descriptions:\n- foo0\n- foo1\n"


def make_handler(tmp_path: Path) -> tuple[DebugEchoHandler, Path]:
    availability = tmp_path / "availability.txt"
    return DebugEchoHandler(shared=True, availability_file=str(availability), poll_interval_seconds=0.01), availability


async def next_ids(stream: Any) -> list[str]:
    devices = await asyncio.wait_for(stream.__anext__(), TIMEOUT)
    return [d.id for d in devices]


async def test_devices_one_per_description(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path)
    stream = handler.discover(DETAILS, {})
    devices = await asyncio.wait_for(stream.__anext__(), TIMEOUT)
    assert [(d.id, dict(d.properties), d.mounts, d.device_specs) for d in devices] == [
        ("foo0", {"DEBUG_ECHO_DESCRIPTION": "foo0"}, (), ()),
        ("foo1", {"DEBUG_ECHO_DESCRIPTION": "foo1"}, (), ()),
    ]
    await stream.aclose()


async def test_availability_flips_yield_only_on_transitions(tmp_path: Path) -> None:
    handler, availability = make_handler(tmp_path)
    availability.write_text("OFFLINE\n")
    stream = handler.discover(DETAILS, {})
    assert await next_ids(stream) == []  # first iteration always yields, empty when offline
    pending = asyncio.ensure_future(stream.__anext__())
    availability.write_text("still OFFLINE, really")  # no transition: nothing yielded
    await asyncio.sleep(0.1)
    assert not pending.done()
    availability.write_text("ONLINE")
    assert [d.id for d in await asyncio.wait_for(pending, TIMEOUT)] == ["foo0", "foo1"]
    availability.write_text("xxOFFLINExx")
    assert await next_ids(stream) == []
    availability.unlink()  # missing file = online
    assert await next_ids(stream) == ["foo0", "foo1"]
    await stream.aclose()


async def test_missing_file_is_online_and_empty_descriptions_find_nothing(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path)
    stream = handler.discover("descriptions: []", {})
    assert await next_ids(stream) == []
    await stream.aclose()
    assert handler.is_online()


def test_unreadable_availability_file_counts_as_online(tmp_path: Path) -> None:
    handler = DebugEchoHandler(shared=False, availability_file=str(tmp_path))  # a directory
    assert handler.is_online()


def test_duplicate_descriptions_are_one_device() -> None:
    assert parse_descriptions("descriptions: [a, b, a]") == ["a", "b"]
    assert parse_descriptions('{"descriptions": ["x"], "other": 1}') == ["x"]
    assert parse_descriptions("descriptions: ['2001-01-01']") == ["2001-01-01"]


@pytest.mark.parametrize(("details", "fragments"), [
    ("", ["expected a mapping", "'descriptions'", "empty text"]),
    ("foo", ["expected a mapping", "'foo'"]),
    ("- a\n- b", ["expected a mapping", "['a', 'b']"]),
    ("other: 1", ["'descriptions' is required"]),
    ("descriptions: foo0", ["'descriptions'", "expected a list", "'foo0'"]),
    ("descriptions: [a, 1]", ["'descriptions[1]'", "expected a string", "1"]),
    ("descriptions: [a", ["not valid YAML"]),
])
async def test_invalid_details(tmp_path: Path, details: str, fragments: list[str]) -> None:
    handler, _ = make_handler(tmp_path)
    stream = handler.discover(details, {})
    with pytest.raises(InvalidDiscoveryDetails) as caught:
        await stream.__anext__()
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(("raw", "shared"), [("true", True), ("TRUE", True), (" False ", False), ("false", False)])
def test_from_env_shared(raw: str, shared: bool) -> None:
    handler = DebugEchoHandler.from_env({"DEBUG_ECHO_INSTANCES_SHARED": raw, "DEBUG_ECHO_AVAILABILITY_FILE": "/x"})
    assert (handler.name, handler.shared, handler.availability_file) == ("debugEcho", shared, "/x")


def test_from_env_defaults_and_errors() -> None:
    assert DebugEchoHandler.from_env({"DEBUG_ECHO_INSTANCES_SHARED": "true"}).availability_file == (
        "/tmp/debug-echo-availability.txt")
    with pytest.raises(HandlerConfigError, match="DEBUG_ECHO_INSTANCES_SHARED is required"):
        DebugEchoHandler.from_env({})
    with pytest.raises(HandlerConfigError, match="DEBUG_ECHO_INSTANCES_SHARED: expected true or false, got 'yes'"):
        DebugEchoHandler.from_env({"DEBUG_ECHO_INSTANCES_SHARED": "yes"})
    assert DebugEchoHandler.from_env({}, default_shared=False).shared is False


def test_main_requires_shared_and_serves_the_handler(monkeypatch: Any, capsys: Any) -> None:
    calls: list[Any] = []
    fake = types.ModuleType("agent.discovery.standalone")
    fake.run_handler = (  # type: ignore[attr-defined]
        lambda handler, *, argv=None, environ=None, prog=None, handler_environment=(): calls.append(
            (handler, argv, prog)) or 0)
    monkeypatch.setitem(sys.modules, "agent.discovery.standalone", fake)
    monkeypatch.setattr(agent.discovery, "standalone", fake, raising=False)
    monkeypatch.delenv("DEBUG_ECHO_INSTANCES_SHARED", raising=False)
    assert debug_echo.main([]) == 2
    assert "DEBUG_ECHO_INSTANCES_SHARED is required" in capsys.readouterr().err
    monkeypatch.setenv("DEBUG_ECHO_INSTANCES_SHARED", "false")
    assert debug_echo.main(["-v"]) == 0
    [(handler, argv, prog)] = calls
    assert isinstance(handler, DebugEchoHandler) and handler.shared is False and argv == ["-v"]
    assert prog == "akri-debug-echo-discovery"


def test_help_works_without_the_required_variable(monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.delenv("DEBUG_ECHO_INSTANCES_SHARED", raising=False)
    with pytest.raises(SystemExit) as exited:
        debug_echo.main(["--help"])
    assert exited.value.code == 0
    assert "usage:" in capsys.readouterr().out
