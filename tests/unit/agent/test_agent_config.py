"""AgentConfig: Akri's env vars, flags override, every problem in one ConfigError; main exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import __main__ as agent_main
from agent.config import AgentConfig
from agent.errors import ConfigError

BASE = {"AGENT_NODE_NAME": "node-a"}


def test_defaults_are_akris() -> None:
    config = AgentConfig.from_env(BASE)
    assert config.node_name == "node-a"
    assert config.discovery_handlers_directory == Path("/var/lib/akri")
    assert config.registration_socket == Path("/var/lib/akri/agent-registration.sock")
    assert config.metrics_port == 8080
    assert config.kubelet_device_plugins_directory == Path("/var/lib/kubelet/device-plugins")
    assert config.kubelet_pod_resources_socket == Path("/var/lib/kubelet/pod-resources/kubelet.sock")
    assert config.kubeconfig is None
    assert config.embedded_handlers == ("udev", "onvif", "opcua")
    assert (config.shared_device_grace_seconds, config.local_device_grace_seconds,
            config.node_not_ready_grace_seconds) == (300.0, 0.0, 300.0)
    assert config.grace_seconds(shared=True) == 300.0 and config.grace_seconds(shared=False) == 0.0


def test_environment_is_read() -> None:
    config = AgentConfig.from_env({
        **BASE, "DISCOVERY_HANDLERS_DIRECTORY": "/tmp/x", "METRICS_PORT": "0", "ENABLE_DEBUG_ECHO": "1",
        "DEBUG_ECHO_INSTANCES_SHARED": "false", "ENABLED_DISCOVERY_HANDLERS": "udev",
        "KUBECONFIG": "/k/one:/k/two", "SHARED_DEVICE_GRACE_SECONDS": "1.5", "LOG_FORMAT": "json"})
    assert config.discovery_handlers_directory == Path("/tmp/x")
    assert config.metrics_port == 0
    assert config.embedded_handlers == ("udev", "debugEcho")
    assert config.debug_echo_instances_shared is False
    assert config.kubeconfig == "/k/one"
    assert config.shared_device_grace_seconds == 1.5
    assert config.log_format == "json"


def test_enable_debug_echo_false_words_disable_it() -> None:
    assert not AgentConfig.from_env({**BASE, "ENABLE_DEBUG_ECHO": "false"}).enable_debug_echo
    assert AgentConfig.from_env({**BASE, "ENABLE_DEBUG_ECHO": "yes-please"}).enable_debug_echo


def test_flags_override_environment() -> None:
    config = AgentConfig.from_env({**BASE, "METRICS_PORT": "9000"},
                                  ["--metrics-port", "9100", "--node-name", "node-b", "--kubeconfig", "/kc",
                                   "--local-device-grace-seconds", "2"])
    assert (config.metrics_port, config.node_name, config.kubeconfig) == (9100, "node-b", "/kc")
    assert config.local_device_grace_seconds == 2.0


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        AgentConfig.from_env({"METRICS_PORT": "eighty", "SHARED_DEVICE_GRACE_SECONDS": "-1",
                              "ENABLED_DISCOVERY_HANDLERS": "udev,zigbee", "DEBUG_ECHO_INSTANCES_SHARED": "maybe",
                              "KUBELET_DEVICE_PLUGINS_DIRECTORY": "relative/dir", "LOG_LEVEL": "chatty"})
    message = str(caught.value)
    assert "\n" not in message
    for name in ("AGENT_NODE_NAME", "METRICS_PORT='eighty'", "SHARED_DEVICE_GRACE_SECONDS='-1'", "zigbee",
                 "DEBUG_ECHO_INSTANCES_SHARED='maybe'", "KUBELET_DEVICE_PLUGINS_DIRECTORY", "LOG_LEVEL"):
        assert name in message
    assert len(caught.value.problems) == 7


@pytest.mark.parametrize(("env", "fragment"), [
    ({"AGENT_NODE_NAME": "Node_A"}, "AGENT_NODE_NAME='Node_A'"),
    ({**BASE, "METRICS_PORT": "70000"}, "between 0 and 65535"),
    ({**BASE, "DISCOVERY_HANDLERS_DIRECTORY": "/" + "d" * 100}, "too long for unix sockets"),
    ({**BASE, "ENABLED_DISCOVERY_HANDLERS": "debugEcho"}, "ENABLE_DEBUG_ECHO"),
    ({**BASE, "NODE_NOT_READY_GRACE_SECONDS": "inf"}, "finite"),
])
def test_invalid_values(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        AgentConfig.from_env(env)


def test_empty_handler_list_means_no_embedded_handlers() -> None:
    assert AgentConfig.from_env({**BASE, "ENABLED_DISCOVERY_HANDLERS": ""}).embedded_handlers == ()


def test_main_prints_one_line_and_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AGENT_NODE_NAME", raising=False)
    monkeypatch.setenv("METRICS_PORT", "nope")
    assert agent_main.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "AGENT_NODE_NAME is required" in err and "METRICS_PORT='nope'" in err
