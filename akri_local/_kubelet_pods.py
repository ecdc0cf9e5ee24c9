"""Pod status and container environment as the simulated kubelet reports them (pure functions).

`running_status` / `failed_status` build the `status` a kubelet writes when it starts a pod or
rejects it at admission (`UnexpectedAdmissionError`, the reason a failed device `Allocate` gives).
`container_env` is what `kubectl exec … printenv` would show, minus the image's own variables:
the device plugins' `envs` (merged in Allocate order) overridden by the container's `env`
(literal values, `fieldRef`, `configMapKeyRef`/`secretKeyRef` through a lookup callback) — the
kubelet appends spec env after device env, and the runtime keeps the last value.
"""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["running_status", "failed_status", "container_env", "KeyLookup", "utc_now", "decode_secret_data",
           "SIMULATED_IP"]

Obj = Mapping[str, Any]
SIMULATED_IP = "127.0.0.1"
KeyLookup = Callable[[str, str, str], "Mapping[str, str] | None"]
"""(kind "ConfigMap"|"Secret", namespace, name) → its data (Secret values decoded), None when missing."""

_FIELD_LABEL = re.compile(r"metadata\.(labels|annotations)\['(.+)'\]$")


def utc_now() -> str:
    """Current UTC time in RFC 3339 seconds form, as Kubernetes timestamps."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def running_status(pod: Obj, *, now: str, node_ip: str = SIMULATED_IP) -> dict[str, Any]:
    """`status` of a pod whose containers all started: phase Running, Ready, container statuses."""
    spec, uid = pod.get("spec") or {}, (pod.get("metadata") or {}).get("uid", "")
    conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    init_statuses = [{"name": c.get("name"), "image": c.get("image", ""), "imageID": "", "ready": True,
                      "restartCount": 0, "started": False, "containerID": f"sim://{uid}/{c.get('name')}",
                      "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                                               "finishedAt": now}}}
                     for c in spec.get("initContainers") or []]
    statuses = [{"name": c.get("name"), "image": c.get("image", ""), "imageID": "", "ready": True,
                 "restartCount": 0, "started": True, "containerID": f"sim://{uid}/{c.get('name')}",
                 "state": {"running": {"startedAt": now}}}
                for c in spec.get("containers") or []]
    status: dict[str, Any] = {"phase": "Running", "conditions": conditions, "hostIP": node_ip,
                              "hostIPs": [{"ip": node_ip}], "podIP": node_ip, "podIPs": [{"ip": node_ip}],
                              "startTime": now, "qosClass": "BestEffort", "containerStatuses": statuses}
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    return status


def failed_status(reason: str, message: str, *, now: str) -> dict[str, Any]:
    """`status` of a pod the kubelet rejected at admission (e.g. reason `UnexpectedAdmissionError`)."""
    return {"phase": "Failed", "reason": reason, "message": message, "startTime": now}


def container_env(pod: Obj, container: Obj, device_env: Mapping[str, str], *, node_name: str,
                  lookup: KeyLookup) -> dict[str, str]:
    """The environment of `container`: `device_env` overridden by the resolved spec `envFrom`/`env`.

    Unresolvable references (missing ConfigMap key, unsupported fieldRef) are left out, as an
    `optional` reference would be.
    """
    env = dict(device_env)
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for kind, ref_field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(ref_field)
            if ref and ref.get("name"):
                for key, value in (lookup(kind, namespace, ref["name"]) or {}).items():
                    env[prefix + key] = value
    for var in container.get("env") or []:
        name = var.get("name")
        if not name:
            continue
        if "value" in var or "valueFrom" not in var:
            env[name] = str(var.get("value") or "")
            continue
        resolved = _value_from(var["valueFrom"], pod, namespace, node_name, lookup)
        if resolved is not None:
            env[name] = resolved
    return env


def _value_from(source: Obj, pod: Obj, namespace: str, node_name: str, lookup: KeyLookup) -> str | None:
    if "fieldRef" in source:
        return _field(str(source["fieldRef"].get("fieldPath", "")), pod, node_name)
    for kind, ref_field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        ref = source.get(ref_field)
        if ref and ref.get("name") and ref.get("key"):
            return (lookup(kind, namespace, ref["name"]) or {}).get(ref["key"])
    return None


def _field(path: str, pod: Obj, node_name: str) -> str | None:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    simple = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": node_name,
              "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
              "status.hostIP": SIMULATED_IP, "status.podIP": SIMULATED_IP}
    if path in simple:
        value = simple[path]
        return None if value is None else str(value)
    match = _FIELD_LABEL.match(path)
    if match:
        value = (meta.get(match.group(1)) or {}).get(match.group(2))
        return None if value is None else str(value)
    return None


def decode_secret_data(data: Mapping[str, str] | None) -> dict[str, str]:
    """A Secret's `data` (base64 values) as text values."""
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (data or {}).items()}
