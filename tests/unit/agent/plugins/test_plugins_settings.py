"""PluginSettings.from_env and the package's public surface."""

from __future__ import annotations

import pytest

import agent.plugins
from agent.plugins import errors
from agent.plugins.settings import PluginSettings


def test_defaults_are_akris() -> None:
    s = PluginSettings.from_env({})
    assert s.device_plugins_directory == "/var/lib/kubelet/device-plugins"
    assert s.kubelet_socket == "/var/lib/kubelet/device-plugins/kubelet.sock"
    assert s.pod_resources_socket == "/var/lib/kubelet/pod-resources/kubelet.sock"
    assert (s.reclaim_interval_seconds, s.reclaim_grace_seconds) == (10, 20)
    assert s.kubelet_restart_check_seconds <= 1


def test_overrides() -> None:
    s = PluginSettings.from_env({"KUBELET_DEVICE_PLUGINS_DIRECTORY": "/tmp/dp",
                                 "KUBELET_POD_RESOURCES_SOCKET": "/tmp/pr.sock",
                                 "SLOT_RECLAIM_INTERVAL_SECONDS": "0.5", "SLOT_RECLAIM_GRACE_SECONDS": "0"})
    assert (s.kubelet_socket, s.pod_resources_socket) == ("/tmp/dp/kubelet.sock", "/tmp/pr.sock")
    assert (s.reclaim_interval_seconds, s.reclaim_grace_seconds) == (0.5, 0)


def test_every_bad_variable_is_named() -> None:
    with pytest.raises(errors.SettingsError) as info:
        PluginSettings.from_env({"KUBELET_DEVICE_PLUGINS_DIRECTORY": "relative/dir",
                                 "SLOT_RECLAIM_INTERVAL_SECONDS": "soon", "KUBELET_RESTART_CHECK_SECONDS": "5"})
    message = str(info.value)
    assert "KUBELET_DEVICE_PLUGINS_DIRECTORY='relative/dir'" in message
    assert "SLOT_RECLAIM_INTERVAL_SECONDS='soon'" in message
    assert "KUBELET_RESTART_CHECK_SECONDS='5': must be > 0 and <= 1" in message


def test_exported_members() -> None:
    assert sorted(agent.plugins.__all__) == ["PluginManager", "PluginSettings"]
    assert all(hasattr(agent.plugins, name) for name in agent.plugins.__all__)
