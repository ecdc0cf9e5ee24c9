"""Sync hook for Configuration parents: the configuration Service and a summary status.

Replaces the configuration-service half of Akri's broker Pod watcher (akri-contract.md §3.4)
with a pure function of the Metacontroller request (metacontroller-contract.md §5-§6).
Related objects (from `customize_configuration`): Instances and Pods labelled
`akri.sh/configuration=<name>` in the Configuration's namespace. As a guard against loose
related rules, only Instances whose `spec.configurationName` is this Configuration and Pods whose
label names it are counted.

* `configurationServiceSpec` → Service `<configuration>-svc` while a broker Pod of this
  Configuration runs (creation on Running, kept while any broker is live: `hooks._services`).
  Broker Pods here include Job pods (they carry the label too).
* Status (no timestamps, replayable):

      status:
        instances: int      # related Instances of this Configuration
        nodes: int          # distinct node names over those Instances' spec.nodes
        readyBrokers: int   # related broker Pods with condition Ready=True (not terminating)
        conditions:         # always these two, in this order
          - {type: InstancesDiscovered, status, reason, message}
          - {type: BrokersReady, status, reason, message}
          # then, unchanged, any condition the agents own (AGENT_CONDITION_TYPES), because
          # Metacontroller replaces .status wholesale and would otherwise wipe the agents' reports
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from akri_api import naming
from hooks import _input, _observed, _services
from hooks._types import CompositeSyncResponse, condition

__all__ = ["sync_configuration"]

INSTANCE_KEY = "Instance.akri.sh/v0"
POD_KEY = "Pod.v1"
SERVICE_KEY = "Service.v1"
AGENT_CONDITION_TYPES = frozenset({"DiscoveryFailed"})
"""Condition types written by the agents (agent.controllers.conditions); carried over as observed."""


def sync_configuration(request: Mapping[str, Any], *, now: datetime) -> CompositeSyncResponse:
    """Desired configuration Service and status of one Configuration (contract §5-§6).

    request: `parent` (Configuration: `metadata.name`, `metadata.namespace`,
    `spec.configurationServiceSpec`, `spec.brokerSpec`), `children` (`Service.v1` → name →
    object), `related` (`Instance.akri.sh/v0`, `Pod.v1` → name → object).
    now: accepted for symmetry with `sync_instance`; no rule here depends on time.
    Returns `{"status": ..., "children": [Service] or []}`.
    Raises HookInputError for a missing parent or name and for fields read here with the wrong
    JSON type. The request is never mutated.
    """
    del now  # no time-dependent rule for Configurations
    parent = _input.parent(request)
    meta = _input.metadata(parent, path="parent")
    name = _input.get(meta, "name", str, path="parent.metadata")
    namespace = _input.get(meta, "namespace", str, path="parent.metadata", default="")
    spec = _input.get(parent, "spec", Mapping, path="parent", default={})
    broker_spec = _input.get(spec, "brokerSpec", Mapping, path="parent.spec", default={})
    has_brokers = any(broker_spec.get(key) is not None for key in ("brokerPodSpec", "brokerJobSpec"))

    children = _input.object_map(_input.section(request, "children"), SERVICE_KEY, path="children")
    related = _input.section(request, "related")
    instances = _own_instances(_input.object_map(related, INSTANCE_KEY, path="related"), name)
    pods = _own_pods(_input.object_map(related, POD_KEY, path="related"), name)

    nodes: set[str] = set()
    for key, instance in instances.items():
        instance_spec = _input.get(instance, "spec", Mapping, path=_instance_path(key), default={})
        nodes.update(_input.string_list(instance_spec, "nodes", path=f"{_instance_path(key)}.spec"))
    states = [_observed.pod_state(pod, path=_pod_path(key)) for key, pod in pods.items()]
    ready = sum(state.ready for state in states)
    live = sum(state.live for state in states)
    running = any(state.running for state in states)

    desired: list[dict[str, Any]] = []
    service_spec = _input.get(spec, "configurationServiceSpec", Mapping, path="parent.spec", default=None)
    if service_spec is not None:
        service_name = naming.configuration_service_name(name)
        if _services.wanted(observed=children.get(service_name), any_running=running, any_live=live > 0):
            desired.append(
                _services.service(
                    name=service_name,
                    namespace=namespace,
                    owner_label=naming.LABEL_CONFIGURATION,
                    owner=name,
                    spec=service_spec,
                    path="parent.spec.configurationServiceSpec",
                )
            )

    if instances:
        discovered = condition(
            "InstancesDiscovered", True, "InstancesFound", f"{len(instances)} Instances on {len(nodes)} nodes"
        )
    else:
        discovered = condition("InstancesDiscovered", False, "NoInstances", "no Instances discovered")
    message = f"{ready}/{live} live broker Pods ready"
    if not has_brokers:
        brokers = condition("BrokersReady", True, "NoBrokerSpec", "Configuration has no brokerSpec")
    elif live == 0:
        brokers = condition("BrokersReady", False, "NoBrokers", "no live broker Pods")
    elif ready == live:
        brokers = condition("BrokersReady", True, "AllBrokersReady", message)
    else:
        brokers = condition("BrokersReady", False, "BrokersNotReady", message)

    return {
        "status": {
            "instances": len(instances),
            "nodes": len(nodes),
            "readyBrokers": ready,
            "conditions": [discovered, brokers, *_agent_conditions(parent)],
        },
        "children": desired,
    }


def _agent_conditions(parent: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The agents' conditions of `parent.status.conditions`, unchanged and in their order."""
    status = parent.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    if not isinstance(conditions, list):
        return []
    return [c for c in conditions if isinstance(c, Mapping) and c.get("type") in AGENT_CONDITION_TYPES]


def _own_instances(instances: Mapping[str, Mapping[str, Any]], name: str) -> dict[str, Mapping[str, Any]]:
    own = {}
    for key, instance in instances.items():
        spec = _input.get(instance, "spec", Mapping, path=_instance_path(key), default={})
        if spec.get("configurationName") == name:
            own[key] = instance
    return own


def _own_pods(pods: Mapping[str, Mapping[str, Any]], name: str) -> dict[str, Mapping[str, Any]]:
    return {
        key: pod
        for key, pod in pods.items()
        if _input.labels(pod, path=_pod_path(key)).get(naming.LABEL_CONFIGURATION) == name
    }


def _instance_path(key: str) -> str:
    return f"related.{INSTANCE_KEY}.{key}"


def _pod_path(key: str) -> str:
    return f"related.{POD_KEY}.{key}"
