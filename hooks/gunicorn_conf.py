"""Gunicorn settings of the hooks server (a gunicorn config module; `hooks.server` loads it).

Only static choices live here; per-deployment values (bind address, workers, threads, timeout,
TLS files, log level) come from `hooks.config.HooksConfig` and override these.

* `gthread` workers: Metacontroller sends concurrent requests (5 sync workers per controller,
  metacontroller-contract.md §14) over keep-alive connections.
* `keepalive` 120 s, longer than Go's `http.Transport` idle timeout (90 s), so Metacontroller
  closes idle connections before we do and never reuses one we are closing.
* no control socket, heartbeat files in `/dev/shm`: the container's root filesystem is read-only.
* TLS (admission webhook): TLS 1.2 or newer (the API server requires TLS >= 1.2).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import Any

worker_class = "gthread"
keepalive = 120
graceful_timeout = 10
control_socket_disable = True
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = None
errorlog = "-"


def ssl_context(conf: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """gunicorn hook: the default server context, restricted to TLS 1.2+."""
    context = default_ssl_context_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
