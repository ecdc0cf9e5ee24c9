"""Pod status and container environment of the kubelet simulator."""

from __future__ import annotations

from akri_local import _kubelet_pods as pods

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}},
       "spec": {"initContainers": [{"name": "init", "image": "i"}], "containers": [{"name": "main", "image": "m"}]}}


def test_running_status_shape():
    status = pods.running_status(POD, now="2026-01-01T00:00:00Z")
    assert status["phase"] == "Running" and status["startTime"] == "2026-01-01T00:00:00Z"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert [c["name"] for c in status["containerStatuses"]] == ["main"]
    assert status["containerStatuses"][0]["state"] == {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_failed_status():
    assert pods.failed_status("UnexpectedAdmissionError", "boom", now="t") == {
        "phase": "Failed", "reason": "UnexpectedAdmissionError", "message": "boom", "startTime": "t"}


def test_container_env_spec_overrides_device_env_and_resolves_references():
    container = {"name": "main", "env": [
        {"name": "A", "value": "spec"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
        {"name": "MISSING", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}],
        "envFrom": [{"prefix": "S_", "secretRef": {"name": "sec"}}]}
    data = {("ConfigMap", "cm"): {"k": "v"},
            ("Secret", "sec"): pods.decode_secret_data({"user": "YWRtaW4="})}

    def lookup(kind, namespace, name):
        assert namespace == "ns"
        return data.get((kind, name))

    env = pods.container_env(POD, container, {"A": "device", "B": "device"}, node_name="node-a", lookup=lookup)
    assert env == {"A": "spec", "B": "device", "POD": "p", "APP": "x", "NODE": "node-a", "CM": "v", "S_user": "admin"}
