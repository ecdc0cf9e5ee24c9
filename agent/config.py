"""The agent's whole configuration, read once at start-up from the environment and the command line.

Akri's agent is configured through environment variables set by its Helm chart (akri-contract.md
§2.1, §6); we keep those names verbatim and add a flag for each (flags override the environment).
`AgentConfig.from_env(environ, argv)` is the only place the agent looks at the environment
(STYLE.md §5.13): every other component receives the values it needs from the frozen dataclass.
Every problem found is collected, so one `ConfigError` names every bad variable at once.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

__all__ = ["AgentConfig", "EMBEDDABLE_HANDLERS", "DEFAULT_ENABLED_HANDLERS", "REGISTRATION_SOCKET_NAME",
           "UDS_PATH_MAX_BYTES", "build_parser"]

REGISTRATION_SOCKET_NAME = "agent-registration.sock"
"""File name of the agent's registration socket inside DISCOVERY_HANDLERS_DIRECTORY (Akri verbatim)."""

UDS_PATH_MAX_BYTES = 107
"""Longest unix-socket path Linux accepts (sun_path is 108 bytes including the NUL)."""

EMBEDDABLE_HANDLERS = ("udev", "onvif", "opcua", "debugEcho")
"""Handler names the agent can run embedded (the `agent-full` feature set of Akri)."""

