"""Agent RSS and idle CPU with four discovery handlers and N Instances: `python -m benchmarks.agent_rss`.

Not a test. Targets (DESIGN.md §5), judged on the agent process alone: RSS ≤ 79 MiB with four
handlers and 1,000 Instances (the default N; `--instances N`, 1-5000, changes it), idle CPU ≤ 26m.

`--handlers` chooses where the four handlers (debugEcho, udev, onvif, opcua) run:
- `external` (default): Akri's default install (Helm `agent.full: false`), the shape its 79Mi
  agent limit is for. The agent embeds none (ENABLED_DISCOVERY_HANDLERS="", no ENABLE_DEBUG_ECHO);
  each handler is its own process, started as manifests/discovery-handlers/*.yaml start it: its
  console script (`akri-<x>-discovery`, beside this interpreter) with that manifest's variables
  and DISCOVERY_HANDLERS_DIRECTORY set to the agent's, so it serves `<name>.sock` there and
  registers through the agent's `agent-registration.sock` (discovery.proto v0). Each handler's
  VmRSS, VmHWM and idle CPU are reported for information, not judged.
- `embedded`: the agent embeds all four (ENABLE_DEBUG_ECHO=1, ENABLED_DISCOVERY_HANDLERS=udev,onvif,opcua)
  and reads the same handler variables; no handler process. The ONVIF and OPC UA libraries cost
  the agent ~50 MiB, so this shape is expected to miss the RSS target.
Handler variables in both shapes: DEBUG_ECHO_INSTANCES_SHARED=true, DEBUG_ECHO_AVAILABILITY_FILE in
the run's directory, UDEV_DATABASE_DIR=/run/udev, UDEV_DISCOVERY_INTERVAL_SECONDS=10 (the
manifests' values) and ONVIF_MULTICAST_INTERFACES="" (an empty list = no multicast at all; the
ONVIF manifest leaves it unset, which means every interface). Nothing is sent beyond 127.0.0.1.

The agent is the real `python -m agent`, configured through its environment as the DaemonSet
configures it (MALLOC_ARENA_MAX=2, LOG_FORMAT=json, INFO logs, /metrics served on a free port).
This process runs what the agent talks to: the API emulator (`akri_local.apiserver`) with the Akri
CRDs, and a kubelet simulator (`akri_local.kubelet.KubeletSimulator`, scheduling off) that registers
Node `bench-node`, serves Registration on `kubelet.sock`, dials every plugin that registers and keeps
its ListAndWatch stream open as a kubelet does, and serves pod-resources List (no pods). The soft
open-files limit is raised (up to the hard limit) to what N plugins need; the agent inherits it.

Steps, every wait with a deadline and failing as soon as any started process exits. "Ready with k
Instances" means: k Instances list the node; the kubelet simulator holds an open ListAndWatch stream
that has delivered a device list for exactly the expected plugins (one per Instance, one per
Configuration with Instances); every handler concerned has answered at least once
(akri_discovery_response_result{result="Success"} ≥ 1 on the agent's /metrics).
1. The agent starts ("agent started" logged, /metrics answers); the handler processes (external)
   are started then. The agent must log "discovery handler registered" for all four (uid
   `<name>@<socket>` external, `embedded-<name>` embedded). START_SETTLE_SECONDS later, each
   process's VmRSS is its "RSS after start" (no Configuration exists yet).
2. Three Configurations (capacity 2, like all four): udev `KERNEL=="null"` (exactly one device on
   any Linux machine: /dev/null); ONVIF with one directed probe to a closed UDP port on 127.0.0.1;
   OPC UA with a discoveryUrl on a closed TCP port on 127.0.0.1. Ready with 1 Instance and
   START_SETTLE_SECONDS later, the agent's VmRSS is "RSS with 3 Configurations" (embedded: the
   ONVIF SOAP stack and asyncua are imported by the first discovery round, not at start).
3. The debugEcho Configuration with N-1 descriptions; wait until ready with N Instances.
4. After SETTLE_SECONDS, an idle window of IDLE_WINDOW_SECONDS: VmRSS from /proc/<pid>/status of
   every process every SAMPLE_INTERVAL_SECONDS, utime+stime (all threads) from /proc/<pid>/stat at
   both ends. Afterwards the kubelet must still watch every plugin and every process must still run.

Reported: the agent's three RSS values; RSS with N Instances is the largest sample of the idle
window, judged against 79 MiB; VmHWM (lifetime peak, start-up churn included; not judged); KiB per
Instance = (RSS with N Instances - RSS with 3 Configurations) / (N-1 debugEcho Instances); idle CPU
in millicores over the window (judged against 26m). External: each handler's RSS after start,
largest idle sample, VmHWM and idle CPU, and the sum of the largest idle samples of all five.
Exit status 1 when a target is missed or the run fails (the tails of the processes' logs are
printed then); every process and temporary directory is removed at the end, on failure too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from akri_api import naming
from akri_local.cluster import REPO_ROOT, free_port, wait_for

RSS_TARGET_KIB = 79 * 1024
IDLE_CPU_TARGET_MILLICORES = 26.0
DEFAULT_INSTANCES = 1000
MAX_INSTANCES = 5000
NODE = "bench-node"
NAMESPACE = "default"
CAPACITY = 2
HANDLERS = ("debugEcho", "udev", "onvif", "opcua")
CONFIGURATIONS = {"debugEcho": "akri-debug-echo", "udev": "akri-udev", "onvif": "akri-onvif",
                  "opcua": "akri-opcua"}
EXTERNAL, EMBEDDED = "external", "embedded"
HANDLER_SCRIPTS = {"debugEcho": "akri-debug-echo-discovery", "udev": "akri-udev-discovery",
                   "onvif": "akri-onvif-discovery", "opcua": "akri-opcua-discovery"}
"""Handler name → console script (pyproject.toml [project.scripts]; the manifests' `command`)."""
START_TIMEOUT_SECONDS = 30.0
START_SETTLE_SECONDS = 5.0
READY_TIMEOUT_SECONDS = 60.0
READY_TIMEOUT_PER_INSTANCE_SECONDS = 0.1
SETTLE_SECONDS = 10.0
IDLE_WINDOW_SECONDS = 30.0
SAMPLE_INTERVAL_SECONDS = 1.0
POLL_INTERVAL_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 10.0
HTTP_TIMEOUT_SECONDS = 5.0
AGENT_LOG_TAIL_LINES = 40
HANDLER_LOG_TAIL_LINES = 10
OPEN_FILES_PER_INSTANCE = 4  # agent: listening socket + kubelet connection; simulator: channel; spare
OPEN_FILES_BASE = 1024


class RunFailed(Exception):
    """The benchmark could not reach the state it measures (message says which and why)."""


@dataclass(frozen=True)
class Usage:
    """One process over the idle window: VmRSS in KiB (largest and last sample), VmHWM in KiB
    (lifetime peak), CPU in millicores."""

    rss_kib: int
    rss_last_kib: int
    hwm_kib: int
    millicores: float


@dataclass(frozen=True)
class Result:
    """Numbers of one run: memory in KiB, times in seconds, counts of objects. handler_* are empty
    when the handlers are embedded."""

    instances_by_handler: dict[str, int]
    plugins: int
    rss_start_kib: int
    rss_configurations_kib: int
    agent: Usage
    handler_rss_start_kib: dict[str, int]
    handlers: dict[str, Usage]
    window_seconds: float
    successes: dict[str, int]
    ready_seconds: float


# -- processes -------------------------------------------------------------------------------------


class ChildProcess:
    """`argv` in its own session from the repo root, stdout and stderr to `log_path`; `stop()` ends
    its process group (SIGTERM, then SIGKILL after STOP_TIMEOUT_SECONDS). `name` ("agent",
    "onvif handler") names it in errors and log excerpts."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self.process = subprocess.Popen(list(argv), cwd=REPO_ROOT, env=dict(env), stdout=self._log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        except OSError:
            self._log.close()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def ensure_running(self) -> None:
        """Raises RunFailed when the process has exited."""
        if self.process.poll() is not None:
            raise RunFailed(f"the {self.name} exited with status {self.process.returncode}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int) -> str:
        """The last `lines` lines of the log under a header naming the process."""
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- last {lines} lines of the {self.name}'s log ---\n{tail}"

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._log.close()


def inherited_env() -> dict[str, str]:
    """PATH and HOME of the caller, nothing else (no proxy or agent variable of the caller leaks in)."""
    return {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}


def handler_env(work: Path) -> dict[str, dict[str, str]]:
    """Handler name → the variables its `from_env` reads (module docstring), for this run."""
    return {
        "debugEcho": {"DEBUG_ECHO_INSTANCES_SHARED": "true",
                      "DEBUG_ECHO_AVAILABILITY_FILE": str(work / "debug-echo-availability.txt")},
        "udev": {"UDEV_DATABASE_DIR": "/run/udev", "UDEV_DISCOVERY_INTERVAL_SECONDS": "10"},
        "onvif": {"ONVIF_MULTICAST_INTERFACES": ""},  # empty list = no multicast at all
        "opcua": {},
    }


def agent_env(*, work: Path, handlers_dir: Path, kubeconfig: Path, kubelet: Any, metrics_port: int,
              mode: str) -> dict[str, str]:
    """The agent's whole environment: the DaemonSet's variables with this run's paths; the four
    handlers embedded (with their variables) when `mode` is EMBEDDED, none otherwise."""
    if mode == EMBEDDED:
        handlers = {"ENABLED_DISCOVERY_HANDLERS": "udev,onvif,opcua", "ENABLE_DEBUG_ECHO": "1"}
        for variables in handler_env(work).values():
            handlers.update(variables)
    else:
        handlers = {"ENABLED_DISCOVERY_HANDLERS": ""}
    return {
        **inherited_env(),
        "AGENT_NODE_NAME": NODE,
        "KUBECONFIG": str(kubeconfig),
        "DISCOVERY_HANDLERS_DIRECTORY": str(handlers_dir),
        "KUBELET_DEVICE_PLUGINS_DIRECTORY": kubelet.device_plugins_dir,
        "KUBELET_POD_RESOURCES_SOCKET": kubelet.pod_resources_socket,
        **handlers,
        "METRICS_PORT": str(metrics_port),
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "MALLOC_ARENA_MAX": "2",
    }


def handler_script(handler: str) -> Path:
    """Path of `handler`'s console script beside this interpreter; RunFailed when it is missing."""
    path = Path(sys.executable).parent / HANDLER_SCRIPTS[handler]
    if not os.access(path, os.X_OK):
        raise RunFailed(f"{path} is missing or not executable: install the project into this "
                        "interpreter's environment (its console scripts come with it)")
    return path


def start_handlers(*, work: Path, handlers_dir: Path, cleanup: contextlib.ExitStack) -> dict[str, ChildProcess]:
    """Start the four standalone handlers (module docstring, `external`), each stopped by `cleanup`."""
    variables = handler_env(work)
    scripts = {handler: handler_script(handler) for handler in HANDLERS}
    started = {}
    for handler in HANDLERS:
        env = {**inherited_env(), "DISCOVERY_HANDLERS_DIRECTORY": str(handlers_dir), **variables[handler]}
        child = ChildProcess(f"{handler} handler", [str(scripts[handler])], env, work / f"{handler}.log")
        cleanup.callback(child.stop)
        started[handler] = child
    return started


# -- /proc and /metrics ----------------------------------------------------------------------------


def memory_kib(pid: int) -> dict[str, int]:
    """{"VmRSS": KiB, "VmHWM": KiB} from /proc/<pid>/status."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid` in seconds (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()  # after "(comm)", which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def discovery_successes(metrics_port: int) -> dict[str, int]:
    """Handler name → akri_discovery_response_result{result="Success"} read from the agent's /metrics."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
    with opener.open(f"http://127.0.0.1:{metrics_port}/metrics", timeout=HTTP_TIMEOUT_SECONDS) as response:
        text = response.read().decode()
    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "akri_discovery_response_result" and sample.labels.get("result") == "Success":
                counts[sample.labels["discovery_handler_name"]] = int(sample.value)
    return counts


# -- objects ---------------------------------------------------------------------------------------


def closed_udp_port() -> int:
    """A UDP port on 127.0.0.1 where nothing listened a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def configurations(instances: int) -> dict[str, dict[str, Any]]:
    """Handler name → its Configuration (module docstring, steps 2-3); discoveryDetails as JSON (valid YAML)."""
    details = {
        "debugEcho": {"descriptions": [f"bench-{index:05d}" for index in range(instances - 1)]},
        "udev": {"udevRules": ['KERNEL=="null"']},
        "onvif": {"directedProbes": [f"127.0.0.1:{closed_udp_port()}"], "discoveryTimeoutSeconds": 1},
        "opcua": {"opcuaDiscoveryMethod": {"standard": {"discoveryUrls": [f"opc.tcp://127.0.0.1:{free_port()}/"]}}},
    }
    return {handler: {"apiVersion": "akri.sh/v0", "kind": "Configuration",
                      "metadata": {"name": CONFIGURATIONS[handler], "namespace": NAMESPACE},
                      "spec": {"discoveryHandler": {"name": handler, "discoveryDetails": json.dumps(details[handler])},
                               "capacity": CAPACITY}}
            for handler in HANDLERS}


def create_crds(api_client: Any) -> None:
    """Create the Akri CRDs of akri_api/crds and wait until both kinds are served."""
    from kubernetes import client

    extensions = client.ApiextensionsV1Api(api_client)
    for path in sorted((REPO_ROOT / "akri_api" / "crds").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                extensions.create_custom_resource_definition(body=document)
    custom = client.CustomObjectsApi(api_client)
    wait_for(lambda: [custom.list_namespaced_custom_object("akri.sh", "v0", NAMESPACE, plural)
                      for plural in ("configurations", "instances")], timeout=10, what="Akri CRDs served")


# -- waiting ---------------------------------------------------------------------------------------


def until(processes: Sequence[ChildProcess], what: str, timeout: float,
          check: Callable[[], tuple[bool, str]]) -> None:
    """Poll `check` (→ (done, progress text)) every POLL_INTERVAL_SECONDS until done. Raises RunFailed
    when one of `processes` exits or after `timeout` seconds, naming `what` and the last progress."""
    deadline = time.monotonic() + timeout
    progress = "nothing yet"
    while True:
        for process in processes:
            process.ensure_running()
        done, progress = check()
        if done:
            return
        if time.monotonic() > deadline:
            raise RunFailed(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {progress}")
        time.sleep(POLL_INTERVAL_SECONDS)


class Readiness:
    """"Ready with k Instances" of the module docstring, from the API, the kubelet simulator and /metrics.
    After each `check`: by_handler (handler → Instances listing the node), expected_plugins (resource
    names), successes (handler → Discover answers)."""

    def __init__(self, *, api_client: Any, kubelet: Any, metrics_port: int) -> None:
        from kubernetes import client

        self._custom = client.CustomObjectsApi(api_client)
        self._kubelet = kubelet
        self._metrics_port = metrics_port
        self.by_handler: dict[str, int] = {}
        self.expected_plugins: set[str] = set()
        self.successes: dict[str, int] = {}

    def watched_plugins(self) -> set[str]:
        """Resources whose ListAndWatch stream is open and has delivered a list."""
        return set(self._kubelet.devices())

    def check(self, instances: int, handlers: Sequence[str]) -> tuple[bool, str]:
        """(ready with `instances` Instances and every one of `handlers` answering, progress text)."""
        items = self._custom.list_namespaced_custom_object("akri.sh", "v0", NAMESPACE, "instances")["items"]
        ours = [item for item in items if NODE in (item["spec"].get("nodes") or [])]
        handler_of = {name: handler for handler, name in CONFIGURATIONS.items()}
        counts = Counter(handler_of.get(item["spec"]["configurationName"], "?") for item in ours)
        self.by_handler = {handler: counts.get(handler, 0) for handler in HANDLERS}
        self.expected_plugins = ({naming.instance_resource_name(item["metadata"]["name"]) for item in ours}
                                 | {naming.configuration_resource_name(item["spec"]["configurationName"])
                                    for item in ours})
        watched = self.watched_plugins()
        self.successes = discovery_successes(self._metrics_port)
        done = (len(ours) == instances and watched == self.expected_plugins
                and all(self.successes.get(handler, 0) >= 1 for handler in handlers))
        progress = (f"{len(ours)}/{instances} Instances {self.by_handler}, "
                    f"{len(watched & self.expected_plugins)}/{len(self.expected_plugins)} plugins watched "
                    f"({len(watched - self.expected_plugins)} unexpected), discovery successes {self.successes}")
        return done, progress


# -- the run ---------------------------------------------------------------------------------------


def ensure_open_files(instances: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE (inherited by the agent) to what `instances` plugins
    need; RunFailed when the hard limit is lower."""
    needed = OPEN_FILES_BASE + OPEN_FILES_PER_INSTANCE * instances
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise RunFailed(f"RLIMIT_NOFILE hard limit {hard} is below the {needed} open files {instances} Instances need")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def wait_started(agent: ChildProcess, metrics_port: int) -> None:
    """Step 1: until the agent logged "agent started" and /metrics answers (RunFailed otherwise)."""

    def started() -> tuple[bool, str]:
        if "agent started on node" not in agent.log_text():
            return False, "no 'agent started' log line yet"
        try:
            discovery_successes(metrics_port)
        except OSError as exc:
            return False, f"/metrics does not answer: {exc}"
        return True, "started"

    until([agent], "the agent to start", START_TIMEOUT_SECONDS, started)


def wait_registered(agent: ChildProcess, processes: Sequence[ChildProcess], mode: str) -> None:
    """Step 1: until the agent logged the registration of all four handlers (RunFailed otherwise)."""
    uid_prefix = {handler: f"embedded-{handler}" if mode == EMBEDDED else f"{handler}@" for handler in HANDLERS}

    def registered() -> tuple[bool, str]:
        text = agent.log_text()
        missing = [handler for handler in HANDLERS if f"discovery handler registered: {uid_prefix[handler]}" not in text]
        return not missing, f"not registered yet: {', '.join(missing) or 'none'}"

    until(processes, f"the agent to register {', '.join(HANDLERS)}", START_TIMEOUT_SECONDS, registered)


def idle_window(pids: Sequence[int]) -> tuple[dict[int, Usage], float]:
    """Step 4: (pid → its Usage over the window, window length in seconds)."""
    samples: dict[int, list[int]] = {pid: [] for pid in pids}
    cpu_before, window_start = {pid: cpu_seconds(pid) for pid in pids}, time.monotonic()
    window_end = window_start + IDLE_WINDOW_SECONDS
    while (now := time.monotonic()) < window_end:
        for pid in pids:
            samples[pid].append(memory_kib(pid)["VmRSS"])
        time.sleep(min(SAMPLE_INTERVAL_SECONDS, window_end - now))
    cpu_used = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in pids}
    window = time.monotonic() - window_start
    usage = {}
    for pid in pids:
        memory = memory_kib(pid)
        usage[pid] = Usage(rss_kib=max([*samples[pid], memory["VmRSS"]]), rss_last_kib=memory["VmRSS"],
                           hwm_kib=memory["VmHWM"], millicores=cpu_used[pid] / window * 1000)
    return usage, window


