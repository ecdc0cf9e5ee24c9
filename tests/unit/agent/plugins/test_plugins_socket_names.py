"""Plugin socket file names fit the unix socket path limit in the kubelet's directory."""

from __future__ import annotations

import os

import pytest

from agent.plugins import serving
from agent.plugins.serving import SOCKET_PATH_MAX_BYTES, socket_file_name

KUBELET_DIRECTORY = "/var/lib/kubelet/device-plugins"
LONGEST_INSTANCE = "c" * 56 + "-8120fe"  # 63 characters: a Configuration name at its label limit


def test_short_names_keep_akris_form() -> None:
    assert socket_file_name("akri-udev-8120fe", 1796539912, 7, directory=KUBELET_DIRECTORY) == \
        "akri-udev-8120fe-1796539912-7.sock"


@pytest.mark.parametrize("serial", [0, 12_345, 10**9])
def test_long_names_are_cut_with_a_digest_to_fit(serial: int) -> None:
    name = socket_file_name(LONGEST_INSTANCE, 1796539912, serial, directory=KUBELET_DIRECTORY)
    assert len(os.path.join(KUBELET_DIRECTORY, name)) <= SOCKET_PATH_MAX_BYTES
    assert name.startswith("c" * 20) and name.endswith(f"-1796539912-{serial}.sock")
    assert serving._SOCKET_FILE_RE.match(name), "a dead socket of ours must still be recognised"
    other = socket_file_name("c" * 56 + "-a19705", 1796539912, serial, directory=KUBELET_DIRECTORY)
    assert other != name  # same long prefix, different Instances
