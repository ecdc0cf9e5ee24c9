"""The API emulator's Kubernetes semantics, checked through the real ``kubernetes`` client only.

Every test uses the shared fixtures, so the file runs unchanged against a real cluster with
``--kubeconfig``; tests that need emulator-only hooks (history compaction, webhook service
addresses, a private server instance) take ``local_apiserver`` and skip there.
"""

from __future__ import annotations

import base64
import copy
import datetime
import http.server
import json
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client, config, dynamic, watch
from kubernetes.client.exceptions import ApiException

from akri_local.apiserver import ApiServer

pytestmark = pytest.mark.integration

WAIT_SECONDS = 15.0
GROUP = "test.akri.sh"
NO_SCHEDULER = "test.akri.sh/no-scheduler"
WATCHED = {"test.akri.sh/watched": "yes"}  # real clusters add kube-root-ca.crt to every namespace

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                  "shortNames": ["wdg"]},
        "versions": [{
            "name": "v1",
            "served": True,
            "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "required": ["spec"],
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["size"],
                        "properties": {
                            "size": {"type": "integer", "minimum": 0},
                            "color": {"type": "string", "enum": ["red", "green"],
                                      "default": "red"},
                            "port": {"x-kubernetes-int-or-string": True},
                            "note": {"type": "string", "nullable": True},
                            "tags": {"type": "array", "items": {"type": "string"},
                                     "default": []},
                            "extra": {"type": "object",
                                      "x-kubernetes-preserve-unknown-fields": True},
                            "limits": {"type": "object", "default": {},
                                       "properties": {"max": {"type": "integer",
                                                              "default": 10}}},
                        },
                    },
                    "status": {"type": "object",
                               "properties": {"phase": {"type": "string"},
                                              "count": {"type": "integer"}}},
                },
            }},
        }],
    },
}

GADGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gadgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Cluster",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [{
            "name": "v1",
            "served": True,
            "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }},
        }],
    },
}


# ------------------------------------------------------------------------------ helpers

def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def status_body(exc: ApiException) -> dict[str, Any]:
    """The ``Status`` object an API error carries."""
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["code"] == exc.status
    return body


def is_gone(read: Callable[[], Any]) -> bool:
    """True when ``read()`` answers 404."""
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def rv(obj: Any) -> int:
    """An object's resourceVersion as a number (etcd revisions are numeric)."""
    meta = obj["metadata"] if isinstance(obj, dict) else obj.metadata
    value = meta["resourceVersion"] if isinstance(meta, dict) else meta.resource_version
    return int(value)


def collect(stream_fn: Callable[..., Any], *args: Any, count: int, **kwargs: Any) -> list[tuple[str, str]]:
    """``(type, name)`` of the first ``count`` watch events (bounded by ``timeout_seconds``)."""
    kwargs.setdefault("timeout_seconds", int(WAIT_SECONDS))
    events: list[tuple[str, str]] = []
    watcher = watch.Watch()
    for event in watcher.stream(stream_fn, *args, **kwargs):
        raw = event["raw_object"]
        events.append((event["type"], raw.get("metadata", {}).get("name", "")))
        if len(events) >= count:
            watcher.stop()
            break
    return events


def configmap(name: str, labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    """A ConfigMap body."""
    return {"metadata": {"name": name, "labels": labels or {}, **meta}, "data": {"k": "v"}}


def owner_ref(owner: Any, kind: str = "ConfigMap", api_version: str = "v1") -> dict[str, Any]:
    """An ownerReference to a typed object or a custom-object dict."""
    meta = owner["metadata"] if isinstance(owner, dict) else None
    name = meta["name"] if meta else owner.metadata.name
    uid = meta["uid"] if meta else owner.metadata.uid
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}


def pod(name: str, node: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A minimal Pod body, bound to ``node``, or else left to a scheduler that does not exist (so
    it stays unbound and Pending on a real cluster too)."""
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox:1.36"}]}
    if node:
        spec["nodeName"] = node
    else:
        spec["schedulerName"] = NO_SCHEDULER
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def create_pod(core: client.CoreV1Api, namespace: str, body: dict[str, Any]) -> Any:
    """Create a pod; on a real cluster retry while the namespace's ServiceAccount appears."""
    for _ in range(20):
        try:
            return core.create_namespaced_pod(namespace, body)
        except ApiException as exc:
            if exc.status != 403 or "serviceaccount" not in (exc.body or ""):
                raise
            time.sleep(0.5)
    pytest.fail("default ServiceAccount never appeared")


@pytest.fixture(scope="module")
def widget_crds(kubeconfig: str, apply_crd) -> Iterator[None]:
    """The Widget (namespaced) and Gadget (cluster-scoped) CRDs used below."""
    api = config.new_client_from_config(config_file=kubeconfig)
    for crd in (WIDGET_CRD, GADGET_CRD):
        apply_crd(api, crd)
    yield
    extensions = client.ApiextensionsV1Api(api)
    for crd in (WIDGET_CRD, GADGET_CRD):
        try:
            extensions.delete_custom_resource_definition(crd["metadata"]["name"])
        except ApiException as exc:
            if exc.status != 404:
                raise
    api.close()


def widget(name: str, size: Any = 1, **spec: Any) -> dict[str, Any]:
    """A Widget body."""
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name},
            "spec": {"size": size, **spec}}


