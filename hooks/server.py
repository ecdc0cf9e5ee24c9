"""`akri-hooks`: serve the hooks app with gunicorn (HTTP for Metacontroller, HTTPS for the webhook).

    akri-hooks [--bind HOST:PORT] [--workers N] [--threads N] [--timeout SECONDS]
               [--certfile PEM --keyfile PEM] [--log-level LEVEL]

Flags override the `AKRI_HOOKS_*` environment (hooks.config); static gunicorn settings come from
`hooks.gunicorn_conf`. One process serves one scheme: the Deployment runs one container for HTTP
(:8080, Metacontroller) and one with `--certfile/--keyfile` for HTTPS (:8443, the API server).
Exit status 2 on invalid configuration (the message names every bad setting).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from gunicorn.app.base import BaseApplication

from hooks import gunicorn_conf
from hooks.config import HooksConfig
from hooks.errors import ConfigError

__all__ = ["HooksServer", "main", "parse_args"]

logger = logging.getLogger(__name__)

AppFactory = Callable[[HooksConfig], Any]
"""Builds the WSGI app in each worker from the config."""


def _default_app(config: HooksConfig) -> Any:
    from hooks.app import create_app  # imported in the worker, after the fork
    from hooks.validate import warm_up

    app = create_app(config)
    warm_up()
    return app


class HooksServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn application serving `app_factory(config)` with `hooks.gunicorn_conf` settings."""

    def __init__(self, config: HooksConfig, *, app_factory: AppFactory = _default_app) -> None:
        self._config = config
        self._app_factory = app_factory
        super().__init__()

    def load_config(self) -> None:
        """Static settings from hooks.gunicorn_conf, then the per-deployment ones from the config."""
        for key, value in vars(gunicorn_conf).items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)
        config = self._config
        self.cfg.set("bind", [config.bind])
        self.cfg.set("workers", config.workers)
        self.cfg.set("threads", config.threads)
        self.cfg.set("timeout", config.timeout_seconds)
        self.cfg.set("loglevel", config.log_level.lower())
        if config.https:
            self.cfg.set("certfile", config.certfile)
            self.cfg.set("keyfile", config.keyfile)

    def load(self) -> Any:
        """The WSGI app (called in each worker)."""
        return self._app_factory(self._config)


def parse_args(argv: Sequence[str] | None, environ: dict[str, str] | None = None) -> HooksConfig:
    """HooksConfig from `AKRI_HOOKS_*` in `environ` (default os.environ) overridden by `argv` flags.

    Raises ConfigError for invalid values; argparse exits 2 on unknown flags.
    """
    defaults = HooksConfig()
    parser = argparse.ArgumentParser(prog="akri-hooks", description="Akri Metacontroller hooks and admission webhook.")
    parser.add_argument("--bind", help=f"HOST:PORT to listen on (AKRI_HOOKS_BIND, default {defaults.bind})")
    parser.add_argument(
        "--workers", type=int, help=f"worker processes (AKRI_HOOKS_WORKERS, default {defaults.workers})"
    )
    parser.add_argument(
        "--threads", type=int, help=f"threads per worker (AKRI_HOOKS_THREADS, default {defaults.threads})"
    )
    parser.add_argument(
        "--timeout",
        dest="timeout_seconds",
        type=int,
        help=f"worker timeout in seconds (AKRI_HOOKS_TIMEOUT_SECONDS, default {defaults.timeout_seconds})",
    )
    parser.add_argument("--certfile", help="PEM certificate: serve HTTPS (AKRI_HOOKS_CERTFILE)")
    parser.add_argument("--keyfile", help="PEM private key of --certfile (AKRI_HOOKS_KEYFILE)")
    parser.add_argument(
        "--log-level", dest="log_level", help=f"log level (AKRI_HOOKS_LOG_LEVEL, default {defaults.log_level})"
    )
    args = parser.parse_args(argv)
    config = HooksConfig.from_env(os.environ if environ is None else environ)
    config = config.replace(**vars(args))
    for name in ("certfile", "keyfile"):
        path = getattr(config, name)
        if path is not None and not os.path.isfile(path):
            raise ConfigError(f"--{name} {path!r}: no such file")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Console script `akri-hooks`: parse flags/env, then run gunicorn until SIGTERM/SIGINT."""
    try:
        config = parse_args(argv)
    except ConfigError as exc:
        print(f"akri-hooks: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logger.info("serving hooks on %s://%s", "https" if config.https else "http", config.bind)
    HooksServer(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
