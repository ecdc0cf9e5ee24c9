"""The standalone handlers' console scripts: program name, `--help` environment list, error lines
(agent.discovery.handlers._console + agent.discovery.standalone.run_handler)."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from types import ModuleType

import pytest

from agent.discovery import standalone
from agent.discovery.handlers import _console, debug_echo, onvif, opcua, udev
from agent.discovery.handlers.debug_echo import DebugEchoHandler

SCRIPTS: list[tuple[ModuleType, str, str, tuple[str, ...]]] = [
    (debug_echo, "akri-debug-echo-discovery", "debugEcho",
     ("DEBUG_ECHO_INSTANCES_SHARED", "DEBUG_ECHO_AVAILABILITY_FILE")),
    (udev, "akri-udev-discovery", "udev",
     ("UDEV_DISCOVERY_INTERVAL_SECONDS", "UDEV_DATABASE_DIR", "UDEV_SYSFS_ROOT")),
    (onvif, "akri-onvif-discovery", "onvif", ("ONVIF_MULTICAST_INTERFACES",)),
    (opcua, "akri-opcua-discovery", "opcua", ()),
]
COMMON = ("DISCOVERY_HANDLERS_DIRECTORY", "POD_IP", "LOG_LEVEL", "LOG_FORMAT")


@pytest.mark.parametrize(("module", "script", "name", "variables"), SCRIPTS, ids=[s[1] for s in SCRIPTS])
def test_help_names_the_script_and_lists_its_environment(module: ModuleType, script: str, name: str,
                                                         variables: tuple[str, ...],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    main: Callable[..., int] = module.main
    with pytest.raises(SystemExit) as exited:
        main(["--help"], environ={})
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {script} ")
    assert f"akri-{name}-handler" not in out
    section = out[out.index("environment variables"):]
    listed = [line.split()[0] for line in section.splitlines()[1:] if line.startswith("  ") and line[2] != " "]
    assert listed == [*variables, *COMMON]


@pytest.mark.parametrize(("module", "script", "name", "variables"), SCRIPTS, ids=[s[1] for s in SCRIPTS])
def test_errors_carry_the_script_name(module: ModuleType, script: str, name: str, variables: tuple[str, ...],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    main: Callable[..., int] = module.main
    assert main([], environ={**_valid_environ(name), "LOG_LEVEL": "chatty"}) == 2
    assert capsys.readouterr().err == (f"{script}: invalid configuration: LOG_LEVEL='chatty': "
                                       "must be DEBUG, INFO, WARNING or ERROR\n")
    with pytest.raises(SystemExit) as exited:
        main(["--no-such-flag"], environ=_valid_environ(name))
    assert exited.value.code == 2
    assert f"{script}: error: unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def _valid_environ(name: str) -> dict[str, str]:
    """An environment the handler's `from_env` accepts."""
    return {"DEBUG_ECHO_INSTANCES_SHARED": "true"} if name == "debugEcho" else {}


@pytest.mark.parametrize(("module", "script", "name", "variables"), SCRIPTS, ids=[s[1] for s in SCRIPTS])
def test_listed_variables_are_the_ones_the_handler_reads(module: ModuleType, script: str, name: str,
                                                         variables: tuple[str, ...]) -> None:
    listed = tuple(variable for variable, _help in _console.HANDLER_ENVIRONMENT[name])
    assert listed == variables
    source = inspect.getsource(module)
    assert all(f'"{variable}"' in source for variable in listed)


def test_run_handler_defaults_to_the_running_script_name(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/my-echo-discovery"])
    with pytest.raises(SystemExit):
        standalone.run_handler(DebugEchoHandler(shared=True), argv=["--help"], environ={})
    out = capsys.readouterr().out
    assert out.startswith("usage: my-echo-discovery ")
    assert "DEBUG_ECHO" not in out and "POD_IP" in out
