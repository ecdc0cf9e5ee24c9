"""Child process for the multicast ONVIF test; run ONLY inside a throw-away network namespace.

`python -m tests.integration.handlers.onvif_netns_child` (from the repository root, under
`ip netns exec <test namespace>`): refuses to run unless `lo` is the only interface, starts a fake
camera whose WS-Discovery responder listens on 239.255.255.250:3702 (joined on 127.0.0.1), runs
the ONVIF handler with its default multicast settings and no directed probes, and prints one
JSON object: `interfaces` (what the handler multicasts on), `devices` (first list) and
`probe_destinations` (the destination address of every Probe the camera received).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

from agent.discovery.handlers import _onvif_netif
from agent.discovery.handlers.onvif import OnvifDiscoveryHandler
from tests.integration.handlers.onvif_responder import (
    Camera,
    DeviceService,
    WsDiscoveryResponder,
    probe_matches,
)

CAMERA_UUID = "0a1b2c3d-0000-4000-8000-00000000beef"


async def first_list() -> list[dict[str, object]]:
    stream = OnvifDiscoveryHandler(interval_seconds=0.1).discover("discoveryTimeoutSeconds: 0.5", {})
    try:
        devices = await asyncio.wait_for(anext(stream), timeout=20)
    finally:
        await stream.aclose()
    return [{"id": d.id, "properties": dict(d.properties)} for d in devices]


def main() -> int:
    if [name for _, name in socket.if_nameindex()] != ["lo"]:
        print("refusing to multicast: not inside an isolated network namespace", file=sys.stderr)
        return 3
    service = DeviceService(Camera(CAMERA_UUID))
    responder = WsDiscoveryResponder(
        lambda message_id: [probe_matches(message_id, [{"address": f"urn:uuid:{CAMERA_UUID}", "xaddrs": service.url,
                                                         "scopes": "onvif://www.onvif.org/name/netns"}])],
        multicast=True,
    )
    try:
        devices = asyncio.run(first_list())
    finally:
        responder.stop()
        service.stop()
    print(json.dumps({
        "interfaces": _onvif_netif.multicast_ipv4_interfaces(),
        "devices": devices,
        "service_url": service.url,
        "camera_uuid": CAMERA_UUID,
        "probe_destinations": [probe.destination for probe in responder.probes],
        "probe_problems": [probe.problem for probe in responder.probes],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
