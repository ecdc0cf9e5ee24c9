"""The local control plane in one object: API emulator, hooks, Metacontroller runner, kubelets, agents.

`LocalCluster` starts, in order: the API emulator (akri_local.apiserver) with a kubeconfig; the Akri
CRDs; the hooks (`akri-hooks` under gunicorn, once over HTTP for Metacontroller and once over HTTPS
with a self-signed certificate for the validating admission webhook, registered as a
ValidatingWebhookConfiguration); the Metacontroller runner driving the CompositeControllers of
`metacontroller/`; one kubelet simulator per node; and one `akri-agent` process per node (embedded
udev on this machine's real udev database, and debugEcho). `stop()` tears everything down in the
reverse order. Used by `make demo` and by the e2e suite when no `--kubeconfig` is given.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["LocalCluster", "ClusterSettings", "REPO_ROOT", "free_port", "wait_for"]

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_NAME = "akri-webhook-configuration"
HOOKS_NAMESPACE = "akri"
HOOKS_SERVICE = "akri-hooks"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll `predicate` until it returns a truthy value (returned); TimeoutError naming `what` after
    `timeout` seconds. Exceptions from the predicate count as "not yet" until the deadline."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - polling: an error means "not yet"
            last_error = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}"
                               + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)


@dataclass(frozen=True)
class ClusterSettings:
    """What to start. Durations in seconds."""

    nodes: tuple[str, ...] = ("node-a",)
    debug_echo: bool = True
    debug_echo_shared: bool = True
    embedded_handlers: str = "udev"
    shared_grace_seconds: float = 2.0
    local_grace_seconds: float = 0.0
    node_not_ready_grace_seconds: float = 5.0
    webhook: bool = True
    work_dir: Path | None = None
    extra_agent_env: Mapping[str, str] = field(default_factory=dict)


def _self_signed(hostnames: list[str], directory: Path) -> tuple[Path, Path, bytes]:
    """Self-signed server certificate for `hostnames` (+127.0.0.1): (cert path, key path, cert PEM)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = dt.datetime.now(dt.timezone.utc)
    san = [x509.DNSName(h) for h in hostnames] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, cert_pem


