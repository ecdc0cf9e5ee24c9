"""Command-line plumbing shared by the local control plane's long-running processes.

`python -m akri_local.kubelet` and `python -m akri_local.metacontroller` are both "parse arguments,
set up logging, start a background service, wait for SIGINT/SIGTERM, stop it". This module holds
that loop once, so both CLIs report a bad `--log-level` or an unusable kubeconfig the same way:
one line naming the value and exit status 2 (usage) or 1 (cannot start), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import NoReturn, Protocol

from agent.kube.errors import KubeConfigError

__all__ = ["Service", "add_log_level_argument", "setup_logging", "serve_until_signalled"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Service(Protocol):
    """Something with a background life: `start()` returns once serving, `stop()` ends it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def add_log_level_argument(parser: argparse.ArgumentParser) -> None:
    """Add `--log-level` (one of LOG_LEVELS, case-insensitive, default INFO; argparse rejects
    anything else with exit status 2) to `parser`."""
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, help="log level")


def setup_logging(level: str) -> None:
    """Configure root logging at `level` (one of LOG_LEVELS) with the control plane's line format."""
    logging.basicConfig(level=level, format=LOG_FORMAT)


def serve_until_signalled(parser: argparse.ArgumentParser, service: Service, *, what: str,
                          start_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Start `service`, block until SIGINT or SIGTERM, stop it; returns exit status 0.

    An `agent.kube.errors.KubeConfigError` from `start()` exits with status 1 and its one line
    (naming the kubeconfig and the field at fault); any of `start_errors` stops the half-started
    service and exits with status 1 and one line `cannot start <what>: <error>`. Must run on the
    main thread (signal handlers).
    """
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        service.start()
    except KubeConfigError as exc:
        _exit(parser, str(exc))
    except start_errors as exc:
        service.stop()
        _exit(parser, f"cannot start {what}: {exc}")
    try:
        stop.wait()
    finally:
        service.stop()
    return 0


def _exit(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.exit(1, f"{parser.prog}: {message}\n")
