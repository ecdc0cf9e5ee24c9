"""Request builders shaped exactly as Metacontroller sends them (metacontroller-contract.md §5, §11).

* `children` is keyed `Pod.v1` / `Service.v1` / `Job.batch/v1`, then the child's name, with an
  entry for every child type even when empty; `related` is keyed `Configuration.akri.sh/v0`
  (Instance parents) or `Instance.akri.sh/v0` / `Pod.v1` (Configuration parents), then the name
  (v1 hooks, namespaced parent).
* Observed objects look like what the API server stores: uid, resourceVersion, the controller
  ownerReference and `controller-uid` label Metacontroller adds, defaulted fields, status.
* `controller` is the CompositeController object from `metacontroller/`.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
NAMESPACE = "default"
CONFIG = "akri-debug-echo-foo"
INSTANCE = "akri-debug-echo-foo-8120fe"
INSTANCE_UID = "9c1e7a52-5d0e-4b4e-9a52-2c1b7f3f0001"
CONFIG_UID = "9c1e7a52-5d0e-4b4e-9a52-2c1b7f3f0002"
PLACEHOLDER = "{{PLACEHOLDER}}"
RESOURCE = f"akri.sh/{INSTANCE}"

_MISSING: Any = object()


def _controller(name: str) -> dict[str, Any]:
    path = REPO / "metacontroller" / name
    return yaml.safe_load(path.read_text())


def rfc3339(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_spec() -> dict[str, Any]:
    """The brokerPodSpec of Akri's debugEcho example (akri-debug-echo-pod-configuration.yaml)."""
    return {
        "containers": [
            {
                "name": "akri-debug-echo-foo-broker",
                "image": "nginx:latest",
                "resources": {"limits": {PLACEHOLDER: "1"}},
            }
        ]
    }


def service_spec(port: int = 6052) -> dict[str, Any]:
    return {"type": "ClusterIP", "ports": [{"name": "http", "port": port, "protocol": "TCP", "targetPort": port}]}


def configuration(
    *,
    name: str = CONFIG,
    generation: int = 1,
    broker_pod_spec: dict[str, Any] | None = _MISSING,
    broker_job_spec: dict[str, Any] | None = None,
    instance_service_spec: dict[str, Any] | None = _MISSING,
    configuration_service_spec: dict[str, Any] | None = _MISSING,
) -> dict[str, Any]:
    """A stored Configuration; by default Akri's debugEcho example with both services."""
    broker_spec: dict[str, Any] = {}
    if broker_pod_spec is _MISSING:
        broker_pod_spec = pod_spec() if broker_job_spec is None else None
    if broker_pod_spec is not None:
        broker_spec["brokerPodSpec"] = broker_pod_spec
    if broker_job_spec is not None:
        broker_spec["brokerJobSpec"] = broker_job_spec
    spec: dict[str, Any] = {
        "discoveryHandler": {"name": "debugEcho", "discoveryDetails": "descriptions:\n- foo0\n- foo1\n"},
        "capacity": 5,
        "brokerProperties": {},
    }
    if broker_spec:
        spec["brokerSpec"] = broker_spec
    if instance_service_spec is _MISSING:
        instance_service_spec = service_spec()
    if instance_service_spec is not None:
        spec["instanceServiceSpec"] = instance_service_spec
    if configuration_service_spec is _MISSING:
        configuration_service_spec = service_spec()
    if configuration_service_spec is not None:
        spec["configurationServiceSpec"] = configuration_service_spec
    return {
        "apiVersion": "akri.sh/v0",
        "kind": "Configuration",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": CONFIG_UID,
            "generation": generation,
            "resourceVersion": "1001",
            "creationTimestamp": "2024-05-01T10:00:00Z",
        },
        "spec": spec,
    }


