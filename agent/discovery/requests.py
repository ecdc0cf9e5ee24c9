"""One running discovery per Configuration: query every endpoint of its handler, merge the results.

Akri's `DiscoveryHandlerRequest` (discovery_handler_registry.rs, akri-contract.md §2.2, §2.4) keyed
by namespace/name (fixing quirk #7). A `DiscoveryRequest` follows the registry: every endpoint
registered for its handler name gets one task that resolves discoveryProperties, calls
`Discover` and stores each complete device list under the endpoint's uid. The merged view is
de-duplicated by Instance name (first endpoint in uid order wins). A stream that ends or fails
drops that endpoint's devices; the task retries with a doubling backoff, except that an endpoint
that cannot be reached is unregistered (it comes back when the handler registers again, which
starts a new task). Every change calls `on_change()`; the owner reads `devices()`, `status()` and
`settled` and decides what to do with Instances.

"Settled" answers "can a device that is not reported be considered gone?": after (re)start a
request is unsettled until every endpoint answered once, or `settle_seconds` after the first
endpoint appeared; with no endpoint at all it stays unsettled (like Akri, which leaves Instances
alone while no handler is registered). Once settled it stays settled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agent.discovery import errors
from agent.discovery.endpoints import Endpoint
from agent.discovery.handler import Device
from agent.discovery.registry import DiscoveryHandlerRegistry
from akri_api import naming

__all__ = ["DiscoveredDevice", "DiscoveryStatus", "DiscoveryRequest", "DiscoveryMetrics", "merge_devices",
           "RETRY_INITIAL_SECONDS", "RETRY_MAX_SECONDS"]

logger = logging.getLogger(__name__)

RETRY_INITIAL_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0

PropertySolver = Callable[[Sequence[Mapping[str, Any]] | None], Awaitable[dict[str, bytes | None]]]
"""Resolves discoveryProperties (see agent.discovery.properties.solve_properties); raises UnsolvableProperty."""


class DiscoveryMetrics(Protocol):
    """What a request reports (agent.metrics.AgentMetrics implements it)."""

    def discovery_result(self, handler: str, result: str) -> None: ...
    def discovery_response_time(self, configuration: str, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class DiscoveredDevice:
    """A device as this node will publish it: Instance name `<configuration>-<hash>`, CDI name
    `akri.sh/<configuration>=<hash>`, shared flag of the endpoint that reported it."""

    device: Device
    shared: bool
    instance_name: str
    cdi_name: str
    endpoint_uid: str


@dataclass(frozen=True, slots=True)
class DiscoveryStatus:
    """Health of a request for the Configuration's condition: ok, or a CamelCase reason + message."""

    ok: bool
    reason: str = ""
    message: str = ""


def merge_devices(configuration: str, node: str,
                  results: Sequence[tuple[Endpoint, Sequence[Device]]]) -> dict[str, DiscoveredDevice]:
    """Instance name → DiscoveredDevice over every endpoint's list, in the given order; the first
    report of an Instance name wins (akri-contract.md §2.4 step 4). Local devices hash with `node`."""
    merged: dict[str, DiscoveredDevice] = {}
    for endpoint, devices in results:
        for device in devices:
            hash_ = naming.device_hash(device.id, shared=endpoint.shared, node=node)
            name = f"{configuration}-{hash_}"
            if name not in merged:
                merged[name] = DiscoveredDevice(device, endpoint.shared, name,
                                                naming.cdi_name(configuration, hash_), endpoint.uid)
    return merged