@pytest.fixture
def node_name(api_client: client.ApiClient) -> Iterator[str]:
    """A Node object without a kubelet (so bound pods stay put), deleted afterwards."""
    core = client.CoreV1Api(api_client)
    name = f"test-node-{uuid.uuid4().hex[:8]}"
    core.create_node({"metadata": {"name": name, "labels": {"test.akri.sh/fake": "true"}}})
    yield name
    try:
        core.delete_node(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def force_delete_pods(core: client.CoreV1Api, namespace: str) -> None:
    """Remove every pod at once (nothing finishes graceful deletion without a kubelet)."""
    for item in core.list_namespaced_pod(namespace).items:
        try:
            core.delete_namespaced_pod(item.metadata.name, namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise


# ---------------------------------------------------------------------------- discovery

def test_discovery_lists_core_groups_and_custom_resources(api_client, widget_crds):
    version = client.VersionApi(api_client).get_code()
    assert version.major == "1" and version.git_version

    assert "v1" in client.CoreApi(api_client).get_api_versions().versions
    groups = {g.name: g for g in client.ApisApi(api_client).get_api_versions().groups}
    for group in ("batch", "apiextensions.k8s.io", "admissionregistration.k8s.io", GROUP):
        assert group in groups
    assert groups[GROUP].preferred_version.group_version == f"{GROUP}/v1"

    core = {r.name: r for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert core["pods"].namespaced and core["pods"].kind == "Pod"
    assert not core["nodes"].namespaced
    assert "pods/status" in core and "nodes/status" in core
    assert {"watch", "list", "patch"} <= set(core["configmaps"].verbs)

    custom = {r.name: r for r in client.CustomObjectsApi(api_client).get_api_resources(GROUP, "v1").resources}
    assert custom["widgets"].kind == "Widget" and custom["widgets"].namespaced
    assert "widgets/status" in custom
    assert not custom["gadgets"].namespaced

    dyn = dynamic.DynamicClient(api_client)
    widgets = dyn.resources.get(api_version=f"{GROUP}/v1", kind="Widget")
    assert widgets.name == "widgets" and widgets.namespaced


def test_unknown_resources_are_404_status(api_client, namespace):
    objects = client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as caught:
        objects.list_namespaced_custom_object("nothing.example.com", "v1", namespace, "things")
    assert caught.value.status == 404
    assert status_body(caught.value)["reason"] == "NotFound"


# ------------------------------------------------------------------ create/get and errors

def test_create_with_generate_name_and_system_metadata(api_client, namespace):
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map(
        namespace, {"metadata": {"generateName": "gen-"}, "data": {"a": "b"}})
    name = created.metadata.name
    assert name.startswith("gen-") and len(name) == len("gen-") + 5
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert created.metadata.namespace == namespace
    assert rv(created) > 0
    again = core.read_namespaced_config_map(name, namespace)
    assert again.metadata.uid == created.metadata.uid and again.data == {"a": "b"}
    second = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "gen-"}})
    assert second.metadata.name != name


def test_errors_are_status_objects(api_client, namespace):
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("missing", namespace)
    body = status_body(caught.value)
    assert caught.value.status == 404 and body["reason"] == "NotFound"
    assert body["message"] == 'configmaps "missing" not found'
    assert body["details"]["name"] == "missing" and body["details"]["kind"] == "configmaps"

    core.create_namespaced_config_map(namespace, configmap("dup"))
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(namespace, configmap("dup"))
    assert caught.value.status == 409
    assert status_body(caught.value)["reason"] == "AlreadyExists"

    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(namespace, configmap("Not_A_Valid_Name"))
    body = status_body(caught.value)
    assert caught.value.status == 422 and body["reason"] == "Invalid"
    assert "metadata.name" in body["message"]

    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(f"absent-{uuid.uuid4().hex[:6]}", configmap("x"))
    assert caught.value.status == 404 and status_body(caught.value)["reason"] == "NotFound"


def test_resource_versions_increase_and_stale_writes_conflict(api_client, namespace):
    core = client.CoreV1Api(api_client)
    first = core.create_namespaced_config_map(namespace, configmap("cm"))
    body = first.to_dict(serialize=True)
    body["data"] = {"k": "v2"}
    second = core.replace_namespaced_config_map("cm", namespace, body)
    assert rv(second) > rv(first)

    stale = copy.deepcopy(body)
    stale["data"] = {"k": "stale"}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("cm", namespace, stale)
    assert caught.value.status == 409
    assert status_body(caught.value)["reason"] == "Conflict"

    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map(
            "cm", namespace, {"metadata": {"resourceVersion": first.metadata.resource_version},
                              "data": {"k": "stale"}})
    assert caught.value.status == 409
    current = core.read_namespaced_config_map("cm", namespace)
    assert current.data == {"k": "v2"}

    patched = core.patch_namespaced_config_map(
        "cm", namespace, {"metadata": {"resourceVersion": current.metadata.resource_version},
                          "data": {"k": "v3"}})
    assert patched.data == {"k": "v3"} and rv(patched) > rv(current)

    unchanged = core.patch_namespaced_config_map("cm", namespace, {"data": {"k": "v3"}})
    assert unchanged.metadata.resource_version == patched.metadata.resource_version


