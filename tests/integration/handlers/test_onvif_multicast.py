"""ONVIF multicast WS-Discovery, end to end, inside a network namespace this test creates.

The namespace has only `lo` (up, multicast on, 239.0.0.0/8 routed to it), so the handler's
default "every multicast-capable interface" means `lo` there and nothing can leave the machine.
The handler and a fake camera run in a child process under `ip netns exec`; skipped unless root
with a working `ip netns`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.netns]

REPO_ROOT = Path(__file__).resolve().parents[3]


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")
    name = f"akri-test-{secrets.token_hex(4)}"
    created = _ip("netns", "add", name)
    if created.returncode != 0:
        pytest.skip(f"ip netns unavailable: {created.stderr.strip()}")
    try:
        for args in (("link", "set", "lo", "up"), ("link", "set", "lo", "multicast", "on"),
                     ("route", "add", "239.0.0.0/8", "dev", "lo")):
            step = _ip("-n", name, *args)
            if step.returncode != 0:
                pytest.skip(f"cannot prepare namespace ({' '.join(args)}): {step.stderr.strip()}")
        yield name
    finally:
        _ip("netns", "del", name)


def test_multicast_probe_finds_camera_on_every_multicast_interface(netns: str) -> None:
    child = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "tests.integration.handlers.onvif_netns_child"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])

    assert result["interfaces"] == [["lo", "127.0.0.1"]]
    assert result["probe_problems"] and set(result["probe_problems"]) == {None}
    assert set(result["probe_destinations"]) == {"239.255.255.250"}
    url, uuid = result["service_url"], result["camera_uuid"]
    assert result["devices"] == [{
        "id": f"{url}-{uuid}",
        "properties": {"ONVIF_DEVICE_SERVICE_URL": url, "ONVIF_DEVICE_UUID": uuid},
    }]