def measure(agent: ChildProcess, handlers: Mapping[str, ChildProcess], readiness: Readiness, *,
            api_client: Any, mode: str, instances: int) -> Result:
    """Steps 1-4 of the module docstring, once the agent has started and the handler processes
    (`handlers`, empty when embedded) have been launched."""
    from kubernetes import client

    processes = [agent, *handlers.values()]
    wait_registered(agent, processes, mode)
    time.sleep(START_SETTLE_SECONDS)
    rss_start = memory_kib(agent.pid)["VmRSS"]
    handler_rss_start = {handler: memory_kib(child.pid)["VmRSS"] for handler, child in handlers.items()}

    custom = client.CustomObjectsApi(api_client)
    bodies = configurations(instances)
    others = tuple(handler for handler in HANDLERS if handler != "debugEcho")
    for handler in others:
        custom.create_namespaced_custom_object("akri.sh", "v0", NAMESPACE, "configurations", bodies[handler])
    until(processes, f"the udev Instance served to the kubelet and {', '.join(others)} answering",
          READY_TIMEOUT_SECONDS, lambda: readiness.check(1, others))
    time.sleep(START_SETTLE_SECONDS)
    rss_configurations = memory_kib(agent.pid)["VmRSS"]

    custom.create_namespaced_custom_object("akri.sh", "v0", NAMESPACE, "configurations", bodies["debugEcho"])
    began = time.monotonic()
    until(processes, f"{instances} Instances served to the kubelet and every handler answering",
          READY_TIMEOUT_SECONDS + READY_TIMEOUT_PER_INSTANCE_SECONDS * instances,
          lambda: readiness.check(instances, HANDLERS))
    ready_seconds = time.monotonic() - began

    time.sleep(SETTLE_SECONDS)
    for process in processes:
        process.ensure_running()
    usage, window = idle_window([process.pid for process in processes])
    for process in processes:
        process.ensure_running()
    lost = readiness.expected_plugins - readiness.watched_plugins()
    if lost:
        raise RunFailed(f"{len(lost)} plugin streams ended during the idle window, e.g. {sorted(lost)[:3]}")
    return Result(instances_by_handler=readiness.by_handler, plugins=len(readiness.expected_plugins),
                  rss_start_kib=rss_start, rss_configurations_kib=rss_configurations, agent=usage[agent.pid],
                  handler_rss_start_kib=handler_rss_start,
                  handlers={handler: usage[child.pid] for handler, child in handlers.items()},
                  window_seconds=window, successes=readiness.successes, ready_seconds=ready_seconds)


