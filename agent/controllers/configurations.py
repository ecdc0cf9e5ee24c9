"""The Configuration controller: Configurations → discovery requests → this node's Instances.

Akri's `discovery_configuration_controller.rs` (akri-contract.md §2.4), with the differences of
DESIGN.md §2 and the issue: requests keyed by namespace/name; edits of the discovery handler,
details or properties restart discovery; vanished devices are held for a grace period; Instances
are written with read-modify-write on resourceVersion instead of server-side apply.

Model. Instances (all namespaces) are mirrored by an `ObjectCache`; Configurations are watched
after that cache is complete. Each Configuration key (namespace, name) is reconciled serially by a
`KeyedQueue`, triggered by Configuration events whose relevant part changed (uid, deletion, handler,
capacity, brokerProperties — a repeated or status-only event changes nothing), by its discovery
request's changes, by events of its Instances, and by its own timers. One reconcile:

1. deleted (or deleting) Configuration → stop discovery, leave every Instance of it this node is
   in (delete it when this node is the last), forget its devices;
2. start discovery, or restart it when the handler name/details/properties (or uid) changed;
3. every discovered device → join its Instance (create it, or add this node and refresh
   capacity / brokerProperties / label / ownerReference; deviceUsage and other nodes are kept;
   the device's own properties are written only by the device owner, `instances` explains why)
   and record it in the DeviceStore under (namespace, cdiName);
4. a device this node had (or an Instance listing this node found at start-up) that is not
   reported is *held*: until discovery has settled (every endpoint answered once, or
   DISCOVERY_SETTLE_SECONDS passed), then for the grace period (shared/local); a device that
   returns meanwhile changes nothing. After a discovery restart, devices the new request does not
   report are released as soon as it settles (an edit is not a flapping device). Releasing =
   leaving the Instance (which also frees this node's deviceUsage claims);
5. report this node's state in its entry of the `DiscoveryFailed` condition (`conditions`; plus
   a Warning Event for bad details or properties, or failed Instance writes), update
   `akri_instance_count`, and come back when the next timer is due.

Each Instance write is handled on its own: a failed one (e.g. 422 from the API server) is logged,
the other devices are still processed, the failure is reported in the condition (reason
`InstanceWriteFailed`, naming the Instance and the API's message), and the pass is retried after
a backoff (WRITE_RETRY_INITIAL_SECONDS doubling up to WRITE_RETRY_MAX_SECONDS). The condition is
level-triggered: every pass, and every Configuration event (even status-only ones), checks that
the observed object shows this node's current state and rewrites its entry if it does not (e.g.
after Metacontroller replaced the status from a stale snapshot); nothing is written otherwise.

No finalizers (a decision; Akri puts finalizer `<node>` on every Configuration and Instance). A
Configuration deleted while this agent is down loses its Instances to ownerReference garbage
collection; at start-up, Instances that list this node but whose Configuration is gone are left
(deleted when this node was the last) once both listings are complete. Nothing else outlives the
process, so a finalizer would only make deletions wait for every agent that ever saw the object,
forever for a node that is gone (see also `agent.plugins.manager`).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.aiokits.queueing import KeyedQueue
from agent.controllers import conditions
from agent.controllers import instances as edits
from agent.devices.store import DeviceRecord, DeviceStore
from agent.discovery import properties as discovery_properties
from agent.discovery.registry import DiscoveryHandlerRegistry
from agent.discovery.requests import DiscoveredDevice, DiscoveryMetrics, DiscoveryRequest, DiscoveryStatus
from agent.kube import errors as kube_errors
from agent.kube import events as kube_events
from agent.kube import updating
from agent.kube.caching import ObjectCache, compare_versions, resource_version
from agent.kube.resources import CONFIGURATIONS, INSTANCES, ResourceKind
from agent.kube.watching import DELETED, LISTED, WatchEvent, object_key
from agent.logs import ContextAdapter
from akri_api import model
from akri_api.errors import InvalidObject

__all__ = ["ConfigurationController", "ConfigurationSettings", "KubeApi", "Watcher", "InstanceMetrics",
           "EVENT_REASONS", "WRITE_FAILED_REASON", "WRITE_RETRY_INITIAL_SECONDS", "WRITE_RETRY_MAX_SECONDS"]

logger = logging.getLogger(__name__)

EVENT_REASONS = frozenset({"InvalidDiscoveryDetails", "UnsolvableProperty", "InvalidConfiguration",
                           "InstanceWriteFailed"})
"""Failure reasons also announced with a Warning Event on the Configuration."""
WRITE_FAILED_REASON = "InstanceWriteFailed"
WRITE_RETRY_INITIAL_SECONDS = 1.0
WRITE_RETRY_MAX_SECONDS = 300.0

Key = tuple[str, str]
Obj = dict[str, Any]
Watcher = Callable[[ResourceKind], AsyncIterator[WatchEvent]]
"""`watch(kind)` → endless WatchEvent stream over all namespaces (agent.kube.watching.watch_objects)."""


class KubeApi(updating.ObjectWriter, kube_events.EventCreator, discovery_properties.ObjectReader, Protocol):
    """Everything the controller asks of the API (KubeClient implements it; tests fake it)."""


class InstanceMetrics(DiscoveryMetrics, Protocol):
    """Metrics the controller updates (agent.metrics.AgentMetrics)."""

    def set_instance_count(self, configuration: str, *, shared: bool, count: int) -> None: ...
    def forget_configuration(self, configuration: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ConfigurationSettings:
    """node: this node's name; grace periods and settle time in seconds (agent.config.AgentConfig)."""

    node: str
    shared_grace_seconds: float = 300.0
    local_grace_seconds: float = 0.0
    settle_seconds: float = 30.0

    def grace(self, shared: bool) -> float:
        """Grace period (s) for a vanished shared or local device."""
        return self.shared_grace_seconds if shared else self.local_grace_seconds