def test_custom_resource_replace_needs_resource_version(api_client, namespace, widget_crds):
    objects = client.CustomObjectsApi(api_client)
    created = objects.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", widget("w"))
    body = copy.deepcopy(created)
    body["spec"]["size"] = 2
    del body["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as caught:
        objects.replace_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w", body)
    assert caught.value.status == 422
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    replaced = objects.replace_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w", body)
    assert replaced["spec"]["size"] == 2
    with pytest.raises(ApiException) as caught:
        objects.replace_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w", body)
    assert caught.value.status == 409


# ------------------------------------------------------------------------------ patches

def test_json_patch_strategic_merge_and_apply(api_client, namespace, node_name):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, configmap("cm", {"a": "1"}))
    patched = core.patch_namespaced_config_map(
        "cm", namespace, [{"op": "add", "path": "/data/extra", "value": "x"},
                          {"op": "replace", "path": "/metadata/labels/a", "value": "2"}])
    assert patched.data == {"k": "v", "extra": "x"} and patched.metadata.labels == {"a": "2"}
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("cm", namespace,
                                         [{"op": "test", "path": "/data/k", "value": "nope"}])
    assert caught.value.status == 422

    body = pod("p", node_name)
    body["spec"]["containers"].append({"name": "side", "image": "busybox:1.35"})
    create_pod(core, namespace, body)
    merged = core.patch_namespaced_pod(
        "p", namespace, {"spec": {"containers": [{"name": "main", "image": "busybox:1.37"}]}})
    images = {c.name: c.image for c in merged.spec.containers}
    assert images == {"main": "busybox:1.37", "side": "busybox:1.35"}
    force_delete_pods(core, namespace)

    applied = core.patch_namespaced_config_map(
        "applied", namespace,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"},
         "data": {"one": "1"}},
        field_manager="akri-test", _content_type="application/apply-patch+yaml")
    assert applied.data == {"one": "1"}
    reapplied = core.patch_namespaced_config_map(
        "applied", namespace,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"},
         "data": {"one": "1", "two": "2"}},
        field_manager="akri-test", _content_type="application/apply-patch+yaml")
    assert reapplied.data == {"one": "1", "two": "2"}
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map(
            "applied", namespace,
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "applied", "resourceVersion": applied.metadata.resource_version},
             "data": {"three": "3"}},
            field_manager="akri-test", _content_type="application/apply-patch+yaml")
    assert caught.value.status == 409


# ------------------------------------------------------------------------------ watches

def test_watch_from_list_resource_version_sees_only_later_events(api_client, namespace):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, configmap("before", WATCHED))
    listed = core.list_namespaced_config_map(namespace)
    assert rv(listed) >= max(rv(i) for i in listed.items)
    core.create_namespaced_config_map(namespace, configmap("after", WATCHED))
    core.patch_namespaced_config_map("after", namespace, {"data": {"k": "changed"}})
    core.delete_namespaced_config_map("after", namespace)
    events = collect(core.list_namespaced_config_map, namespace, label_selector="test.akri.sh/watched",
                     resource_version=listed.metadata.resource_version, count=3)
    assert events == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "after")]


def test_watch_without_resource_version_starts_with_existing_objects(api_client, namespace):
    core = client.CoreV1Api(api_client)
    for name in ("one", "two"):
        core.create_namespaced_config_map(namespace, configmap(name, WATCHED))
    events = collect(core.list_namespaced_config_map, namespace, label_selector="test.akri.sh/watched",
                     count=2)
    assert sorted(events) == [("ADDED", "one"), ("ADDED", "two")]


def test_watch_label_selector_transitions(api_client, namespace):
    core = client.CoreV1Api(api_client)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, configmap("sel", {"app": "on"}))
    core.patch_namespaced_config_map("sel", namespace, {"metadata": {"labels": {"app": "off"}}})
    core.patch_namespaced_config_map("sel", namespace, {"metadata": {"labels": {"app": "on"}}})
    core.create_namespaced_config_map(namespace, configmap("other", {"app": "off"}))
    core.delete_namespaced_config_map("sel", namespace)
    events = collect(core.list_namespaced_config_map, namespace, label_selector="app=on",
                     resource_version=start, count=4)
    assert events == [("ADDED", "sel"), ("DELETED", "sel"), ("ADDED", "sel"), ("DELETED", "sel")]


def test_watch_from_compacted_resource_version_is_410(api_client, namespace, local_apiserver):
    core = client.CoreV1Api(api_client)
    old = core.create_namespaced_config_map(namespace, configmap("old")).metadata.resource_version
    core.create_namespaced_config_map(namespace, configmap("new"))
    local_apiserver.store.compact()

    response = core.list_namespaced_config_map(namespace, watch=True, resource_version=old,
                                               timeout_seconds=5, _preload_content=False)
    assert response.status == 200
    lines = [line for line in response.data.decode().splitlines() if line]
    event = json.loads(lines[0])
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"

    with pytest.raises(ApiException) as caught:
        collect(core.list_namespaced_config_map, namespace, resource_version=old, count=1,
                timeout_seconds=5)
    assert caught.value.status == 410

    fresh = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(namespace, configmap("newest"))
    assert collect(core.list_namespaced_config_map, namespace,
                   resource_version=fresh.metadata.resource_version, count=1) == [("ADDED", "newest")]


def test_watch_bookmark_and_timeout(api_client, namespace, local_apiserver):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, configmap("cm"))
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    began = time.monotonic()
    response = core.list_namespaced_config_map(namespace, watch=True, resource_version=start,
                                               allow_watch_bookmarks=True, timeout_seconds=1,
                                               _preload_content=False)
    lines = [json.loads(line) for line in response.data.decode().splitlines() if line]
    assert time.monotonic() - began < WAIT_SECONDS
    assert lines and lines[-1]["type"] == "BOOKMARK"
    assert int(lines[-1]["object"]["metadata"]["resourceVersion"]) >= int(start)


def test_watch_single_object_by_name(api_client, namespace):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, configmap("a"))
    core.create_namespaced_config_map(namespace, configmap("b"))
    events = collect(core.list_namespaced_config_map, namespace, field_selector="metadata.name=b",
                     count=1)
    assert events == [("ADDED", "b")]


# ---------------------------------------------------------------------------- selectors

def test_label_selectors_on_list(api_client, namespace):
    core = client.CoreV1Api(api_client)
    for name, labels in (("prod", {"env": "prod", "tier": "web"}), ("dev", {"env": "dev"}),
                         ("test", {"env": "test", "tier": "db"}), ("bare", {})):
        core.create_namespaced_config_map(namespace, configmap(name, labels))

    def names(selector: str) -> set[str]:
        return {i.metadata.name for i in core.list_namespaced_config_map(
            namespace, label_selector=selector).items} - {"kube-root-ca.crt"}

    assert names("env=prod") == {"prod"}
    assert names("env==prod") == {"prod"}
    assert names("env!=prod") == {"dev", "test", "bare"}
    assert names("env in (prod,dev)") == {"prod", "dev"}
    assert names("env notin (prod,dev)") == {"test", "bare"}
    assert names("tier") == {"prod", "test"}
    assert names("!tier") == {"dev", "bare"}
    assert names("env,!tier") == {"dev"}
    assert names("env in (prod,test),tier=db") == {"test"}
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map(namespace, label_selector="env in (prod")
    assert caught.value.status == 400


