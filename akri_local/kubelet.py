"""A kubelet simulator: one fake node for the local control plane (DESIGN.md §4, akri-contract.md §2.5-§2.6).

`KubeletSimulator` is an ordinary API client (kubeconfig in) that plays the parts of a kubelet the
Akri agent and brokers depend on:
- registers a Node with a Ready condition (`set_ready(False)` flips it) and keeps
  `status.capacity`/`allocatable` of every device-plugin resource = advertised / healthy devices;
- serves device-plugin registration (`<root>/device-plugins/kubelet.sock`), dials each registered
  plugin and follows its ListAndWatch stream (a re-registration of a resource replaces the old
  stream; a plugin whose stream ends is forgotten and its resource drops to 0 at once — a real
  kubelet waits a grace period);
- with `schedule=True` (local emulator only) binds pending pods that fit this node (see
  `_kubelet_scheduling`), retrying when capacity or the node changes;
- "runs" pods bound to this node: picks free healthy devices per container (init containers
  first, their devices reused by later containers), calls `Allocate` once per container and
  resource, and marks the pod Running — or Failed with reason `UnexpectedAdmissionError` when
  devices are missing or Allocate fails. What each container received (env, mounts, device nodes)
  is kept for `exec_env()` / `container_record()` and written to
  `<root>/pods/<namespace>_<pod>/<container>.json`;
- serves pod-resources `List` (`<root>/pod-resources/kubelet.sock`) with the device IDs as the
  plugin advertised them (no `akri.sh/` prefix), like the real kubelet;
- finishes deletions: a pod of this node with a deletionTimestamp has its devices freed and is
  deleted with grace period 0;
- `restart()` behaves like a kubelet restart: registration and pod-resources sockets are
  recreated, every other socket in the device-plugins directory is removed (kubelet
  `CleanupPluginDirectory`), plugins are forgotten until they register again; device
  assignments survive (the kubelet's checkpoint).

Against a real cluster use `schedule=False` and a dedicated node name that no real kubelet owns:
the real scheduler places pods on the fake node and this simulator "runs" them. No heartbeat
(Lease) is sent, so a real node controller eventually marks the fake node NotReady.

Usage: `python -m akri_local.kubelet --kubeconfig K --node NAME --root DIR [--no-schedule]`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from agent.kube import errors
from agent.kube.resources import ResourceKind
from akri_local import _cli as cli
from akri_local import _kubelet_pods as pods
from akri_local import _kubelet_scheduling as scheduling
from akri_local._kubelet_devices import AllocationError, Assignment, DeviceState
from akri_local._kubelet_grpc import PluginConnection, PodResourcesServer, PodSnapshot, RegistrationServer
from akri_local._metacontroller_kube import DELETED, Informer, Kube
from akri_local._metacontroller_queue import WorkQueue

__all__ = ["KubeletSimulator", "ContainerRecord", "PodNotRunning", "main", "CHECKPOINT_FILE", "ADMISSION_ERROR"]

logger = logging.getLogger(__name__)

NODES = ResourceKind("v1", "Node", "nodes", namespaced=False)
PODS = ResourceKind("v1", "Pod", "pods")
CONFIGMAPS = ResourceKind("v1", "ConfigMap", "configmaps")
SECRETS = ResourceKind("v1", "Secret", "secrets")
CHECKPOINT_FILE = "kubelet_internal_checkpoint"
KUBELET_VERSION = "v1.36.0-akri-local"
BASE_RESOURCES = {"cpu": "2", "memory": "4Gi", "pods": "110", "ephemeral-storage": "10Gi"}
ADMISSION_ERROR = "UnexpectedAdmissionError"

_NODE = ("node",)
_SCHEDULE = ("schedule",)


class PodNotRunning(LookupError):
    """The named container is not running on this simulated node."""


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    """What one container received when the simulator started it.

    env: the environment `printenv` would show (device-plugin envs overridden by the spec's env);
    device_env: the merged `envs` of the Allocate responses; mounts / devices: the responses'
    `Mount` / `DeviceSpec` entries as dicts (container_path, host_path, read_only / permissions);
    annotations: merged response annotations; device_ids: resource → ids allocated.
    """

    namespace: str
    pod: str
    container: str
    init: bool
    env: Mapping[str, str]
    device_env: Mapping[str, str]
    mounts: tuple[Mapping[str, Any], ...] = ()
    devices: tuple[Mapping[str, Any], ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    device_ids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (the content of `<root>/pods/<ns>_<pod>/<container>.json`)."""
        return {"namespace": self.namespace, "pod": self.pod, "container": self.container, "init": self.init,
                "env": dict(self.env), "deviceEnv": dict(self.device_env), "mounts": list(self.mounts),
                "devices": list(self.devices), "annotations": dict(self.annotations),
                "deviceIDs": {k: list(v) for k, v in self.device_ids.items()}}


class KubeletSimulator:
    """One simulated kubelet (node `node_name`) with its sockets under `root_dir`.

    kubeconfig: path of the kubeconfig to use. root_dir: plays `/var/lib/kubelet`; keep it short
    (Unix socket paths are limited to 107 bytes). schedule: also bind pending pods that fit this
    node (only against the local emulator, never where a real scheduler runs). labels: extra node
    labels. delete_node_on_stop: delete the Node object in `stop()` (default keeps it, like a
    stopped kubelet).
    """

    def __init__(self, kubeconfig: str | os.PathLike[str], node_name: str, root_dir: str | os.PathLike[str], *,
                 schedule: bool = True, labels: Mapping[str, str] | None = None,
                 delete_node_on_stop: bool = False) -> None:
        if not node_name:
            raise ValueError("node_name must be a non-empty node name")
        self.kubeconfig = os.fspath(kubeconfig)
        self.node_name = node_name
        self.root_dir = os.path.abspath(os.fspath(root_dir))
        self.schedule = schedule
        self.labels = {"kubernetes.io/hostname": node_name, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64", **(labels or {})}
        self.delete_node_on_stop = delete_node_on_stop
        self.device_plugins_dir = os.path.join(self.root_dir, "device-plugins")
        self.registration_socket = os.path.join(self.device_plugins_dir, "kubelet.sock")
        self.pod_resources_socket = os.path.join(self.root_dir, "pod-resources", "kubelet.sock")
        self.pods_dir = os.path.join(self.root_dir, "pods")
        for path in (self.registration_socket, self.pod_resources_socket):
            if len(path.encode()) > 107:
                raise ValueError(f"root_dir {self.root_dir!r} is too long: socket {path!r} exceeds 107 bytes")
        self._lock = threading.RLock()
        self._devices = DeviceState()
        self._plugins: dict[str, PluginConnection] = {}
        self._records: dict[tuple[str, str, str], ContainerRecord] = {}
        self._uids: dict[tuple[str, str], str] = {}
        self._handled: set[str] = set()
        self._ready = True
        self._binding_supported = True
        self._queue: WorkQueue[tuple[str, ...]] = WorkQueue(backoff_base_seconds=0.2, backoff_max_seconds=5.0)
        self._stop = threading.Event()
        self._kube: Kube | None = None
        self._informer: Informer | None = None
        self._worker: threading.Thread | None = None
        self._registration = RegistrationServer(self.registration_socket, self._register)
        self._pod_resources = PodResourcesServer(self.pod_resources_socket, pods=self._pod_snapshot,
                                                 allocatable=self._allocatable)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Register the Node, open both sockets, start watching pods; returns once serving.

        Raises agent.kube.errors.KubeConfigError (bad kubeconfig), agent.kube.errors.KubeError
        (Node cannot be written), OSError/RuntimeError (sockets cannot be bound).
        """
        if self._kube is not None:
            raise RuntimeError("KubeletSimulator already started")
        for directory in (self.device_plugins_dir, os.path.dirname(self.pod_resources_socket), self.pods_dir):
            os.makedirs(directory, exist_ok=True)
        self._kube = Kube.from_kubeconfig(self.kubeconfig)
        self._register_node()
        self._clean_plugin_directory()
        self._registration.start()
        self._pod_resources.start()
        field_selector = None if self.schedule else f"spec.nodeName={self.node_name}"
        self._informer = Informer(self._kube, PODS, field_selector=field_selector)
        self._informer.add_handler(self._on_pod)
        self._informer.start()
        self._worker = threading.Thread(target=self._work, name=f"kubelet-{self.node_name}", daemon=True)
        self._worker.start()
        logger.info("kubelet simulator for node %s serving under %s", self.node_name, self.root_dir)

    def stop(self, *, delete_node: bool | None = None, timeout: float = 5.0) -> None:
        """Stop serving and watching; delete the Node when `delete_node` (default: constructor option)."""
        self._stop.set()
        self._queue.shut_down()
        if self._informer is not None:
            self._informer.stop(timeout)
        if self._worker is not None:
            self._worker.join(timeout)
        self._registration.stop()
        self._pod_resources.stop()
        with self._lock:
            connections = list(self._plugins.values())
            self._plugins.clear()
        for connection in connections:
            connection.close()
        if self._kube is not None:
            if self.delete_node_on_stop if delete_node is None else delete_node:
                try:
                    self._kube.delete(NODES, self.node_name)
                except errors.NotFound:
                    pass
                except errors.KubeError as exc:
                    logger.warning("could not delete node %s: %s", self.node_name, exc)
            self._kube.close()
        logger.info("kubelet simulator for node %s stopped", self.node_name)

    def __enter__(self) -> KubeletSimulator:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def restart(self) -> None:
        """Simulate a kubelet restart (see the module docstring); plugins must register again.

        The new sockets are guaranteed new inodes (the old ones are held by a hard link until the
        new ones exist), so a watcher comparing inodes always sees the restart.
        """
        holds = []
        for index, path in enumerate((self.registration_socket, self.pod_resources_socket)):
            hold = os.path.join(self.root_dir, f".restarting-{index}")
            if os.path.exists(path):
                if os.path.lexists(hold):
                    os.unlink(hold)
                os.link(path, hold)
                holds.append(hold)
        try:
            self._registration.stop()
            self._pod_resources.stop()
            with self._lock:
                connections = list(self._plugins.values())
                self._plugins.clear()
                for resource in list(self._devices.resources()):
                    self._devices.remove_resource(resource)
            for connection in connections:
                connection.close()
            self._clean_plugin_directory()
            self._registration.start()
            self._pod_resources.start()
        finally:
            for hold in holds:
                os.unlink(hold)
        self._queue.add(_NODE)
        logger.info("kubelet on node %s restarted; %d plugins forgotten", self.node_name, len(connections))

    def set_ready(self, ready: bool) -> None:
        """Write the Node's Ready condition (True/False); a NotReady node gets no new pods."""
        with self._lock:
            self._ready = ready
        self._write_node_conditions()
        self._queue.add(_SCHEDULE)

    # -- what tests read ------------------------------------------------------------------------------

    def exec_env(self, namespace: str, pod: str, container: str) -> dict[str, str]:
        """The environment of a running container (like `kubectl exec … printenv`). Raises PodNotRunning."""
        return dict(self.container_record(namespace, pod, container).env)

    def container_record(self, namespace: str, pod: str, container: str) -> ContainerRecord:
        """Everything a running container received. Raises PodNotRunning."""
        with self._lock:
            record = self._records.get((namespace, pod, container))
        if record is None:
            raise PodNotRunning(f"container {container!r} of pod {namespace}/{pod} is not running on node "
                                f"{self.node_name!r}")
        return record

    def devices(self) -> dict[str, dict[str, bool]]:
        """Devices the registered plugins advertise: resource → device id → healthy."""
        with self._lock:
            return self._devices.resources()

    def allocations(self) -> dict[tuple[str, str], dict[str, dict[str, tuple[str, ...]]]]:
        """Devices held by admitted pods: (namespace, pod) → container → resource → device ids."""
        with self._lock:
            return {(p.namespace, p.name): {c: dict(r) for c, r in p.containers.items()}
                    for p in self._devices.pods().values()}

    # -- node -----------------------------------------------------------------------------------------

    def _register_node(self) -> None:
        assert self._kube is not None
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node_name, "labels": self.labels},
                "spec": {}}
        try:
            self._kube.create(NODES, body)
            logger.info("registered node %s", self.node_name)
        except errors.AlreadyExists:
            self._kube.patch(NODES, self.node_name, {"metadata": {"labels": self.labels}})
        now = pods.utc_now()
        self._kube.patch(NODES, self.node_name, {"status": {
            "conditions": self._conditions(now),
            "addresses": [{"type": "InternalIP", "address": pods.SIMULATED_IP},
                          {"type": "Hostname", "address": self.node_name}],
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "simulated://1", "kubeProxyVersion": "", "osImage": "simulated",
                         "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
            "capacity": dict(BASE_RESOURCES), "allocatable": dict(BASE_RESOURCES)}}, subresource="status")

    def _conditions(self, now: str) -> list[dict[str, Any]]:
        ready = {"type": "Ready", "status": "True" if self._ready else "False",
                 "reason": "KubeletReady" if self._ready else "KubeletNotReady",
                 "message": "kubelet is posting ready status" if self._ready else "simulated NotReady",
                 "lastHeartbeatTime": now, "lastTransitionTime": now}
        quiet = [{"type": t, "status": "False", "reason": f"KubeletHasNo{t}", "message": "simulated",
                  "lastHeartbeatTime": now, "lastTransitionTime": now}
                 for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
        return [*quiet, ready]

    def _patch_node_status(self, status: dict[str, Any]) -> None:
        """Merge `status` into the Node's status. A deleted Node is not re-created (a running kubelet
        does not register again either); the write is dropped with a log line."""
        assert self._kube is not None
        try:
            self._kube.patch(NODES, self.node_name, {"status": status}, subresource="status")
        except errors.NotFound:
            logger.info("node %s no longer exists; its status is not updated", self.node_name)

    def _write_node_conditions(self) -> None:
        with self._lock:
            conditions = self._conditions(pods.utc_now())
        self._patch_node_status({"conditions": conditions})

    def _write_node_resources(self) -> None:
        with self._lock:
            counts = self._devices.counts()
        capacity = {**BASE_RESOURCES, **{r: str(c) for r, (c, _) in counts.items()}}
        allocatable = {**BASE_RESOURCES, **{r: str(a) for r, (_, a) in counts.items()}}
        self._patch_node_status({"capacity": capacity, "allocatable": allocatable})
        logger.debug("node %s allocatable %s", self.node_name, allocatable)

    # -- device plugins (gRPC threads) ------------------------------------------------------------------

    def _register(self, resource: str, endpoint: str) -> str | None:
        path = os.path.join(self.device_plugins_dir, endpoint)
        if not os.path.exists(path):
            return f"failed to dial device plugin {endpoint!r}: no socket at {path}"
        connection = PluginConnection(resource, path, on_devices=self._on_devices, on_end=self._on_plugin_end)
        try:
            connection.connect()
        except (grpc.RpcError, grpc.FutureTimeoutError) as exc:
            connection.close()
            return f"failed to dial device plugin {endpoint!r}: {exc}"
        with self._lock:
            old = self._plugins.get(resource)
            self._plugins[resource] = connection
        if old is not None:
            old.close()
            logger.info("plugin for %s re-registered at %s; old stream dropped", resource, endpoint)
        connection.start_stream()
        logger.info("plugin for %s registered at %s", resource, endpoint)
        return None

    def _on_devices(self, connection: PluginConnection, devices: dict[str, bool]) -> None:
        with self._lock:
            if self._plugins.get(connection.resource) is not connection:
                return
            self._devices.set_devices(connection.resource, devices)
        self._queue.add(_NODE)

    def _on_plugin_end(self, connection: PluginConnection) -> None:
        with self._lock:
            if self._plugins.get(connection.resource) is not connection:
                return
            del self._plugins[connection.resource]
            self._devices.remove_resource(connection.resource)
        connection.close()
        logger.info("plugin for %s went away; resource set to 0", connection.resource)
        self._queue.add(_NODE)

    def _clean_plugin_directory(self) -> None:
        """Remove every non-directory entry of the device-plugins directory but the checkpoint
        (kubelet `CleanupPluginDirectory`)."""
        for entry in os.scandir(self.device_plugins_dir):
            if entry.name != CHECKPOINT_FILE and not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.path)

    def _pod_snapshot(self) -> PodSnapshot:
        with self._lock:
            records = list(self._devices.pods().values())
        return [(p.namespace, p.name, [(c, p.containers.get(c, {})) for c in p.app_containers]) for p in records]

    def _allocatable(self) -> dict[str, list[str]]:
        with self._lock:
            return {r: sorted(i for i, ok in d.items() if ok) for r, d in self._devices.resources().items()}

    # -- pod events (informer thread) -------------------------------------------------------------------

    def _on_pod(self, etype: str, pod: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        node = spec.get("nodeName")
        with self._lock:
            known = key in self._uids
        if node == self.node_name or known:
            self._queue.add(("pod", *key))
        if self.schedule and (not node or (node == self.node_name and (
                etype == DELETED or meta.get("deletionTimestamp") or scheduling.is_terminated(pod)))):
            self._queue.add(_SCHEDULE)

    # -- worker ---------------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self._queue.get()
            if key is None:
                return
            try:
                if key == _NODE:
                    self._write_node_resources()
                    self._queue.add(_SCHEDULE)
                elif key == _SCHEDULE:
                    if self.schedule:
                        self._schedule_pending()
                else:
                    self._sync_pod(key[1], key[2])
                self._queue.forget(key)
            except Exception as exc:  # task guard: log, retry with backoff, keep the kubelet alive
                if not self._stop.is_set():
                    delay = self._queue.add_rate_limited(key)
                    logger.warning("kubelet %s: %s failed (retry in %.1fs): %s", self.node_name, key, delay, exc)
            finally:
                self._queue.done(key)

    # -- scheduling -------------------------------------------------------------------------------------

    def _schedule_pending(self) -> None:
        assert self._kube is not None and self._informer is not None
        node = self._kube.get_or_none(NODES, self.node_name)
        if node is None:
            return  # the Node was deleted: nothing can be scheduled here
        all_pods = self._informer.list()
        bound = [p for p in all_pods if (p.get("spec") or {}).get("nodeName") == self.node_name]
        pending = [p for p in all_pods if not (p.get("spec") or {}).get("nodeName")
                   and not p["metadata"].get("deletionTimestamp") and not scheduling.is_terminated(p)
                   and (p.get("spec") or {}).get("schedulerName", "default-scheduler") == "default-scheduler"]
        pending.sort(key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))
        for pod in pending:
            try:
                ok, reason = scheduling.fits(pod, node, bound)
            except ValueError as exc:
                ok, reason = False, str(exc)
            if not ok:
                logger.debug("pod %s/%s does not fit node %s: %s", pod["metadata"].get("namespace"),
                             pod["metadata"]["name"], self.node_name, reason)
                continue
            if self._bind(pod):
                bound.append({**pod, "spec": {**pod["spec"], "nodeName": self.node_name}})

    def _bind(self, pod: dict[str, Any]) -> bool:
        """Bind through pods/binding (fallback: patch spec.nodeName with a resourceVersion precondition)."""
        assert self._kube is not None
        meta = pod["metadata"]
        namespace, name = meta.get("namespace") or "default", meta["name"]
        if self._binding_supported:
            binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace},
                       "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name}}
            try:
                self._kube.create(PODS, binding, namespace, subresource_of=name, subresource="binding")
                logger.info("bound pod %s/%s to node %s", namespace, name, self.node_name)
                return True
            except (errors.Conflict, errors.AlreadyExists) as exc:
                logger.debug("pod %s/%s was bound elsewhere: %s", namespace, name, exc)
                return False
            except errors.KubeClientError as exc:
                if exc.status not in (404, 405) or self._kube.get_or_none(PODS, name, namespace) is None:
                    raise
                logger.info("API server has no pods/binding (%s); binding by patch", exc.status)
                self._binding_supported = False
        try:
            self._kube.patch(PODS, name, {"metadata": {"resourceVersion": meta.get("resourceVersion")},
                                          "spec": {"nodeName": self.node_name}}, namespace)
        except (errors.Conflict, errors.NotFound) as exc:
            logger.debug("pod %s/%s not bound: %s", namespace, name, exc)
            return False
        logger.info("bound pod %s/%s to node %s (patch)", namespace, name, self.node_name)
        return True

    # -- running pods -----------------------------------------------------------------------------------

    def _sync_pod(self, namespace: str, name: str) -> None:
        assert self._kube is not None and self._informer is not None
        pod = self._informer.get(namespace, name)
        with self._lock:
            known_uid = self._uids.get((namespace, name))
        ours = pod is not None and (pod.get("spec") or {}).get("nodeName") == self.node_name
        uid = pod["metadata"].get("uid") if pod is not None else None
        if known_uid is not None and (not ours or known_uid != uid):
            self._forget(namespace, name, known_uid)
        if not ours or pod is None or uid is None:
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._forget(namespace, name, uid)
            try:
                self._kube.delete(PODS, name, namespace, uid=uid, grace_period_seconds=0)
                logger.info("pod %s/%s terminated on node %s", namespace, name, self.node_name)
            except (errors.NotFound, errors.Conflict):
                pass
            return
        with self._lock:
            if uid in self._handled:
                return
            self._handled.add(uid)
            self._uids[(namespace, name)] = uid
        if scheduling.is_terminated(pod):
            return
        try:
            self._admit(pod)
        except BaseException:
            with self._lock:  # let the retry admit the pod afresh
                self._handled.discard(uid)
                self._devices.release(uid)
            raise

    def _forget(self, namespace: str, name: str, uid: str) -> None:
        with self._lock:
            freed = self._devices.release(uid)
            self._uids.pop((namespace, name), None)
            self._handled.discard(uid)
            for key in [k for k in self._records if k[:2] == (namespace, name)]:
                del self._records[key]
        shutil.rmtree(os.path.join(self.pods_dir, f"{namespace}_{name}"), ignore_errors=True)
        if freed:
            logger.info("devices of pod %s/%s freed on node %s", namespace, name, self.node_name)
        self._queue.add(_SCHEDULE)

    def _admit(self, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        namespace, name, uid = meta.get("namespace") or "default", meta["name"], meta["uid"]
        try:
            with self._lock:
                plan = self._devices.plan_pod(uid, pod)
            responses = [(item, self._allocate(item)) for item in plan]
        except AllocationError as exc:
            self._fail(pod, f"Allocate failed due to {exc}, which is unexpected")
            return
        except grpc.RpcError as exc:
            code = "".join(part.capitalize() for part in exc.code().name.split("_"))
            self._fail(pod, f"Allocate failed due to rpc error: code = {code} desc = {exc.details()}, "
                            "which is unexpected")
            return
        except ValueError as exc:
            self._fail(pod, f"Allocate failed due to {exc}, which is unexpected")
            return
        app = tuple(str(c.get("name")) for c in spec.get("containers") or [])
        records = self._container_records(pod, responses)
        with self._lock:
            if self._uids.get((namespace, name)) != uid:
                return  # deleted meanwhile
            self._devices.commit(uid, namespace, name, app, plan)
            for record in records:
                self._records[(namespace, name, record.container)] = record
        self._write_records(records)
        self._write_pod_status(pod, pods.running_status(pod, now=pods.utc_now()))
        logger.info("pod %s/%s running on node %s", namespace, name, self.node_name)

    def _allocate(self, item: Assignment) -> Any:
        with self._lock:
            connection = self._plugins.get(item.resource)
        if connection is None:
            raise AllocationError(f"no device plugin registered for {item.resource}")
        response = connection.allocate(item.device_ids)
        connection.pre_start(item.device_ids)
        return response

    def _fail(self, pod: dict[str, Any], message: str) -> None:
        meta = pod["metadata"]
        logger.warning("pod %s/%s rejected on node %s: %s", meta.get("namespace"), meta["name"], self.node_name,
                       message)
        self._write_pod_status(pod, pods.failed_status(ADMISSION_ERROR, message, now=pods.utc_now()))

    def _container_records(self, pod: dict[str, Any], responses: list[tuple[Assignment, Any]]) -> list[ContainerRecord]:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        records = []
        for container, init in ([(c, True) for c in spec.get("initContainers") or []]
                                + [(c, False) for c in spec.get("containers") or []]):
            cname = str(container.get("name"))
            device_env: dict[str, str] = {}
            annotations: dict[str, str] = {}
            mounts: list[dict[str, Any]] = []
            devices: list[dict[str, Any]] = []
            ids: dict[str, tuple[str, ...]] = {}
            for item, response in responses:
                if item.container != cname or item.init != init:
                    continue
                ids[item.resource] = item.device_ids
                device_env.update(response.envs)
                annotations.update(response.annotations)
                mounts += [{"container_path": m.container_path, "host_path": m.host_path, "read_only": m.read_only}
                           for m in response.mounts]
                devices += [{"container_path": d.container_path, "host_path": d.host_path,
                             "permissions": d.permissions} for d in response.devices]
            env = pods.container_env(pod, container, device_env, node_name=self.node_name, lookup=self._lookup)
            records.append(ContainerRecord(meta.get("namespace") or "default", meta["name"], cname, init, env,
                                           device_env, tuple(mounts), tuple(devices), annotations, ids))
        return records

    def _lookup(self, kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
        assert self._kube is not None
        obj = self._kube.get_or_none(CONFIGMAPS if kind == "ConfigMap" else SECRETS, name, namespace)
        if obj is None:
            return None
        return pods.decode_secret_data(obj.get("data")) if kind == "Secret" else dict(obj.get("data") or {})

    def _write_records(self, records: list[ContainerRecord]) -> None:
        for record in records:
            directory = Path(self.pods_dir) / f"{record.namespace}_{record.pod}"
            directory.mkdir(parents=True, exist_ok=True)
            (directory / f"{record.container}.json").write_text(json.dumps(record.to_json(), indent=2, sort_keys=True))

    def _write_pod_status(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        assert self._kube is not None
        meta = pod["metadata"]
        try:
            self._kube.patch(PODS, meta["name"], {"status": status}, meta.get("namespace"), subresource="status")
        except errors.NotFound:
            logger.debug("pod %s/%s vanished before its status was written", meta.get("namespace"), meta["name"])


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: simulate one node until SIGINT/SIGTERM. Exit status 2 for invalid arguments."""
    parser = argparse.ArgumentParser(prog="python -m akri_local.kubelet", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster")
    parser.add_argument("--node", required=True, help="node name to register and simulate")
    parser.add_argument("--root", required=True, help="directory playing /var/lib/kubelet (short path: UDS limit)")
    parser.add_argument("--no-schedule", action="store_true",
                        help="do not bind pending pods (use against a real cluster with its own scheduler)")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="extra node label")
    parser.add_argument("--delete-node-on-stop", action="store_true", help="delete the Node object on exit")
    cli.add_log_level_argument(parser)
    args = parser.parse_args(argv)
    cli.setup_logging(args.log_level)
    labels = {}
    for item in args.label:
        if "=" not in item:
            parser.error(f"--label {item!r} must be KEY=VALUE")
        key, value = item.split("=", 1)
        labels[key] = value
    try:
        kubelet = KubeletSimulator(args.kubeconfig, args.node, args.root, schedule=not args.no_schedule,
                                   labels=labels, delete_node_on_stop=args.delete_node_on_stop)
    except ValueError as exc:
        parser.error(str(exc))
    return cli.serve_until_signalled(parser, kubelet, what=f"node {args.node!r}",
                                     start_errors=(errors.KubeError, OSError, RuntimeError))

if __name__ == "__main__":
    raise SystemExit(main())
