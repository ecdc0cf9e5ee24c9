"""Settings of the device-plugin manager, read once from the environment (STYLE.md §5.13).

Host paths are Akri's defaults (akri-contract.md §0, DESIGN.md §2.6) and overridable so tests can
point them at a temporary directory; reclaim timing is Akri's (device_plugin_slot_reclaimer.rs:
every 10 s, 20 s grace); kubelet-restart polling is our addition (contract §9 row 13).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from agent.plugins import errors

__all__ = ["PluginSettings", "KUBELET_SOCKET_NAME"]

KUBELET_SOCKET_NAME = "kubelet.sock"
"""File name of the kubelet's Registration socket inside the device-plugins directory."""


@dataclass(frozen=True, slots=True)
class PluginSettings:
    """Where the kubelet is and how often the plugins look after their slots."""

    device_plugins_directory: str = "/var/lib/kubelet/device-plugins"
    """Env `KUBELET_DEVICE_PLUGINS_DIRECTORY`. Holds the kubelet's `kubelet.sock` and one socket
    per device plugin (`<name>-<unixSeconds>-<serial>.sock`)."""

    pod_resources_socket: str = "/var/lib/kubelet/pod-resources/kubelet.sock"
    """Env `KUBELET_POD_RESOURCES_SOCKET`. The kubelet's `v1.PodResourcesLister` socket."""

    reclaim_interval_seconds: float = 10.0
    """Env `SLOT_RECLAIM_INTERVAL_SECONDS`, seconds > 0. How often unused slots are looked for."""

    reclaim_grace_seconds: float = 20.0
    """Env `SLOT_RECLAIM_GRACE_SECONDS`, seconds >= 0. How long a claim may stay unheld by any
    pod before it is freed."""

    kubelet_restart_check_seconds: float = 1.0
    """Env `KUBELET_RESTART_CHECK_SECONDS`, seconds in (0, 1]. How often `kubelet.sock` and the
    plugins' own sockets are checked for a kubelet restart."""

    registration_timeout_seconds: float = 5.0
    """Env `KUBELET_REGISTRATION_TIMEOUT_SECONDS`, seconds > 0. Deadline of one Register call."""

    registration_backoff_max_seconds: float = 2.0
    """Env `KUBELET_REGISTRATION_BACKOFF_MAX_SECONDS`, seconds > 0. Cap of the doubling delay
    between failed registrations (a kubelet restart retries at once)."""

    @property
    def kubelet_socket(self) -> str:
        """`<device_plugins_directory>/kubelet.sock`."""
        return os.path.join(self.device_plugins_directory, KUBELET_SOCKET_NAME)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PluginSettings:
        """Settings from `environ` (unset or empty variables take the default).

        Raises errors.SettingsError naming every invalid variable and its value: a number that does
        not parse or is out of range, or a relative path.
        """
        settings, problems = cls.read(environ)
        if problems:
            raise errors.SettingsError("invalid device-plugin settings: " + "; ".join(problems))
        return settings

    @classmethod
    def read(cls, environ: Mapping[str, str]) -> tuple[PluginSettings, tuple[str, ...]]:
        """Lenient `from_env`: (settings, problems), every invalid value replaced by its default and
        named in `problems` (`NAME='value': must be ...`, one string each; empty when all are valid).

        The agent's composition root uses it to report these problems in the same start-up
        ConfigError as its own (STYLE.md §5.13: one error naming every bad variable).
        """
        problems: list[str] = []
        defaults = cls()

        def path(var: str, default: str) -> str:
            value = environ.get(var) or default
            if not os.path.isabs(value):
                problems.append(f"{var}={value!r}: must be an absolute path")
                return default
            return value

        def seconds(var: str, default: float, *, low: float, high: float = math.inf,
                    low_inclusive: bool = False) -> float:
            raw = environ.get(var)
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                problems.append(f"{var}={raw!r}: must be a number of seconds")
                return default
            too_low = value < low if low_inclusive else value <= low
            if not math.isfinite(value) or too_low or value > high:
                bound = f"{'>=' if low_inclusive else '>'} {low:g}" + (f" and <= {high:g}" if high != math.inf else "")
                problems.append(f"{var}={raw!r}: must be {bound}")
                return default
            return value

        settings = cls(
            device_plugins_directory=path("KUBELET_DEVICE_PLUGINS_DIRECTORY", defaults.device_plugins_directory),
            pod_resources_socket=path("KUBELET_POD_RESOURCES_SOCKET", defaults.pod_resources_socket),
            reclaim_interval_seconds=seconds("SLOT_RECLAIM_INTERVAL_SECONDS", defaults.reclaim_interval_seconds,
                                             low=0),
            reclaim_grace_seconds=seconds("SLOT_RECLAIM_GRACE_SECONDS", defaults.reclaim_grace_seconds,
                                          low=0, low_inclusive=True),
            kubelet_restart_check_seconds=seconds("KUBELET_RESTART_CHECK_SECONDS",
                                                  defaults.kubelet_restart_check_seconds, low=0, high=1),
            registration_timeout_seconds=seconds("KUBELET_REGISTRATION_TIMEOUT_SECONDS",
                                                 defaults.registration_timeout_seconds, low=0),
            registration_backoff_max_seconds=seconds("KUBELET_REGISTRATION_BACKOFF_MAX_SECONDS",
                                                     defaults.registration_backoff_max_seconds, low=0),
        )
        return settings, tuple(problems)
