"""Hooks benchmarks (DESIGN.md §5): `python -m benchmarks.hooks` (also run by `make bench`).

1. HTTP: the real `akri-hooks` gunicorn set-up on 127.0.0.1 (2 workers x 4 threads, one worker
   per core as the hooks Deployment runs it), twice — once with the real app,
   once with the same app whose `sync_instance` handler returns an empty answer — driven with
   the same sync request (an Instance on 10 nodes with 10 running broker Pods and its Service)
   from a few threads (`requests.Session` each), a bounded number of requests per server.
   Prints req/s, p50 and p99 for both and the real/empty ratio (target: p50 and p99 <= 1.2x).
2. Pure function: a full resync of 1,000 Instances x 100 nodes (100,000 observed broker Pods)
   through `sync_instance` (target: < 5 s on 2 cores). The requests are built first and frozen
   out of the garbage collector (`gc.freeze`): in the server each request is decoded, answered
   and freed, so the collector never scans a 100,000-Pod heap there.

Not a test: nothing asserts; it prints numbers and whether each target is met.
Internal mode: `python -m benchmarks.hooks --serve real|empty --bind HOST:PORT` runs one server.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
NAMESPACE = "default"
CONFIGURATION = "akri-debug-echo-foo"
THREADS = 2  # client threads; the server has SERVER_THREADS. Few, so the client does not starve it
SERVER_THREADS = 4
SERVER_WORKERS = 2  # one per core, like manifests/hooks/deployment.yaml (one GIL per worker)
REQUESTS_PER_ROUND = 500
ROUNDS = 4
WARMUP_REQUESTS = 200
REQUEST_TIMEOUT_SECONDS = 10
STARTUP_TIMEOUT_SECONDS = 30
RATIO_TARGET = 1.2
RESYNC_INSTANCES = 1000
RESYNC_NODES = 100
RESYNC_TARGET_SECONDS = 5.0


# --- request fixtures ---------------------------------------------------------------------------


def configuration() -> dict[str, Any]:
    """The related Configuration: Akri's debugEcho example with both services."""
    service_spec = {
        "type": "ClusterIP",
        "ports": [{"name": "http", "port": 6052, "targetPort": 6052, "protocol": "TCP"}],
    }
    return {
        "apiVersion": "akri.sh/v0",
        "kind": "Configuration",
        "metadata": {"name": CONFIGURATION, "namespace": NAMESPACE, "uid": "cfg-uid", "generation": 1},
        "spec": {
            "discoveryHandler": {"name": "debugEcho", "discoveryDetails": "descriptions: [foo0]"},
            "capacity": 5,
            "brokerSpec": {
                "brokerPodSpec": {
                    "containers": [
                        {
                            "name": "broker",
                            "image": "nginx:latest",
                            "resources": {"limits": {"{{PLACEHOLDER}}": "1"}},
                        }
                    ]
                }
            },
            "instanceServiceSpec": service_spec,
            "configurationServiceSpec": service_spec,
        },
    }


