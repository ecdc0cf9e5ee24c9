"""Akri's names: API group, label keys, Instance naming, resource names and broker child names.

Every name here is part of Akri's public contract (akri-contract.md §0, §2.4, §3.2-§3.4,
DESIGN.md §3): existing Configurations, brokers and dashboards depend on them verbatim.
"""

from __future__ import annotations

import hashlib
from typing import NewType

__all__ = [
    "API_GROUP", "API_VERSION", "AKRI_PREFIX", "PLACEHOLDER",
    "LABEL_CONFIGURATION", "LABEL_INSTANCE", "LABEL_TARGET_NODE", "LABEL_CONTROLLER", "CONTROLLER_VALUE",
    "NodeName", "InstanceName", "ConfigurationName",
    "device_hash", "instance_name", "cdi_name", "instance_resource_name", "configuration_resource_name",
    "broker_pod_name", "broker_job_name", "instance_service_name", "configuration_service_name",
]

API_GROUP = "akri.sh"
API_VERSION = "akri.sh/v0"
AKRI_PREFIX = "akri.sh"
PLACEHOLDER = "{{PLACEHOLDER}}"

LABEL_CONFIGURATION = "akri.sh/configuration"
LABEL_INSTANCE = "akri.sh/instance"
LABEL_TARGET_NODE = "akri.sh/target-node"
LABEL_CONTROLLER = "controller"
CONTROLLER_VALUE = "akri.sh"

NodeName = NewType("NodeName", str)
InstanceName = NewType("InstanceName", str)
ConfigurationName = NewType("ConfigurationName", str)


def device_hash(device_id: str, *, shared: bool, node: str | None = None) -> str:
    """Akri's 6-hex-digit Instance hash (discovery_handler_registry.rs `device_hash`).

    BLAKE2b with a 3-byte digest (a parameter of BLAKE2, not a truncation) over the device id for
    shared devices, or over `device_id + node` (no separator) for local ones. Lower-case hex.
    Raises ValueError for a local device without a node name.
    """
    if shared:
        data = device_id
    else:
        if not node:
            raise ValueError(f"local device {device_id!r} needs the node name to be hashed")
        data = device_id + node
    return hashlib.blake2b(data.encode(), digest_size=3).hexdigest()


def instance_name(configuration: str, device_id: str, *, shared: bool, node: str | None = None) -> InstanceName:
    """`<configuration>-<hash>`, e.g. `akri-debug-echo-foo-8120fe` for shared device `foo0`."""
    return InstanceName(f"{configuration}-{device_hash(device_id, shared=shared, node=node)}")


def cdi_name(configuration: str, hash_: str) -> str:
    """CDI fully-qualified device name `akri.sh/<configuration>=<hash>` (Instance.spec.cdiName)."""
    return f"{AKRI_PREFIX}/{configuration}={hash_}"


def instance_resource_name(instance: str) -> str:
    """Extended resource of the Instance-level device plugin: `akri.sh/<instance>`."""
    return f"{AKRI_PREFIX}/{instance}"


def configuration_resource_name(configuration: str) -> str:
    """Extended resource of the Configuration-level device plugin: `akri.sh/<configuration>`."""
    return f"{AKRI_PREFIX}/{configuration}"


def _app_name(instance: str) -> str:
    return instance.replace(".", "-")


def broker_pod_name(instance: str, *, shared: bool, node: str) -> str:
    """`<node>-<instance>-pod` for shared Instances, `<instance>-pod` for local (akri-contract §3.2)."""
    base = _app_name(instance)
    return f"{node}-{base}-pod" if shared else f"{base}-pod"


def broker_job_name(instance: str, configuration_generation: int) -> str:
    """`<instance>-<configuration generation>-job` (akri-contract §3.3)."""
    return f"{_app_name(instance)}-{configuration_generation}-job"


def instance_service_name(instance: str) -> str:
    """`<instance>-svc` (akri-contract §3.4)."""
    return f"{_app_name(instance)}-svc"


def configuration_service_name(configuration: str) -> str:
    """`<configuration>-svc` (akri-contract §3.4)."""
    return f"{_app_name(configuration)}-svc"
