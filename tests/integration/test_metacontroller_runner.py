"""The Metacontroller runner against the local API emulator (or a cluster with `--kubeconfig`).

A throw-away CRD (`widgets.mc-test.akri.sh`, status subresource) is the parent; children are
ConfigMaps (InPlace) and Secrets (Recreate). The hooks are a tiny threaded HTTP server in the test
whose answers are a pure function of the parent's spec, so each test drives behaviour through its
Widget: which children to return, a related ConfigMap to ask for, resyncAfterSeconds, failures.
Checks follow metacontroller-contract.md §5-§9, §11, §14.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config
from kubernetes.client.exceptions import ApiException

from akri_local.metacontroller import MetacontrollerRunner

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "mc-test.akri.sh", "v1", "widgets"
CONTROLLER = "mc-test-widgets"
FINALIZER = f"metacontroller.io/compositecontroller-{CONTROLLER}"
WAIT_SECONDS = 10.0

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {"group": GROUP, "scope": "Namespaced",
             "names": {"plural": PLURAL, "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
             "versions": [{"name": VERSION, "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                               "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]},
}

CONTROLLER_OBJECT = {
    "apiVersion": "metacontroller.k8s.io/v1alpha1", "kind": "CompositeController",
    "metadata": {"name": CONTROLLER},
    "spec": {
        "generateSelector": True,
        "parentResource": {"apiVersion": f"{GROUP}/{VERSION}", "resource": PLURAL},
        "childResources": [{"apiVersion": "v1", "resource": "configmaps", "updateStrategy": {"method": "InPlace"}},
                           {"apiVersion": "v1", "resource": "secrets", "updateStrategy": {"method": "Recreate"}}],
        # Service-form hooks: the runner rewrites them onto hook_base_url (no cluster DNS here).
        "hooks": {name: {"webhook": {"service": {"name": "widget-hooks", "namespace": "mc-test", "port": 80},
                                     "path": f"/{name}", "timeout": "5s"}}
                  for name in ("sync", "finalize", "customize")},
    },
}


GADGET_CRD = {
    **CRD, "metadata": {"name": f"gadgets.{GROUP}"},
    "spec": {**CRD["spec"], "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget",
                                      "listKind": "GadgetList"}},
}

GADGET_CONTROLLER = {
    "apiVersion": "metacontroller.k8s.io/v1alpha1", "kind": "CompositeController",
    "metadata": {"name": "mc-test-gadgets"},
    "spec": {"generateSelector": True, "resyncPeriodSeconds": 1,
             "parentResource": {"apiVersion": f"{GROUP}/{VERSION}", "resource": "gadgets"},
             "hooks": {"sync": {"webhook": {"url": "PLACEHOLDER/gadget-sync"}}}},
}


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Poll `predicate` until truthy (returned) or fail the test naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except ApiException as exc:
            if exc.status != 404:
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


class Hooks:
    """The hook server's brain: pure answers from the parent spec, plus a log of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, int] = {}
        self.lock = threading.Lock()

    def handle(self, path: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parent = request["parent"]
        spec, uid = parent.get("spec") or {}, parent["metadata"]["uid"]
        with self.lock:
            self.calls.append((path, request))
            failed = self.failures.get(uid, 0)
            if path == "/sync" and failed < spec.get("failTimes", 0):
                self.failures[uid] = failed + 1
                return 500, {"error": "widget hook is having a bad day"}
        if path == "/gadget-sync":
            return 200, {"status": {"seen": True}}
        if path == "/customize":
            name = spec.get("relatedConfigMap")
            rules = [{"apiVersion": "v1", "resource": "configmaps", "namespace": parent["metadata"]["namespace"],
                      "names": [name]}] if name else []
            return 200, {"relatedResources": rules}
        observed_maps = request["children"]["ConfigMap.v1"]
        observed_secrets = request["children"]["Secret.v1"]
        related = request["related"].get("ConfigMap.v1", {})
        status = {"configMaps": sorted(observed_maps),
                  "secretUids": {n: s["metadata"]["uid"] for n, s in sorted(observed_secrets.items())},
                  "related": {n: o.get("data") for n, o in sorted(related.items())}}
        if request["finalizing"]:
            return 200, {"status": status, "children": [], "finalized": not observed_maps and not observed_secrets}
        children = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
                    for name, data in sorted((spec.get("configMaps") or {}).items())]
        children += [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                      "data": {"value": base64.b64encode(value.encode()).decode()}}
                     for name, value in sorted((spec.get("secrets") or {}).items())]
        response: dict[str, Any] = {"status": status, "children": children}
        if spec.get("resyncAfterSeconds"):
            response["resyncAfterSeconds"] = spec["resyncAfterSeconds"]
        return 200, response

    def count(self, path: str, name: str, namespace: str | None = None) -> int:
        with self.lock:
            return sum(1 for p, r in self.calls if p == path and r["parent"]["metadata"]["name"] == name
                       and namespace in (None, r["parent"]["metadata"].get("namespace")))

    def last(self, path: str, name: str) -> dict[str, Any]:
        with self.lock:
            return [r for p, r in self.calls if p == path and r["parent"]["metadata"]["name"] == name][-1]


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[Hooks, str]]:
    brain = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, body = brain.handle(self.path, request)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield brain, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def widget_crd(kubeconfig: str) -> Iterator[None]:
    api_client = config.new_client_from_config(config_file=kubeconfig)
    extensions = k8s.ApiextensionsV1Api(api_client)
    for crd in (CRD, GADGET_CRD):
        try:
            extensions.create_custom_resource_definition(crd)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def established() -> bool:
        for crd in (CRD, GADGET_CRD):
            conditions = extensions.read_custom_resource_definition(crd["metadata"]["name"]).status.conditions or []
            if not any(c.type == "Established" and c.status == "True" for c in conditions):
                return False
        return True
    wait_for(established, "test CRDs established")
    yield
    for crd in (CRD, GADGET_CRD):
        extensions.delete_custom_resource_definition(crd["metadata"]["name"])
    api_client.close()


