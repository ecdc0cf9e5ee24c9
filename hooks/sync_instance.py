"""Sync hook for Instance parents: broker Pods or the broker Job, and the instance Service.

Replaces Akri's controller Instance handling (akri-contract.md §3.1-§3.4) with one pure function
of the Metacontroller request (metacontroller-contract.md §5-§6, DESIGN.md §2.1):

* Configuration (related, `Configuration.akri.sh/v0`, keyed by name) missing → no children,
  condition `ConfigurationFound=False`. Never an error.
* `brokerPodSpec` → one broker Pod per node in `spec.nodes` (shared Instance:
  `<node>-<instance>-pod`; local: `<instance>-pod` on one node). An observed broker Pod that is
  Failed/Succeeded, or Pending for `PENDING_GRACE_SECONDS` (300 s, by `status.startTime`), is left
  out of the response so Metacontroller deletes it; the next sync (triggered by the deletion)
  brings it back. A Pending Pod still inside its grace sets `resyncAfterSeconds` to the time left.
  Pods in phase Unknown, without `startTime`, or already terminating are kept as they are.
* `brokerJobSpec` → one Job `<instance>-<configuration generation>-job`.
* no brokerSpec → no children.
* `instanceServiceSpec` → Service `<instance>-svc` while a broker runs (rule: `hooks._services`).

Status is derived from the parent spec, the Configuration and the observed children only
(no timestamps), so replaying a request yields the same response:

    status:
      desiredBrokers: int   # broker Pods (one per node) or Jobs (0/1) the Instance should have
      liveBrokers: int      # observed live broker Pods + status.active of observed Jobs
      readyBrokers: int     # observed Ready broker Pods + status.ready of observed Jobs
      conditions:           # always these two, in this order; no lastTransitionTime
        - {type: ConfigurationFound, status, reason, message}
        - {type: BrokersReady, status, reason, message}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from akri_api import naming
from hooks import _brokers, _input, _observed, _services
from hooks._types import CompositeSyncResponse, Condition, condition
from hooks.errors import HookInputError

__all__ = ["sync_instance", "PENDING_GRACE_SECONDS"]

PENDING_GRACE_SECONDS = 300.0
"""Akri's controller replaces a broker Pod Pending longer than 5 minutes (instance_action.rs)."""

CONFIGURATION_KEY = "Configuration.akri.sh/v0"
POD_KEY = "Pod.v1"
JOB_KEY = "Job.batch/v1"
SERVICE_KEY = "Service.v1"


@dataclass
class _Brokers:
    """What the broker part of one sync decided."""

    condition: Condition
    children: list[dict[str, Any]] = field(default_factory=list)
    desired: int = 0
    resync_after_seconds: float | None = None


@dataclass(frozen=True)
class _Observed:
    """Observed children of one Instance (request["children"]), each classified once."""

    pods: Mapping[str, Mapping[str, Any]]
    pod_states: Mapping[str, _observed.PodState]
    job_states: Mapping[str, _observed.JobState]
    services: Mapping[str, Mapping[str, Any]]

    @classmethod
    def read(cls, children: Mapping[str, Any]) -> _Observed:
        pods = _input.object_map(children, POD_KEY, path="children")
        jobs = _input.object_map(children, JOB_KEY, path="children")
        return cls(
            pods=pods,
            pod_states={name: _observed.pod_state(pod, path=_pod_path(name)) for name, pod in pods.items()},
            job_states={name: _observed.job_state(job, path=_job_path(name)) for name, job in jobs.items()},
            services=_input.object_map(children, SERVICE_KEY, path="children"),
        )

    def live(self) -> int:
        """Live broker Pods + `status.active` of Jobs that are not terminating."""
        jobs = sum(job.active for job in self.job_states.values() if not job.terminating)
        return sum(pod.live for pod in self.pod_states.values()) + jobs

    def ready(self) -> int:
        """Ready broker Pods + `status.ready` of Jobs that are not terminating."""
        jobs = sum(job.ready for job in self.job_states.values() if not job.terminating)
        return sum(pod.ready for pod in self.pod_states.values()) + jobs

    def any_running(self) -> bool:
        states: list[Any] = [*self.pod_states.values(), *self.job_states.values()]
        return any(state.running for state in states)

    def any_live(self) -> bool:
        states: list[Any] = [*self.pod_states.values(), *self.job_states.values()]
        return any(state.live for state in states)


@dataclass(frozen=True)
class _Instance:
    """The fields of the parent Instance the hook reads."""

    name: str
    namespace: str
    configuration: str
    shared: bool
    nodes: list[str]

    @classmethod
    def read(cls, request: Mapping[str, Any]) -> _Instance:
        parent = _input.parent(request)
        meta = _input.metadata(parent, path="parent")
        spec = _input.get(parent, "spec", Mapping, path="parent")
        return cls(
            name=_input.get(meta, "name", str, path="parent.metadata"),
            namespace=_input.get(meta, "namespace", str, path="parent.metadata", default=""),
            configuration=_input.get(spec, "configurationName", str, path="parent.spec"),
            shared=_input.get(spec, "shared", bool, path="parent.spec", default=False),
            nodes=_input.string_list(spec, "nodes", path="parent.spec"),
        )


