"""Guards for the handler tests: nothing they resolve may reach a DNS server.

The handlers resolve host names (OPC UA discovery URLs, ONVIF XAddrs and directed probes). Tests
use only IP literals, `localhost` (answered by /etc/hosts) and names under `.invalid`, which never
resolve (RFC 6761 §6.4) — but the system resolver would still ask the configured name server about
them, i.e. send a packet off this machine. `offline_name_resolution` answers `.invalid` names with
"name not known" locally and fails the test for any other name that would need DNS.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _is_literal(host: Any) -> bool:
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def offline_name_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace `socket.getaddrinfo` (used by asyncio, httpx and asyncua) with the guard above."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = (host.decode() if isinstance(host, bytes) else str(host or "")).rstrip(".").lower()
        if _is_literal(host) or name in LOCAL_NAMES:
            return real(host, *args, **kwargs)
        if name == "invalid" or name.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        raise AssertionError(f"test tried to resolve {host!r} through DNS (only IP literals, localhost "
                             "and *.invalid are allowed)")

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
