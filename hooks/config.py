"""Configuration of the hooks server, built once from the environment (and the command line).

Every field is an `AKRI_HOOKS_*` variable; `hooks.server` lets flags override them. Nothing else
in the package reads `os.environ` (STYLE.md §5.13). Invalid values raise one ConfigError that
names every bad variable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from hooks.errors import ConfigError

__all__ = ["HooksConfig", "ENV_PREFIX"]

ENV_PREFIX = "AKRI_HOOKS_"
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True)
class HooksConfig:
    """Settings of one hooks server process."""

    bind: str = "0.0.0.0:8080"
    """`AKRI_HOOKS_BIND`: `HOST:PORT` gunicorn listens on (Service port 80 → 8080 http, 443 → 8443 https)."""

    workers: int = 1
    """`AKRI_HOOKS_WORKERS`: gunicorn worker processes (>= 1). With more than one, `/metrics` shows
    the counters of the worker that answered (no multiprocess aggregation)."""

    threads: int = 4
    """`AKRI_HOOKS_THREADS`: threads per worker (gthread worker, >= 1); Metacontroller calls
    concurrently (5 workers per controller, metacontroller-contract.md §14)."""

    timeout_seconds: int = 30
    """`AKRI_HOOKS_TIMEOUT_SECONDS`: gunicorn worker timeout in seconds (>= 1); hooks answer in ms."""

    certfile: str | None = None
    """`AKRI_HOOKS_CERTFILE`: PEM certificate; with `keyfile`, serve HTTPS (the admission webhook)."""

    keyfile: str | None = None
    """`AKRI_HOOKS_KEYFILE`: PEM private key for `certfile`."""

    max_body_bytes: int = 64 * 1024 * 1024
    """`AKRI_HOOKS_MAX_BODY_BYTES`: larger request bodies are answered 413 (bytes, >= 1)."""

    log_level: str = "info"
    """`AKRI_HOOKS_LOG_LEVEL`: one of debug, info, warning, error, critical."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HooksConfig:
        """Config from `AKRI_HOOKS_*` variables; absent ones keep their defaults.

        Raises ConfigError naming every invalid variable and its value.
        """
        values: dict[str, object] = {}
        errors: list[str] = []
        for item in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + item.name.upper())
            if raw is None or raw == "":
                continue
            if item.type in ("int", int):
                try:
                    values[item.name] = int(raw)
                except ValueError:
                    errors.append(f"{ENV_PREFIX}{item.name.upper()}={raw!r}: expected an integer")
            else:
                values[item.name] = raw
        if errors:
            raise ConfigError("; ".join(errors))
        return cls(**values).validated()  # type: ignore[arg-type]

    def replace(self, **changes: object) -> HooksConfig:
        """Copy with `changes` applied (None values ignored), validated; raises ConfigError."""
        kept = {key: value for key, value in changes.items() if value is not None}
        return dataclasses.replace(self, **kept).validated()  # type: ignore[arg-type]

    def validated(self) -> HooksConfig:
        """`self` if every field is valid, else ConfigError naming each bad setting."""
        errors = []
        host, sep, port = self.bind.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            errors.append(f"{_setting('bind')}={self.bind!r}: expected HOST:PORT")
        for name in ("workers", "threads", "timeout_seconds", "max_body_bytes"):
            if getattr(self, name) < 1:
                errors.append(f"{_setting(name)}={getattr(self, name)!r}: must be >= 1")
        if (self.certfile is None) != (self.keyfile is None):
            errors.append(f"{_setting('certfile')} and {_setting('keyfile')} must be given together")
        if self.log_level.lower() not in _LOG_LEVELS:
            errors.append(f"{_setting('log_level')}={self.log_level!r}: expected one of {', '.join(_LOG_LEVELS)}")
        if errors:
            raise ConfigError("invalid hooks configuration: " + "; ".join(errors))
        return self

    @property
    def https(self) -> bool:
        """True when certfile and keyfile are set."""
        return self.certfile is not None and self.keyfile is not None


def _setting(name: str) -> str:
    """`AKRI_HOOKS_WORKERS/--workers` for field `workers`: both ways to set it."""
    return f"{ENV_PREFIX}{name.upper()}/--{name.replace('_', '-')}"
