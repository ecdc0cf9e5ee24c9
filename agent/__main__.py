"""Composition root of the agent (`akri-agent`; Akri's agent/src/main.rs).

Reads `AgentConfig` once, builds every component around one shared `KubeClient`, `DeviceStore`,
`DiscoveryHandlerRegistry` and `AgentMetrics`, and runs them as guarded tasks until SIGTERM/SIGINT
or until one of them fails (then the process ends, as Akri's does):

    metrics HTTP server (METRICS_PORT)        prometheus_client thread
    registration server                       agent-registration.sock (+ embedded handlers)
    ConfigurationController                   Configurations → discovery → Instances, DeviceStore
    NodeController                            vanished nodes out of Instances
    PluginManager                             kubelet device plugins (agent.plugins)

`Agent(config, ...)` / `run_agent(config, ...)` run the same thing in-process, which is how the
integration tests start one or several agents (collaborators can be injected; see `Agent`).
Exit status of `main`: 0 after a signal, 1 when a component failed or could not start, 2 for an
invalid configuration (one line on stderr naming every bad variable).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from agent.aiokits.stopper import Stopper
from agent.aiokits.tasks import cancel_tasks, spawn
from agent.config import AgentConfig
from agent.controllers.configurations import ConfigurationController, ConfigurationSettings
from agent.controllers.nodes import NodeController, NodeSettings
from agent.devices.store import DeviceStore
from agent.discovery import embedded
from agent.discovery.handler import DiscoveryHandler
from agent.discovery.registration import RegistrationServer
from agent.discovery.registry import DiscoveryHandlerRegistry
from agent.errors import AgentError, ConfigError
from agent.kube import errors as kube_errors
from agent.kube.client import KubeClient
from agent.kube.resources import ResourceKind
from agent.kube.watching import WATCH_TIMEOUT_SECONDS, watch_objects
from agent.logs import configure_logging
from agent.metrics import AgentMetrics

__all__ = ["Agent", "run_agent", "main"]

logger = logging.getLogger("agent")


class Agent:
    """One agent: `await Agent(config).run()` runs until `stopper` stops or the task is cancelled.

    Optional collaborators (tests): kube (else from config.kubeconfig / in-cluster; closed at the
    end only if created here), handlers (embedded handlers; else built from the config), devices,
    metrics, stopper, plugins (False: no kubelet device plugins, e.g. without a kubelet),
    watch_timeout_seconds (server-side length of one watch connection).
    Attributes after construction: config, registry, devices, metrics, stopper, `started` (set
    once every component runs), and after start: kube, configurations, nodes, plugins.
    """

    def __init__(self, config: AgentConfig, *, kube: KubeClient | None = None,
                 handlers: Sequence[DiscoveryHandler] | None = None, devices: DeviceStore | None = None,
                 metrics: AgentMetrics | None = None, stopper: Stopper | None = None, plugins: bool = True,
                 watch_timeout_seconds: int = WATCH_TIMEOUT_SECONDS) -> None:
        self.config = config
        self.kube = kube
        self._own_kube = kube is None
        self.handlers = list(handlers) if handlers is not None else None
        self.devices = devices or DeviceStore()
        self.metrics = metrics or AgentMetrics()
        self.stopper = stopper or Stopper()
        self.with_plugins = plugins
        self.watch_timeout_seconds = watch_timeout_seconds
        self.registry = DiscoveryHandlerRegistry()
        self.started = asyncio.Event()
        self.configurations: ConfigurationController | None = None
        self.nodes: NodeController | None = None
        self.plugins: Any = None

    async def run(self) -> None:
        """Start everything, wait for the stop signal, stop everything.

        Raises ConfigError (invalid embedded-handler settings), kube_errors.KubeConfigError, OSError
        (socket or port cannot be bound) at start-up, and AgentError when a component failed.
        """
        config = self.config
        if self.handlers is None:
            self.handlers = embedded.build_handlers(config.embedded_handlers, environ=self._handler_environ())
        if self.kube is None:
            self.kube = KubeClient.from_kubeconfig(config.kubeconfig)
        kube = self.kube
        registration = RegistrationServer(self.registry, config.registration_socket)
        tasks: list[asyncio.Task[Any]] = []
        try:
            if config.metrics_port:
                self.metrics.serve(config.metrics_port)
            for endpoint in embedded.build_endpoints(self.handlers):
                self.registry.register(endpoint)
            await registration.start()

            def watch(kind: ResourceKind) -> Any:
                return watch_objects(kube, kind, timeout_seconds=self.watch_timeout_seconds)

            self.configurations = ConfigurationController(
                kube=kube, watch=watch, registry=self.registry, devices=self.devices, metrics=self.metrics,
                settings=ConfigurationSettings(node=config.node_name,
                                               shared_grace_seconds=config.shared_device_grace_seconds,
                                               local_grace_seconds=config.local_device_grace_seconds,
                                               settle_seconds=config.discovery_settle_seconds))
            self.nodes = NodeController(kube=kube, watch=watch, settings=NodeSettings(
                node=config.node_name, not_ready_grace_seconds=config.node_not_ready_grace_seconds))
            tasks.append(spawn(self.configurations.run(), name="configurations", stopper=self.stopper))
            tasks.append(spawn(self.nodes.run(), name="nodes", stopper=self.stopper))
            if self.with_plugins:
                self.plugins = _plugin_manager(config, kube, self.devices)
                tasks.append(spawn(self.plugins.run(), name="device-plugins", stopper=self.stopper))
            logger.info("agent started on node %s (embedded handlers: %s)", config.node_name,
                        ", ".join(h.name for h in self.handlers) or "none")
            self.started.set()
            await self.stopper.wait()
        finally:
            await cancel_tasks(tasks)
            await registration.stop()
            self.metrics.stop()
            if self._own_kube:
                kube.close()
            logger.info("agent stopped: %s", self.stopper.reason or "cancelled")
        if self.stopper.reason.startswith("task "):
            raise AgentError(self.stopper.reason)

    def _handler_environ(self) -> dict[str, str]:
        environ = dict(self.config.extra_environ)
        environ["DEBUG_ECHO_INSTANCES_SHARED"] = "true" if self.config.debug_echo_instances_shared else "false"
        return environ


def _plugin_manager(config: AgentConfig, kube: KubeClient, devices: DeviceStore) -> Any:
    """agent.plugins.PluginManager with its settings from the environment, the kubelet paths taken
    from AgentConfig (so flags override them too). Raises ConfigError for invalid plugin settings."""
    from agent.plugins import PluginManager, PluginSettings
    from agent.plugins import errors as plugin_errors

    environ = dict(config.extra_environ)
    environ["KUBELET_DEVICE_PLUGINS_DIRECTORY"] = str(config.kubelet_device_plugins_directory)
    environ["KUBELET_POD_RESOURCES_SOCKET"] = str(config.kubelet_pod_resources_socket)
    try:
        settings = PluginSettings.from_env(environ)
    except plugin_errors.SettingsError as exc:
        raise ConfigError([str(exc)]) from exc
    return PluginManager(kube=kube, devices=devices, node=config.node_name, settings=settings)


async def run_agent(config: AgentConfig, **collaborators: Any) -> None:
    """`Agent(config, **collaborators).run()` (see Agent for the keyword arguments)."""
    await Agent(config, **collaborators).run()


def main(argv: Sequence[str] | None = None) -> int:
    """Console script `akri-agent`: configuration from the environment and `argv`; returns the
    exit status (0 signal, 1 failure, 2 invalid configuration)."""
    import os

    environ = dict(os.environ)
    try:
        config = AgentConfig.from_env(environ, sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"akri-agent: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_format)

    async def serve() -> None:
        stopper = Stopper()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopper.stop, f"signal {signal.Signals(signum).name}")
        await Agent(config, stopper=stopper).run()

    try:
        asyncio.run(serve())
    except ConfigError as exc:
        print(f"akri-agent: {exc}", file=sys.stderr)
        return 2
    except (AgentError, kube_errors.KubeConfigError, OSError, RuntimeError) as exc:
        logger.error("agent failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
