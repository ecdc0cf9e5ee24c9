"""manifests/agent: the DaemonSet matches Akri's chart and the agent's config; RBAC is least privilege."""

from __future__ import annotations

from pathlib import Path

import yaml

from agent.config import build_parser

ROOT = Path(__file__).resolve().parents[3] / "manifests" / "agent"


def _documents() -> dict[str, dict]:
    found: dict[str, dict] = {}
    listed = yaml.safe_load((ROOT / "kustomization.yaml").read_text())["resources"]
    for name in listed:
        for document in yaml.safe_load_all((ROOT / name).read_text()):
            found[document["kind"]] = document
    return found


def test_daemonset_runs_akri_agent_with_akris_names_and_paths() -> None:
    docs = _documents()
    daemonset = docs["DaemonSet"]
    assert daemonset["metadata"]["name"] == "akri-agent-daemonset"
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"] == "akri-agent-sa"
    (container,) = pod["containers"]
    assert container["command"] == ["akri-agent"]
    env = {e["name"]: e for e in container["env"]}
    assert env["AGENT_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["DISCOVERY_HANDLERS_DIRECTORY"]["value"] == "/var/lib/akri"
    known_flags = {action.help.split("$")[-1] for action in build_parser()._actions
                   if action.help and "$" in action.help}
    process_level = {"MALLOC_ARENA_MAX"}  # read by glibc, not by the agent
    assert set(env) - process_level <= known_flags  # every other variable set here is one the agent reads
    assert env["MALLOC_ARENA_MAX"]["value"] == "2"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    for path in ("/var/lib/akri", "/var/lib/kubelet/device-plugins", "/var/lib/kubelet/pod-resources", "/run/udev"):
        assert path in mounts and host[mounts[path]["name"]] == path
    assert mounts["/run/udev"]["readOnly"] is True
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"] and not security.get("privileged")
    assert not pod.get("hostNetwork")


def test_cluster_role_grants_only_what_the_agent_uses() -> None:
    docs = _documents()
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in docs["ClusterRole"]["rules"]}
    assert rules == {
        (("akri.sh",), ("configurations",)): {"get", "list", "watch"},
        (("akri.sh",), ("configurations/status",)): {"patch"},
        (("akri.sh",), ("instances",)): {"get", "list", "watch", "create", "update", "delete"},
        (("",), ("nodes",)): {"get", "list", "watch"},
        (("",), ("secrets", "configmaps")): {"get"},
        (("",), ("events",)): {"create"},
    }
    binding = docs["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "akri-agent-sa", "namespace": "akri"}]
