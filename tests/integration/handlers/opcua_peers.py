"""Real OPC UA peers for tests: asyncua servers (and misbehaving TCP peers) on 127.0.0.1.

`OpcuaPeers` owns a background thread with its own event loop, so the servers keep answering
while a test's loop runs the handler, and one module-scoped set of servers (asyncua's address
space takes seconds to build) serves many tests:

- `start_server(...)`: an asyncua `Server` bound to 127.0.0.1:<free port>; its advertised endpoint
  may name another host (e.g. `no-such-host.invalid`), with asyncua's endpoint rewriting off so
  FindServers reports exactly that URL;
- `register(lds_url, ...)`: a RegisterServer call to a discovery server, for real servers or for
  records of servers that need not exist (other application types, several DiscoveryUrls);
- `forget(lds, uri)`: drops a registration, as an LDS does when it expires (asyncua has no expiry);
- `start_silent_peer()`: a TCP server that reads and never answers (a hung OPC UA endpoint).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from asyncua import Client, Server, ua

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OpcuaPeers:
    """asyncua servers and raw TCP peers living on a private event loop in a daemon thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="opcua-peers", daemon=True)
        self._thread.start()
        self._servers: list[Server] = []
        self._silent: list[asyncio.base_events.Server] = []

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run `coroutine` on the peers' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def arun(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """`run` for callers inside another event loop."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    async def _start_server(self, name: str, application_type: ua.ApplicationType, host: str, path: str) -> Server:
        port = free_port()
        server = Server()
        await server.init()
        server.set_server_name(name)
        await server.set_application_uri(f"urn:akri-test:{name.replace(' ', '-')}")
        server.application_type = application_type
        server.set_endpoint(f"opc.tcp://{host}:{port}{path}")
        server.socket_address = ("127.0.0.1", port)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.set_match_discovery_endpoint_url(False)
        server.set_match_discovery_client_ip(False)
        server.disable_clock()  # no 1 s clock task: stop() returns at once
        await server.start()
        self._servers.append(server)
        return server

    def start_server(
        self, name: str, *, application_type: ua.ApplicationType = ua.ApplicationType.Server,
        advertised_host: str = "127.0.0.1", path: str = "/",
    ) -> Server:
        """A running server named `name`; reach it at `given_url(server)`."""
        return self.run(self._start_server(name, application_type, advertised_host, path))

    @staticmethod
    def given_url(server: Server) -> str:
        """The URL a user would configure: 127.0.0.1 and the bound port."""
        host, port = server.socket_address  # type: ignore[misc]
        return f"opc.tcp://{host}:{port}/"

    @staticmethod
    def advertised_url(server: Server) -> str:
        return server.endpoint.geturl()

    async def _register(self, lds: Server, servers: Sequence[Server], records: Sequence[ua.RegisteredServer]) -> None:
        async with Client(self.given_url(lds), timeout=5) as client:
            for server in servers:
                await client.register_server(server)
            for record in records:
                await client.uaclient.register_server(record)

    def register(
        self, lds: Server, *, servers: Sequence[Server] = (), records: Sequence[ua.RegisteredServer] = ()
    ) -> None:
        """RegisterServer at discovery server `lds` for real `servers` and fabricated `records`."""
        self.run(self._register(lds, servers, records))

    async def aregister(self, lds: Server, records: Sequence[ua.RegisteredServer]) -> None:
        await self.arun(self._register(lds, (), records))

    def forget(self, lds: Server, application_uri: str) -> None:
        """Drop a registration from `lds`, as an expired registration would be."""
        self._loop.call_soon_threadsafe(lds.iserver._known_servers.pop, application_uri, None)

    async def _start_silent_peer(self) -> int:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await reader.read(4096):
                pass
            writer.close()

        server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        self._silent.append(server)
        return int(server.sockets[0].getsockname()[1])

    def start_silent_peer(self) -> str:
        """`opc.tcp://127.0.0.1:<port>/` of a peer that accepts TCP, reads, and never answers."""
        return f"opc.tcp://127.0.0.1:{self.run(self._start_silent_peer())}/"

    async def _stop(self) -> None:
        for silent in self._silent:
            silent.close()
        for server in self._servers:
            await server.stop()

    def stop(self) -> None:
        self.run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def record(name: str, urls: Sequence[str], application_type: ua.ApplicationType = ua.ApplicationType.Server,
           ) -> ua.RegisteredServer:
    """A RegisteredServer for an application that need not exist; ServerUri `urn:akri-test:<name>`."""
    registered = ua.RegisteredServer()
    registered.ServerUri = f"urn:akri-test:{name.replace(' ', '-')}"
    registered.ProductUri = "urn:akri-test"
    registered.ServerNames = [ua.LocalizedText(name)]
    registered.ServerType = application_type
    registered.DiscoveryUrls = list(urls)
    registered.IsOnline = True
    return registered