def observed_pod(name: str, instance: str, node: str) -> dict[str, Any]:
    """A running, Ready broker Pod as Metacontroller observes it (labels, ownerReference, status)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": f"uid-{name}",
            "resourceVersion": "42",
            "labels": {
                "app": name,
                "controller": "akri.sh",
                "akri.sh/configuration": CONFIGURATION,
                "akri.sh/instance": instance,
                "akri.sh/target-node": node,
                "controller-uid": "inst-uid",
            },
            "ownerReferences": [
                {
                    "apiVersion": "akri.sh/v0",
                    "kind": "Instance",
                    "name": instance,
                    "uid": "inst-uid",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "broker", "image": "nginx:latest", "resources": {"limits": {f"akri.sh/{instance}": "1"}}}
            ],
        },
        "status": {
            "phase": "Running",
            "startTime": "2024-05-01T11:00:00Z",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def sync_request(instance: str, nodes: int) -> dict[str, Any]:
    """A Metacontroller sync request for a shared Instance on `nodes` nodes, all brokers running."""
    node_names = [f"node-{index:03d}" for index in range(nodes)]
    pods = {f"{node}-{instance}-pod": observed_pod(f"{node}-{instance}-pod", instance, node) for node in node_names}
    return {
        "controller": {
            "apiVersion": "metacontroller.k8s.io/v1alpha1",
            "kind": "CompositeController",
            "metadata": {"name": "akri-instance-controller"},
        },
        "parent": {
            "apiVersion": "akri.sh/v0",
            "kind": "Instance",
            "metadata": {
                "name": instance,
                "namespace": NAMESPACE,
                "uid": "inst-uid",
                "labels": {"akri.sh/configuration": CONFIGURATION},
            },
            "spec": {
                "configurationName": CONFIGURATION,
                "cdiName": f"akri.sh/{CONFIGURATION}=abc123",
                "capacity": 5,
                "brokerProperties": {},
                "shared": True,
                "nodes": node_names,
                "deviceUsage": {},
            },
        },
        "children": {
            "Pod.v1": pods,
            "Service.v1": {
                f"{instance}-svc": {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": f"{instance}-svc", "namespace": NAMESPACE},
                }
            },
            "Job.batch/v1": {},
        },
        "related": {"Configuration.akri.sh/v0": {CONFIGURATION: configuration()}},
        "finalizing": False,
    }


# --- servers ------------------------------------------------------------------------------------


def serve(kind: str, bind: str) -> None:
    """Run one hooks server in this process (gunicorn; blocks until SIGTERM)."""
    from hooks.app import create_app
    from hooks.config import HooksConfig
    from hooks.server import HooksServer

    config = HooksConfig(bind=bind, workers=SERVER_WORKERS, threads=SERVER_THREADS, log_level="warning")
    empty: dict[str, Any] = {"status": {}, "children": []}

    def factory(config: HooksConfig) -> Any:
        if kind == "real":
            return create_app(config)
        return create_app(config, handlers={"sync_instance": lambda body, now: empty})

    HooksServer(config, app_factory=factory).run()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A `--serve` subprocess in its own process group."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.hooks", "--serve", self.kind, "--bind", f"127.0.0.1:{port}"],
            start_new_session=True,
        )
        session = _session()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.process.returncode}")
            try:
                if session.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} server did not start within {STARTUP_TIMEOUT_SECONDS} s")
            time.sleep(0.1)

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 only: never through a proxy
    return session


def drive(url: str, body: bytes, count: int) -> tuple[float, list[float]]:
    """POST `body` `count` times from THREADS threads; (elapsed seconds, per-request latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = [count // THREADS + (1 if index < count % THREADS else 0) for index in range(THREADS)]
    errors: list[str] = []

    def worker(n: int) -> None:
        session = _session()
        local: list[float] = []
        for _ in range(n):
            started = time.perf_counter()
            response = session.post(
                url, data=body, headers={"Content-Type": "application/json"}, timeout=REQUEST_TIMEOUT_SECONDS
            )
            local.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                break
        session.close()
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(n,), name=f"bench-{i}") for i, n in enumerate(per_thread)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(errors[0])
    return elapsed, latencies


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def http_benchmark() -> bool:
    """Real vs empty handler under gunicorn; prints req/s, p50, p99 and ratios; True if <= RATIO_TARGET."""
    body = json.dumps(sync_request("akri-debug-echo-foo-8120fe", 10)).encode()
    results: dict[str, tuple[float, list[float]]] = {}
    with Server("real") as real, Server("empty") as empty:
        servers = {"real": real, "empty": empty}
        for server in servers.values():
            drive(f"{server.url}/sync/instance", body, WARMUP_REQUESTS)
        for _ in range(ROUNDS):  # interleaved, so drift on a shared machine hits both alike
            for name, server in servers.items():
                elapsed, latencies = drive(f"{server.url}/sync/instance", body, REQUESTS_PER_ROUND)
                total_elapsed, total = results.get(name, (0.0, []))
                results[name] = (total_elapsed + elapsed, total + latencies)
    print(
        f"HTTP sync_instance, Instance on 10 nodes, {len(body)} byte request, "
        f"{ROUNDS * REQUESTS_PER_ROUND} requests per server from {THREADS} threads"
    )
    stats = {}
    for name, (elapsed, latencies) in results.items():
        p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)
        stats[name] = (p50, p99)
        print(
            f"  {name:<6} {len(latencies) / elapsed:8.0f} req/s   p50 {p50 * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms"
            f"   mean {statistics.fmean(latencies) * 1000:7.2f} ms"
        )
    ratio_p50 = stats["real"][0] / stats["empty"][0]
    ratio_p99 = stats["real"][1] / stats["empty"][1]
    met = ratio_p50 <= RATIO_TARGET and ratio_p99 <= RATIO_TARGET
    print(
        f"  ratio real/empty: p50 {ratio_p50:.2f}x  p99 {ratio_p99:.2f}x  (target <= {RATIO_TARGET}x: "
        f"{'met' if met else 'NOT met'})"
    )
    return met


def resync_benchmark() -> bool:
    """Pure full resync of RESYNC_INSTANCES x RESYNC_NODES; prints seconds; True if under the target."""
    from hooks.sync_instance import sync_instance

    requests_ = [sync_request(f"{CONFIGURATION}-{index:06x}", RESYNC_NODES) for index in range(RESYNC_INSTANCES)]
    gc.collect()
    gc.freeze()
    try:
        started = time.perf_counter()
        children = 0
        for request in requests_:
            children += len(sync_instance(request, now=NOW + timedelta(seconds=0))["children"])
        elapsed = time.perf_counter() - started
    finally:
        gc.unfreeze()
    met = elapsed < RESYNC_TARGET_SECONDS
    print(
        f"pure sync_instance full resync: {RESYNC_INSTANCES} Instances x {RESYNC_NODES} nodes "
        f"({children} children) in {elapsed:.2f} s (target < {RESYNC_TARGET_SECONDS:.0f} s: "
        f"{'met' if met else 'NOT met'})"
    )
    return met


def main(argv: Sequence[str] | None = None) -> int:
    """Run both benchmarks (exit 0 when every target is met, 1 otherwise) or, with --serve, one server."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hooks", description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=["real", "empty"], help=argparse.SUPPRESS)
    parser.add_argument("--bind", default="127.0.0.1:0", help=argparse.SUPPRESS)
    parser.add_argument("--skip-http", action="store_true", help="only run the pure-function resync")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.bind)
        return 0
    http_ok = True if args.skip_http else http_benchmark()
    resync_ok = resync_benchmark()
    return 0 if http_ok and resync_ok else 1


if __name__ == "__main__":
    sys.exit(main())
