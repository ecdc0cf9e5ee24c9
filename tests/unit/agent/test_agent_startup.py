"""Start-up validation (`agent.__main__.prepare` / `main`): AgentConfig, device-plugin settings,
embedded handlers' settings and the kubeconfig are all checked before anything runs, and every
problem is named in one ConfigError line (exit status 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import __main__ as agent_main
from agent.config import AgentConfig
from agent.errors import ConfigError
from agent.plugins.settings import PluginSettings

KUBECONFIG_TEXT = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""
IN_CLUSTER_VARIABLES = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBECONFIG")


@pytest.fixture
def kubeconfig(tmp_path: Path) -> str:
    """A valid kubeconfig file (its server is never contacted: nothing starts)."""
    path = tmp_path / "config"
    path.write_text(KUBECONFIG_TEXT)
    return str(path)


@pytest.fixture
def outside_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in IN_CLUSTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_agent_plugin_and_handler_problems_are_named_together(kubeconfig: str) -> None:
    environ = {"AGENT_NODE_NAME": "n", "KUBECONFIG": kubeconfig, "LOG_FORMAT": "xml",
               "SLOT_RECLAIM_GRACE_SECONDS": "-3", "KUBELET_RESTART_CHECK_SECONDS": "soon",
               "ONVIF_MULTICAST_INTERFACES": "eth0,a/b", "UDEV_DISCOVERY_INTERVAL_SECONDS": "0"}
    with pytest.raises(ConfigError) as caught:
        agent_main.prepare(environ, [])
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.problems == (
        "LOG_FORMAT='xml': must be one of text, json",
        "SLOT_RECLAIM_GRACE_SECONDS='-3': must be >= 0",
        "KUBELET_RESTART_CHECK_SECONDS='soon': must be a number of seconds",
        "udev handler: UDEV_DISCOVERY_INTERVAL_SECONDS: expected seconds > 0, got '0'",
        "onvif handler: ONVIF_MULTICAST_INTERFACES='eth0,a/b': 'a/b' is not an interface name",
    )


def test_only_enabled_handlers_are_checked(kubeconfig: str) -> None:
    startup = agent_main.prepare({"AGENT_NODE_NAME": "n", "KUBECONFIG": kubeconfig,
                                  "ENABLED_DISCOVERY_HANDLERS": "opcua", "ONVIF_MULTICAST_INTERFACES": "a/b"})
    try:
        assert [handler.name for handler in startup.handlers] == ["opcua"]
    finally:
        startup.kube.close()


def test_plugin_settings_follow_the_kubelet_flags(kubeconfig: str, tmp_path: Path) -> None:
    startup = agent_main.prepare(
        {"AGENT_NODE_NAME": "n", "KUBECONFIG": kubeconfig, "ENABLED_DISCOVERY_HANDLERS": "",
         "ENABLE_DEBUG_ECHO": "1", "DEBUG_ECHO_INSTANCES_SHARED": "false", "SLOT_RECLAIM_GRACE_SECONDS": "7",
         "KUBELET_DEVICE_PLUGINS_DIRECTORY": "/from/env"},
        ["--kubelet-device-plugins-directory", str(tmp_path)])
    try:
        assert startup.plugin_settings.device_plugins_directory == str(tmp_path)
        assert startup.plugin_settings.reclaim_grace_seconds == 7
        [echo] = startup.handlers
        assert echo.name == "debugEcho" and echo.shared is False
    finally:
        startup.kube.close()


def test_an_invalid_kubelet_path_is_named_once(kubeconfig: str) -> None:
    with pytest.raises(ConfigError) as caught:
        agent_main.prepare({"AGENT_NODE_NAME": "n", "KUBECONFIG": kubeconfig, "ENABLED_DISCOVERY_HANDLERS": "",
                            "KUBELET_POD_RESOURCES_SOCKET": "relative.sock"})
    assert caught.value.problems == ("KUBELET_POD_RESOURCES_SOCKET='relative.sock': must be an absolute path",)


def test_unreadable_kubeconfig_names_the_variable_and_the_flag(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(ConfigError) as caught:
        agent_main.prepare({"AGENT_NODE_NAME": "n", "ENABLED_DISCOVERY_HANDLERS": ""}, ["--kubeconfig", missing])
    [problem] = caught.value.problems
    assert problem.startswith(f"KUBECONFIG={missing!r} (or --kubeconfig): cannot use kubeconfig {missing}")


def test_main_names_every_bad_variable_in_one_line(monkeypatch: pytest.MonkeyPatch, kubeconfig: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setenv("AGENT_NODE_NAME", "n")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    monkeypatch.setenv("SLOT_RECLAIM_GRACE_SECONDS", "-3")
    assert agent_main.main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("akri-agent: invalid configuration: ") and captured.err.count("\n") == 1
    assert "LOG_FORMAT='xml'" in captured.err and "SLOT_RECLAIM_GRACE_SECONDS='-3'" in captured.err


@pytest.mark.usefixtures("outside_a_cluster")
def test_main_without_kubeconfig_outside_a_cluster_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AGENT_NODE_NAME", "n")
    monkeypatch.setenv("ENABLED_DISCOVERY_HANDLERS", "")
    assert agent_main.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("akri-agent: invalid configuration: no kubeconfig: set KUBECONFIG or --kubeconfig")
    assert "in-cluster" in err


def test_lenient_reads_replace_bad_values_by_defaults() -> None:
    config, problems = AgentConfig.read({"METRICS_PORT": "x", "ENABLED_DISCOVERY_HANDLERS": "zigbee"})
    assert (config.node_name, config.metrics_port, config.embedded_handlers) == ("", 8080, ("udev", "onvif", "opcua"))
    assert len(problems) == 3
    settings, problems = PluginSettings.read({"SLOT_RECLAIM_INTERVAL_SECONDS": "0",
                                              "KUBELET_DEVICE_PLUGINS_DIRECTORY": "dp"})
    assert settings == PluginSettings()
    assert problems == ("KUBELET_DEVICE_PLUGINS_DIRECTORY='dp': must be an absolute path",
                        "SLOT_RECLAIM_INTERVAL_SECONDS='0': must be > 0")