def test_field_selectors_on_list_and_across_namespaces(api_client, namespace, node_name):
    core = client.CoreV1Api(api_client)
    create_pod(core, namespace, pod("bound", node_name))
    create_pod(core, namespace, pod("loose"))
    try:
        bound = core.list_namespaced_pod(namespace, field_selector=f"spec.nodeName={node_name}")
        assert [p.metadata.name for p in bound.items] == ["bound"]
        everywhere = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node_name}")
        assert [p.metadata.name for p in everywhere.items] == ["bound"]
        pending = core.list_namespaced_pod(namespace, field_selector="status.phase=Pending,metadata.name!=bound")
        assert [p.metadata.name for p in pending.items] == ["loose"]
        scoped = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={namespace}")
        assert {c.metadata.namespace for c in scoped.items} <= {namespace}
        with pytest.raises(ApiException) as caught:
            core.list_namespaced_pod(namespace, field_selector="spec.unknownField=x")
        assert caught.value.status == 400
    finally:
        force_delete_pods(core, namespace)


def test_custom_resource_field_selector_and_cluster_scope(api_client, namespace, widget_crds):
    objects = client.CustomObjectsApi(api_client)
    for name in ("w1", "w2"):
        objects.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", widget(name))
    found = objects.list_namespaced_custom_object(GROUP, "v1", namespace, "widgets",
                                                  field_selector="metadata.name=w2")
    assert [i["metadata"]["name"] for i in found["items"]] == ["w2"]

    name = f"gadget-{uuid.uuid4().hex[:6]}"
    created = objects.create_cluster_custom_object(
        GROUP, "v1", "gadgets", {"apiVersion": f"{GROUP}/v1", "kind": "Gadget",
                                 "metadata": {"name": name}, "spec": {"anything": [1, 2]}})
    try:
        assert "namespace" not in created["metadata"]
        assert created["spec"] == {"anything": [1, 2]}
        got = objects.get_cluster_custom_object(GROUP, "v1", "gadgets", name)
        assert got["metadata"]["uid"] == created["metadata"]["uid"]
        status = objects.patch_cluster_custom_object_status(GROUP, "v1", "gadgets", name,
                                                            {"status": {"ready": True}})
        assert status["status"] == {"ready": True}
    finally:
        objects.delete_cluster_custom_object(GROUP, "v1", "gadgets", name)


# ------------------------------------------------------------ status and generation

def test_status_subresource_and_generation(api_client, namespace, widget_crds):
    objects = client.CustomObjectsApi(api_client)
    body = widget("w", status={"phase": "ignored"})
    body["status"] = body["spec"].pop("status")
    created = objects.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", body)
    assert "status" not in created
    assert created["metadata"]["generation"] == 1

    spec_changed = objects.patch_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w",
                                                          {"spec": {"size": 5}})
    assert spec_changed["metadata"]["generation"] == 2

    status_ignored = objects.patch_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w",
                                                            {"status": {"phase": "Main"}})
    assert "status" not in status_ignored and status_ignored["metadata"]["generation"] == 2

    labelled = objects.patch_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w",
                                                      {"metadata": {"labels": {"x": "y"}}})
    assert labelled["metadata"]["generation"] == 2

    with_status = objects.patch_namespaced_custom_object_status(
        GROUP, "v1", namespace, "widgets", "w",
        {"status": {"phase": "Ready", "count": 3}, "spec": {"size": 99}})
    assert with_status["status"] == {"phase": "Ready", "count": 3}
    assert with_status["spec"]["size"] == 5 and with_status["metadata"]["generation"] == 2

    replaced = copy.deepcopy(with_status)
    replaced["status"]["phase"] = "Done"
    done = objects.replace_namespaced_custom_object_status(GROUP, "v1", namespace, "widgets", "w",
                                                           replaced)
    assert done["status"]["phase"] == "Done"
    with pytest.raises(ApiException) as caught:
        objects.replace_namespaced_custom_object_status(GROUP, "v1", namespace, "widgets", "w",
                                                        replaced)
    assert caught.value.status == 409

    with pytest.raises(ApiException) as caught:
        objects.patch_namespaced_custom_object_status(GROUP, "v1", namespace, "widgets", "w",
                                                      {"status": {"count": "many"}})
    assert caught.value.status == 422 and "status.count" in status_body(caught.value)["message"]


def test_pod_status_subresource(api_client, namespace, node_name):
    core = client.CoreV1Api(api_client)
    created = create_pod(core, namespace, pod("p", node_name))
    try:
        assert created.status.phase == "Pending"
        body = created.to_dict(serialize=True)
        body["status"]["phase"] = "Running"
        assert core.replace_namespaced_pod("p", namespace, body).status.phase == "Pending"
        running = core.patch_namespaced_pod_status("p", namespace, {"status": {"phase": "Running"}})
        assert running.status.phase == "Running"
        assert [p.metadata.name for p in core.list_namespaced_pod(
            namespace, field_selector="status.phase=Running").items] == ["p"]
    finally:
        force_delete_pods(core, namespace)