class DiscoveryRequest:
    """Discovery of one Configuration on this node; `start()` it, `await stop()` it."""

    def __init__(self, *, namespace: str, configuration: str, handler_name: str, details: str,
                 properties: Sequence[Mapping[str, Any]] | None, node: str,
                 registry: DiscoveryHandlerRegistry, solve: PropertySolver, on_change: Callable[[], None],
                 settle_seconds: float, metrics: DiscoveryMetrics | None = None,
                 clock: Callable[[], float] | None = None,
                 retry_initial: float = RETRY_INITIAL_SECONDS, retry_max: float = RETRY_MAX_SECONDS) -> None:
        self.namespace = namespace
        self.configuration = configuration
        self.handler_name = handler_name
        self.details = details
        self.properties = list(properties or [])
        self.node = node
        self.settle_seconds = settle_seconds
        self._registry = registry
        self._solve = solve
        self._on_change = on_change
        self._metrics = metrics
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._tasks: dict[str, tuple[Endpoint, asyncio.Task[None]]] = {}
        self._results: dict[str, tuple[Endpoint, list[Device]]] = {}
        self._failures: dict[str, errors.DiscoveryError] = {}
        self._answered: set[str] = set()
        self._first_endpoint_at: float | None = None
        self._settled = False
        self._unsubscribe: Callable[[], None] | None = None
        self._stopped = False

    @property
    def key(self) -> str:
        """`namespace/name` of the Configuration."""
        return f"{self.namespace}/{self.configuration}"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to the registry and query every endpoint registered for the handler name."""
        self._unsubscribe = self._registry.subscribe(self._registry_changed)
        self._sync_endpoints()

    async def stop(self) -> None:
        """Cancel every Discover stream (handlers see the stream dropped) and unsubscribe."""
        self._stopped = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        tasks = [task for _endpoint, task in self._tasks.values()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- views -----------------------------------------------------------------------------------

    def devices(self) -> dict[str, DiscoveredDevice]:
        """Merged current devices by Instance name."""
        ordered = [self._results[uid] for uid in sorted(self._results)]
        return merge_devices(self.configuration, self.node, ordered)

    @property
    def settled(self) -> bool:
        """See the module docstring; sticky once True."""
        if not self._settled and self._tasks:
            everyone = all(uid in self._answered for uid in self._tasks)
            deadline = self.settle_deadline()
            if everyone or (deadline is not None and self._clock() >= deadline):
                self._settled = True
        return self._settled

    def settle_deadline(self) -> float | None:
        """Clock time at which the request settles at the latest (None if no endpoint yet)."""
        if self._first_endpoint_at is None:
            return None
        return self._first_endpoint_at + self.settle_seconds

    def status(self) -> DiscoveryStatus:
        """NoDiscoveryHandler while no endpoint is registered; else the failure of the first failing
        endpoint (InvalidDiscoveryDetails, UnsolvableProperty, DiscoveryHandlerUnavailable); else ok."""
        if not self._tasks:
            return DiscoveryStatus(False, "NoDiscoveryHandler",
                                   f"no discovery handler named {self.handler_name!r} is registered on "
                                   "this node; waiting for one to register")
        for uid in sorted(self._failures):
            if uid in self._tasks:
                failure = self._failures[uid]
                return DiscoveryStatus(False, _reason(failure), str(failure))
        return DiscoveryStatus(True)

    # -- registry following ----------------------------------------------------------------------

    def _registry_changed(self, name: str) -> None:
        if name == self.handler_name and not self._stopped:
            self._sync_endpoints()

    def _sync_endpoints(self) -> None:
        current = {e.uid: e for e in self._registry.endpoints(self.handler_name)}
        changed = False
        for uid in [u for u in self._tasks if u not in current or self._tasks[u][0] is not current[u]]:
            _endpoint, task = self._tasks.pop(uid)
            task.cancel()
            changed |= self._drop(uid)
        for uid, endpoint in current.items():
            running = self._tasks.get(uid)
            if running is None or running[1].done():
                if self._first_endpoint_at is None:
                    self._first_endpoint_at = self._clock()
                task = asyncio.get_running_loop().create_task(
                    self._follow(endpoint), name=f"discover:{self.key}:{uid}")
                self._tasks[uid] = (endpoint, task)
                changed = True
        if changed:
            self._on_change()

    def _drop(self, uid: str) -> bool:
        had = self._results.pop(uid, None) is not None
        failed = self._failures.pop(uid, None) is not None
        return had or failed

    # -- one endpoint ----------------------------------------------------------------------------

    async def _follow(self, endpoint: Endpoint) -> None:
        """Keep one endpoint's Discover stream going; see the module docstring."""
        backoff = self._retry_initial
        log = logger.getChild("endpoint")
        while True:
            started = self._clock()
            first = True
            failure: errors.DiscoveryError | None = None
            try:
                properties = await self._solve(self.properties)
                async for devices in endpoint.discover(self.details, properties):
                    if first and self._metrics is not None:
                        self._metrics.discovery_response_time(self.configuration, self._clock() - started)
                    first = False
                    backoff = self._retry_initial
                    self._record(endpoint, devices)
                log.info("discovery stream of %s for %s ended", endpoint.uid, self.key)
            except errors.HandlerUnavailable as exc:
                if exc.connect_failed and endpoint.closable:
                    log.warning("discovery handler %s unreachable for %s; unregistering it: %s",
                                endpoint.uid, self.key, exc)
                    self._count(endpoint, "Fail")
                    self._set(endpoint, None, failure=None)
                    self._registry.unregister(endpoint)
                    return
                failure = exc
            except errors.DiscoveryError as exc:
                failure = exc
            except Exception as exc:  # guard of this endpoint's task: a bug must not end discovery
                log.exception("discovery with %s for %s crashed", endpoint.uid, self.key)
                failure = errors.HandlerUnavailable(f"{endpoint.uid}: {type(exc).__name__}: {exc}")
            if failure is not None:
                self._count(endpoint, "Fail")
                log.warning("discovery with %s for %s failed; retrying in %.1fs: %s", endpoint.uid, self.key,
                            backoff, failure)
            self._set(endpoint, None, failure=failure)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._retry_max)

    def _record(self, endpoint: Endpoint, devices: list[Device]) -> None:
        self._count(endpoint, "Success")
        self._answered.add(endpoint.uid)
        logger.debug("%s reported %d device(s) for %s", endpoint.uid, len(devices), self.key)
        self._set(endpoint, list(devices), failure=None)

    def _count(self, endpoint: Endpoint, result: str) -> None:
        if self._metrics is not None:
            self._metrics.discovery_result(endpoint.name, result)

    def _set(self, endpoint: Endpoint, devices: list[Device] | None,
             *, failure: errors.DiscoveryError | None) -> None:
        uid = endpoint.uid
        running = self._tasks.get(uid)
        if self._stopped or running is None or running[0] is not endpoint:
            return
        before = self._signature(uid)
        if devices is None:
            self._results.pop(uid, None)
        else:
            self._results[uid] = (endpoint, devices)
        if failure is None:
            self._failures.pop(uid, None)
        else:
            self._failures[uid] = failure
        if self._signature(uid) != before:
            self._on_change()

    def _signature(self, uid: str) -> tuple[Any, ...]:
        result = self._results.get(uid)
        failure = self._failures.get(uid)
        return (result[1] if result is not None else None,
                (type(failure), str(failure)) if failure is not None else None)


def _reason(failure: errors.DiscoveryError) -> str:
    if isinstance(failure, errors.InvalidDiscoveryDetails):
        return "InvalidDiscoveryDetails"
    if isinstance(failure, errors.UnsolvableProperty):
        return "UnsolvableProperty"
    return "DiscoveryHandlerUnavailable"
