"""The device-plugin manager: one plugin per Instance on this node and per Configuration with such
Instances, served to the kubelet for as long as they exist.

Akri's Instance controller (device_plugin_instance_controller.rs, akri-contract.md §2.5) plus its
slot reclaimer (§2.6) and the kubelet-restart handling Akri lacks (§9 row 13):

- Watches all Instances. An Instance whose `spec.nodes` holds this node (and that is not being
  deleted) gets an `InstancePlugin` and is attached to its Configuration's `ConfigurationPlugin`
  (created on first use). Later views update the plugin (deviceUsage, capacity). When the Instance
  goes, or this node leaves `spec.nodes`, its plugin stops (socket removed) and is detached; a
  Configuration plugin with no Instance left stops too.
- Watches the device store (`DeviceStore.changed`, this manager is its only waiter and clears it):
  on every change each Instance plugin re-checks whether discovery has reported its device, so a
  slot is advertised Healthy (and a virtual device at all) only once the broker can get its device
  nodes and mounts — after a node reboot the plugins are served at once, with every slot
  Unhealthy until discovery re-reports the device.
- Start-up: after the first complete listing, claims of this node that no pod holds are freed
  (`SlotReclaimer.reconcile_at_startup`), plugin sockets a killed agent left behind (nobody
  listening) are deleted, and only then are the plugins served, so the first Allocate sees the
  reconciled slots. Then the reclaimer runs every `reclaim_interval_seconds`.
- Every `kubelet_restart_check_seconds` it checks `kubelet.sock`: recreated (new inode/ctime) →
  every plugin re-serves on a new socket and re-registers; a plugin whose own socket file was
  deleted re-serves alone.
- Cancelling `run` stops every server and removes every socket.

Plugins are keyed by name, like the kubelet's resource names (`akri.sh/<name>` is not
namespaced): an Instance or Configuration name already served from another namespace is skipped
with a warning.

No Instance finalizers (a decision; Akri adds finalizer `<node>` to each Instance it serves and
removes it after stopping the plugin). Everything a plugin holds is either in this process or in
the Instance itself, so nothing leaks when an Instance is deleted while this agent is down: the
plugin and its gRPC server died with the process; the claims (`spec.deviceUsage`) go with the
Instance; the kubelet marks the resource unhealthy when its ListAndWatch stream breaks and drops
it after its own grace period, since no agent registers it again (the restarted agent never
lists the deleted Instance); the socket file a killed agent leaves behind is removed at the next
start (`serving.remove_dead_sockets`) — a finalizer would not have helped there, as socket names
carry a timestamp. A finalizer would cost more than it saves: an Instance whose node is gone for
good would stay Terminating forever (Akri's node cleanup never removes finalizers), and deleting
a Configuration would wait for every agent that ever served it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

from agent.aiokits import tasks
from agent.aiokits.stopper import Stopper
from agent.devices.store import DeviceStore
from agent.kube import watching
from agent.kube.client import KubeClient
from agent.plugins import errors, kubelet
from agent.plugins.claiming import SlotClaimer
from agent.plugins.configuration_plugin import ConfigurationPlugin
from agent.plugins.instance_plugin import AllocationClock, InstancePlugin
from agent.plugins.instances import InstanceStore, KubeInstances
from agent.plugins.plugin import DevicePlugin
from agent.plugins.reclaiming import HeldClaim, SlotReclaimer
from agent.plugins.serving import REGISTRATION_CONCURRENCY, PluginServer, remove_dead_sockets
from agent.plugins.settings import PluginSettings
from akri_api import model, naming

__all__ = ["PluginManager"]

logger = logging.getLogger(__name__)


class PluginManager:
    """All device plugins of one node (see module docstring).

    kube: the API client (or any `InstanceStore`, e.g. a test fake); devices: discovery's device
    store, read at Allocate time; node: this node's name; settings: kubelet paths and timings;
    pod_resources: where held devices are listed (default: the kubelet socket in settings).
    """

    def __init__(self, *, kube: KubeClient | InstanceStore, devices: DeviceStore, node: str,
                 settings: PluginSettings, pod_resources: kubelet.PodResourcesSource | None = None) -> None:
        self._store: InstanceStore = KubeInstances(kube) if isinstance(kube, KubeClient) else kube
        self._devices = devices
        self._node = node
        self._settings = settings
        self._claimer = SlotClaimer(store=self._store)
        self._allocations = AllocationClock()
        self._reclaimer = SlotReclaimer(
            pod_resources=pod_resources or kubelet.PodResourcesClient(settings.pod_resources_socket),
            claims=self.held_claims, allocations=self._allocations.now, settings=settings)
        self._instances: dict[str, InstancePlugin] = {}
        self._configurations: dict[str, ConfigurationPlugin] = {}
        self._servers: dict[int, tuple[PluginServer, asyncio.Task[Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._serving = False
        self._stopper: Stopper | None = None
        self._registrations = asyncio.Semaphore(REGISTRATION_CONCURRENCY)
        self.started = asyncio.Event()
        """Set once start-up reconciliation is done and the plugins are being served."""

    # -- introspection (tests, reclaimer) -----------------------------------------------------

    @property
    def instance_plugins(self) -> dict[str, InstancePlugin]:
        """Live Instance plugins by Instance name (a copy)."""
        return dict(self._instances)

    @property
    def configuration_plugins(self) -> dict[str, ConfigurationPlugin]:
        """Live Configuration plugins by Configuration name (a copy)."""
        return dict(self._configurations)

    def server_of(self, plugin: DevicePlugin) -> PluginServer | None:
        """The server of a live plugin, None when it is not being served."""
        entry = self._servers.get(id(plugin))
        return entry[0] if entry else None

    def held_claims(self) -> list[HeldClaim]:
        """Every claim of this node across its Instance plugins, with its kubelet identity."""
        result = []
        for plugin in self._instances.values():
            for claim in plugin.claims():
                if claim.usage.vdev is None:
                    resource = plugin.resource_name
                else:
                    resource = naming.configuration_resource_name(plugin.configuration)
                result.append(HeldClaim(resource, claim.device_id, claim.key, functools.partial(plugin.reclaim, claim)))
        return result

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch Instances and serve plugins until cancelled; on cancel remove every socket.

        Raises errors.PluginError when one of its tasks fails (already logged by the task guard).
        """
        stopper = Stopper()
        self._stopper = stopper
        try:
            self._spawn(self._watch_devices(), "plugins-watch-devices")
            self._spawn(self._watch_instances(), "plugins-watch-instances")
            await stopper.wait()
            raise errors.PluginError(f"device plugins stopped: {stopper.reason}")
        finally:
            await tasks.cancel_tasks([*self._tasks, *(task for _server, task in self._servers.values())])
            self._tasks.clear()
            self._servers.clear()
            self._serving = False
            self._stopper = None

    async def _watch_instances(self) -> None:
        async for event in self._store.watch():
            if event.type == watching.LISTED:
                if not self._serving:
                    await self._start_serving()
                continue
            try:
                self._handle(event)
            except Exception:  # task guard: one bad event must not stop every plugin
                logger.exception("handling %s of Instance %s failed", event.type, watching.object_key(event.object))

    async def _watch_devices(self) -> None:
        """Re-check every Instance plugin's device record after each device-store change."""
        while True:
            await self._devices.changed.wait()
            self._devices.changed.clear()
            for plugin in list(self._instances.values()):
                plugin.refresh_device()

    async def _start_serving(self) -> None:
        freed = await self._reclaimer.reconcile_at_startup()
        dead = remove_dead_sockets(self._settings.device_plugins_directory)
        if dead:
            logger.info("removed %d plugin socket(s) nobody listens on (left by a killed agent): %s",
                        len(dead), ", ".join(dead))
        logger.info("start-up slot reconciliation freed %d slot(s); serving %d Instance and %d Configuration plugins",
                    freed, len(self._instances), len(self._configurations))
        self._serving = True
        for plugin in [*self._instances.values(), *self._configurations.values()]:
            self._start_server(plugin)
        self._spawn(self._reclaimer.run(), "plugins-reclaimer")
        self._spawn(self._watch_kubelet(), "plugins-kubelet-watch")
        self.started.set()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str, *, long_lived: bool = True) -> asyncio.Task[Any]:
        task = tasks.spawn(coro, name=name, stopper=self._stopper)
        if long_lived:
            self._tasks.add(task)
        return task

    # -- Instances -> plugins ------------------------------------------------------------------

    def _handle(self, event: watching.WatchEvent) -> None:
        namespace, name = watching.object_key(event.object)
        if event.type == watching.DELETED:
            self._remove(namespace, name, "Instance deleted")
            return
        try:
            instance = model.Instance.from_dict(event.object)
        except ValueError as exc:
            logger.warning("ignoring Instance %s/%s: %s", namespace, name, exc)
            self._remove(namespace, name, "Instance unreadable")
            return
        if (event.object.get("metadata") or {}).get("deletionTimestamp"):
            self._remove(namespace, name, "Instance being deleted")
        elif self._node not in instance.nodes:
            self._remove(namespace, name, f"node {self._node} left spec.nodes")
        else:
            self._upsert(instance)

    def _upsert(self, instance: model.Instance) -> None:
        plugin = self._instances.get(instance.name)
        if plugin is not None:
            if plugin.namespace != instance.namespace:
                logger.warning("Instance %s/%s skipped: an Instance of that name is served from namespace %s",
                               instance.namespace, instance.name, plugin.namespace)
                return
            plugin.apply(instance)
            return
        configuration = self._configurations.get(instance.configuration_name)
        if configuration is not None and configuration.namespace != instance.namespace:
            logger.warning("Instance %s/%s skipped: Configuration %s is served from namespace %s",
                           instance.namespace, instance.name, instance.configuration_name, configuration.namespace)
            return
        plugin = InstancePlugin(instance, node=self._node, claimer=self._claimer, devices=self._devices,
                                clock=self._allocations)
        self._instances[instance.name] = plugin
        logger.info("device plugin %s created (capacity %d%s)", plugin.resource_name, instance.capacity,
                    "" if plugin.device_known else f"; Unhealthy until discovery reports {instance.cdi_name}")
        self._start_server(plugin)
        if configuration is None:
            configuration = ConfigurationPlugin(instance.namespace, instance.configuration_name, node=self._node)
            self._configurations[configuration.name] = configuration
            logger.info("device plugin %s created", configuration.resource_name)
            self._start_server(configuration)
        configuration.attach(plugin)

    def _remove(self, namespace: str, name: str, why: str) -> None:
        plugin = self._instances.get(name)
        if plugin is None or plugin.namespace != namespace:
            return
        del self._instances[name]
        logger.info("device plugin %s stopped: %s", plugin.resource_name, why)
        self._stop_server(plugin)
        configuration = self._configurations.get(plugin.configuration)
        if configuration is not None and configuration.detach(name):
            del self._configurations[configuration.name]
            logger.info("device plugin %s stopped: no Instance left", configuration.resource_name)
            self._stop_server(configuration)

    # -- servers ---------------------------------------------------------------------------------

    def _start_server(self, plugin: DevicePlugin) -> None:
        if not self._serving or id(plugin) in self._servers:
            return
        server = PluginServer(plugin, settings=self._settings, registrations=self._registrations)
        task = self._spawn(server.run(), f"plugin-{plugin.resource_name}", long_lived=False)
        self._servers[id(plugin)] = (server, task)

    def _stop_server(self, plugin: DevicePlugin) -> None:
        entry = self._servers.pop(id(plugin), None)
        if entry is not None:
            entry[1].cancel()

    def _live_servers(self) -> Iterator[PluginServer]:
        return (server for server, _task in list(self._servers.values()))

    async def _watch_kubelet(self) -> None:
        """Re-serve every plugin when kubelet.sock is recreated, one plugin when its socket vanished."""
        seen = kubelet.socket_identity(self._settings.kubelet_socket)
        while True:
            await asyncio.sleep(self._settings.kubelet_restart_check_seconds)
            current = kubelet.socket_identity(self._settings.kubelet_socket)
            if current != seen:
                seen = current
                if current is not None:
                    logger.info("kubelet.sock was recreated: re-registering %d device plugins", len(self._servers))
                    for server in self._live_servers():
                        server.request_restart()
                continue
            for server in self._live_servers():
                if server.socket_missing():
                    logger.info("socket of %s vanished: re-registering", server.plugin.resource_name)
                    server.request_restart()