def test_node_status_events_and_delete_collection(api_client, namespace, node_name):
    core = client.CoreV1Api(api_client)
    node = core.patch_node_status(node_name, {"status": {"capacity": {"akri.sh/cam": "2"},
                                                         "allocatable": {"akri.sh/cam": "2"}}})
    assert node.status.allocatable["akri.sh/cam"] == "2"
    body = node.to_dict(serialize=True)
    body["status"]["allocatable"] = {"akri.sh/cam": "9"}
    assert core.replace_node(node_name, body).status.allocatable["akri.sh/cam"] == "2"

    core.create_namespaced_event(namespace, {
        "metadata": {"name": "ev"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
        "reason": "Tested", "message": "hello", "type": "Normal"})
    found = core.list_namespaced_event(namespace, field_selector="involvedObject.name=p,reason=Tested")
    assert [e.metadata.name for e in found.items] == ["ev"]
    modern = client.EventsV1Api(api_client).create_namespaced_event(namespace, {
        "metadata": {"name": "ev2"}, "eventTime": "2026-01-01T00:00:00.000000Z", "type": "Normal",
        "reason": "Tested",
        "action": "Test", "reportingController": "akri.sh/test", "reportingInstance": "t"})
    assert modern.reason == "Tested"

    for index in range(3):
        core.create_namespaced_config_map(namespace, configmap(f"batch-{index}", {"batch": "yes"}))
    core.create_namespaced_config_map(namespace, configmap("keep", {"batch": "no"}))
    core.delete_collection_namespaced_config_map(namespace, label_selector="batch=yes")
    left = core.list_namespaced_config_map(namespace, label_selector="batch").items
    assert [c.metadata.name for c in left] == ["keep"]


# ------------------------------------------------------------ finalizers and deletion

def test_finalizers_hold_deletion_until_removed(api_client, namespace):
    core = client.CoreV1Api(api_client)
    start = core.create_namespaced_config_map(
        namespace, configmap("held", finalizers=["test.akri.sh/hold"])).metadata.resource_version
    core.delete_namespaced_config_map("held", namespace)
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == ["test.akri.sh/hold"]

    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map(
            "held", namespace, {"metadata": {"finalizers": ["test.akri.sh/hold", "test.akri.sh/new"]}})
    assert caught.value.status == 422

    core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}})
    assert is_gone(lambda: core.read_namespaced_config_map("held", namespace))
    # Emptying the finalizers of a deleting object deletes it in the same request: no MODIFIED
    # for that update (generic registry `shouldDeleteDuringUpdate`).
    events = collect(core.list_namespaced_config_map, namespace, resource_version=start,
                     field_selector="metadata.name=held", count=2)
    assert events == [("MODIFIED", "held"), ("DELETED", "held")]


def test_pod_graceful_deletion_waits_for_kubelet(api_client, namespace, node_name):
    core = client.CoreV1Api(api_client)
    create_pod(core, namespace, pod("bound", node_name))
    create_pod(core, namespace, pod("unbound"))
    try:
        core.delete_namespaced_pod("unbound", namespace)
        assert is_gone(lambda: core.read_namespaced_pod("unbound", namespace))

        core.delete_namespaced_pod("bound", namespace)
        terminating = core.read_namespaced_pod("bound", namespace)
        assert terminating.metadata.deletion_timestamp is not None
        assert terminating.metadata.deletion_grace_period_seconds == 30
        core.delete_namespaced_pod("bound", namespace, grace_period_seconds=0)
        wait_for(lambda: is_gone(lambda: core.read_namespaced_pod("bound", namespace)),
                 "the pod deleted with grace 0 to go")
    finally:
        force_delete_pods(core, namespace)


def test_delete_preconditions(api_client, namespace):
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map(namespace, configmap("cm"))
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map(
            "cm", namespace, body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="other")))
    assert caught.value.status == 409
    core.delete_namespaced_config_map(
        "cm", namespace, body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid=created.metadata.uid)))
    assert is_gone(lambda: core.read_namespaced_config_map("cm", namespace))


def test_namespace_deletion_removes_its_objects(api_client):
    core = client.CoreV1Api(api_client)
    name = f"test-ns-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(name, configmap("plain"))
    core.create_namespaced_config_map(name, configmap("held", finalizers=["test.akri.sh/hold"]))
    core.delete_namespace(name)
    assert core.read_namespace(name).status.phase == "Terminating"
    wait_for(lambda: is_gone(lambda: core.read_namespaced_config_map("plain", name)),
             "the namespace's content to be deleted")
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(name, configmap("late"))
    assert caught.value.status == 403
    core.patch_namespaced_config_map("held", name, {"metadata": {"finalizers": None}})
    wait_for(lambda: is_gone(lambda: core.read_namespace(name)), "the namespace to go")


# ------------------------------------------------------------------- garbage collection

def test_owner_reference_garbage_collection(api_client, namespace, widget_crds):
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(namespace, configmap("owner"))
    core.create_namespaced_config_map(namespace, configmap("child", ownerReferences=[owner_ref(owner)]))
    other = core.create_namespaced_config_map(namespace, configmap("other"))
    core.create_namespaced_config_map(
        namespace, configmap("shared", ownerReferences=[owner_ref(owner), owner_ref(other)]))
    core.delete_namespaced_config_map("owner", namespace)
    wait_for(lambda: is_gone(lambda: core.read_namespaced_config_map("child", namespace)),
             "the dependent to be garbage collected")
    wait_for(lambda: [r.name for r in core.read_namespaced_config_map(
        "shared", namespace).metadata.owner_references or []] == ["other"],
        "the dangling ownerReference to be dropped")

    objects = client.CustomObjectsApi(api_client)
    parent = objects.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", widget("parent"))
    core.create_namespaced_config_map(namespace, configmap(
        "cr-child", ownerReferences=[owner_ref(parent, "Widget", f"{GROUP}/v1")]))
    objects.delete_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "parent")
    wait_for(lambda: is_gone(lambda: core.read_namespaced_config_map("cr-child", namespace)),
             "the custom resource's dependent to be garbage collected")


