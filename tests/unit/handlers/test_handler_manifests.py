"""The standalone handlers' DaemonSets (manifests/discovery-handlers/) match the code and Akri's chart.

Each DaemonSet runs a console script this package declares, shares /var/lib/akri with the agent
(DISCOVERY_HANDLERS_DIRECTORY), and sets only environment variables its handler reads; udev mounts
the host's /run/udev read-only, ONVIF runs in the node's network (WS-Discovery multicast), as in
Akri's Helm templates (issue #7 item 5, issue #8 item 3).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "manifests" / "discovery-handlers"
HANDLERS = {
    "debug-echo.yaml": ("akri-debug-echo-discovery", {"DEBUG_ECHO_INSTANCES_SHARED", "DEBUG_ECHO_AVAILABILITY_FILE"}),
    "udev.yaml": ("akri-udev-discovery", {"UDEV_DATABASE_DIR", "UDEV_DISCOVERY_INTERVAL_SECONDS", "UDEV_SYSFS_ROOT"}),
    "onvif.yaml": ("akri-onvif-discovery", {"ONVIF_MULTICAST_INTERFACES"}),
    "opcua.yaml": ("akri-opcua-discovery", set()),
}
RUNTIME_ENV = {"DISCOVERY_HANDLERS_DIRECTORY", "POD_IP", "LOG_LEVEL", "LOG_FORMAT"}  # standalone.run_handler


def load(name: str) -> dict[str, Any]:
    [document] = [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]
    return document


def pod_spec(name: str) -> dict[str, Any]:
    daemonset = load(name)
    assert (daemonset["apiVersion"], daemonset["kind"]) == ("apps/v1", "DaemonSet")
    assert daemonset["spec"]["selector"]["matchLabels"].items() <= \
        daemonset["spec"]["template"]["metadata"]["labels"].items()
    spec: dict[str, Any] = daemonset["spec"]["template"]["spec"]
    return spec


def mounts(spec: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """mountPath → (volumeMount, volume)."""
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    [container] = spec["containers"]
    return {m["mountPath"]: (m, volumes[m["name"]]) for m in container.get("volumeMounts") or []}


def test_kustomization_lists_every_handler() -> None:
    assert sorted(load("kustomization.yaml")["resources"]) == sorted(HANDLERS)


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_daemonset_runs_the_console_script_with_the_agent_socket_directory(name: str) -> None:
    script, handler_env = HANDLERS[name]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    spec = pod_spec(name)
    [container] = spec["containers"]
    assert container["command"] == [script] and script in scripts
    env = {e["name"]: e.get("value") for e in container.get("env") or []}
    assert set(env) <= RUNTIME_ENV | handler_env, f"{name} sets variables its handler never reads"
    directory = env["DISCOVERY_HANDLERS_DIRECTORY"]
    mount, volume = mounts(spec)[directory]
    assert volume["hostPath"]["path"] == "/var/lib/akri" and not mount.get("readOnly")


def test_udev_reads_the_host_udev_database_read_only() -> None:
    spec = pod_spec("udev.yaml")
    mount, volume = mounts(spec)["/run/udev"]
    assert mount["readOnly"] is True and volume["hostPath"]["path"] == "/run/udev"
    [container] = spec["containers"]
    assert {"name": "UDEV_DATABASE_DIR", "value": "/run/udev"} in container["env"]


def test_onvif_uses_the_node_network_for_multicast() -> None:
    assert pod_spec("onvif.yaml")["hostNetwork"] is True


def test_debug_echo_is_shared_and_has_a_writable_availability_file() -> None:
    spec = pod_spec("debug-echo.yaml")
    [container] = spec["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DEBUG_ECHO_INSTANCES_SHARED"] == "true"
    directory = str(Path(env["DEBUG_ECHO_AVAILABILITY_FILE"]).parent)
    mount, volume = mounts(spec)[directory]
    assert "emptyDir" in volume and not mount.get("readOnly")