DEFAULT_ENABLED_HANDLERS = ("udev", "onvif", "opcua")
"""ENABLED_DISCOVERY_HANDLERS default (our choice); debugEcho is added by ENABLE_DEBUG_ECHO only."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
_NODE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Everything the agent process needs to know, validated."""

    node_name: str
    """AGENT_NODE_NAME / --node-name (required; Helm sets it from fieldRef spec.nodeName)."""

    discovery_handlers_directory: Path = Path("/var/lib/akri")
    """DISCOVERY_HANDLERS_DIRECTORY: holds `agent-registration.sock` and handlers' `<name>.sock`."""

    metrics_port: int = 8080
    """METRICS_PORT: Prometheus `/metrics` on 0.0.0.0:<port>; 0 disables the endpoint."""

    enable_debug_echo: bool = False
    """ENABLE_DEBUG_ECHO: set to any value except 0/false/no/off → embed the debugEcho handler."""

    debug_echo_instances_shared: bool = True
    """DEBUG_ECHO_INSTANCES_SHARED (true/false): shared flag of embedded debugEcho devices (Helm default true)."""

    enabled_discovery_handlers: tuple[str, ...] = DEFAULT_ENABLED_HANDLERS
    """ENABLED_DISCOVERY_HANDLERS: comma list of embedded handlers among udev, onvif, opcua ("" = none)."""

    kubelet_device_plugins_directory: Path = Path("/var/lib/kubelet/device-plugins")
    """KUBELET_DEVICE_PLUGINS_DIRECTORY: kubelet's device-plugin directory (registry socket `kubelet.sock`)."""

    kubelet_pod_resources_socket: Path = Path("/var/lib/kubelet/pod-resources/kubelet.sock")
    """KUBELET_POD_RESOURCES_SOCKET: kubelet pod-resources gRPC socket (slot reclaim)."""

    kubeconfig: str | None = None
    """KUBECONFIG / --kubeconfig: kubeconfig file (first entry of a colon list); None = in-cluster."""

    shared_device_grace_seconds: float = 300.0
    """SHARED_DEVICE_GRACE_SECONDS: how long a vanished shared device keeps this node in its Instance."""

    local_device_grace_seconds: float = 0.0
    """LOCAL_DEVICE_GRACE_SECONDS: same for local (unshared) devices; Akri: none."""

    node_not_ready_grace_seconds: float = 300.0
    """NODE_NOT_READY_GRACE_SECONDS: a Node NotReady this long is removed from every Instance."""

    discovery_settle_seconds: float = 30.0
    """DISCOVERY_SETTLE_SECONDS (our addition): after discovery (re)starts, the longest wait for every
    handler's first answer before devices not (yet) reported start their grace period."""

    log_level: str = "INFO"
    """LOG_LEVEL / --log-level: DEBUG, INFO, WARNING or ERROR."""

    log_format: str = "text"
    """LOG_FORMAT / --log-format: `text` (one line, key=value context) or `json` (one object per line)."""

    extra_environ: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """The environment the config was read from, for components with their own `from_env`
    (device plugins, embedded handlers). Never logged."""

    @property
    def registration_socket(self) -> Path:
        """`<discovery_handlers_directory>/agent-registration.sock`."""
        return self.discovery_handlers_directory / REGISTRATION_SOCKET_NAME

    @property
    def embedded_handlers(self) -> tuple[str, ...]:
        """Names of the handlers to run embedded: ENABLED_DISCOVERY_HANDLERS plus debugEcho when enabled."""
        names = tuple(self.enabled_discovery_handlers)
        return names + ("debugEcho",) if self.enable_debug_echo else names

    def grace_seconds(self, *, shared: bool) -> float:
        """Grace period (seconds) of a vanished device."""
        return self.shared_device_grace_seconds if shared else self.local_device_grace_seconds

    @classmethod
    def from_env(cls, environ: Mapping[str, str], argv: Sequence[str] | None = None) -> AgentConfig:
        """Build and validate the configuration: environment first, flags (`argv`) override.

        Raises ConfigError listing every missing or invalid variable (name, offending value, rule).
        Unknown flags make argparse exit with status 2 and a usage line.
        """
        config, problems = cls.read(environ, argv)
        if problems:
            raise ConfigError(problems)
        return config

    @classmethod
    def read(cls, environ: Mapping[str, str],
             argv: Sequence[str] | None = None) -> tuple[AgentConfig, tuple[str, ...]]:
        """Lenient `from_env`: (config, problems), where every missing or invalid value is replaced
        by its default (a missing node name by "") and named in `problems` (one `NAME='value': rule`
        string each; empty when the configuration is valid).

        The composition root uses it to validate the settings that depend on this configuration
        (device plugins, embedded handlers, kubeconfig) even when this one is invalid, so a single
        ConfigError can name every bad variable. Unknown flags make argparse exit with status 2.
        """
        args = build_parser().parse_args(list(argv or []))
        reader = _Reader(environ, vars(args))
        node_name = reader.read("AGENT_NODE_NAME", "node_name", _node_name, default="", required=True)
        directory = reader.read("DISCOVERY_HANDLERS_DIRECTORY", "discovery_handlers_directory",
                                _socket_directory, default=_default(cls, "discovery_handlers_directory"))
        enable_echo = reader.read("ENABLE_DEBUG_ECHO", "enable_debug_echo", _presence_flag, default=False)
        values: dict[str, Any] = {
            "node_name": node_name,
            "discovery_handlers_directory": directory,
            "metrics_port": reader.read("METRICS_PORT", "metrics_port", _port, default=_default(cls, "metrics_port")),
            "enable_debug_echo": enable_echo,
            "debug_echo_instances_shared": reader.read(
                "DEBUG_ECHO_INSTANCES_SHARED", "debug_echo_instances_shared", _bool,
                default=_default(cls, "debug_echo_instances_shared")),
            "enabled_discovery_handlers": reader.read(
                "ENABLED_DISCOVERY_HANDLERS", "enabled_discovery_handlers", _handler_list,
                default=DEFAULT_ENABLED_HANDLERS),
            "kubelet_device_plugins_directory": reader.read(
                "KUBELET_DEVICE_PLUGINS_DIRECTORY", "kubelet_device_plugins_directory", _abs_path,
                default=_default(cls, "kubelet_device_plugins_directory")),
            "kubelet_pod_resources_socket": reader.read(
                "KUBELET_POD_RESOURCES_SOCKET", "kubelet_pod_resources_socket", _abs_path,
                default=_default(cls, "kubelet_pod_resources_socket")),
            "kubeconfig": reader.read("KUBECONFIG", "kubeconfig", _kubeconfig, default=None),
            "log_level": reader.read("LOG_LEVEL", "log_level", _choice(LOG_LEVELS, upper=True), default="INFO"),
            "log_format": reader.read("LOG_FORMAT", "log_format", _choice(LOG_FORMATS), default="text"),
        }
        for env, attr in (("SHARED_DEVICE_GRACE_SECONDS", "shared_device_grace_seconds"),
                          ("LOCAL_DEVICE_GRACE_SECONDS", "local_device_grace_seconds"),
                          ("NODE_NOT_READY_GRACE_SECONDS", "node_not_ready_grace_seconds"),
                          ("DISCOVERY_SETTLE_SECONDS", "discovery_settle_seconds")):
            values[attr] = reader.read(env, attr, _seconds, default=_default(cls, attr))
        return cls(**values, extra_environ=dict(environ)), tuple(reader.problems)


def _default(cls: type[AgentConfig], attr: str) -> Any:
    """The declared default of a field (class attributes are slot descriptors)."""
    return next(f.default for f in fields(cls) if f.name == attr)


