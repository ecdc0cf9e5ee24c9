"""The `debugEcho` discovery handler: fake devices for tests and demos (akri-contract.md §5.2).

discoveryDetails YAML: `descriptions: [string]` (required; `descriptions: []` is valid and finds
nothing). Each distinct description is one device: `id` = description, property
`DEBUG_ECHO_DESCRIPTION` = description, no mounts or device nodes.

Availability: the handler polls an availability file (default `/tmp/debug-echo-availability.txt`,
every 0.5 s — Akri reads it every 10 s). If the file's content contains `OFFLINE` every device is
gone; otherwise, or if the file is missing or unreadable, all devices are present. The first
iteration always yields (an empty list when offline); afterwards only ONLINE/OFFLINE transitions
yield.

`shared` is per instance; `DebugEchoHandler.from_env` reads it from `DEBUG_ECHO_INSTANCES_SHARED`
like Akri, and the availability file from `DEBUG_ECHO_AVAILABILITY_FILE` (our addition).
Standalone: `main()` (console script `akri-debug-echo-discovery`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handler import Device, DiscoveryHandler
from agent.discovery.handlers import _console
from agent.discovery.handlers._console import HandlerConfigError
from akri_api import errors, yamlio

__all__ = ["DebugEchoHandler", "HandlerConfigError", "parse_descriptions", "main"]

logger = logging.getLogger(__name__)

DEFAULT_AVAILABILITY_FILE = "/tmp/debug-echo-availability.txt"  # noqa: S108 - Akri's fixed path
#: How often the availability file is read (seconds).
DEFAULT_POLL_INTERVAL_SECONDS = 0.5
OFFLINE_MARKER = b"OFFLINE"
DESCRIPTION_PROPERTY = "DEBUG_ECHO_DESCRIPTION"
SHARED_ENV = "DEBUG_ECHO_INSTANCES_SHARED"
AVAILABILITY_FILE_ENV = "DEBUG_ECHO_AVAILABILITY_FILE"
_PREFIX = "debugEcho discoveryDetails"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def parse_descriptions(details: str) -> list[str]:
    """Distinct descriptions, in order, from debugEcho discoveryDetails (akri-contract.md §5.2).

    details: YAML/JSON mapping `{descriptions: [string]}`; unknown fields are ignored.
    Raises InvalidDiscoveryDetails naming the field and the offending value (empty text,
    non-mapping, missing `descriptions`, not a list, or a non-string item).
    """
    try:
        document = yamlio.load_yaml12(details)
    except errors.YamlError as exc:
        raise InvalidDiscoveryDetails(f"{_PREFIX}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        got = "empty text" if document is None else _show(document)
        raise InvalidDiscoveryDetails(f"{_PREFIX}: expected a mapping with the required field 'descriptions', "
                                      f"got {got}")
    if "descriptions" not in document:
        raise InvalidDiscoveryDetails(f"{_PREFIX}: field 'descriptions' is required (a list of strings)")
    descriptions = document["descriptions"]
    if not isinstance(descriptions, list):
        raise InvalidDiscoveryDetails(f"{_PREFIX}: field 'descriptions': expected a list of strings, "
                                      f"got {_show(descriptions)}")
    for index, item in enumerate(descriptions):
        if not isinstance(item, str):
            raise InvalidDiscoveryDetails(f"{_PREFIX}: field 'descriptions[{index}]': expected a string "
                                          f"(quote it), got {_show(item)}")
    return list(dict.fromkeys(descriptions))


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false"):
        raise HandlerConfigError(f"{name}: expected true or false, got {raw!r}")
    return value == "true"


class DebugEchoHandler(DiscoveryHandler):
    """Akri's debugEcho handler (name `debugEcho`).

    shared: whether its devices are visible from several nodes (Akri: `DEBUG_ECHO_INSTANCES_SHARED`).
    availability_file: path whose content containing `OFFLINE` hides every device.
    poll_interval_seconds: how often that file is read (s).
    """

    name = "debugEcho"

    def __init__(self, *, shared: bool, availability_file: str = DEFAULT_AVAILABILITY_FILE,
                 poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS) -> None:
        self.shared = shared
        self.availability_file = availability_file
        self.poll_interval_seconds = poll_interval_seconds

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, default_shared: bool | None = None) -> DebugEchoHandler:
        """Handler from `DEBUG_ECHO_INSTANCES_SHARED` (`true`/`false`, case-insensitive) and
        `DEBUG_ECHO_AVAILABILITY_FILE` (default `/tmp/debug-echo-availability.txt`).

        default_shared: used when the variable is missing; None (default) makes a missing variable
        an error, as in Akri's standalone handler. Raises HandlerConfigError.
        """
        raw = environ.get(SHARED_ENV)
        if raw is None:
            if default_shared is None:
                raise HandlerConfigError(f"{SHARED_ENV} is required (true or false)")
            shared = default_shared
        else:
            shared = _parse_bool(SHARED_ENV, raw)
        return cls(shared=shared, availability_file=environ.get(AVAILABILITY_FILE_ENV, DEFAULT_AVAILABILITY_FILE))

    def is_online(self) -> bool:
        """False when the availability file's content contains `OFFLINE`; True otherwise, also when
        it is missing or unreadable (Akri). Blocking file read."""
        try:
            with open(self.availability_file, "rb") as file:
                return OFFLINE_MARKER not in file.read()
        except OSError:
            return True

    async def discover(self, details: str, properties: Mapping[str, bytes | None],
                       ) -> AsyncGenerator[list[Device], None]:
        """Yield all devices (or `[]` when offline) at once, then again on every transition.

        details: see `parse_descriptions`; properties are ignored. Raises InvalidDiscoveryDetails
        before yielding when the details are invalid.
        """
        descriptions = parse_descriptions(details)
        devices = [Device(id=d, properties={DESCRIPTION_PROPERTY: d}) for d in descriptions]
        previous: bool | None = None
        while True:
            online = await asyncio.to_thread(self.is_online)
            if online != previous:
                logger.info("debugEcho: %s, %d device(s)", "online" if online else "offline",
                            len(devices) if online else 0)
                previous = online
                yield list(devices) if online else []
            await asyncio.sleep(self.poll_interval_seconds)


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    """Console script `akri-debug-echo-discovery`: serve `DebugEchoHandler` and register it.

    Environment (default `os.environ`): `DEBUG_ECHO_INSTANCES_SHARED` (required),
    `DEBUG_ECHO_AVAILABILITY_FILE`, plus what `run_handler` reads (`DISCOVERY_HANDLERS_DIRECTORY`,
    `POD_IP`). Returns the exit code (2 for invalid settings).
    """
    return _console.run("akri-debug-echo-discovery", DebugEchoHandler.from_env, argv=argv, environ=environ,
                        help_environ={SHARED_ENV: "false"})

if __name__ == "__main__":
    raise SystemExit(main())
