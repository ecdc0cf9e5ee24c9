"""Akri's e2e scenarios (akri-contract.md §7.3) plus plain-pod resource requests and node loss.

Runs against the local control plane by default, or any cluster with Akri-py installed when given
`--kubeconfig` (see README). Every Configuration has a unique name so runs don't interfere.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from akri_api import naming
from akri_local.cluster import wait_for
from tests.e2e.harness import Harness

pytestmark = pytest.mark.e2e

NAMESPACE = "default"
TIMEOUT = 60
EXAMPLES = Path(__file__).resolve().parents[2] / "akri_local" / "examples"
CASES = Path(__file__).resolve().parents[3] / "shared" / "cases" / "akri"


def _debug_echo_configuration(name: str, descriptions: tuple[str, ...] = ("bar0", "bar1")) -> dict[str, Any]:
    config = yaml.safe_load((EXAMPLES / "debugEchoConfiguration.yaml").read_text())
    config["metadata"]["name"] = name
    config["spec"]["discoveryHandler"]["discoveryDetails"] = yaml.safe_dump({"descriptions": list(descriptions)})
    return config


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class Akri:
    """Small typed view over the objects of one Configuration."""

    def __init__(self, harness: Harness, configuration: str) -> None:
        self.harness = harness
        self.name = configuration
        self.custom = client.CustomObjectsApi(harness.api_client)
        self.core = client.CoreV1Api(harness.api_client)

    def apply(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object("akri.sh", "v0", NAMESPACE, "configurations", body)

    def delete(self) -> None:
        try:
            self.custom.delete_namespaced_custom_object("akri.sh", "v0", NAMESPACE, "configurations", self.name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def instances(self) -> list[dict[str, Any]]:
        items = self.custom.list_namespaced_custom_object("akri.sh", "v0", NAMESPACE, "instances")["items"]
        return [i for i in items if i["spec"]["configurationName"] == self.name]

    def brokers(self, phase: str | None = "Running") -> list[Any]:
        pods = self.core.list_namespaced_pod(NAMESPACE, label_selector=f"akri.sh/configuration={self.name}").items
        return [p for p in pods if p.metadata.deletion_timestamp is None and (phase is None or p.status.phase == phase)]

    def instance_services(self) -> list[Any]:
        services = self.core.list_namespaced_service(NAMESPACE, label_selector="akri.sh/instance").items
        return [s for s in services if s.metadata.labels["akri.sh/instance"].startswith(f"{self.name}-")]

    def configuration_services(self) -> list[Any]:
        return self.core.list_namespaced_service(NAMESPACE, label_selector=f"akri.sh/configuration={self.name}").items

    def counts(self) -> tuple[int, int, int, int]:
        return (len(self.instances()), len(self.brokers()), len(self.instance_services()),
                len(self.configuration_services()))

    def wait_counts(self, expected: tuple[int, int, int, int], timeout: float = TIMEOUT) -> None:
        """Wait until (instances, running brokers, instance services, configuration services) ==
        expected and stays so for 1 s (as Akri's e2e requires)."""
        def stable() -> bool:
            if self.counts() != expected:
                return False
            time.sleep(1.0)
            return self.counts() == expected
        wait_for(stable, timeout=timeout, interval=0.3, what=f"{self.name} counts {expected} (now {self.counts()})")


@pytest.fixture
def echo(harness: Harness):
    akri = Akri(harness, _unique("akri-debug-echo-e2e"))
    akri.apply(_debug_echo_configuration(akri.name))
    yield akri
    akri.delete()
    wait_for(lambda: akri.counts() == (0, 0, 0, 0), timeout=TIMEOUT, what=f"{akri.name} cleaned up")


def test_crd_applied(harness: Harness) -> None:
    api = client.ApiextensionsV1Api(harness.api_client)
    kinds = {crd.spec.names.kind for crd in api.list_custom_resource_definition().items if crd.spec.group == "akri.sh"}
    assert {"Configuration", "Instance"} <= kinds


def test_all_scheduled(echo: Akri) -> None:
    echo.wait_counts((2, 2, 2, 1))
    names = sorted(i["metadata"]["name"] for i in echo.instances())
    assert names == sorted(naming.instance_name(echo.name, d, shared=True) for d in ("bar0", "bar1"))


def test_broker_env_has_device_properties(echo: Akri, harness: Harness) -> None:
    echo.wait_counts((2, 2, 2, 1))
    for pod in echo.brokers():
        instance = pod.metadata.labels["akri.sh/instance"]
        suffix = instance.rsplit("-", 1)[1].upper()
        env = harness.container_env(NAMESPACE, pod.metadata.name, pod.spec.containers[0].name)
        assert env["DEBUG_ECHO_DESCRIPTION"] in ("bar0", "bar1")
        assert env[f"DEBUG_ECHO_DESCRIPTION_{suffix}"] == env["DEBUG_ECHO_DESCRIPTION"]
        assert env["RESOLUTION_WIDTH"] == "800" and env[f"RESOLUTION_HEIGHT_{suffix}"] == "600"


def test_device_offline_and_back(echo: Akri, harness: Harness) -> None:
    echo.wait_counts((2, 2, 2, 1))
    try:
        harness.set_debug_echo_online(False)
        echo.wait_counts((0, 0, 0, 0))
    finally:
        harness.set_debug_echo_online(True)
    echo.wait_counts((2, 2, 2, 1))


def test_cleanup_when_configuration_deleted(harness: Harness) -> None:
    akri = Akri(harness, _unique("akri-debug-echo-cleanup"))
    akri.apply(_debug_echo_configuration(akri.name))
    akri.wait_counts((2, 2, 2, 1))
    akri.delete()
    akri.wait_counts((0, 0, 0, 0))


def test_broker_recreated_if_deleted(echo: Akri) -> None:
    echo.wait_counts((2, 2, 2, 1))
    victim = echo.brokers()[0]
    echo.core.delete_namespaced_pod(victim.metadata.name, NAMESPACE)
    wait_for(lambda: len(echo.brokers()) == 2 and victim.metadata.uid not in {p.metadata.uid for p in echo.brokers()},
             timeout=TIMEOUT, what="broker recreated with a new uid")


def test_slot_reconciliation_runs(harness: Harness) -> None:
    wait_for(lambda: "reclaiming unused slots - start" in harness.agent_logs(), timeout=30,
             what="the slot reclaimer's log line")


def test_udev_dev_null_is_one_instance(harness: Harness) -> None:
    akri = Akri(harness, _unique("akri-udev-dev-null"))
    config = yaml.safe_load((EXAMPLES / "udevDevNullConfiguration.yaml").read_text())
    config["metadata"]["name"] = akri.name
    akri.apply(config)
    try:
        wait_for(lambda: len(akri.instances()) == 1, timeout=TIMEOUT, what="one /dev/null Instance")
        time.sleep(1.0)
        (instance,) = akri.instances()
        assert instance["spec"]["brokerProperties"]["UDEV_DEVNODE"] == "/dev/null"
        assert instance["spec"]["shared"] is False
    finally:
        akri.delete()


def _webhook_fixture() -> dict[str, Any]:
    path = CASES / "webhookValidConfiguration.yaml"
    if not path.exists():
        pytest.skip(f"{path} not found (the shared cases directory is beside the repository)")
    body = yaml.safe_load(path.read_text())
    for key in ("creationTimestamp", "generation", "managedFields", "uid"):
        body["metadata"].pop(key, None)
    body["metadata"]["name"] = _unique("webhook")
    return body


def test_webhook_accepts_valid_configuration(harness: Harness) -> None:
    body = _webhook_fixture()
    akri = Akri(harness, body["metadata"]["name"])
    akri.apply(body)
    akri.delete()


def test_webhook_rejects_invalid_configuration(harness: Harness) -> None:
    body = _webhook_fixture()
    body["spec"]["brokerSpec"]["brokerPodSpec"]["xUnknownSyntheticField"] = "x"
    with pytest.raises(ApiException) as info:
        Akri(harness, body["metadata"]["name"]).apply(body)
    assert "xUnknownSyntheticField" in str(info.value.body)


def _plain_pod(name: str, resource: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sleep", "3600"],
                                     "resources": {"limits": {resource: "1"}, "requests": {resource: "1"}}}]}}


