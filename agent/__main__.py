"""Composition root of the agent (`akri-agent`; Akri's agent/src/main.rs).

Reads `AgentConfig` once, builds every component around one shared `KubeClient`, `DeviceStore`,
`DiscoveryHandlerRegistry` and `AgentMetrics`, and runs them as guarded tasks until SIGTERM/SIGINT
or until one of them fails (then the process ends, as Akri's does):

    metrics HTTP server (METRICS_PORT)        prometheus_client thread
    registration server                       agent-registration.sock (+ embedded handlers)
    ConfigurationController                   Configurations → discovery → Instances, DeviceStore
    NodeController                            vanished nodes out of Instances
    PluginManager                             kubelet device plugins (agent.plugins)

Start-up (`prepare`) validates every environment-driven setting before anything runs: the
agent's own (`AgentConfig`), the device plugins' (`PluginSettings`: KUBELET_*, SLOT_RECLAIM_*),
the embedded handlers' (`from_env`: DEBUG_ECHO_*, UDEV_*, ONVIF_MULTICAST_INTERFACES) and the
kubeconfig (KUBECONFIG / --kubeconfig, else in-cluster); every problem goes into one ConfigError.

`Agent(config, ...)` / `run_agent(config, ...)` run the same thing in-process, which is how the
integration tests start one or several agents (collaborators can be injected; see `Agent`).
Exit status of `main`: 0 after a signal, 1 when a component failed or could not start, 2 for an
invalid configuration (one line on stderr naming every bad variable, or the kubeconfig problem).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from agent.plugins import PluginManager, PluginSettings

__all__ = ["Agent", "Startup", "prepare", "run_agent", "main"]

logger = logging.getLogger("agent")


class Agent:
    """One agent: `await Agent(config).run()` runs until `stopper` stops or the task is cancelled.

    Optional collaborators (tests, or `main` after `prepare`): kube (else from config.kubeconfig /
    in-cluster; closed at the end only if created here), handlers (embedded handlers; else built
    from the config), devices, metrics, stopper, plugins (False: no kubelet device plugins, e.g.
    without a kubelet), plugin_settings (else read from config.extra_environ),
    watch_timeout_seconds (server-side length of one watch connection).
    Attributes after construction: config, registry, devices, metrics, stopper, `started` (set
    once every component runs), and after start: kube, configurations, nodes, plugins.
    """

    def __init__(self, config: AgentConfig, *, kube: KubeClient | None = None,
                 handlers: Sequence[DiscoveryHandler] | None = None, devices: DeviceStore | None = None,
                 metrics: AgentMetrics | None = None, stopper: Stopper | None = None, plugins: bool = True,
                 plugin_settings: PluginSettings | None = None,
                 watch_timeout_seconds: int = WATCH_TIMEOUT_SECONDS) -> None:
        self.config = config
        self.kube = kube
        self._own_kube = kube is None
        self.handlers = list(handlers) if handlers is not None else None
        self.devices = devices or DeviceStore()
        self.metrics = metrics or AgentMetrics()
        self.stopper = stopper or Stopper()
        self.with_plugins = plugins
        self.plugin_settings = plugin_settings
        self.watch_timeout_seconds = watch_timeout_seconds
        self.registry = DiscoveryHandlerRegistry()
        self.started = asyncio.Event()
        self.configurations: ConfigurationController | None = None
        self.nodes: NodeController | None = None
        self.plugins: PluginManager | None = None

    async def run(self) -> None:
        """Start everything, wait for the stop signal, stop everything.

        Every component is built before any of them starts, so a start-up failure leaves nothing
        half started. Raises ConfigError (invalid embedded-handler or device-plugin settings),
        kube_errors.KubeConfigError, OSError (socket or port cannot be bound) at start-up, and
        AgentError when a component failed.
        """
        config = self.config
        if self.handlers is None:
            self.handlers = embedded.build_handlers(config.embedded_handlers, environ=handler_environ(config))
        settings = self.plugin_settings
        if self.with_plugins and settings is None:
            settings = plugin_settings(config)
        elif not self.with_plugins:
            settings = None
        if self.kube is None:
            self.kube = KubeClient.from_kubeconfig(config.kubeconfig)
        kube = self.kube
        registration = RegistrationServer(self.registry, config.registration_socket)
        tasks: list[asyncio.Task[Any]] = []
        try:
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
            if settings is not None:
                self.plugins = PluginManager(kube=kube, devices=self.devices, node=config.node_name,
                                             settings=settings)
            if config.metrics_port:
                self.metrics.serve(config.metrics_port)
            for endpoint in embedded.build_endpoints(self.handlers):
                self.registry.register(endpoint)
            await registration.start()
            # Coroutines are created only here, right before their tasks start (none is left
            # un-awaited when start-up fails above).
            tasks.append(spawn(self.configurations.run(), name="configurations", stopper=self.stopper))
            tasks.append(spawn(self.nodes.run(), name="nodes", stopper=self.stopper))
            if self.plugins is not None:
                tasks.append(spawn(self.plugins.run(), name="device-plugins", stopper=self.stopper))
            await asyncio.sleep(0)  # let every task take its first step before it can be cancelled
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


def handler_environ(config: AgentConfig) -> dict[str, str]:
    """The environment the embedded handlers' `from_env` read: the agent's, with
    DEBUG_ECHO_INSTANCES_SHARED resolved by AgentConfig (Helm default true)."""
    environ = dict(config.extra_environ)
    environ["DEBUG_ECHO_INSTANCES_SHARED"] = "true" if config.debug_echo_instances_shared else "false"
    return environ


def _plugin_environ(config: AgentConfig) -> dict[str, str]:
    """The agent's environment with the kubelet paths taken from AgentConfig (flags override them;
    AgentConfig already reported invalid ones)."""
    environ = dict(config.extra_environ)
    environ["KUBELET_DEVICE_PLUGINS_DIRECTORY"] = str(config.kubelet_device_plugins_directory)
    environ["KUBELET_POD_RESOURCES_SOCKET"] = str(config.kubelet_pod_resources_socket)
    return environ


def plugin_settings(config: AgentConfig) -> PluginSettings:
    """PluginSettings from `config.extra_environ` and AgentConfig's kubelet paths.
    Raises ConfigError naming every invalid device-plugin variable."""
    settings, problems = PluginSettings.read(_plugin_environ(config))
    if problems:
        raise ConfigError(problems)
    return settings


@dataclass(frozen=True, slots=True)
class Startup:
    """Everything `prepare` validated and built before the agent starts (main hands it to Agent)."""

    config: AgentConfig
    plugin_settings: PluginSettings
    handlers: tuple[DiscoveryHandler, ...]
    kube: KubeClient
    """Owned by the caller: close it when the agent ends."""


def _kubeconfig_problem(config: AgentConfig, exc: kube_errors.KubeConfigError) -> str:
    """One line naming KUBECONFIG / --kubeconfig for a kubeconfig that cannot be used."""
    if config.kubeconfig:
        return f"KUBECONFIG={config.kubeconfig!r} (or --kubeconfig): {exc}"
    return ("no kubeconfig: set KUBECONFIG or --kubeconfig, or run the agent in a Kubernetes pod "
            f"({exc})")


def prepare(environ: Mapping[str, str], argv: Sequence[str] | None = None) -> Startup:
    """Validate every setting the agent reads, then build the embedded handlers and the API client.

    environ: the process environment; argv: the command line without the program name.
    Checks AgentConfig (akri-contract.md §2.1), the device-plugin settings (PluginSettings), each
    embedded handler's `from_env` (only the handlers AgentConfig enables) and the kubeconfig
    (KUBECONFIG / --kubeconfig, else the in-cluster service account). Nothing is started: no
    socket, thread, task or coroutine. Raises ConfigError naming every problem (one line);
    unknown flags make argparse exit with status 2.
    """
    config, config_problems = AgentConfig.read(environ, argv)
    problems = list(config_problems)
    settings, plugin_problems = PluginSettings.read(_plugin_environ(config))
    problems.extend(plugin_problems)
    handlers: list[DiscoveryHandler] = []
    try:
        handlers = embedded.build_handlers(config.embedded_handlers, environ=handler_environ(config))
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        kube = KubeClient.from_kubeconfig(config.kubeconfig)
    except kube_errors.KubeConfigError as exc:
        problems.append(_kubeconfig_problem(config, exc))
    else:
        if problems:
            kube.close()
    if problems:
        raise ConfigError(problems)
    return Startup(config=config, plugin_settings=settings, handlers=tuple(handlers), kube=kube)


async def run_agent(config: AgentConfig, **collaborators: Any) -> None:
    """`Agent(config, **collaborators).run()` (see Agent for the keyword arguments)."""
    await Agent(config, **collaborators).run()


def main(argv: Sequence[str] | None = None) -> int:
    """Console script `akri-agent`: configuration from the environment and `argv`; returns the
    exit status (0 signal, 1 failure, 2 invalid configuration, see `prepare`)."""
    import os

    try:
        startup = prepare(dict(os.environ), sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"akri-agent: {exc}", file=sys.stderr)
        return 2
    config = startup.config
    configure_logging(config.log_level, config.log_format)

    async def serve() -> None:
        stopper = Stopper()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopper.stop, f"signal {signal.Signals(signum).name}")
        await Agent(config, kube=startup.kube, handlers=startup.handlers, plugin_settings=startup.plugin_settings,
                    stopper=stopper).run()

    try:
        asyncio.run(serve())
    except (AgentError, OSError, RuntimeError) as exc:
        logger.error("agent failed: %s", exc)
        return 1
    finally:
        startup.kube.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