def run(instances: int, mode: str) -> Result:
    """Start the control plane, the agent and (external `mode`) the handler processes, measure,
    tear everything down (also on failure).

    Raises RunFailed (with the tails of the processes' logs when they ran), or the error of a
    component that could not start (OSError, kubernetes ApiException).
    """
    from kubernetes import config as k8s_config

    from akri_local.apiserver import ApiServer
    from akri_local.kubelet import KubeletSimulator

    ensure_open_files(instances)
    if mode == EXTERNAL:
        for handler in HANDLERS:
            handler_script(handler)  # fail before anything starts
    with contextlib.ExitStack() as cleanup:
        work = Path(tempfile.mkdtemp(prefix="k", dir="/tmp"))  # short: unix socket paths ≤ 107 bytes
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        handlers_dir = work / "akri"
        handlers_dir.mkdir()
        apiserver = ApiServer(host="127.0.0.1", port=0).start()
        cleanup.callback(apiserver.stop)
        kubeconfig = apiserver.write_kubeconfig(work / "kubeconfig")
        api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        cleanup.callback(api_client.close)
        create_crds(api_client)
        kubelet = KubeletSimulator(kubeconfig, NODE, work / "kubelet", schedule=False)
        kubelet.start()
        cleanup.callback(kubelet.stop)
        metrics_port = free_port()
        env = agent_env(work=work, handlers_dir=handlers_dir, kubeconfig=kubeconfig, kubelet=kubelet,
                        metrics_port=metrics_port, mode=mode)
        agent = ChildProcess("agent", [sys.executable, "-m", "agent"], env, work / "agent.log")
        cleanup.callback(agent.stop)
        handlers: dict[str, ChildProcess] = {}
        readiness = Readiness(api_client=api_client, kubelet=kubelet, metrics_port=metrics_port)
        try:
            wait_started(agent, metrics_port)
            if mode == EXTERNAL:
                handlers = start_handlers(work=work, handlers_dir=handlers_dir, cleanup=cleanup)
            result = measure(agent, handlers, readiness, api_client=api_client, mode=mode, instances=instances)
        except RunFailed as exc:
            tails = [agent.log_tail(AGENT_LOG_TAIL_LINES),
                     *(child.log_tail(HANDLER_LOG_TAIL_LINES) for child in handlers.values())]
            raise RunFailed("\n".join([str(exc), *tails])) from exc
    return result