def sync_instance(request: Mapping[str, Any], *, now: datetime) -> CompositeSyncResponse:
    """Desired children and status of one Instance (metacontroller-contract.md §5-§6).

    request: `parent` (Instance: `metadata.name`, `metadata.namespace`, `spec.configurationName`,
    `spec.shared`, `spec.nodes`), `children` (`Pod.v1`, `Job.batch/v1`, `Service.v1` → name →
    object), `related` (`Configuration.akri.sh/v0` → name → Configuration).
    now: the current time (aware; naive means UTC), used only for the Pending grace.
    Returns `{"status": ..., "children": [...], "resyncAfterSeconds": float}` with children sorted
    by (kind, name); `resyncAfterSeconds` (seconds, > 0) only while a Pending broker's grace runs.
    Raises HookInputError for a missing parent, name or `spec.configurationName`, for any field
    read here with the wrong JSON type, and for a Configuration with both broker specs.
    The request is never mutated.
    """
    now = _observed.as_utc(now)
    instance = _Instance.read(request)
    observed = _Observed.read(_input.section(request, "children"))
    related = _input.object_map(_input.section(request, "related"), CONFIGURATION_KEY, path="related")
    configuration, cfg_path = _find_configuration(related, instance.configuration, instance.namespace)

    if configuration is None:
        qualified = f"{instance.namespace}/{instance.configuration}" if instance.namespace else instance.configuration
        message = f"Configuration {qualified} not found"
        not_found = condition("ConfigurationFound", False, "ConfigurationNotFound", message)
        unready = condition("BrokersReady", False, "ConfigurationNotFound", message)
        return {"status": _status(0, observed, not_found, unready), "children": []}

    cfg_spec = _input.get(configuration, "spec", Mapping, path=cfg_path, default={})
    broker_spec_path = f"{cfg_path}.spec.brokerSpec"
    broker_spec = _input.get(cfg_spec, "brokerSpec", Mapping, path=f"{cfg_path}.spec", default={})
    pod_spec = _input.get(broker_spec, "brokerPodSpec", Mapping, path=broker_spec_path, default=None)
    job_spec = _input.get(broker_spec, "brokerJobSpec", Mapping, path=broker_spec_path, default=None)
    if pod_spec is not None and job_spec is not None:
        raise HookInputError(
            broker_spec_path, sorted(broker_spec), "brokerPodSpec and brokerJobSpec are mutually exclusive"
        )
    if pod_spec is not None:
        path = f"{broker_spec_path}.brokerPodSpec"
        brokers = _pod_brokers(instance, pod_spec=pod_spec, observed=observed, now=now, path=path)
    elif job_spec is not None:
        cfg_meta = _input.metadata(configuration, path=cfg_path)
        generation = _input.get(cfg_meta, "generation", int, path=f"{cfg_path}.metadata")
        path = f"{broker_spec_path}.brokerJobSpec"
        brokers = _job_broker(instance, generation=generation, job_spec=job_spec, observed=observed, path=path)
    else:
        no_spec = condition("BrokersReady", True, "NoBrokerSpec", "Configuration has no brokerSpec")
        brokers = _Brokers(condition=no_spec)

    service_path = f"{cfg_path}.spec.instanceServiceSpec"
    service_spec = _input.get(cfg_spec, "instanceServiceSpec", Mapping, path=f"{cfg_path}.spec", default=None)
    if service_spec is not None and (pod_spec is not None or job_spec is not None):
        brokers.children.extend(_instance_service(instance, spec=service_spec, observed=observed, path=service_path))

    found = condition("ConfigurationFound", True, "Found", f"Configuration {instance.configuration} found")
    response: CompositeSyncResponse = {
        "status": _status(brokers.desired, observed, found, brokers.condition),
        "children": sorted(brokers.children, key=lambda child: (child["kind"], child["metadata"]["name"])),
    }
    if brokers.resync_after_seconds is not None:
        response["resyncAfterSeconds"] = brokers.resync_after_seconds
    return response


def _instance_service(
    instance: _Instance, *, spec: Mapping[str, Any], observed: _Observed, path: str
) -> list[dict[str, Any]]:
    """`[<instance>-svc]` while a broker runs (rule in hooks._services), else `[]`."""
    name = naming.instance_service_name(instance.name)
    if not _services.wanted(
        observed=observed.services.get(name), any_running=observed.any_running(), any_live=observed.any_live()
    ):
        return []
    service = _services.service(
        name=name,
        namespace=instance.namespace,
        owner_label=naming.LABEL_INSTANCE,
        owner=instance.name,
        spec=spec,
        path=path,
    )
    return [service]


