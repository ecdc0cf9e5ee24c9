"""``ApiServer``: the lifecycle of the Kubernetes API emulator (DESIGN.md §4).

Binds a ``ThreadingHTTPServer`` (one thread per connection, so any number of concurrent
watches), wires store, registry, verbs, webhooks and garbage collector together, and stops
cleanly: open watches end at once, idle keep-alive connections are shut down, the collector
thread exits.

Usage::

    with ApiServer() as server:            # 127.0.0.1, free port
        path = server.write_kubeconfig(tmp / "kubeconfig")
        client = kubernetes.config.new_client_from_config(config_file=str(path))
        server.service_urls[("akri", "akri-webhook", 443)] = "https://127.0.0.1:8443"
        server.store.compact()             # test hook: later watches from old rv get 410
"""

from __future__ import annotations

import http.server
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from akri_local import kubeconfig
from akri_local.apiserver import admission
from akri_local.apiserver.api import Api
from akri_local.apiserver.gc import GarbageCollector
from akri_local.apiserver.handler import RequestHandler, ServerContext
from akri_local.apiserver.registry import Registry
from akri_local.apiserver.store import DEFAULT_HISTORY_SIZE, Store

__all__ = ["ApiServer", "DEFAULT_BOOKMARK_INTERVAL_SECONDS"]

logger = logging.getLogger(__name__)

DEFAULT_BOOKMARK_INTERVAL_SECONDS = 10.0
_STOP_TIMEOUT_SECONDS = 5.0


class _HttpServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections so :meth:`close_connections` can end them."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: ServerContext, family: int) -> None:
        self.address_family = family
        self.context = context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        """Shut down every open client socket (their handler threads then exit)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)


class ApiServer:
    """A Kubernetes API emulator on ``host:port`` (0 = pick a free port).

    ``history_size``: watch events kept per resource for resumption (older -> 410);
    ``bookmark_interval_seconds``: time between BOOKMARK events on watches that allow them.
    Attributes for tests and the local control plane: ``store`` (``compact()``),
    ``service_urls`` (``(namespace, service, port) -> "https://host:port"`` for webhooks),
    ``api`` and ``registry``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 history_size: int = DEFAULT_HISTORY_SIZE,
                 bookmark_interval_seconds: float = DEFAULT_BOOKMARK_INTERVAL_SECONDS) -> None:
        self.host = host
        self.port = port
        self.store = Store(history_size=history_size)
        self.registry = Registry()
        self.service_urls: admission.ServiceUrls = {}
        self.api = Api(store=self.store, types=self.registry, service_urls=self.service_urls)
        self.gc = GarbageCollector(self.api)
        self._bookmark_interval = bookmark_interval_seconds
        self._stopping = threading.Event()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` (valid after :meth:`start`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ApiServer:
        """Bind, create the initial namespaces and serve in a background thread; returns self.

        Raises OSError when the address cannot be bound.
        """
        if self._httpd is not None:
            raise RuntimeError("ApiServer already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        context = ServerContext(api=self.api, types=self.registry,
                                bookmark_interval_seconds=self._bookmark_interval,
                                stopping=self._stopping, address=f"{self.host}:{self.port}")
        self._httpd = _HttpServer((self.host, self.port), context, family)
        self.port = self._httpd.server_address[1]
        context.address = f"{self.host}:{self.port}"
        self.api.bootstrap()
        self.gc.start()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"apiserver-{self.port}", daemon=True)
        self._thread.start()
        logger.info("API emulator serving at %s", self.url)
        return self

    def stop(self) -> None:
        """End open watches, stop accepting, close connections and stop the collector."""
        if self._httpd is None:
            return
        self._stopping.set()
        self.store.close()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(_STOP_TIMEOUT_SECONDS)
        self.gc.stop()
        self._httpd = None
        logger.info("API emulator at %s stopped", self.url)

    def drop_connections(self) -> None:
        """Test hook: close every open client connection (watches end as on an API server restart)."""
        if self._httpd is not None:
            self._httpd.close_connections()

    def write_kubeconfig(self, path: str | os.PathLike[str]) -> Path:
        """Write a kubeconfig pointing at this server to ``path``; returns the path."""
        return kubeconfig.write_kubeconfig(path, self.url)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