def test_orphan_and_foreground_propagation(api_client, namespace):
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(namespace, configmap("orphaner"))
    core.create_namespaced_config_map(namespace, configmap("orphan", ownerReferences=[owner_ref(owner)]))
    core.delete_namespaced_config_map("orphaner", namespace, propagation_policy="Orphan")
    wait_for(lambda: is_gone(lambda: core.read_namespaced_config_map("orphaner", namespace)),
             "the orphaning owner to go")
    assert not core.read_namespaced_config_map("orphan", namespace).metadata.owner_references

    owner = core.create_namespaced_config_map(namespace, configmap("fg"))
    core.create_namespaced_config_map(
        namespace, configmap("fg-child", finalizers=["test.akri.sh/hold"],
                             ownerReferences=[owner_ref(owner) | {"blockOwnerDeletion": True}]))
    core.delete_namespaced_config_map("fg", namespace, propagation_policy="Foreground")
    waiting = core.read_namespaced_config_map("fg", namespace)
    assert waiting.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in waiting.metadata.finalizers
    wait_for(lambda: core.read_namespaced_config_map("fg-child", namespace).metadata.deletion_timestamp,
             "the foreground owner's dependent to be deleted")
    assert core.read_namespaced_config_map("fg", namespace).metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("fg-child", namespace, {"metadata": {"finalizers": None}})
    wait_for(lambda: is_gone(lambda: core.read_namespaced_config_map("fg", namespace)),
             "the foreground owner to go after its dependent")


# -------------------------------------------------------------------- CRDs and schemas