def report(result: Result, *, instances: int, mode: str, wall_seconds: float) -> bool:
    """Print the numbers; True when both targets (on the agent) are met."""
    mib = 1024
    agent = result.agent
    rss_met = agent.rss_kib <= RSS_TARGET_KIB
    cpu_met = agent.millicores <= IDLE_CPU_TARGET_MILLICORES
    echo = result.instances_by_handler["debugEcho"]
    per_instance = f"{(agent.rss_kib - result.rss_configurations_kib) / echo:7.1f} KiB" if echo else "    n/a"
    by_handler = ", ".join(f"{handler} {count}" for handler, count in result.instances_by_handler.items())
    window = f"{result.window_seconds:.0f} s idle window"

    def row(label: str, value: str) -> None:
        print(f"  {label:<26} {value}")

    shape = ("embedded in the agent" if mode == EMBEDDED
             else "external (one process each, registered over discovery.proto v0)")
    print(f"Agent RSS and idle CPU: python -m agent, MALLOC_ARENA_MAX=2, handlers {', '.join(HANDLERS)} {shape}")
    row("Instances on the node", f"{instances} ({by_handler}); {result.plugins} device plugins watched by the "
        f"kubelet, {result.ready_seconds:.1f} s after the debugEcho Configuration")
    row("discovery successes", ", ".join(f"{handler} {n}" for handler, n in sorted(result.successes.items())))
    row("RSS after start", f"{result.rss_start_kib / mib:7.1f} MiB (no Configuration)")
    row("RSS with 3 Configurations", f"{result.rss_configurations_kib / mib:7.1f} MiB (udev, onvif, opcua; "
        "1 Instance)")
    row(f"RSS with {instances} Instances", f"{agent.rss_kib / mib:7.1f} MiB (largest sample of the {window}, "
        f"last {agent.rss_last_kib / mib:.1f} MiB; target <= {RSS_TARGET_KIB // mib} MiB: "
        f"{'met' if rss_met else 'NOT met'})")
    row("VmHWM", f"{agent.hwm_kib / mib:7.1f} MiB (lifetime peak)")
    row("per Instance", f"{per_instance} (RSS growth over the {echo} debugEcho Instances)")
    row("idle CPU", f"{agent.millicores:7.1f} m over {result.window_seconds:.0f} s "
        f"(target <= {IDLE_CPU_TARGET_MILLICORES:.0f}m: {'met' if cpu_met else 'NOT met'})")
    for handler, usage in result.handlers.items():
        row(f"{handler} handler", f"{usage.rss_kib / mib:7.1f} MiB (largest idle sample; "
            f"{result.handler_rss_start_kib[handler] / mib:.1f} MiB after start, VmHWM {usage.hwm_kib / mib:.1f} MiB), "
            f"idle CPU {usage.millicores:.1f} m; not judged")
    if result.handlers:
        total = agent.rss_kib + sum(usage.rss_kib for usage in result.handlers.values())
        row("agent + handlers", f"{total / mib:7.1f} MiB (sum of the largest idle samples; not judged)")
    row("wall time", f"{wall_seconds:7.1f} s")
    return rss_met and cpu_met


def instance_count(raw: str) -> int:
    """argparse type: an integer in 1..MAX_INSTANCES."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an integer") from None
    if not 1 <= value <= MAX_INSTANCES:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and {MAX_INSTANCES}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run once; 0 when both targets are met, 1 when one is missed or the run failed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agent_rss", description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=instance_count, default=DEFAULT_INSTANCES, metavar="N",
                        help=f"Instances listing the node (1-{MAX_INSTANCES}, default {DEFAULT_INSTANCES})")
    parser.add_argument("--handlers", choices=(EXTERNAL, EMBEDDED), default=EXTERNAL,
                        help="run the four discovery handlers as standalone processes registering with the "
                             f"agent ({EXTERNAL}, default; Akri's default install) or inside the agent ({EMBEDDED})")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        result = run(args.instances, args.handlers)
    except RunFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0 if report(result, instances=args.instances, mode=args.handlers,
                       wall_seconds=time.monotonic() - started) else 1


if __name__ == "__main__":
    sys.exit(main())