def _pod_brokers(
    instance: _Instance,
    *,
    pod_spec: Mapping[str, Any],
    observed: _Observed,
    now: datetime,
    path: str,
) -> _Brokers:
    """One broker Pod per target node, minus the ones to replace (module docstring)."""
    name, shared = instance.name, instance.shared
    prepared = _brokers.prepare_pod_spec(pod_spec, name, path=path)
    targets = _target_nodes(name=name, shared=shared, nodes=instance.nodes, pods=observed.pods)
    children: list[dict[str, Any]] = []
    deadlines: list[float] = []
    ready = 0
    for node in targets:
        pod_name = naming.broker_pod_name(name, shared=shared, node=node)
        current = observed.pod_states.get(pod_name)
        if current is not None:
            replace, remaining = _replacement(current, now=now)
            if replace:
                continue
            if remaining is not None:
                deadlines.append(remaining)
            ready += current.ready
        children.append(
            _brokers.broker_pod(
                instance=name,
                namespace=instance.namespace,
                configuration=instance.configuration,
                node=node,
                name=pod_name,
                spec=prepared,
            )
        )
    message = f"{ready}/{len(targets)} broker Pods ready"
    if not targets:
        ready_condition = condition("BrokersReady", False, "NoNodes", "Instance has no nodes")
    elif ready == len(targets):
        ready_condition = condition("BrokersReady", True, "AllBrokersReady", message)
    else:
        ready_condition = condition("BrokersReady", False, "BrokersNotReady", message)
    return _Brokers(
        condition=ready_condition,
        children=children,
        desired=len(targets),
        resync_after_seconds=min(deadlines) if deadlines else None,
    )


def _target_nodes(*, name: str, shared: bool, nodes: list[str], pods: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Nodes that get a broker: every node (shared), or exactly one (local).

    A local Instance has one Pod name for any node; with several nodes (not expected) the node of
    the observed Pod wins if it is still listed (no churn), else the smallest node name.
    """
    unique = sorted(set(nodes))
    if shared or len(unique) <= 1:
        return unique
    pod_name = naming.broker_pod_name(name, shared=False, node=unique[0])
    current = pods.get(pod_name)
    if current is not None:
        node = _input.labels(current, path=_pod_path(pod_name)).get(naming.LABEL_TARGET_NODE)
        if node in unique:
            return [node]
    return unique[:1]


def _replacement(pod: _observed.PodState, *, now: datetime) -> tuple[bool, float | None]:
    """(replace now?, seconds until the Pending grace ends or None) for one observed broker Pod.

    Terminating → keep (Metacontroller never updates it; its deletion triggers the next sync).
    Failed/Succeeded → replace. Pending (or no phase yet) with `status.startTime` → replace once
    `now - startTime >= 300 s`, else keep and report the time left (capped at 300 s, so a
    startTime in the future cannot postpone the check). Anything else → keep.
    """
    if pod.terminating:
        return False, None
    if pod.finished:
        return True, None
    if pod.phase not in (None, _observed.PENDING) or pod.start_time is None:
        return False, None
    elapsed = (now - pod.start_time).total_seconds()
    if elapsed >= PENDING_GRACE_SECONDS:
        return True, None
    return False, min(PENDING_GRACE_SECONDS - elapsed, PENDING_GRACE_SECONDS)


def _job_broker(
    instance: _Instance,
    *,
    generation: int,
    job_spec: Mapping[str, Any],
    observed: _Observed,
    path: str,
) -> _Brokers:
    """The single broker Job; its condition comes from the observed Job of that name."""
    job = _brokers.broker_job(
        instance=instance.name,
        namespace=instance.namespace,
        configuration=instance.configuration,
        generation=generation,
        job_spec=job_spec,
        path=path,
    )
    job_name = job["metadata"]["name"]
    current = observed.job_states.get(job_name)
    if current is None:
        ready_condition = condition("BrokersReady", False, "JobNotStarted", f"Job {job_name} not observed yet")
    elif current.finished == "Complete":
        ready_condition = condition("BrokersReady", True, "JobComplete", f"Job {job_name} complete")
    elif current.finished == "Failed":
        ready_condition = condition("BrokersReady", False, "JobFailed", f"Job {job_name} failed")
    elif current.running:
        ready_condition = condition("BrokersReady", True, "JobRunning", f"Job {job_name} has ready Pods")
    else:
        ready_condition = condition("BrokersReady", False, "JobPending", f"Job {job_name} has no ready Pods")
    return _Brokers(condition=ready_condition, children=[job], desired=1)


def _find_configuration(
    related: Mapping[str, Mapping[str, Any]], name: str, namespace: str
) -> tuple[Mapping[str, Any] | None, str]:
    """The related Configuration by v1 key `name`, or v2 key `namespace/name`; with its key path."""
    for key in (name, f"{namespace}/{name}"):
        found = related.get(key)
        if found is not None:
            return found, f"related.{CONFIGURATION_KEY}.{key}"
    return None, ""


def _status(desired: int, observed: _Observed, configuration: Condition, brokers: Condition) -> dict[str, Any]:
    return {
        "desiredBrokers": desired,
        "liveBrokers": observed.live(),
        "readyBrokers": observed.ready(),
        "conditions": [configuration, brokers],
    }


def _pod_path(name: str) -> str:
    return f"children.{POD_KEY}.{name}"


def _job_path(name: str) -> str:
    return f"children.{JOB_KEY}.{name}"