class LocalCluster:
    """Start/stop the whole local control plane. Use as a context manager.

    After `start()`: `kubeconfig` (path), `api_client` (kubernetes ApiClient), `kubelets` (node name →
    KubeletSimulator), `work_dir`, `debug_echo_availability_file` (write OFFLINE to take debugEcho
    devices away), `log_dir` (one log file per process).
    """

    def __init__(self, settings: ClusterSettings | None = None) -> None:
        self.settings = settings or ClusterSettings()
        self._owns_work_dir = self.settings.work_dir is None
        self.work_dir = Path(self.settings.work_dir or tempfile.mkdtemp(prefix="akri-", dir="/tmp"))
        self.log_dir = self.work_dir / "logs"
        self.kubeconfig = self.work_dir / "kubeconfig"
        self.debug_echo_availability_file = self.work_dir / "debug-echo-availability.txt"
        self.kubelets: dict[str, Any] = {}
        self.api_client: Any = None
        self._apiserver: Any = None
        self._runner: Any = None
        self._processes: list[tuple[str, subprocess.Popen[bytes], Any]] = []
        self._agents: dict[str, subprocess.Popen[bytes]] = {}
        self.hooks_url = ""

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop(keep_files=exc_type is not None)  # keep logs when something failed

    def start(self) -> None:
        """Start every component and wait until each answers. Raises TimeoutError/RuntimeError."""
        from kubernetes import config as k8s_config

        from akri_local.apiserver import ApiServer

        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._apiserver = ApiServer(host="127.0.0.1", port=0)
            self._apiserver.start()
            self._apiserver.write_kubeconfig(str(self.kubeconfig))
            self.api_client = k8s_config.new_client_from_config(config_file=str(self.kubeconfig))
            self.apply_file_objects(sorted((REPO_ROOT / "akri_api" / "crds").glob("*.yaml")))
            wait_for(self._crds_served, timeout=10, what="Akri CRDs served")
            self._start_hooks()
            self._start_metacontroller()
            for node in self.settings.nodes:
                self.add_node(node)
                self.start_agent(node)
        except BaseException:
            self.stop()
            raise

    def stop(self, *, keep_files: bool = False) -> None:
        """Stop everything (reverse order); safe to call twice. Removes the work directory (logs,
        kubeconfig, certificates) and the kubelets' directories unless `keep_files` or the caller
        chose `settings.work_dir`."""
        for node in list(self._agents):
            self.stop_agent(node)
        for kubelet in self.kubelets.values():
            _quietly(kubelet.stop)
            if not keep_files:
                shutil.rmtree(kubelet.root_dir, ignore_errors=True)
        self.kubelets.clear()
        if self._runner is not None:
            _quietly(self._runner.stop)
            self._runner = None
        for name, proc, log in reversed(self._processes):
            _terminate(proc)
            log.close()
        self._processes.clear()
        if self.api_client is not None:
            _quietly(self.api_client.close)
            self.api_client = None
        if self._apiserver is not None:
            _quietly(self._apiserver.stop)
            self._apiserver = None
        if self._owns_work_dir and not keep_files:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- components -----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                start_new_session=True)
        self._processes.append((name, proc, log))
        return proc

    def _start_hooks(self) -> None:
        port = free_port()
        bin_dir = Path(sys.executable).parent
        self._spawn("hooks", [str(bin_dir / "akri-hooks"), "--bind", f"127.0.0.1:{port}", "--workers", "2"])
        self.hooks_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _http_ok(f"{self.hooks_url}/healthz"), timeout=20, what="hooks /healthz")
        if not self.settings.webhook:
            return
        tls_port = free_port()
        cert, key, cert_pem = _self_signed([f"{HOOKS_SERVICE}.{HOOKS_NAMESPACE}.svc", "localhost"], self.work_dir)
        self._spawn("hooks-tls", [str(bin_dir / "akri-hooks"), "--bind", f"127.0.0.1:{tls_port}", "--workers", "1",
                                  "--certfile", str(cert), "--keyfile", str(key)])
        wait_for(lambda: _port_open(tls_port), timeout=20, what="hooks HTTPS port")
        self._apiserver.service_urls[(HOOKS_NAMESPACE, HOOKS_SERVICE, 443)] = f"https://127.0.0.1:{tls_port}"
        webhook = yaml.safe_load((REPO_ROOT / "manifests" / "webhook" / "validating-webhook.yaml").read_text())
        webhook.get("metadata", {}).pop("annotations", None)
        for hook in webhook["webhooks"]:
            hook["clientConfig"]["caBundle"] = base64.b64encode(cert_pem).decode()
        self.apply_objects([webhook])

    def _start_metacontroller(self) -> None:
        from akri_local.metacontroller import MetacontrollerRunner

        self._runner = MetacontrollerRunner(str(self.kubeconfig), str(REPO_ROOT / "metacontroller"),
                                            hook_base_url=self.hooks_url)
        self._runner.start()

    def add_node(self, node: str) -> Any:
        """Start a kubelet simulator (and its Node object) for `node`; returns it."""
        from akri_local.kubelet import KubeletSimulator

        root = Path(tempfile.mkdtemp(prefix="k", dir="/tmp"))
        kubelet = KubeletSimulator(str(self.kubeconfig), node, str(root), schedule=True)
        kubelet.start()
        self.kubelets[node] = kubelet
        return kubelet

    def remove_node(self, node: str) -> None:
        """Stop `node`'s agent and kubelet simulator and remove its directory (the Node object stays:
        delete it through the API, as for a node that went away)."""
        if node in self._agents:
            self.stop_agent(node)
        kubelet = self.kubelets.pop(node)
        _quietly(kubelet.stop)
        shutil.rmtree(kubelet.root_dir, ignore_errors=True)

    def agent_env(self, node: str) -> dict[str, str]:
        """The environment `akri-agent` runs with on `node`."""
        root = Path(self.kubelets[node].root_dir)
        handlers_dir = root / "akri"
        handlers_dir.mkdir(exist_ok=True)
        env = {
            "AGENT_NODE_NAME": node,
            "KUBECONFIG": str(self.kubeconfig),
            "DISCOVERY_HANDLERS_DIRECTORY": str(handlers_dir),
            "KUBELET_DEVICE_PLUGINS_DIRECTORY": str(root / "device-plugins"),
            "KUBELET_POD_RESOURCES_SOCKET": str(root / "pod-resources" / "kubelet.sock"),
            "METRICS_PORT": "0",
            "ENABLED_DISCOVERY_HANDLERS": self.settings.embedded_handlers,
            "SHARED_DEVICE_GRACE_SECONDS": str(self.settings.shared_grace_seconds),
            "LOCAL_DEVICE_GRACE_SECONDS": str(self.settings.local_grace_seconds),
            "NODE_NOT_READY_GRACE_SECONDS": str(self.settings.node_not_ready_grace_seconds),
            "DEBUG_ECHO_AVAILABILITY_FILE": str(self.debug_echo_availability_file),
        }
        if self.settings.debug_echo:
            env["ENABLE_DEBUG_ECHO"] = "1"
            env["DEBUG_ECHO_INSTANCES_SHARED"] = "true" if self.settings.debug_echo_shared else "false"
        env.update(self.settings.extra_agent_env)
        return env

    def start_agent(self, node: str) -> None:
        """Start `akri-agent` for `node` (its kubelet must exist)."""
        bin_dir = Path(sys.executable).parent
        self._agents[node] = self._spawn(f"agent-{node}", [str(bin_dir / "akri-agent")], self.agent_env(node))

    def stop_agent(self, node: str) -> None:
        """Stop the agent of `node` (SIGTERM, then SIGKILL after 10 s)."""
        proc = self._agents.pop(node, None)
        if proc is not None:
            _terminate(proc)

    def agent_log(self, node: str) -> str:
        """Everything the agent of `node` logged so far."""
        path = self.log_dir / f"agent-{node}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- objects --------------------------------------------------------------------------------

    def apply_objects(self, objects: list[dict[str, Any]], namespace: str | None = None) -> None:
        """Create each object through the kubernetes client's DynamicClient (kubectl-create style,
        API discovery included); an object that exists already is left alone."""
        from kubernetes import dynamic
        from kubernetes.client.exceptions import ApiException

        client = dynamic.DynamicClient(self.api_client)
        for obj in objects:
            resource = client.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            ns = (obj.get("metadata") or {}).get("namespace") or namespace or "default"
            try:
                resource.create(body=obj, namespace=ns if resource.namespaced else None)
            except ApiException as exc:
                if exc.status != 409:
                    raise

    def apply_file_objects(self, paths: list[Path], namespace: str | None = None) -> None:
        """`apply_objects` for every document of every YAML file in `paths`."""
        docs = [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]
        self.apply_objects(docs, namespace=namespace)

    def _crds_served(self) -> bool:
        from kubernetes import client

        api = client.CustomObjectsApi(self.api_client)
        api.list_cluster_custom_object("akri.sh", "v0", "configurations")
        api.list_cluster_custom_object("akri.sh", "v0", "instances")
        return True


def _http_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback only
        return response.status == 200


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - teardown must continue
        logger.exception("error during teardown")