def test_crd_schema_validation_defaulting_and_pruning(api_client, namespace, widget_crds):
    objects = client.CustomObjectsApi(api_client)

    def create(body: dict[str, Any]) -> dict[str, Any]:
        return objects.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", body)

    created = create(widget("defaults", port="http", note=None, extra={"free": {"form": 1}},
                            unknown="dropped"))
    spec = created["spec"]
    assert spec["color"] == "red" and spec["tags"] == [] and spec["limits"] == {"max": 10}
    assert spec["port"] == "http" and spec["note"] is None
    assert spec["extra"] == {"free": {"form": 1}} and "unknown" not in spec
    assert create(widget("numeric-port", port=8080))["spec"]["port"] == 8080

    cases = [
        (widget("bad-type", size="big"), "spec.size"),
        (widget("bad-enum", color="blue"), "spec.color"),
        (widget("bad-min", size=-1), "spec.size"),
        ({"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "no-size"},
          "spec": {}}, "spec.size"),
        ({"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "no-spec"}}, "spec"),
        (widget("bad-port", port=[1]), "spec.port"),
        (widget("bad-tags", tags=[1]), "spec.tags[0]"),
    ]
    for body, field in cases:
        with pytest.raises(ApiException) as caught:
            create(body)
        status = status_body(caught.value)
        assert caught.value.status == 422 and status["reason"] == "Invalid", body
        assert field in status["message"], (field, status["message"])
        assert any(c.get("field") == field for c in status["details"]["causes"]), status

    with pytest.raises(ApiException) as caught:
        objects.patch_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "defaults",
                                               {"spec": {"size": "huge"}})
    assert caught.value.status == 422


def test_invalid_crd_is_rejected(api_client):
    extensions = client.ApiextensionsV1Api(api_client)
    bad = copy.deepcopy(WIDGET_CRD)
    bad["metadata"]["name"] = f"wrong.{GROUP}"
    with pytest.raises(ApiException) as caught:
        extensions.create_custom_resource_definition(bad)
    assert caught.value.status == 422 and "metadata.name" in status_body(caught.value)["message"]


def test_akri_crds_install_and_default_instances(api_client, namespace, install_crds):
    assert set(install_crds) >= {"configurations.akri.sh", "instances.akri.sh"}
    objects = client.CustomObjectsApi(api_client)
    instance = objects.create_namespaced_custom_object("akri.sh", "v0", namespace, "instances", {
        "apiVersion": "akri.sh/v0", "kind": "Instance", "metadata": {"name": "cam-8120fe"},
        "spec": {"configurationName": "cam", "cdiName": "akri.sh/cam=8120fe", "capacity": 2}})
    assert instance["spec"]["nodes"] == [] and instance["spec"]["shared"] is False
    assert instance["spec"]["deviceUsage"] == {} and instance["spec"]["brokerProperties"] == {}
    with pytest.raises(ApiException) as caught:
        objects.create_namespaced_custom_object("akri.sh", "v0", namespace, "instances", {
            "apiVersion": "akri.sh/v0", "kind": "Instance", "metadata": {"name": "broken"},
            "spec": {"configurationName": "cam", "capacity": 2}})
    assert caught.value.status == 422 and "spec.cdiName" in status_body(caught.value)["message"]
    status = objects.patch_namespaced_custom_object_status(
        "akri.sh", "v0", namespace, "instances", "cam-8120fe", {"status": {"anything": "goes"}})
    assert status["metadata"]["generation"] == 1


def test_install_crds_is_idempotent(api_client, install_crds, apply_crd):
    extensions = client.ApiextensionsV1Api(api_client)
    before = {name: extensions.read_custom_resource_definition(name).metadata.uid
              for name in install_crds}
    for name in install_crds:
        crd = extensions.read_custom_resource_definition(name).to_dict(serialize=True)
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            crd["metadata"].pop(key, None)
        crd.pop("status", None)
        apply_crd(api_client, crd)
    assert before == {name: extensions.read_custom_resource_definition(name).metadata.uid
                      for name in install_crds}


def test_crd_deletion_removes_its_custom_resources(api_client, namespace, apply_crd):
    extensions = client.ApiextensionsV1Api(api_client)
    objects = client.CustomObjectsApi(api_client)
    crd = copy.deepcopy(WIDGET_CRD)
    suffix = uuid.uuid4().hex[:6]
    crd["spec"]["names"] = {"plural": f"temps{suffix}", "singular": f"temp{suffix}", "kind": f"Temp{suffix}"}
    crd["metadata"]["name"] = f"temps{suffix}.{GROUP}"
    apply_crd(api_client, crd)
    objects.create_namespaced_custom_object(GROUP, "v1", namespace, f"temps{suffix}", {
        "apiVersion": f"{GROUP}/v1", "kind": f"Temp{suffix}", "metadata": {"name": "t"},
        "spec": {"size": 1}})
    extensions.delete_custom_resource_definition(crd["metadata"]["name"])
    wait_for(lambda: is_gone(lambda: extensions.read_custom_resource_definition(crd["metadata"]["name"])),
             "the CRD to be removed")
    wait_for(lambda: is_gone(lambda: objects.list_namespaced_custom_object(
        GROUP, "v1", namespace, f"temps{suffix}")), "the custom resources to stop being served")


def test_jobs_get_a_selector_and_a_status_subresource(api_client, namespace):
    batch = client.BatchV1Api(api_client)
    job = batch.create_namespaced_job(namespace, {
        "metadata": {"name": "job"},
        "spec": {"suspend": True, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}})
    uid = job.metadata.uid
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert job.spec.template.metadata.labels["job-name"] == "job"
    with pytest.raises(ApiException) as caught:
        batch.create_namespaced_job(namespace, {"metadata": {"name": "bad"}, "spec": {"template": {
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    assert caught.value.status == 422 and "restartPolicy" in status_body(caught.value)["message"]
    batch.delete_namespaced_job("job", namespace, propagation_policy="Background")
    wait_for(lambda: is_gone(lambda: batch.read_namespaced_job("job", namespace)), "the job to go")


# --------------------------------------------------------------------- admission webhooks

def _certificate(names: list[str], ips: list[str], issuer_key=None, issuer_cert=None):
    """A (key, certificate) pair; self-signed CA when no issuer is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "test-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer_cert.subject if issuer_cert else subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(hours=1)))
    if issuer_cert is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        import ipaddress

        sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    certificate = builder.sign(issuer_key or key, hashes.SHA256())
    return key, certificate


def _pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class WebhookServer:
    """A tiny HTTPS AdmissionReview server: denies ConfigMaps with ``data.forbidden``, warns
    on every allowed request, and records the reviews it received."""

    def __init__(self, *, names: list[str], ips: list[str], delay: float = 0.0) -> None:
        self.ca_key, self.ca = _certificate([], [])
        key, cert = _certificate(names, ips, self.ca_key, self.ca)
        self.reviews: list[dict[str, Any]] = []
        self._dir = tempfile.TemporaryDirectory()
        cert_path, key_path = Path(self._dir.name, "tls.crt"), Path(self._dir.name, "tls.key")
        cert_path.write_bytes(_pem(cert))
        key_path.write_bytes(_pem(key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.reviews.append(review)
                time.sleep(delay)
                request = review["request"]
                obj = request.get("object") or {}
                response: dict[str, Any] = {"uid": request["uid"], "allowed": True,
                                            "warnings": [f"checked {request['name']}"]}
                if "forbidden" in (obj.get("data") or {}):
                    code = int(obj["data"]["forbidden"] or 400)
                    response = {"uid": request["uid"], "allowed": False,
                                "status": {"code": code, "message": "forbidden key present"}}
                data = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                   "response": response}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # ssl.SSLEOFError, BrokenPipeError
                    pass  # the API server gave up waiting (webhook timeout): nobody to answer

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(_pem(self.ca)).decode()

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()


def _webhook_configuration(name: str, namespace: str, client_config: dict[str, Any],
                           failure_policy: str = "Fail", timeout: int = 5) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "webhooks": [{
            "name": f"{name}.test.akri.sh",
            "clientConfig": client_config,
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": ["configmaps"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "objectSelector": {"matchLabels": {"webhook": "on"}},
            "failurePolicy": failure_policy,
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": timeout,
        }],
    }


@pytest.fixture
def webhook_configs(api_client) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Create ValidatingWebhookConfigurations; all are deleted after the test."""
    admission = client.AdmissionregistrationV1Api(api_client)
    created: list[str] = []

    def create(body: dict[str, Any]) -> None:
        admission.create_validating_webhook_configuration(body)
        created.append(body["metadata"]["name"])

    yield create
    for name in created:
        try:
            admission.delete_validating_webhook_configuration(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


def test_validating_webhook_over_https(api_client, namespace, local_apiserver, webhook_configs):
    core = client.CoreV1Api(api_client)
    name = f"vwc-{uuid.uuid4().hex[:6]}"
    with WebhookServer(names=["localhost"], ips=["127.0.0.1"]) as hook:
        webhook_configs(_webhook_configuration(name, namespace, {
            "url": f"https://127.0.0.1:{hook.port}/validate", "caBundle": hook.ca_bundle}))
        _, code, headers = core.create_namespaced_config_map_with_http_info(
            namespace, {"metadata": {"name": "ok", "labels": {"webhook": "on"}}, "data": {"a": "1"}})
        assert code == 201
        assert "checked ok" in headers.get("Warning", "")
        review = hook.reviews[-1]
        assert review["apiVersion"] == "admission.k8s.io/v1" and review["kind"] == "AdmissionReview"
        request = review["request"]
        assert request["operation"] == "CREATE" and request["namespace"] == namespace
        assert request["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
        assert request["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
        assert request["object"]["data"] == {"a": "1"} and request["oldObject"] is None

        with pytest.raises(ApiException) as caught:
            core.create_namespaced_config_map(namespace, {
                "metadata": {"name": "no", "labels": {"webhook": "on"}}, "data": {"forbidden": ""}})
        assert caught.value.status == 400
        assert status_body(caught.value)["message"] == (
            f'admission webhook "{name}.test.akri.sh" denied the request: forbidden key present')
        assert is_gone(lambda: core.read_namespaced_config_map("no", namespace))

        with pytest.raises(ApiException) as caught:
            core.patch_namespaced_config_map("ok", namespace, {"data": {"forbidden": "403"}})
        assert caught.value.status == 403
        assert hook.reviews[-1]["request"]["operation"] == "UPDATE"
        assert hook.reviews[-1]["request"]["oldObject"]["data"] == {"a": "1"}

        seen = len(hook.reviews)
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "unselected"},
                                                      "data": {"forbidden": ""}})
        assert len(hook.reviews) == seen


def test_webhook_service_reference_and_failure_policies(api_client, namespace, local_apiserver,
                                                        webhook_configs):
    core = client.CoreV1Api(api_client)
    service = {"namespace": "akri", "name": f"hooks-{uuid.uuid4().hex[:6]}", "port": 8443,
               "path": "/validate"}
    dns_name = f"{service['name']}.akri.svc"
    with WebhookServer(names=[dns_name], ips=[]) as hook, \
            WebhookServer(names=["localhost"], ips=["127.0.0.1"], delay=2.0) as slow:
        local_apiserver.service_urls[("akri", service["name"], 8443)] = f"https://127.0.0.1:{hook.port}"
        webhook_configs(_webhook_configuration(f"svc-{service['name']}", namespace,
                                               {"service": service, "caBundle": hook.ca_bundle}))
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "via-svc",
                                                                   "labels": {"webhook": "on"}}})
        assert hook.reviews[-1]["request"]["name"] == "via-svc"

        webhook_configs(_webhook_configuration(f"wrong-ca-{service['name']}", namespace, {
            "url": f"https://127.0.0.1:{slow.port}/", "caBundle": hook.ca_bundle}))
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_config_map(namespace, {"metadata": {"name": "bad-tls",
                                                                       "labels": {"webhook": "on"}}})
        assert caught.value.status == 500
        assert "failed calling webhook" in status_body(caught.value)["message"]

    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "down",
                                                                   "labels": {"webhook": "on"}}})
    assert caught.value.status == 500
    del local_apiserver.service_urls[("akri", service["name"], 8443)]


