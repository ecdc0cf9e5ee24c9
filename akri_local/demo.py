"""`make demo`: the whole Akri flow on this machine, with its real devices, in under a minute.

Starts the local control plane (`akri_local.cluster.LocalCluster`) with one simulated node, applies
the two embedded example Configurations (`akri_local/examples/`: udev `KERNEL=="null"` and
debugEcho `bar0`/`bar1`, copies of Akri's own e2e fixtures), waits for the flow to settle, and
prints it: Configurations → Instances (the real `/dev/null` found through udev) → broker Pods
Running with their injected env → Services, plus a plain Pod that requests the udev Instance's
resource and receives the `/dev/null` device node. Then shuts everything down, unless `--keep`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from akri_local.cluster import ClusterSettings, LocalCluster, wait_for

__all__ = ["main", "EXAMPLES"]

EXAMPLES = Path(__file__).resolve().parent / "examples"
NODE = "demo-node"
NAMESPACE = "default"
SETTLE_TIMEOUT_SECONDS = 45


def _say(text: str = "") -> None:
    print(text, flush=True)


def _objects(cluster: LocalCluster) -> dict[str, Any]:
    from kubernetes import client

    custom = client.CustomObjectsApi(cluster.api_client)
    core = client.CoreV1Api(cluster.api_client)
    return {
        "configurations": custom.list_namespaced_custom_object("akri.sh", "v0", NAMESPACE, "configurations")["items"],
        "instances": custom.list_namespaced_custom_object("akri.sh", "v0", NAMESPACE, "instances")["items"],
        "pods": core.list_namespaced_pod(NAMESPACE).items,
        "services": core.list_namespaced_service(NAMESPACE).items,
    }


def _settled(cluster: LocalCluster) -> dict[str, Any] | None:
    objs = _objects(cluster)
    udev = [i for i in objs["instances"] if i["spec"]["configurationName"] == "akri-udev-dev-null"]
    echo = [i for i in objs["instances"] if i["spec"]["configurationName"] == "akri-debug-echo-foo"]
    running = [p for p in objs["pods"] if (p.metadata.labels or {}).get("akri.sh/configuration")
               and p.status.phase == "Running"]
    services = [s for s in objs["services"] if (s.metadata.labels or {}).get("controller") == "akri.sh"]
    if len(udev) == 1 and len(echo) == 2 and len(running) == 2 and len(services) == 3:
        return objs
    return None


def _device_pod(instance: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dev-null-user", "namespace": NAMESPACE},
            "spec": {"containers": [{"name": "app", "image": "busybox",
                                     "resources": {"limits": {f"akri.sh/{instance}": "1"}}}]}}


def _report(cluster: LocalCluster, objs: dict[str, Any]) -> None:
    kubelet = cluster.kubelets[NODE]
    _say("\nConfigurations")
    for c in objs["configurations"]:
        _say(f"  {c['metadata']['name']:<24} handler={c['spec']['discoveryHandler']['name']:<10} "
             f"capacity={c['spec'].get('capacity', 1)}")
    _say("\nInstances (discovered devices)")
    for i in sorted(objs["instances"], key=lambda i: i["metadata"]["name"]):
        props = i["spec"].get("brokerProperties", {})
        detail = props.get("UDEV_DEVNODE") or props.get("DEBUG_ECHO_DESCRIPTION", "")
        _say(f"  {i['metadata']['name']:<32} shared={str(i['spec'].get('shared')):<5} nodes={i['spec'].get('nodes')} "
             f"device={detail}")
    _say("\nBroker pods")
    for p in sorted(objs["pods"], key=lambda p: p.metadata.name):
        if not (p.metadata.labels or {}).get("akri.sh/configuration"):
            continue
        _say(f"  {p.metadata.name:<44} {p.status.phase:<8} node={p.spec.node_name}")
        for container in p.spec.containers:
            record = kubelet.container_record(NAMESPACE, p.metadata.name, container.name)
            for key, value in sorted(record.device_env.items()):
                _say(f"      {key}={value}")
    _say("\nServices")
    for s in sorted(objs["services"], key=lambda s: s.metadata.name):
        if (s.metadata.labels or {}).get("controller") == "akri.sh":
            _say(f"  {s.metadata.name:<36} selector={s.spec.selector}")


def run(keep: bool) -> None:
    """Run the demo. Raises TimeoutError when the flow does not settle (the cluster's work directory
    with every component's log is then kept)."""
    started = time.monotonic()
    _say("Starting the local control plane (API emulator, hooks, Metacontroller runner, kubelet, agent)...")
    with LocalCluster(ClusterSettings(nodes=(NODE,), embedded_handlers="udev")) as cluster:
        _say(f"  kubeconfig: {cluster.kubeconfig}   logs: {cluster.log_dir}")
        for name in ("udevDevNullConfiguration.yaml", "debugEchoConfiguration.yaml"):
            _say(f"Applying {name}")
            cluster.apply_objects([yaml.safe_load((EXAMPLES / name).read_text())], namespace=NAMESPACE)
        objs = wait_for(lambda: _settled(cluster), timeout=SETTLE_TIMEOUT_SECONDS,
                        what="2 debugEcho + 1 udev Instances, 2 Running brokers, 3 services")
        _report(cluster, objs)
        udev = next(i for i in objs["instances"] if i["spec"]["configurationName"] == "akri-udev-dev-null")
        instance = udev["metadata"]["name"]
        _say(f"\nCreating a plain pod that requests akri.sh/{instance}: 1 (the /dev/null Instance)")
        cluster.apply_objects([_device_pod(instance)], namespace=NAMESPACE)
        from kubernetes import client

        core = client.CoreV1Api(cluster.api_client)
        wait_for(lambda: core.read_namespaced_pod("dev-null-user", NAMESPACE).status.phase == "Running",
                 timeout=20, what="pod dev-null-user Running")
        record = cluster.kubelets[NODE].container_record(NAMESPACE, "dev-null-user", "app")
        _say("\nPod dev-null-user received from the device plugin (Allocate):")
        for resource, ids in sorted(record.device_ids.items()):
            _say(f"  {resource}: device IDs {', '.join(ids)}")
        for device in record.devices:
            _say(f"  device node {device['host_path']} -> {device['container_path']} ({device['permissions']})")
        for key, value in sorted(record.device_env.items()):
            _say(f"  env {key}={value}")
        _say(f"\nThe whole flow settled in {time.monotonic() - started:.1f}s.")
        if keep:
            _say(f"\nLeft running. kubeconfig: {cluster.kubeconfig}\n"
                 f"  e.g. KUBECONFIG={cluster.kubeconfig} kubectl get akric,akrii,pods,svc "
                 "(kubectl apply needs --validate=false: the emulator serves no OpenAPI document)\n"
                 "Press Ctrl-C to stop.")
            _wait_for_signal()
        _say("Shutting down.")


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (handlers, not a blocked mask, so child processes started
    earlier keep default signal handling and stop cleanly)."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """`python -m akri_local demo [--keep]`."""
    parser = argparse.ArgumentParser(prog="akri-local demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the control plane running (Ctrl-C stops it)")
    args = parser.parse_args(argv)
    try:
        run(args.keep)
    except TimeoutError as exc:
        _say(f"\nFAILED: {exc}\nEvery component's log is kept under /tmp/akri-*/logs (path printed above).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
