"""What the e2e scenarios need from "a cluster", for the local control plane and for a real one.

`LocalHarness` wraps `akri_local.cluster.LocalCluster`; `RemoteHarness` talks to any cluster given
by `--kubeconfig` on which the manifests, Metacontroller and the debugEcho discovery handler are
installed (see README "Running the e2e suite against a real cluster"). Both offer the same calls:
reading a container's environment (`kubectl exec printenv`), taking debugEcho devices offline and
online, and reading agent logs.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client


class Harness:
    """Common API; `api_client` is a kubernetes ApiClient."""

    api_client: Any
    local = False

    def container_env(self, namespace: str, pod: str, container: str) -> dict[str, str]:
        raise NotImplementedError

    def set_debug_echo_online(self, online: bool) -> None:
        raise NotImplementedError

    def agent_logs(self) -> str:
        raise NotImplementedError


class LocalHarness(Harness):
    local = True

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.api_client = cluster.api_client

    def container_env(self, namespace: str, pod: str, container: str) -> dict[str, str]:
        core = client.CoreV1Api(self.api_client)
        node = core.read_namespaced_pod(pod, namespace).spec.node_name
        received = self.cluster.kubelets[node].exec_env(namespace, pod, container)
        return dict(received.get("env", received))

    def set_debug_echo_online(self, online: bool) -> None:
        self.cluster.debug_echo_availability_file.write_text("ONLINE\n" if online else "OFFLINE\n")

    def agent_logs(self) -> str:
        return "\n".join(self.cluster.agent_log(node) for node in self.cluster.kubelets)


class RemoteHarness(Harness):
    """A real cluster: exec into pods like Akri's own e2e suite (test/e2e/shared_test_code.py)."""

    DEBUG_ECHO_LABEL = "app.kubernetes.io/name=akri-debug-echo-discovery"
    AGENT_LABEL = "app.kubernetes.io/name=akri-agent"

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    def _exec(self, namespace: str, pod: str, container: str | None, command: list[str]) -> str:
        from kubernetes.stream import stream

        core = client.CoreV1Api(self.api_client)
        kwargs = {"container": container} if container else {}
        return stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=command,
                      stderr=True, stdin=False, stdout=True, tty=False, **kwargs)

    def container_env(self, namespace: str, pod: str, container: str) -> dict[str, str]:
        out = self._exec(namespace, pod, container, ["printenv"])
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def set_debug_echo_online(self, online: bool) -> None:
        core = client.CoreV1Api(self.api_client)
        word = "ONLINE" if online else "OFFLINE"
        for pod in core.list_pod_for_all_namespaces(label_selector=self.DEBUG_ECHO_LABEL).items:
            self._exec(pod.metadata.namespace, pod.metadata.name, None,
                       ["/bin/sh", "-c", f"echo {word} > /tmp/debug-echo-availability.txt"])

    def agent_logs(self) -> str:
        core = client.CoreV1Api(self.api_client)
        return "\n".join(core.read_namespaced_pod_log(p.metadata.name, p.metadata.namespace, since_seconds=30)
                         for p in core.list_pod_for_all_namespaces(label_selector=self.AGENT_LABEL).items)
