"""The kubelet simulator's device bookkeeping: advertised devices and their assignment to containers.

Mirrors the kubelet device manager (k8s `pkg/kubelet/cm/devicemanager`) without I/O: per extended
resource, the devices the plugin's ListAndWatch last advertised (id → healthy); per admitted pod,
the device ids each container holds. Node capacity = devices advertised, allocatable = healthy
ones (device plugin API). `plan_pod` picks devices for a pod the way the kubelet does: containers
in order, init containers first; devices an init container held are reused by the next containers
before free ones are taken; a device held by another pod is never given out. Thread safety is the
caller's job (the simulator holds one lock around this state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from akri_local._kubelet_scheduling import container_requests

__all__ = ["DeviceState", "Assignment", "AllocationError", "PodDevices"]


class AllocationError(Exception):
    """Not enough healthy free devices for a container; message as the kubelet's."""


@dataclass(frozen=True, slots=True)
class Assignment:
    """Devices chosen for one container and one resource: `device_ids` in the plugin's ID form."""

    container: str
    init: bool
    resource: str
    device_ids: tuple[str, ...]


@dataclass(slots=True)
class PodDevices:
    """The devices a pod's containers hold: container → resource → ids; app container names in order."""

    namespace: str
    name: str
    containers: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    app_containers: tuple[str, ...] = ()


class DeviceState:
    """Advertised devices per resource and device assignments per pod uid."""

    def __init__(self) -> None:
        self._devices: dict[str, dict[str, bool]] = {}
        self._ever: set[str] = set()
        self._pods: dict[str, PodDevices] = {}

    # -- advertised devices --------------------------------------------------------------------------

    def set_devices(self, resource: str, devices: Mapping[str, bool]) -> bool:
        """Replace the advertised devices of `resource` (id → healthy); True when counts changed."""
        before = self.counts().get(resource)
        self._devices[resource] = dict(devices)
        self._ever.add(resource)
        return self.counts().get(resource) != before

    def remove_resource(self, resource: str) -> bool:
        """Forget `resource` (its plugin went away); True when it was known."""
        return self._devices.pop(resource, None) is not None

    def resources(self) -> dict[str, dict[str, bool]]:
        """Copy of the advertised devices: resource → id → healthy."""
        return {r: dict(d) for r, d in self._devices.items()}

    def counts(self) -> dict[str, tuple[int, int]]:
        """resource → (capacity, allocatable) for every resource ever advertised (0, 0 once removed)."""
        return {r: (len(self._devices.get(r, {})), sum(self._devices.get(r, {}).values())) for r in sorted(self._ever)}

    # -- assignments ----------------------------------------------------------------------------------

    def in_use(self, resource: str, *, except_uid: str | None = None) -> set[str]:
        """Device ids of `resource` held by admitted pods (other than `except_uid`)."""
        return {i for uid, pod in self._pods.items() if uid != except_uid
                for held in pod.containers.values() for i in held.get(resource, ())}

    def plan_pod(self, uid: str, pod: Mapping[str, Any]) -> list[Assignment]:
        """Choose devices for every container of `pod` with extended-resource requests.

        Returns one Assignment per (container, resource), init containers first. Raises
        AllocationError when a resource lacks enough healthy free devices; ValueError for a
        malformed quantity.
        """
        spec = pod.get("spec") or {}
        taken: dict[str, set[str]] = {}
        reusable: dict[str, list[str]] = {}
        plan: list[Assignment] = []
        containers = ([(c, True) for c in spec.get("initContainers") or []]
                      + [(c, False) for c in spec.get("containers") or []])
        for container, init in containers:
            for resource, count in container_requests(container).items():
                if count == 0:
                    continue
                healthy = {i for i, ok in self._devices.get(resource, {}).items() if ok}
                busy = self.in_use(resource, except_uid=uid) | taken.get(resource, set())
                reuse = [i for i in reusable.get(resource, []) if i in healthy and i not in busy]
                free = sorted(healthy - busy - set(reuse))
                available = reuse + free
                if len(available) < count:
                    raise AllocationError(f"requested number of devices unavailable for {resource}. "
                                          f"Requested: {count}, Available: {len(available)}")
                chosen = tuple(available[:count])
                plan.append(Assignment(str(container.get("name")), init, resource, chosen))
                if init:
                    reusable[resource] = sorted(set(reusable.get(resource, [])) | set(chosen))
                else:
                    taken.setdefault(resource, set()).update(chosen)
                    reusable[resource] = [i for i in reusable.get(resource, []) if i not in chosen]
        return plan

    def commit(self, uid: str, namespace: str, name: str, app_containers: tuple[str, ...],
               plan: list[Assignment]) -> None:
        """Record `plan` as held by pod `uid` (replacing any earlier record of it)."""
        record = PodDevices(namespace, name, app_containers=app_containers)
        for item in plan:
            record.containers.setdefault(item.container, {})[item.resource] = item.device_ids
        self._pods[uid] = record

    def release(self, uid: str) -> bool:
        """Free every device of pod `uid`; True when it held a record."""
        return self._pods.pop(uid, None) is not None

    def pods(self) -> dict[str, PodDevices]:
        """Admitted pods by uid (live records; do not mutate)."""
        return dict(self._pods)