@pytest.fixture(scope="module")
def runner(kubeconfig: str, widget_crd: None, hooks: tuple[Hooks, str]) -> Iterator[MetacontrollerRunner]:
    gadgets = json.loads(json.dumps(GADGET_CONTROLLER).replace("PLACEHOLDER", hooks[1]))
    mc = MetacontrollerRunner(kubeconfig, [CONTROLLER_OBJECT, gadgets], hook_base_url=hooks[1])
    mc.start()
    assert mc.wait_ready(WAIT_SECONDS), "runner did not list its types"
    yield mc
    mc.stop()


@pytest.fixture
def widgets(api_client: k8s.ApiClient, runner: MetacontrollerRunner, namespace: str) -> Iterator[k8s.CustomObjectsApi]:
    api = k8s.CustomObjectsApi(api_client)
    yield api
    # Widgets carry the runner's finalizer: delete them while the runner still runs the finalize hook.
    for item in api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]:
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, item["metadata"]["name"])
    wait_for(lambda: not api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"],
             "widgets finalized and deleted")


def create_widget(widgets: k8s.CustomObjectsApi, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    name = f"w-{uuid.uuid4().hex[:6]}"
    return widgets.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": name}, "spec": spec})


def read_widget(widgets: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    return widgets.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def patch_spec(widgets: k8s.CustomObjectsApi, namespace: str, name: str, spec: dict[str, Any]) -> None:
    """Replace the whole spec (a merge patch would keep map keys we drop)."""
    for _attempt in range(5):
        widget = read_widget(widgets, namespace, name)
        widget["spec"] = spec
        try:
            widgets.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, widget)
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
    pytest.fail(f"could not update widget {name}: conflicts")


def config_map(core: k8s.CoreV1Api, namespace: str, name: str) -> k8s.V1ConfigMap | None:
    try:
        return core.read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_sync_creates_owned_children_deletes_omitted_and_writes_status(api_client, widgets, namespace):
    core = k8s.CoreV1Api(api_client)
    widget = create_widget(widgets, namespace, {"configMaps": {"a": {"k": "1"}, "b": {"k": "2"}}})
    name, uid = widget["metadata"]["name"], widget["metadata"]["uid"]
    wait_for(lambda: config_map(core, namespace, "a") and config_map(core, namespace, "b"), "children a and b")
    child = config_map(core, namespace, "a")
    assert child.data == {"k": "1"}
    assert child.metadata.labels == {"controller-uid": uid}
    [ref] = child.metadata.owner_references
    assert (ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == ("Widget", name, uid, True, True)
    last_applied = child.metadata.annotations["metacontroller.k8s.io/last-applied-configuration"]
    assert json.loads(last_applied)["data"] == {"k": "1"}
    wait_for(lambda: read_widget(widgets, namespace, name).get("status", {}).get("configMaps") == ["a", "b"],
             "status listing both observed children")
    status = read_widget(widgets, namespace, name)["status"]
    assert status["observedGeneration"] == widget["metadata"]["generation"]
    patch_spec(widgets, namespace, name, {"configMaps": {"b": {"k": "2"}}})
    wait_for(lambda: config_map(core, namespace, "a") is None, "omitted child a deleted")
    assert config_map(core, namespace, "b") is not None
    wait_for(lambda: read_widget(widgets, namespace, name)["status"].get("configMaps") == ["b"], "status updated")
    live = read_widget(widgets, namespace, name)
    assert live["status"]["observedGeneration"] == live["metadata"]["generation"] > widget["metadata"]["generation"]


def test_request_shape_and_finalizer(widgets, namespace, hooks):
    brain, _ = hooks
    widget = create_widget(widgets, namespace, {})
    name = widget["metadata"]["name"]
    wait_for(lambda: brain.count("/sync", name) >= 1, "a sync call")
    request = brain.last("/sync", name)
    assert set(request) == {"controller", "parent", "children", "related", "finalizing"}
    assert request["controller"]["metadata"]["name"] == CONTROLLER
    assert request["children"] == {"ConfigMap.v1": {}, "Secret.v1": {}}  # an entry per child type, always
    assert request["related"] == {} and request["finalizing"] is False
    assert request["parent"]["metadata"]["name"] == name
    wait_for(lambda: FINALIZER in (read_widget(widgets, namespace, name)["metadata"].get("finalizers") or []),
             "the finalize hook's finalizer on the parent")


def test_inplace_updates_keep_the_object_and_recreate_replaces_it(api_client, widgets, namespace):
    core = k8s.CoreV1Api(api_client)
    widget = create_widget(widgets, namespace, {"configMaps": {"cfg": {"v": "1"}}, "secrets": {"sec": "one"}})
    name = widget["metadata"]["name"]
    wait_for(lambda: config_map(core, namespace, "cfg"), "configmap child")
    secret_uid = wait_for(lambda: core.read_namespaced_secret("sec", namespace).metadata.uid, "secret child")
    cfg_uid = config_map(core, namespace, "cfg").metadata.uid
    patch_spec(widgets, namespace, name, {"configMaps": {"cfg": {"v": "2"}}, "secrets": {"sec": "two"}})
    wait_for(lambda: config_map(core, namespace, "cfg").data == {"v": "2"}, "InPlace update of the configmap")
    assert config_map(core, namespace, "cfg").metadata.uid == cfg_uid
    def recreated() -> bool:
        secret = core.read_namespaced_secret("sec", namespace)
        return secret.metadata.uid != secret_uid and base64.b64decode(secret.data["value"]) == b"two"
    wait_for(recreated, "Recreate: secret deleted and created again with the new value")
    wait_for(lambda: list(read_widget(widgets, namespace, name)["status"].get("secretUids", {}).values())
             == [core.read_namespaced_secret("sec", namespace).metadata.uid], "status sees the new secret")


def test_resync_after_seconds_calls_the_hook_again(widgets, namespace, hooks):
    brain, _ = hooks
    widget = create_widget(widgets, namespace, {"resyncAfterSeconds": 0.1})
    name = widget["metadata"]["name"]
    # Without the one-shot resyncs the parent would be synced ~3 times (create, finalizer, status).
    wait_for(lambda: brain.count("/sync", name) >= 10, "repeated syncs from resyncAfterSeconds")


def test_customize_delivers_related_objects_and_their_changes(api_client, widgets, namespace, hooks):
    brain, _ = hooks
    core = k8s.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="source"),
                                                                 data={"colour": "blue"}))
    widget = create_widget(widgets, namespace, {"relatedConfigMap": "source"})
    name = widget["metadata"]["name"]
    wait_for(lambda: read_widget(widgets, namespace, name).get("status", {}).get("related") == {
        "source": {"colour": "blue"}}, "related ConfigMap delivered to the sync hook (keyed by name)")
    assert brain.last("/customize", name)["parent"]["metadata"]["name"] == name
    core.patch_namespaced_config_map("source", namespace, {"data": {"colour": "green"}})
    wait_for(lambda: read_widget(widgets, namespace, name)["status"].get("related") == {
        "source": {"colour": "green"}}, "a change of the related object re-syncs the parent")
    customize_calls = brain.count("/customize", name)
    assert customize_calls == 1, "customize answers are cached per parent uid and generation"