@dataclass(frozen=True, slots=True)
class _Held:
    """A device not currently reported: `since` = clock time its grace started (None: waiting for
    discovery to settle); `grace` False = release at settle (discovery was restarted by an edit)."""

    since: float | None
    grace: bool = True


@dataclass(eq=False)
class _State:
    key: Key
    obj: Obj | None = None
    relevant: Any = None
    config: model.Configuration | None = None
    invalid: str | None = None
    request: DiscoveryRequest | None = None
    fingerprint: Any = None
    started_at: float = 0.0
    devices: dict[str, DiscoveredDevice] = field(default_factory=dict)
    held: dict[str, _Held] = field(default_factory=dict)
    status: DiscoveryStatus | None = None  # this node's state as last computed (level)
    announced: tuple[bool, str, str] | None = None  # last state logged / announced by an Event (edge)
    retry: float = WRITE_RETRY_INITIAL_SECONDS  # next backoff after a failed write


def _relevant(obj: Obj) -> Any:
    """The parts of a Configuration whose change needs a reconcile."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    return (meta.get("uid"), bool(meta.get("deletionTimestamp")), repr(spec.get("discoveryHandler")),
            repr(spec.get("capacity")), repr(spec.get("brokerProperties")))


def _fingerprint(config: model.Configuration) -> Any:
    handler = config.discovery_handler
    return (config.uid, handler.name, handler.details, tuple(repr(p.to_dict()) for p in handler.properties))


class ConfigurationController:
    """Runs until cancelled (`run()`); `reconcile(key)` is public for tests."""

    def __init__(self, *, kube: KubeApi, watch: Watcher, registry: DiscoveryHandlerRegistry,
                 devices: DeviceStore, settings: ConfigurationSettings, metrics: InstanceMetrics | None = None,
                 instances: ObjectCache | None = None, clock: Callable[[], float] | None = None,
                 wall_clock: Callable[[], datetime.datetime] | None = None,
                 schedule: Callable[[Key], None] | None = None) -> None:
        """clock: monotonic seconds (default: the loop's); wall_clock: aware UTC now (condition and
        Event timestamps); schedule: test seam replacing "reconcile this key soon" (the queue)."""
        self.kube = kube
        self.watch = watch
        self.registry = registry
        self.devices = devices
        self.settings = settings
        self.metrics = metrics
        self.instances = instances or ObjectCache()
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._wall_clock = wall_clock or (lambda: datetime.datetime.now(datetime.timezone.utc))
        self._states: dict[Key, _State] = {}
        self._queue: KeyedQueue[Key] = KeyedQueue(self.reconcile, name="configuration")
        self._schedule = schedule or (lambda key: self._queue.trigger(key))
        self._listed = False
        self.instances.subscribe(self._instance_changed)

    @property
    def node(self) -> str:
        """This node's name."""
        return self.settings.node

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Mirror Instances, then follow Configurations, until cancelled (then stop all discovery)."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.instances.run(self.watch(INSTANCES)), name="instance-cache")
                await self.instances.ready.wait()
                group.create_task(self._follow_configurations(), name="configuration-watch")
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop every worker and discovery request (Instances are left as they are)."""
        await self._queue.close()
        requests = [s.request for s in self._states.values() if s.request is not None]
        for state in self._states.values():
            state.request = None
        await asyncio.gather(*(r.stop() for r in requests), return_exceptions=True)

    async def _follow_configurations(self) -> None:
        async for event in self.watch(CONFIGURATIONS):
            self.on_configuration_event(event)

    def on_configuration_event(self, event: WatchEvent) -> None:
        """Record a Configuration event and trigger a reconcile when something relevant changed."""
        if event.type == LISTED:
            if not self._listed:
                self._listed = True
                self._adopt_orphans()
            return
        key = object_key(event.object)
        state = self._states.get(key)
        if event.type == DELETED:
            if state is not None:
                state.obj, state.relevant = None, None
                self._schedule(key)
            return
        relevant = _relevant(event.object)
        if state is None:
            state = self._states[key] = _State(key)
        changed = state.relevant != relevant
        state.obj = event.object
        if not changed:
            if state.status is not None and not conditions.is_reported(event.object, node=self.node,
                                                                       status=state.status):
                logger.debug("configuration %s/%s: condition does not show this node's state", *key)
                self._schedule(key)
            else:
                logger.debug("configuration %s/%s: no relevant change", *key)
            return
        state.relevant = relevant
        try:
            state.config, state.invalid = model.Configuration.from_dict(event.object), None
        except InvalidObject as exc:
            state.config, state.invalid = None, str(exc)
        self._schedule(key)

    def _adopt_orphans(self) -> None:
        """Instances listing this node whose Configuration does not exist: leave them."""
        for instance in self.instances.values():
            key = (object_key(instance)[0], str((instance.get("spec") or {}).get("configurationName") or ""))
            if self.node in edits.nodes_of(instance) and key not in self._states:
                self._states[key] = _State(key)
                self._schedule(key)

    def _instance_changed(self, event: WatchEvent) -> None:
        if event.type == LISTED:
            return
        key = (object_key(event.object)[0], str((event.object.get("spec") or {}).get("configurationName") or ""))
        if key in self._states and self._listed:
            self._schedule(key)

    def _my_instances(self, key: Key) -> dict[str, Obj]:
        namespace, name = key
        return {obj["metadata"]["name"]: obj for obj in self.instances.values()
                if object_key(obj)[0] == namespace
                and (obj.get("spec") or {}).get("configurationName") == name
                and self.node in edits.nodes_of(obj)}

    # -- reconcile -------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> float | None:
        """One pass for Configuration `key` (see the module docstring). Returns seconds until the
        next timer (grace expiry, settle deadline, retry of a failed write), or None. A failed
        Instance or condition write is logged, reported and retried after a backoff; a failed
        teardown raises agent.kube.errors.KubeError (the queue retries with backoff)."""
        state = self._states.get(key)
        if state is None:
            return None
        if state.obj is None or (state.obj.get("metadata") or {}).get("deletionTimestamp"):
            await self._teardown(state)
            if state.obj is None:
                self._states.pop(key, None)
                self._queue.forget(key)
            return None
        config = state.config
        if config is None:
            await self._stop_discovery(state)
            if await self._report(state, DiscoveryStatus(False, "InvalidConfiguration", state.invalid or "invalid")):
                state.retry = WRITE_RETRY_INITIAL_SECONDS
                return None
            return self._backoff(state)
        if state.request is None or state.fingerprint != _fingerprint(config):
            await self._restart_discovery(state, config)
        assert state.request is not None
        return await self._sync_instances(state, config, state.request)

    async def _sync_instances(self, state: _State, config: model.Configuration,
                              request: DiscoveryRequest) -> float | None:
        now = self._clock()
        discovered = request.devices()
        settled = request.settled
        mine = self._my_instances(state.key)
        wake: list[float] = []
        for name, device in discovered.items():
            state.devices[name] = device
            state.held.pop(name, None)
        for name in (set(state.devices) | set(mine)) - set(discovered):
            held = state.held.get(name)
            if held is None:
                state.held[name] = _Held(now if settled else None)
            elif held.since is None and settled:
                state.held[name] = _Held(now, held.grace)
        release: list[str] = []
        for name, held in state.held.items():
            if held.since is None:
                continue
            shared = state.devices[name].shared if name in state.devices else \
                bool((mine.get(name, {}).get("spec") or {}).get("shared"))
            deadline = held.since + (self.settings.grace(shared) if held.grace else 0.0)
            if now >= deadline:
                release.append(name)
            else:
                wake.append(deadline - now)
        settle_at = request.settle_deadline()
        if not settled and settle_at is not None:
            wake.append(max(0.0, settle_at - now) + 0.01)

        namespace = state.key[0]
        failed: dict[str, str] = {}
        for device in discovered.values():
            self.devices.put(device.cdi_name, DeviceRecord(device.device, dict(config.broker_properties)),
                             namespace=namespace)
            await self._guarded(failed, namespace, device.instance_name, self._join(config, device))
        for name in [n for n in state.held if n not in release and n in mine]:
            await self._guarded(failed, namespace, name, self._refresh(config, mine[name], state.devices.get(name)))
        for name in release:
            gone = state.devices.get(name)
            cdi = gone.cdi_name if gone else str((mine.get(name, {}).get("spec") or {}).get("cdiName") or "")
            reason = "device vanished" if gone else "device not rediscovered"
            if not await self._guarded(failed, namespace, name, self._leave(state.key, name, reason=reason)):
                continue  # still due: retried with the next pass
            state.held.pop(name, None)
            state.devices.pop(name, None)
            if cdi:
                self.devices.remove(cdi, namespace=namespace)

        status = request.status()
        if status.reason == "NoDiscoveryHandler" and now < state.started_at + self.settings.settle_seconds:
            wake.append(state.started_at + self.settings.settle_seconds - now + 0.01)
            status = DiscoveryStatus(True)
        reported = await self._report(state, _with_write_failures(status, namespace, failed))
        self._count(config, discovered, state, mine)
        if failed or not reported:
            wake.append(self._backoff(state))
        else:
            state.retry = WRITE_RETRY_INITIAL_SECONDS
        return min(wake) if wake else None

    async def _guarded(self, failed: dict[str, str], namespace: str, name: str,
                       write: Coroutine[Any, Any, None]) -> bool:
        """Await one Instance write; on a KubeError log it, record it in `failed` (Instance name →
        the API's message) and return False, so that the other devices are still processed."""
        try:
            await write
        except kube_errors.KubeError as exc:
            failed[name] = exc.message or str(exc)
            ContextAdapter(logger, {"instance": f"{namespace}/{name}", "node": self.node}).warning(
                "could not write the Instance: %s", exc)
            return False
        return True

    @staticmethod
    def _backoff(state: _State) -> float:
        """The delay (s) before retrying after a failed write; doubles up to WRITE_RETRY_MAX_SECONDS."""
        delay, state.retry = state.retry, min(state.retry * 2, WRITE_RETRY_MAX_SECONDS)
        return delay

    def _count(self, config: model.Configuration, discovered: Mapping[str, DiscoveredDevice], state: _State,
               mine: Mapping[str, Obj]) -> None:
        if self.metrics is None:
            return
        counts = {True: 0, False: 0}
        for device in discovered.values():
            counts[device.shared] += 1
        for name in state.held:
            if name in mine:
                counts[bool((mine[name].get("spec") or {}).get("shared"))] += 1
        for shared, count in counts.items():
            self.metrics.set_instance_count(config.name, shared=shared, count=count)

    # -- discovery lifecycle ---------------------------------------------------------------------

    async def _restart_discovery(self, state: _State, config: model.Configuration) -> None:
        restarting = state.request is not None
        await self._stop_discovery(state)
        namespace, name = state.key
        request = DiscoveryRequest(
            namespace=namespace, configuration=name, handler_name=config.discovery_handler.name,
            details=config.discovery_handler.details,
            properties=[p.to_dict() for p in config.discovery_handler.properties], node=self.node,
            registry=self.registry, solve=self._solve, on_change=lambda: self._schedule(state.key),
            settle_seconds=self.settings.settle_seconds, metrics=self.metrics, clock=self._clock)
        state.request, state.fingerprint, state.started_at = request, _fingerprint(config), self._clock()
        # Devices known so far wait for the new request to settle; after an edit they get no grace.
        state.held = {n: _Held(None, grace=not restarting and h.grace) for n, h in state.held.items()}
        for name in state.devices:
            state.held.setdefault(name, _Held(None, grace=not restarting))
        log = ContextAdapter(logger, {"configuration": f"{namespace}/{name}",
                                      "handler": config.discovery_handler.name})
        log.info("discovery %s", "restarted (discovery handler settings changed)" if restarting else "started")
        request.start()

    async def _stop_discovery(self, state: _State) -> None:
        if state.request is not None:
            request, state.request, state.fingerprint = state.request, None, None
            await request.stop()

    async def _solve(self, props: Any) -> dict[str, bytes | None]:
        return await discovery_properties.solve_properties(props, self.kube)

    async def _teardown(self, state: _State) -> None:
        """Stop discovery and leave every Instance; a failed write does not stop the others, and
        the first failure is raised at the end (KubeError: the queue retries the teardown)."""
        await self._stop_discovery(state)
        namespace = state.key[0]
        error: kube_errors.KubeError | None = None
        for name, instance in self._my_instances(state.key).items():
            try:
                await self._leave(state.key, name, reason="configuration deleted")
            except kube_errors.KubeError as exc:
                error = error or exc
                logger.warning("could not leave Instance %s/%s: %s", namespace, name, exc)
                continue
            cdi = (instance.get("spec") or {}).get("cdiName")
            if cdi:
                self.devices.remove(str(cdi), namespace=namespace)
        if error is not None:
            raise error
        for device in state.devices.values():
            self.devices.remove(device.cdi_name, namespace=namespace)
        state.devices.clear()
        state.held.clear()
        if self.metrics is not None:
            self.metrics.forget_configuration(state.key[1])

    # -- Instance writes -------------------------------------------------------------------------

    async def _join(self, config: model.Configuration, device: DiscoveredDevice) -> None:
        namespace, name = config.namespace, device.instance_name
        cached = self.instances.get(namespace, name)
        written = await self._write(namespace, name, cached, lambda current: edits.joined(
            current, configuration=config, device=device, node=self.node))
        if written is not None:
            log = ContextAdapter(logger, {"instance": f"{namespace}/{name}", "node": self.node})
            if cached is None:
                log.info("Instance created or joined (shared=%s)", device.shared)
            else:
                log.info("Instance updated")

    async def _refresh(self, config: model.Configuration, cached: Obj, device: DiscoveredDevice | None) -> None:
        namespace, name = object_key(cached)
        await self._write(namespace, name, cached, lambda current: edits.refreshed(
            current, configuration=config, device=device, node=self.node))

    async def _write(self, namespace: str, name: str, cached: Obj | None,
                     edit: Callable[[Obj | None], Obj | None]) -> Obj | None:
        """Apply `edit` to the Instance by read-modify-write (resourceVersion, retried on 409) and
        remember the result; no API call when the cached copy already looks as `edit` wants it.
        Returns the written Instance, or None when nothing was written."""
        if cached is not None:
            desired = edit(copy.deepcopy(cached))
            if desired is None or desired == cached:
                return None
        written = await updating.read_modify_write(self.kube, INSTANCES, name, namespace, edit, current=cached)
        if written is not None:
            self.instances.remember(written)
        return written

    async def _leave(self, key: Key, name: str, *, reason: str) -> None:
        namespace = key[0]
        cached = self.instances.get(namespace, name)
        if cached is None or self.node not in edits.nodes_of(cached):
            return
        deleted: list[str | None] = []

        def leave(current: Obj | None) -> Any:
            result = edits.left(current, node=self.node)
            if result is updating.DELETE and current is not None:
                deleted.append((current.get("metadata") or {}).get("resourceVersion"))
            return result

        result = await updating.read_modify_write(self.kube, INSTANCES, name, namespace, leave, current=cached)
        log = ContextAdapter(logger, {"instance": f"{namespace}/{name}", "node": self.node})
        if result is None:
            self.instances.forget(namespace, name, deleted[-1] if deleted else None)
            log.info("Instance deleted or left (%s)", reason)
        else:
            self.instances.remember(result)
            log.info("left Instance (%s); still listed: %s", reason, ",".join(edits.nodes_of(result)))

    # -- status ----------------------------------------------------------------------------------

    async def _report(self, state: _State, status: DiscoveryStatus) -> bool:
        """Make this node's entry of the DiscoveryFailed condition show `status` (a write only when
        the observed Configuration does not show it already); log and announce a failure (Warning
        Event) once per distinct failure. Returns False when the condition write failed."""
        state.status = status
        if state.obj is None:
            return True
        namespace, name = state.key
        log = ContextAdapter(logger, {"configuration": f"{namespace}/{name}", "node": self.node})
        written_ok = True
        if not conditions.is_reported(state.obj, node=self.node, status=status):
            uid = (state.obj.get("metadata") or {}).get("uid")
            now = self._wall_clock()

            def mutate(current: Obj | None) -> Obj | None:
                if current is None or (current.get("metadata") or {}).get("uid") != uid:
                    return None
                return conditions.with_discovery_condition(current, node=self.node, status=status, now=now)

            try:
                written = await updating.read_modify_write(self.kube, CONFIGURATIONS, name, namespace, mutate,
                                                           current=state.obj, subresource="status")
            except kube_errors.KubeError as exc:
                log.warning("could not write the %s condition: %s", conditions.CONDITION_TYPE, exc)
                written_ok = False
            else:
                if written is not None and state.obj is not None and compare_versions(
                        resource_version(written), resource_version(state.obj)) != -1:
                    state.obj = written
        await self._announce(state, status, log)
        return written_ok

    async def _announce(self, state: _State, status: DiscoveryStatus, log: ContextAdapter) -> None:
        """Log a change of this node's state; a new failure with a reason in EVENT_REASONS also
        gets a Warning Event on the Configuration."""
        signature = (status.ok, status.reason, status.message)
        previous, state.announced = state.announced, signature
        if previous == signature:
            return
        if status.ok:
            if previous is not None and not previous[0]:
                log.info("discovery recovered")
            return
        log.warning("discovery failing: %s: %s", status.reason, status.message)
        if status.reason in EVENT_REASONS and state.obj is not None:
            try:
                await kube_events.record_event(self.kube, state.obj, reason=status.reason,
                                               message=f"node {self.node}: {status.message}", host=self.node)
            except kube_errors.KubeError as exc:
                log.warning("could not record the %s event: %s", status.reason, exc)


def _with_write_failures(status: DiscoveryStatus, namespace: str, failed: Mapping[str, str]) -> DiscoveryStatus:
    """This node's state: discovery's, plus the Instance writes that failed (Instance name → API
    message). Failed writes alone are reported with reason WRITE_FAILED_REASON; with a discovery
    failure they are appended to its message."""
    if not failed:
        return status
    text = "could not write " + ", ".join(f"Instance {namespace}/{name}: {message}"
                                         for name, message in sorted(failed.items()))
    if status.ok:
        return DiscoveryStatus(False, WRITE_FAILED_REASON, text)
    return DiscoveryStatus(False, status.reason, f"{status.message} (and {text})")