@pytest.mark.parametrize("level", ["instance", "configuration"])
def test_plain_pod_requests_a_device(harness: Harness, level: str) -> None:
    akri = Akri(harness, _unique(f"akri-debug-echo-{level[:4]}"))
    config = _debug_echo_configuration(akri.name, ("solo0",))
    del config["spec"]["brokerSpec"], config["spec"]["instanceServiceSpec"], config["spec"]["configurationServiceSpec"]
    akri.apply(config)
    pod_name = _unique("plain")
    try:
        wait_for(lambda: len(akri.instances()) == 1, timeout=TIMEOUT, what="one Instance")
        instance = akri.instances()[0]["metadata"]["name"]
        resource = f"akri.sh/{instance}" if level == "instance" else f"akri.sh/{akri.name}"
        akri.core.create_namespaced_pod(NAMESPACE, _plain_pod(pod_name, resource))
        wait_for(lambda: akri.core.read_namespaced_pod(pod_name, NAMESPACE).status.phase == "Running",
                 timeout=TIMEOUT, what=f"pod requesting {resource} Running")
        env = harness.container_env(NAMESPACE, pod_name, "app")
        assert env["DEBUG_ECHO_DESCRIPTION"] == "solo0"
        usage = akri.instances()[0]["spec"].get("deviceUsage", {})
        claimed = [v for v in usage.values() if v]
        assert len(claimed) == 1
        assert claimed[0].startswith("C:") if level == "configuration" else not claimed[0].startswith("C:")
    finally:
        akri.core.delete_namespaced_pod(pod_name, NAMESPACE)
        akri.delete()


def test_broker_moves_off_a_deleted_node(harness: Harness) -> None:
    if not harness.local:
        pytest.skip("deletes a node: only on the local control plane")
    cluster = harness.cluster  # type: ignore[attr-defined]
    cluster.add_node("node-b")
    cluster.start_agent("node-b")
    akri = Akri(harness, _unique("akri-debug-echo-node"))
    akri.apply(_debug_echo_configuration(akri.name, ("mover0",)))
    try:
        def on_both() -> bool:
            pods = akri.brokers()
            return len(pods) == 2 and {p.spec.node_name for p in pods} == {"node-a", "node-b"}
        wait_for(on_both, timeout=TIMEOUT, what="a broker on node-a and on node-b")
        cluster.remove_node("node-b")
        akri.core.delete_node("node-b")

        def off_b() -> bool:
            pods = akri.brokers(phase=None)
            nodes = akri.instances()[0]["spec"]["nodes"]
            return nodes == ["node-a"] and all(p.spec.node_name == "node-a" for p in pods) and len(pods) == 1
        wait_for(off_b, timeout=TIMEOUT, what="Instance and brokers only on node-a")
    finally:
        akri.delete()
