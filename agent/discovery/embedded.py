"""Build the discovery handlers the agent runs in-process (Akri's `agent-full` embedded handlers).

akri-contract.md §2.2: debugEcho is embedded only when ENABLE_DEBUG_ECHO is set (shared flag from
DEBUG_ECHO_INSTANCES_SHARED); udev, onvif and opcua when listed in ENABLED_DISCOVERY_HANDLERS.
Each handler lives in `agent.discovery.handlers.<module>`; the class is the `DiscoveryHandler`
subclass of that module whose `name` is the handler name, built with its `from_env(environ)`
when it has one, else with no arguments. A handler whose module cannot be imported (e.g. a
missing system library), or that lists in its module's `REQUIRED_PACKAGES` a package that is not
installed (heavy libraries the ONVIF and OPC UA handlers import only on first use), is logged and
skipped, so the other handlers still run; a handler whose settings are invalid is a ConfigError
(the agent exits with status 2).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
from collections.abc import Mapping, Sequence

from agent.discovery.endpoints import EmbeddedEndpoint
from agent.discovery.handler import DiscoveryHandler
from agent.errors import ConfigError

__all__ = ["HANDLER_MODULES", "handler_class", "build_handlers", "build_endpoints"]

logger = logging.getLogger(__name__)

HANDLER_MODULES = {"debugEcho": "debug_echo", "udev": "udev", "onvif": "onvif", "opcua": "opcua"}
"""Handler name → module in agent.discovery.handlers."""


def handler_class(name: str) -> type[DiscoveryHandler]:
    """The DiscoveryHandler subclass registered as `name`. Raises ImportError (module missing or not
    importable, or a package of its `REQUIRED_PACKAGES` not installed; found without importing it)
    or LookupError (no class with that name in the module)."""
    module = importlib.import_module(f"agent.discovery.handlers.{HANDLER_MODULES[name]}")
    missing = [package for package in getattr(module, "REQUIRED_PACKAGES", ())
               if importlib.util.find_spec(package) is None]
    if missing:
        raise ImportError(f"{module.__name__} needs {', '.join(missing)}, which is not installed")
    for _attr, value in inspect.getmembers(module, inspect.isclass):
        if issubclass(value, DiscoveryHandler) and value is not DiscoveryHandler and value.name == name:
            return value
    raise LookupError(f"module {module.__name__} has no DiscoveryHandler named {name!r}")


def build_handlers(names: Sequence[str], *, environ: Mapping[str, str]) -> list[DiscoveryHandler]:
    """Instantiate the embedded handlers `names` (see the module docstring).

    environ: the agent's environment (with DEBUG_ECHO_INSTANCES_SHARED already resolved).
    Raises ConfigError naming every handler whose settings are invalid.
    """
    handlers: list[DiscoveryHandler] = []
    problems: list[str] = []
    for name in names:
        try:
            cls = handler_class(name)
        except (ImportError, LookupError) as exc:
            logger.error("embedded discovery handler %s is unavailable and will not run: %s", name, exc)
            continue
        from_env = getattr(cls, "from_env", None)
        try:
            handler = from_env(environ) if callable(from_env) else cls()
        except ValueError as exc:
            problems.append(f"{name} handler: {exc}")
            continue
        handlers.append(handler)
    if problems:
        raise ConfigError(problems)
    return handlers


def build_endpoints(handlers: Sequence[DiscoveryHandler]) -> list[EmbeddedEndpoint]:
    """One EmbeddedEndpoint (uid `embedded-<name>`) per handler."""
    return [EmbeddedEndpoint(handler) for handler in handlers]
