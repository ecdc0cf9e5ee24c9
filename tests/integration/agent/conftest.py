"""Fixtures for agent-core integration tests: in-process agents against the API emulator (or a real
cluster with --kubeconfig), a test discovery handler the test steers, and API helpers.

Agents run with short grace/settle times and without device plugins (no kubelet here). Each test
uses its own namespace and its own node names, so agents of different tests never share state.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from agent.__main__ import Agent
from agent.config import AgentConfig
from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handler import Device, DiscoveryHandler

GROUP, VERSION = "akri.sh", "v0"
POLL_SECONDS = 0.05


class ControlledHandler(DiscoveryHandler):
    """A discovery handler steered by the test: `set(*ids)` changes what every stream reports
    (per discoveryDetails text with `details=`); details starting with `invalid` are rejected
    with InvalidDiscoveryDetails, as a real handler rejects unparsable details."""

    def __init__(self, name: str = "controlled", *, shared: bool = True) -> None:
        self.name = name
        self.shared = shared
        self.by_details: dict[str, tuple[str, ...]] = {}
        self.default: tuple[str, ...] = ()
        self.calls: list[str] = []

    def set(self, *ids: str, details: str | None = None) -> None:
        if details is None:
            self.default = ids
        else:
            self.by_details[details] = ids

    async def discover(self, details: str, properties: Mapping[str, bytes | None]) -> AsyncIterator[list[Device]]:
        self.calls.append(details)
        if details.startswith("invalid"):
            raise InvalidDiscoveryDetails(f"discoveryDetails {details!r}: rejected by the test handler")
        last: tuple[str, ...] | None = None
        while True:
            ids = self.by_details.get(details, self.default)
            if ids != last:
                last = ids
                yield [Device(id=i, properties={"DEVICE_ID": i}) for i in ids]
            await asyncio.sleep(0.02)


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, message: str = "") -> Any:
    """Poll `check()` until it returns a truthy value; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(POLL_SECONDS)
    pytest.fail(f"timed out after {timeout}s: {message} (last: {last!r})")


class Api:
    """Thin async helpers over the real `kubernetes` client for one namespace."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    async def create_configuration(self, name: str, handler: str, *, details: str = "", capacity: int = 1,
                                   broker_properties: dict[str, str] | None = None) -> dict[str, Any]:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Configuration",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"discoveryHandler": {"name": handler, "discoveryDetails": details},
                         "capacity": capacity, "brokerProperties": broker_properties or {}}}
        return await asyncio.to_thread(self.custom.create_namespaced_custom_object, GROUP, VERSION,
                                       self.namespace, "configurations", body)

    async def configuration(self, name: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.custom.get_namespaced_custom_object, GROUP, VERSION, self.namespace,
                                       "configurations", name)

    async def patch_configuration(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.custom.patch_namespaced_custom_object, GROUP, VERSION, self.namespace,
                                       "configurations", name, patch)

    async def delete_configuration(self, name: str) -> None:
        await asyncio.to_thread(self.custom.delete_namespaced_custom_object, GROUP, VERSION, self.namespace,
                                "configurations", name)

    async def instances(self, configuration: str | None = None) -> dict[str, dict[str, Any]]:
        listing = await asyncio.to_thread(self.custom.list_namespaced_custom_object, GROUP, VERSION,
                                          self.namespace, "instances")
        return {i["metadata"]["name"]: i for i in listing["items"]
                if configuration is None or i["spec"]["configurationName"] == configuration}

    async def replace_instance(self, instance: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.custom.replace_namespaced_custom_object, GROUP, VERSION,
                                       self.namespace, "instances", instance["metadata"]["name"], instance)

    async def events(self) -> list[Any]:
        return (await asyncio.to_thread(self.core.list_namespaced_event, self.namespace)).items


class AgentRunner:
    """Starts in-process agents (each with its own discovery directory) and stops them all."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.running: list[tuple[Agent, asyncio.Task[None], str, bool]] = []
        self.suffix = uuid.uuid4().hex[:6]

    def node(self, name: str) -> str:
        """A node name unique to this test."""
        return f"{name}-{self.suffix}"

    async def start(self, node: str, handlers: list[DiscoveryHandler], *, directory: str | None = None,
                    shared_grace: float = 0.3, local_grace: float = 0.0, settle: float = 1.0,
                    node_grace: float = 300.0, watch_timeout: int = 240) -> Agent:
        own_directory = directory is None
        directory = directory or tempfile.mkdtemp(prefix="a", dir="/tmp")
        config = AgentConfig.from_env({
            "AGENT_NODE_NAME": node, "DISCOVERY_HANDLERS_DIRECTORY": directory, "KUBECONFIG": self.kubeconfig,
            "METRICS_PORT": "0", "SHARED_DEVICE_GRACE_SECONDS": str(shared_grace),
            "LOCAL_DEVICE_GRACE_SECONDS": str(local_grace), "DISCOVERY_SETTLE_SECONDS": str(settle),
            "NODE_NOT_READY_GRACE_SECONDS": str(node_grace)})
        agent = Agent(config, handlers=handlers, plugins=False, watch_timeout_seconds=watch_timeout)
        task = asyncio.create_task(agent.run(), name=f"agent-{node}")
        self.running.append((agent, task, directory, own_directory))
        started = asyncio.create_task(agent.started.wait())
        done, _ = await asyncio.wait({task, started}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if started not in done:
            started.cancel()
            if task in done:
                task.result()
            pytest.fail(f"agent {node} did not start")
        assert agent.configurations is not None
        await eventually(lambda: _true(agent.configurations.instances.ready.is_set()),
                         message=f"agent {node} Instance cache listed")
        return agent

    async def stop(self, agent: Agent) -> None:
        for entry in list(self.running):
            if entry[0] is agent:
                self.running.remove(entry)
                await self._stop(entry)

    async def _stop(self, entry: tuple[Agent, asyncio.Task[None], str, bool]) -> None:
        agent, task, directory, own = entry
        agent.stopper.stop("test finished")
        try:
            await asyncio.wait_for(task, 10)
        finally:
            if own:
                shutil.rmtree(directory, ignore_errors=True)

    async def stop_all(self) -> None:
        while self.running:
            await self._stop(self.running.pop())


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
def short_dir() -> Iterator[str]:
    """A short temporary directory (unix socket paths must stay under 108 bytes)."""
    directory = tempfile.mkdtemp(prefix="a", dir="/tmp")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def api(api_client: client.ApiClient, namespace: str, install_crds: list[str]) -> Iterator[Api]:
    """API helpers for this test's namespace; its Configurations are deleted afterwards."""
    helper = Api(api_client, namespace)
    try:
        yield helper
    finally:
        try:
            helper.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, "configurations")
        except ApiException:
            pass


@pytest.fixture
async def agents(kubeconfig: str) -> AsyncIterator[AgentRunner]:
    """Start agents with `await agents.start(node, handlers)`; all are stopped after the test."""
    runner = AgentRunner(kubeconfig)
    try:
        yield runner
    finally:
        await runner.stop_all()
