"""Which local IPv4 interfaces a WS-Discovery multicast probe goes out on (Linux).

Akri's ONVIF handler sends its multicast Probe once, on the kernel's default multicast route. A
node with several NICs (cameras on a second VLAN) then misses cameras, so this handler sends the
Probe on every interface that is up, multicast-capable and has an IPv4 address, choosing the
interface per send with `IP_MULTICAST_IF`. Interfaces are listed with `socket.if_nameindex()`
and their flags and primary IPv4 address read with the `SIOCGIFFLAGS` / `SIOCGIFADDR` ioctls
(netdevice(7)), so no extra dependency is needed. Secondary addresses of one interface are not
needed: one send per interface reaches its link.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
from collections.abc import Iterable

__all__ = ["multicast_ipv4_interfaces"]

logger = logging.getLogger(__name__)

_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_IFF_UP = 0x1
_IFF_MULTICAST = 0x1000
_IFREQ = struct.Struct("16s24x")  # struct ifreq: char ifr_name[IFNAMSIZ]; union {...} (24 bytes)


def _flags_and_address(probe: socket.socket, name: str) -> tuple[int, str | None]:
    request = _IFREQ.pack(name.encode())
    flags = struct.unpack_from("H", fcntl.ioctl(probe, _SIOCGIFFLAGS, request), 16)[0]
    try:
        reply = fcntl.ioctl(probe, _SIOCGIFADDR, request)
    except OSError:  # EADDRNOTAVAIL: the interface has no IPv4 address
        return flags, None
    return flags, socket.inet_ntoa(reply[20:24])  # ifr_addr: sockaddr_in, sin_addr at offset 4


def multicast_ipv4_interfaces(names: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """[(interface name, IPv4 address)] of interfaces that are UP and MULTICAST with an IPv4 address.

    names: restrict to these interface names (None = every interface; an empty collection = none,
    which disables multicast). Named interfaces that are missing, down, not multicast-capable or
    without IPv4 are skipped with a warning. Never raises; an interface whose ioctl fails is skipped.
    """
    wanted = None if names is None else set(names)
    if wanted is not None and not wanted:
        return []
    result: list[tuple[str, str]] = []
    try:
        interfaces = [name for _, name in socket.if_nameindex()]
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        logger.warning("Cannot list network interfaces: %s", exc)
        return []
    with probe:
        for name in interfaces:
            if wanted is not None and name not in wanted:
                continue
            try:
                flags, address = _flags_and_address(probe, name)
            except OSError as exc:
                logger.debug("Cannot read interface %s: %s", name, exc)
                continue
            usable = flags & _IFF_UP and flags & _IFF_MULTICAST and address is not None
            if usable and address is not None:
                result.append((name, address))
            elif wanted is not None:
                logger.warning("Interface %s is down, not multicast-capable or has no IPv4 address; skipped", name)
    if wanted is not None:
        for missing in sorted(wanted - set(interfaces)):
            logger.warning("Interface %s does not exist; skipped", missing)
    return result
