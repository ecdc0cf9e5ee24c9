"""Console-script glue shared by the standalone handlers (`akri-<handler>-discovery`).

Each script builds its handler from the environment with the handler's `from_env` (the same
settings the embedded handler reads), then serves it with `agent.discovery.standalone.run_handler`
(socket directory, POD_IP, logging, signals) under the script's own name. A bad variable is one
line on stderr naming it, exit status 2, never a traceback; `--help` works even when the
environment is incomplete and lists the handler's variables (`HANDLER_ENVIRONMENT`) next to the
common ones.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence

from agent.discovery.handler import DiscoveryHandler

__all__ = ["HandlerConfigError", "HANDLER_ENVIRONMENT", "run"]

_HELP_FLAGS = frozenset({"-h", "--help"})

HANDLER_ENVIRONMENT: Mapping[str, tuple[tuple[str, str], ...]] = {
    "debugEcho": (
        ("DEBUG_ECHO_INSTANCES_SHARED", "required: true or false, whether the devices are shared by nodes"),
        ("DEBUG_ECHO_AVAILABILITY_FILE", "a file whose content OFFLINE hides every device "
                                         "(default /tmp/debug-echo-availability.txt)"),
    ),
    "udev": (
        ("UDEV_DISCOVERY_INTERVAL_SECONDS", "seconds > 0 between full enumerations (default 10)"),
        ("UDEV_DATABASE_DIR", "udev database with the devices' ENV properties (default /run/udev)"),
        ("UDEV_SYSFS_ROOT", "sysfs mount point (default /sys)"),
    ),
    "onvif": (
        ("ONVIF_MULTICAST_INTERFACES", "comma list of interfaces to multicast the WS-Discovery Probe on; unset = "
                                       "every multicast-capable one, empty = none (directedProbes only)"),
    ),
    "opcua": (),
}
"""Handler name → (variable, help) of the settings its `from_env` reads (shown by `--help`)."""


class HandlerConfigError(ValueError):
    """Invalid handler environment (`from_env`); `str()` names the variable and the value."""


def run(script: str, build: Callable[[Mapping[str, str]], DiscoveryHandler], *,
        argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
        help_environ: Mapping[str, str] | None = None) -> int:
    """Body of a handler's console script; returns the exit status (see `run_handler`).

    script: the console script's name (`akri-<handler>-discovery`: prefix of error lines, program
    name of `--help` and usage). build: `from_env`-like factory,
    raising ValueError (e.g. HandlerConfigError) for invalid settings → exit status 2.
    help_environ: environment `build` is given instead when `--help` is asked for and the real
    one is invalid (only the handler's name is used then). environ: default `os.environ`.
    """
    from agent.discovery import standalone

    args = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    try:
        handler = build(environ)
    except ValueError as exc:
        if not _HELP_FLAGS.intersection(args):
            print(f"{script}: {exc}", file=sys.stderr)
            return 2
        handler = build(help_environ or {})
    return standalone.run_handler(handler, argv=args, environ=environ, prog=script,
                                  handler_environment=HANDLER_ENVIRONMENT.get(handler.name, ()))