def instance(
    *,
    name: str = INSTANCE,
    nodes: list[str] | tuple[str, ...] = ("node-a",),
    shared: bool = True,
    configuration_name: str = CONFIG,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A stored Instance as the agent writes it (labelled with its Configuration)."""
    obj: dict[str, Any] = {
        "apiVersion": "akri.sh/v0",
        "kind": "Instance",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": INSTANCE_UID,
            "generation": 3,
            "resourceVersion": "2002",
            "creationTimestamp": "2024-05-01T10:01:00Z",
            "labels": {"akri.sh/configuration": configuration_name},
            "finalizers": list(nodes),
            "ownerReferences": [
                {
                    "apiVersion": "akri.sh/v0",
                    "kind": "Configuration",
                    "name": configuration_name,
                    "uid": CONFIG_UID,
                    "controller": True,
                }
            ],
        },
        "spec": {
            "configurationName": configuration_name,
            "cdiName": f"akri.sh/{configuration_name}=8120fe",
            "capacity": 5,
            "brokerProperties": {"DEBUG_ECHO_DESCRIPTION": "foo0"},
            "shared": shared,
            "nodes": list(nodes),
            "deviceUsage": {f"{name}-0": "node-a"},
        },
    }
    if status is not None:
        obj["status"] = status
    return obj


def _owner(kind: str, name: str, uid: str, api_version: str = "akri.sh/v0") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod(
    name: str,
    *,
    node: str = "node-a",
    phase: str | None = "Running",
    ready: bool | None = None,
    start_time: datetime | None = _MISSING,
    deleting: bool = False,
    instance_name: str = INSTANCE,
    configuration_name: str = CONFIG,
    owner: dict[str, Any] | None = _MISSING,
) -> dict[str, Any]:
    """An observed broker Pod (as created from a desired child, then scheduled and run)."""
    if ready is None:
        ready = phase == "Running"
    if start_time is _MISSING:
        start_time = NOW - timedelta(minutes=30) if phase not in (None, "Pending") else None
    if owner is _MISSING:
        owner = _owner("Instance", instance_name, INSTANCE_UID)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": f"uid-{name}",
        "resourceVersion": "3003",
        "creationTimestamp": "2024-05-01T11:00:00Z",
        "labels": {
            "app": name,
            "controller": "akri.sh",
            "akri.sh/configuration": configuration_name,
            "akri.sh/instance": instance_name,
            "akri.sh/target-node": node,
            "controller-uid": INSTANCE_UID,
        },
        "annotations": {"metacontroller.k8s.io/last-applied-configuration": "{}"},
        "ownerReferences": [owner] if owner else [],
    }
    if deleting:
        metadata["deletionTimestamp"] = rfc3339(NOW - timedelta(seconds=5))
        metadata["deletionGracePeriodSeconds"] = 30
    status: dict[str, Any] = {}
    if phase is not None:
        status["phase"] = phase
        status["conditions"] = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True" if ready else "False"},
        ]
    if start_time is not None:
        status["startTime"] = rfc3339(start_time)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "broker",
                    "image": "nginx:latest",
                    "resources": {"limits": {RESOURCE: "1"}, "requests": {RESOURCE: "1"}},
                }
            ],
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
        },
        "status": status,
    }


def job(
    name: str,
    *,
    active: int = 0,
    ready: int = 0,
    complete: bool = False,
    failed: bool = False,
    deleting: bool = False,
) -> dict[str, Any]:
    """An observed broker Job."""
    conditions = []
    if complete:
        conditions.append({"type": "Complete", "status": "True"})
    if failed:
        conditions.append({"type": "Failed", "status": "True"})
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": f"uid-{name}",
        "labels": {
            "akri.sh/configuration": CONFIG,
            "akri.sh/instance": INSTANCE,
            "app": name,
            "controller": "akri.sh",
            "controller-uid": INSTANCE_UID,
        },
        "ownerReferences": [_owner("Instance", INSTANCE, INSTANCE_UID)],
    }
    if deleting:
        metadata["deletionTimestamp"] = rfc3339(NOW)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "template": {"spec": {"containers": [{"name": "broker", "image": "busybox"}], "restartPolicy": "Never"}}
        },
        "status": {"active": active, "ready": ready, "conditions": conditions},
    }


def service(name: str, *, owner_kind: str = "Instance", deleting: bool = False) -> dict[str, Any]:
    """An observed Service created from a desired child."""
    uid = INSTANCE_UID if owner_kind == "Instance" else CONFIG_UID
    owner_name = INSTANCE if owner_kind == "Instance" else CONFIG
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": f"uid-{name}",
        "labels": {"app": name, "controller": "akri.sh", "controller-uid": uid},
        "ownerReferences": [_owner(owner_kind, owner_name, uid)],
    }
    if deleting:
        metadata["deletionTimestamp"] = rfc3339(NOW)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {**service_spec(), "clusterIP": "10.0.0.17"},
        "status": {"loadBalancer": {}},
    }


def _by_name(objects: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects}


def instance_request(
    parent: dict[str, Any] | None = None,
    *,
    pods: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    jobs: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    services: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    configurations: list[dict[str, Any]] | tuple[dict[str, Any], ...] | None = None,
) -> dict[str, Any]:
    """A sync request for an Instance parent (instance-controller.yaml, v1 hooks)."""
    if configurations is None:
        configurations = [configuration()]
    return {
        "controller": _controller("instance-controller.yaml"),
        "parent": parent if parent is not None else instance(),
        "children": {"Pod.v1": _by_name(pods), "Service.v1": _by_name(services), "Job.batch/v1": _by_name(jobs)},
        "related": {"Configuration.akri.sh/v0": _by_name(configurations)},
        "finalizing": False,
    }


def configuration_request(
    parent: dict[str, Any] | None = None,
    *,
    services: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    instances: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
    pods: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """A sync request for a Configuration parent (configuration-controller.yaml, v1 hooks)."""
    return {
        "controller": _controller("configuration-controller.yaml"),
        "parent": parent if parent is not None else configuration(),
        "children": {"Service.v1": _by_name(services)},
        "related": {"Instance.akri.sh/v0": _by_name(instances), "Pod.v1": _by_name(pods)},
        "finalizing": False,
    }


def customize_request(parent: dict[str, Any], controller: str) -> dict[str, Any]:
    return {"controller": _controller(controller), "parent": parent}


def children_of(response: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Desired children of one kind, by name."""
    return {child["metadata"]["name"]: child for child in response["children"] if child["kind"] == kind}


def condition(response: dict[str, Any], type_: str) -> dict[str, Any]:
    [found] = [c for c in response["status"]["conditions"] if c["type"] == type_]
    return found


def frozen_copy(obj: Any) -> Any:
    return copy.deepcopy(obj)
