"""Agent lifecycle against the API: node removal, watch resilience (410, duplicate events), and the
`akri-agent` process itself (configuration, metrics endpoint, SIGTERM)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
import urllib.request
import warnings
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from agent.__main__ import Agent
from agent.config import AgentConfig
from agent.errors import ConfigError
from akri_api import naming
from tests.integration.agent.conftest import AgentRunner, Api, ControlledHandler, eventually

pytestmark = pytest.mark.integration


async def _instances(api: Api, configuration: str, wanted: int) -> dict | None:
    found = await api.instances(configuration)
    return found if len(found) == wanted else None


def _node(name: str, ready: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "Test"}]}}


async def test_vanished_nodes_are_removed_from_instances(api: Api, agents: AgentRunner,
                                                         api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    node_a, node_b, node_c = agents.node("node-a"), agents.node("node-b"), agents.node("node-c")
    on_a, on_b = ControlledHandler("cams", shared=True), ControlledHandler("cams", shared=True)
    on_a.set("cam")
    on_b.set("cam")
    await asyncio.to_thread(core.create_node, _node(node_b, "True"))
    await asyncio.to_thread(core.create_node, _node(node_c, "True"))
    try:
        await agents.start(node_a, [on_a], node_grace=0.5, shared_grace=60)
        agent_b = await agents.start(node_b, [on_b], node_grace=0.5, shared_grace=60)
        await api.create_configuration("cams", "cams", capacity=4)
        name = naming.instance_name("cams", "cam", shared=True)

        async def listed_by_both() -> dict | None:
            found = await api.instances("cams")
            return found.get(name) if name in found and len(found[name]["spec"]["nodes"]) == 2 else None

        instance = await eventually(listed_by_both, message="Instance on both nodes")
        instance["spec"]["nodes"].append(node_c)  # node-c's agent is not running in this test
        instance["spec"]["deviceUsage"] = {f"{name}-0": node_b, f"{name}-1": f"C:cams-0:{node_b}",
                                           f"{name}-2": node_a, f"{name}-3": node_c}
        await api.replace_instance(instance)

        # node-b goes down: its agent stops and the Node turns NotReady for longer than the grace.
        await agents.stop(agent_b)
        await asyncio.to_thread(core.patch_node_status, node_b, {"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "Test"}]}})

        async def b_removed() -> dict | None:
            spec = (await api.instances("cams"))[name]["spec"]
            return spec if node_b not in spec["nodes"] else None

        spec = await eventually(b_removed, message="NotReady node removed")
        assert sorted(spec["nodes"]) == sorted([node_a, node_c])
        assert spec["deviceUsage"] == {f"{name}-2": node_a, f"{name}-3": node_c}

        # node-c is deleted: it goes at once.
        await asyncio.to_thread(core.delete_node, node_c)

        async def c_removed() -> dict | None:
            spec = (await api.instances("cams"))[name]["spec"]
            return spec if spec["nodes"] == [node_a] else None

        spec = await eventually(c_removed, message="deleted node removed")
        assert spec["deviceUsage"] == {f"{name}-2": node_a}
    finally:
        for node in (node_b, node_c):
            try:
                await asyncio.to_thread(core.delete_node, node)
            except ApiException:
                pass


async def test_watch_recovers_from_410_gone(api: Api, agents: AgentRunner, api_client: client.ApiClient,
                                            local_apiserver: object, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.kube.watching")
    handler = ControlledHandler("gone", shared=True)
    handler.set("dev")
    await agents.start(agents.node("node-a"), [handler], shared_grace=0.1)
    await api.create_configuration("before", "gone")
    await eventually(lambda: _instances(api, "before", 1), message="Instance before compaction")
    core = client.CoreV1Api(api_client)
    await asyncio.to_thread(core.create_namespaced_config_map, api.namespace, {"metadata": {"name": "bump"}})
    # etcd compaction, then every connection drops (an apiserver restart): the agent's watches
    # reconnect from a resourceVersion that no longer exists and get 410 Gone.
    local_apiserver.store.compact()  # type: ignore[attr-defined]
    local_apiserver.drop_connections()  # emulator test hook
    await api.delete_configuration("before")  # while the agent is not watching

    async def relisted() -> bool:
        return "watch of configurations expired (410); relisting" in caplog.text

    await eventually(relisted, message="the configuration watch got 410 and relisted")
    await eventually(lambda: _gone(api, "before"), message="deletion during the gap seen after the relist")
    await api.create_configuration("after", "gone")
    await eventually(lambda: _instances(api, "after", 1), message="watching continues after the relist")


async def _gone(api: Api, configuration: str) -> bool:
    return not await api.instances(configuration)


async def test_repeated_and_status_only_events_change_nothing(api: Api, agents: AgentRunner) -> None:
    handler = ControlledHandler("quiet", shared=True)
    handler.set("dev")
    agent = await agents.start(agents.node("node-a"), [handler], watch_timeout=1)
    await api.create_configuration("quiet", "quiet")
    (before,) = (await eventually(lambda: _instances(api, "quiet", 1))).values()
    for index in range(3):  # metadata-only changes: MODIFIED events with the same spec
        await api.patch_configuration("quiet", {"metadata": {"labels": {"touch": str(index)}}})
    await asyncio.sleep(1.5)  # also spans a watch reconnect (1 s watches)
    (after,) = (await api.instances("quiet")).values()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert handler.calls == [""]  # discovery was never restarted
    assert agent.configurations is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_akri_agent_process(api: Api, kubeconfig: str, short_dir: str, tmp_path: Path) -> None:
    port = _free_port()
    environment = {**os.environ, "AGENT_NODE_NAME": "process-node", "KUBECONFIG": kubeconfig,
                   "DISCOVERY_HANDLERS_DIRECTORY": short_dir, "METRICS_PORT": str(port),
                   "ENABLED_DISCOVERY_HANDLERS": "", "ENABLE_DEBUG_ECHO": "1", "DEBUG_ECHO_INSTANCES_SHARED": "true",
                   "DEBUG_ECHO_AVAILABILITY_FILE": str(tmp_path / "availability"),
                   "KUBELET_DEVICE_PLUGINS_DIRECTORY": str(tmp_path / "dp"),
                   "KUBELET_POD_RESOURCES_SOCKET": str(tmp_path / "pr" / "kubelet.sock"),
                   "LOG_FORMAT": "json"}
    (tmp_path / "dp").mkdir()
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "agent", env=environment,
                                                   stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await api.create_configuration("proc-echo", "debugEcho", details="descriptions: [foo0]")
        await eventually(lambda: _instances(api, "proc-echo", 1), timeout=20, message="Instance from akri-agent")

        async def scrape() -> str | None:
            try:
                text = await asyncio.to_thread(
                    lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode())
            except OSError:
                return None
            return text if 'akri_instance_count{configuration="proc-echo",is_shared="true"} 1.0' in text else None

        text = await eventually(scrape, message="metrics endpoint")
        assert "process_resident_memory_bytes" in text
        assert 'akri_discovery_response_result{discovery_handler_name="debugEcho",result="Success"}' in text
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, err.decode()[-2000:]
    first_line = err.decode().splitlines()[0]
    assert first_line.startswith("{") and '"level"' in first_line  # --log-format json
    assert not os.path.exists(os.path.join(short_dir, "agent-registration.sock"))


async def test_akri_agent_console_script_without_node_name_exits_2() -> None:
    """A user starting `akri-agent` with an empty environment gets one clear line and status 2."""
    script = Path(sys.executable).with_name("akri-agent")
    process = await asyncio.create_subprocess_exec(str(script), env={}, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert out == b""
    assert err.decode() == ("akri-agent: invalid configuration: AGENT_NODE_NAME is required (or --node-name); "
                            "no kubeconfig: set KUBECONFIG or --kubeconfig, or run the agent in a Kubernetes pod "
                            "(cannot use in-cluster configuration: KUBERNETES_SERVICE_HOST and "
                            "KUBERNETES_SERVICE_PORT are not set)\n")


async def test_akri_agent_names_agent_and_plugin_problems_together(kubeconfig: str) -> None:
    """The new-user example: one line naming both the agent's and the device plugins' bad variables,
    no traceback and no 'coroutine ... was never awaited' warning."""
    script = Path(sys.executable).with_name("akri-agent")
    environment = {"AGENT_NODE_NAME": "n", "KUBECONFIG": kubeconfig, "LOG_FORMAT": "xml",
                   "SLOT_RECLAIM_GRACE_SECONDS": "-3", "PYTHONWARNINGS": "always"}
    process = await asyncio.create_subprocess_exec(str(script), env=environment, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert out == b""
    assert err.decode() == ("akri-agent: invalid configuration: LOG_FORMAT='xml': must be one of text, json; "
                            "SLOT_RECLAIM_GRACE_SECONDS='-3': must be >= 0\n")


async def test_agent_start_up_failure_leaves_no_unawaited_coroutine(kubeconfig: str, short_dir: str) -> None:
    """Agent.run with invalid device-plugin settings fails before it creates any component coroutine."""
    config = AgentConfig.from_env({"AGENT_NODE_NAME": "n", "KUBECONFIG": kubeconfig, "METRICS_PORT": "0",
                                   "DISCOVERY_HANDLERS_DIRECTORY": short_dir, "SLOT_RECLAIM_GRACE_SECONDS": "-3"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match="SLOT_RECLAIM_GRACE_SECONDS='-3'") as failure:
            await Agent(config, handlers=[]).run()
        del failure  # its traceback holds Agent.run's frame
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    assert not os.path.exists(os.path.join(short_dir, "agent-registration.sock"))
