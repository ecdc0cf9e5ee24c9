"""Akri's controller as Metacontroller hooks, and the Configuration admission webhook.

Pure hook functions (request mapping in, response mapping out; `now` passed explicitly):
`sync_instance`, `customize_instance`, `sync_configuration`, `customize_configuration`,
`review_configuration`. `create_app` serves them over HTTP (flask; run by `akri-hooks` under
gunicorn). This package never imports `kubernetes`, `grpc` or `agent`, except `hooks.certgen`
(a separate one-shot Job entry point).
"""

from __future__ import annotations

from hooks.app import create_app
from hooks.config import HooksConfig
from hooks.customize import customize_configuration, customize_instance
from hooks.errors import ConfigError, HookInputError, HooksError
from hooks.sync_configuration import sync_configuration
from hooks.sync_instance import PENDING_GRACE_SECONDS, sync_instance
from hooks.validate import review_configuration

__all__ = [
    "ConfigError",
    "HookInputError",
    "HooksConfig",
    "HooksError",
    "PENDING_GRACE_SECONDS",
    "create_app",
    "customize_configuration",
    "customize_instance",
    "review_configuration",
    "sync_configuration",
    "sync_instance",
]