def test_webhook_timeout_and_ignore_policy(api_client, namespace, local_apiserver, webhook_configs):
    core = client.CoreV1Api(api_client)
    admission = client.AdmissionregistrationV1Api(api_client)
    slow_name = f"slow-{uuid.uuid4().hex[:6]}"
    with WebhookServer(names=["localhost"], ips=["127.0.0.1"], delay=3.0) as slow:
        webhook_configs(_webhook_configuration(slow_name, namespace, {
            "url": f"https://127.0.0.1:{slow.port}/", "caBundle": slow.ca_bundle}, timeout=1))
        began = time.monotonic()
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_config_map(namespace, {"metadata": {"name": "slow",
                                                                       "labels": {"webhook": "on"}}})
        assert caught.value.status == 500 and time.monotonic() - began < 3.0
        ca_bundle = slow.ca_bundle
    admission.delete_validating_webhook_configuration(slow_name)

    webhook_configs(_webhook_configuration(f"ignored-{uuid.uuid4().hex[:6]}", namespace, {
        "url": "https://127.0.0.1:1/", "caBundle": ca_bundle}, failure_policy="Ignore"))
    created = core.create_namespaced_config_map(namespace, {"metadata": {
        "name": "allowed", "labels": {"webhook": "on"}}})
    assert created.metadata.name == "allowed"


# ------------------------------------------------------------------ server mechanics

def test_concurrent_watches_and_prompt_shutdown(local_apiserver, tmp_path):
    server = ApiServer().start()
    watchers = 20
    seen: list[list[tuple[str, str]]] = [[] for _ in range(watchers)]
    finished = threading.Semaphore(0)
    try:
        api = config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "kc")))
        core = client.CoreV1Api(api)
        start = core.list_namespaced_config_map("default").metadata.resource_version

        def watch_forever(events: list[tuple[str, str]]) -> None:
            try:
                for event in watch.Watch().stream(core.list_namespaced_config_map, "default",
                                                  resource_version=start):
                    events.append((event["type"], event["object"].metadata.name))
            except Exception:  # once the server is gone the client's reconnect fails
                pass
            finally:
                finished.release()

        for events in seen:
            threading.Thread(target=watch_forever, args=(events,), daemon=True).start()
        core.create_namespaced_config_map("default", configmap("broadcast"))
        wait_for(lambda: all(("ADDED", "broadcast") in events for events in seen),
                 "every watch to see the new object")
    finally:
        began = time.monotonic()
        server.stop()
    for _ in range(watchers):
        assert finished.acquire(timeout=WAIT_SECONDS), "a watch did not end after stop()"
    assert time.monotonic() - began < WAIT_SECONDS


def test_watch_history_is_bounded(local_apiserver, tmp_path):
    with ApiServer(history_size=3) as server:
        api = config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "kc")))
        core = client.CoreV1Api(api)
        first = core.create_namespaced_config_map("default", configmap("c0")).metadata.resource_version
        for index in range(1, 5):
            core.create_namespaced_config_map("default", configmap(f"c{index}"))
        with pytest.raises(ApiException) as caught:
            collect(core.list_namespaced_config_map, "default", resource_version=first, count=1,
                    timeout_seconds=5)
        assert caught.value.status == 410
        recent = core.read_namespaced_config_map("c2", "default").metadata.resource_version
        assert collect(core.list_namespaced_config_map, "default", resource_version=recent,
                       count=2) == [("ADDED", "c3"), ("ADDED", "c4")]


def test_standalone_module_writes_kubeconfig(local_apiserver, tmp_path):
    path = tmp_path / "kubeconfig"
    process = subprocess.Popen([sys.executable, "-m", "akri_local.apiserver", "--port", "0",
                                "--kubeconfig", str(path), "--log-level", "WARNING"],
                               stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        api = config.new_client_from_config(config_file=str(path))
        names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
        assert {"default", "kube-system"} <= names
    finally:
        process.terminate()
        assert process.wait(WAIT_SECONDS) == 0