def build_parser() -> argparse.ArgumentParser:
    """The `akri-agent` command line; every flag defaults to None (= use the environment)."""
    parser = argparse.ArgumentParser(
        prog="akri-agent", description="Akri agent: discovery → Instances, device plugins, node lifecycle. "
        "Every flag overrides the environment variable named in its help.")
    flags: tuple[tuple[str, str, str], ...] = (
        ("--node-name", "node_name", "AGENT_NODE_NAME"),
        ("--discovery-handlers-directory", "discovery_handlers_directory", "DISCOVERY_HANDLERS_DIRECTORY"),
        ("--metrics-port", "metrics_port", "METRICS_PORT"),
        ("--enable-debug-echo", "enable_debug_echo", "ENABLE_DEBUG_ECHO"),
        ("--debug-echo-instances-shared", "debug_echo_instances_shared", "DEBUG_ECHO_INSTANCES_SHARED"),
        ("--enabled-discovery-handlers", "enabled_discovery_handlers", "ENABLED_DISCOVERY_HANDLERS"),
        ("--kubelet-device-plugins-directory", "kubelet_device_plugins_directory",
         "KUBELET_DEVICE_PLUGINS_DIRECTORY"),
        ("--kubelet-pod-resources-socket", "kubelet_pod_resources_socket", "KUBELET_POD_RESOURCES_SOCKET"),
        ("--kubeconfig", "kubeconfig", "KUBECONFIG"),
        ("--shared-device-grace-seconds", "shared_device_grace_seconds", "SHARED_DEVICE_GRACE_SECONDS"),
        ("--local-device-grace-seconds", "local_device_grace_seconds", "LOCAL_DEVICE_GRACE_SECONDS"),
        ("--node-not-ready-grace-seconds", "node_not_ready_grace_seconds", "NODE_NOT_READY_GRACE_SECONDS"),
        ("--discovery-settle-seconds", "discovery_settle_seconds", "DISCOVERY_SETTLE_SECONDS"),
        ("--log-level", "log_level", "LOG_LEVEL"),
        ("--log-format", "log_format", "LOG_FORMAT"),
    )
    for flag, dest, env in flags:
        parser.add_argument(flag, dest=dest, default=None, metavar="VALUE", help=f"overrides ${env}")
    return parser


class _Reader:
    """Looks a setting up (flag, then env, then default), parses it and collects problems."""

    def __init__(self, environ: Mapping[str, str], flags: Mapping[str, str | None]) -> None:
        self.environ = environ
        self.flags = flags
        self.problems: list[str] = []

    def read(self, env: str, dest: str, parse: Callable[[str], Any], *, default: Any = None,
             required: bool = False) -> Any:
        flag = "--" + dest.replace("_", "-")
        flag_value = self.flags.get(dest)
        source, raw = (flag, flag_value) if flag_value is not None else (env, self.environ.get(env))
        if raw is None:
            if required:
                self.problems.append(f"{env} is required (or {flag})")
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            self.problems.append(f"{source}={raw!r}: {exc}")
            return default


def _node_name(raw: str) -> str:
    if not raw or len(raw) > 253 or not _NODE_NAME_RE.match(raw):
        raise ValueError("must be a Kubernetes node name (lower-case RFC 1123 subdomain, at most 253 characters)")
    return raw


def _abs_path(raw: str) -> Path:
    if not raw.startswith("/"):
        raise ValueError("must be an absolute path")
    return Path(raw)


def _socket_directory(raw: str) -> Path:
    path = _abs_path(raw)
    longest = len(str(path / REGISTRATION_SOCKET_NAME).encode())
    if longest > UDS_PATH_MAX_BYTES:
        raise ValueError(f"too long for unix sockets ({longest} > {UDS_PATH_MAX_BYTES} bytes with "
                         f"{REGISTRATION_SOCKET_NAME!r})")
    return path


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise ValueError("must be an integer port (0 disables)") from None
    if not 0 <= port <= 65535:
        raise ValueError("must be between 0 and 65535")
    return port


def _bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError("must be true or false")


def _presence_flag(raw: str) -> bool:
    return raw.strip().lower() not in _FALSE_WORDS


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError("must be a finite number of seconds >= 0")
    return value


def _handler_list(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    unknown = [n for n in names if n not in EMBEDDABLE_HANDLERS]
    if unknown:
        raise ValueError(f"unknown handler(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_ENABLED_HANDLERS)}")
    if "debugEcho" in names:
        raise ValueError("debugEcho is embedded by ENABLE_DEBUG_ECHO, not by this list")
    return names


def _kubeconfig(raw: str) -> str | None:
    first = next((part for part in raw.split(":") if part), None)
    return first


def _choice(choices: Sequence[str], *, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value
    return parse