def test_finalize_hook_tears_down_before_the_parent_goes(api_client, widgets, namespace, hooks):
    brain, _ = hooks
    core = k8s.CoreV1Api(api_client)
    widget = create_widget(widgets, namespace, {"configMaps": {"fin": {"k": "v"}}})
    name = widget["metadata"]["name"]
    wait_for(lambda: config_map(core, namespace, "fin"), "child created")
    wait_for(lambda: FINALIZER in (read_widget(widgets, namespace, name)["metadata"].get("finalizers") or []),
             "finalizer added")
    widgets.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    wait_for(lambda: brain.count("/finalize", name) >= 1, "finalize hook called")
    assert brain.last("/finalize", name)["finalizing"] is True
    wait_for(lambda: config_map(core, namespace, "fin") is None, "children removed by the finalize answer")

    def gone() -> bool:
        try:
            read_widget(widgets, namespace, name)
        except ApiException as exc:
            return exc.status == 404
        return False
    wait_for(gone, "parent deleted once finalize answered finalized: true")


def test_hook_errors_become_sync_error_events_and_are_retried(api_client, widgets, namespace, hooks):
    brain, _ = hooks
    core = k8s.CoreV1Api(api_client)
    widget = create_widget(widgets, namespace, {"failTimes": 2, "configMaps": {"late": {"k": "v"}}})
    uid = widget["metadata"]["uid"]
    wait_for(lambda: config_map(core, namespace, "late"), "child created after the hook recovered")
    events = [e for e in core.list_namespaced_event(namespace).items
              if e.involved_object.uid == uid and e.reason == "SyncError"]
    assert events and events[0].type == "Warning"
    assert "unsupported status code: 500" in events[0].message and "bad day" in events[0].message
    assert brain.failures[uid] == 2


def test_resync_period_resyncs_unchanged_parents(api_client, runner, namespace, hooks):
    brain, _ = hooks
    gadgets = k8s.CustomObjectsApi(api_client)
    gadgets.create_namespaced_custom_object(GROUP, VERSION, namespace, "gadgets", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {}})
    wait_for(lambda: gadgets.get_namespaced_custom_object(GROUP, VERSION, namespace, "gadgets", "g")
             .get("status", {}).get("seen"), "first sync wrote the status")
    settled = brain.count("/gadget-sync", "g", namespace=namespace)
    wait_for(lambda: brain.count("/gadget-sync", "g", namespace=namespace) >= settled + 2,
             "two periodic resyncs (resyncPeriodSeconds: 1) of an unchanged parent", timeout=5)
