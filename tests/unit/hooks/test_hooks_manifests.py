"""The hooks' manifests agree with the code: routes, Service ports, webhook wiring, kustomizations,
and the hooks' status shapes fit the CRDs' status schemas."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from akri_api import crds
from hooks import sync_configuration, sync_instance
from hooks.app import ROUTES
from hooks.config import HooksConfig
from tests.unit.hooks import hook_fixtures as fx

REPO = Path(__file__).resolve().parents[3]


def load_all(relative):
    return [doc for doc in yaml.safe_load_all((REPO / relative).read_text()) if doc]


def load(relative):
    [doc] = load_all(relative)
    return doc


def by_kind(docs, kind):
    return [doc for doc in docs if doc["kind"] == kind]


@pytest.mark.parametrize(
    ("file", "parent", "children", "paths"),
    [
        (
            "metacontroller/instance-controller.yaml",
            ("akri.sh/v0", "instances"),
            [("v1", "pods", "Recreate"), ("batch/v1", "jobs", "Recreate"), ("v1", "services", "InPlace")],
            {"sync": "/sync/instance", "customize": "/customize/instance"},
        ),
        (
            "metacontroller/configuration-controller.yaml",
            ("akri.sh/v0", "configurations"),
            [("v1", "services", "InPlace")],
            {"sync": "/sync/configuration", "customize": "/customize/configuration"},
        ),
    ],
)
def test_composite_controllers(file, parent, children, paths):
    controller = load(file)
    assert controller["apiVersion"] == "metacontroller.k8s.io/v1alpha1"
    assert controller["kind"] == "CompositeController"
    spec = controller["spec"]
    assert spec["generateSelector"] is True
    assert (spec["parentResource"]["apiVersion"], spec["parentResource"]["resource"]) == parent
    assert [(c["apiVersion"], c["resource"], c["updateStrategy"]["method"]) for c in spec["childResources"]] == children
    assert set(spec["hooks"]) == set(paths)
    for hook, path in paths.items():
        hook_spec = spec["hooks"][hook]
        assert hook_spec["version"] == "v1"
        webhook = hook_spec["webhook"]
        assert webhook["service"] == {"name": "akri-hooks", "namespace": "akri", "port": 80, "protocol": "http"}
        assert webhook["path"] == path
        assert path in ROUTES


def test_metacontroller_kustomization_lists_both_controllers():
    kustomization = load("metacontroller/kustomization.yaml")
    assert sorted(kustomization["resources"]) == ["configuration-controller.yaml", "instance-controller.yaml"]


@pytest.mark.parametrize("directory", ["manifests/hooks", "manifests/webhook", "metacontroller"])
def test_kustomization_resources_exist(directory):
    for resource in load(f"{directory}/kustomization.yaml")["resources"]:
        assert (REPO / directory / resource).is_file(), resource


def test_hooks_service_ports_match_the_containers():
    service = load("manifests/hooks/service.yaml")
    deployment = load("manifests/hooks/deployment.yaml")
    assert (service["metadata"]["name"], service["metadata"]["namespace"]) == ("akri-hooks", "akri")
    assert {(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        ("http", 80, 8080),
        ("https", 443, 8443),
    }
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    container_ports = {p["containerPort"] for c in pod["spec"]["containers"] for p in c["ports"]}
    assert container_ports == {8080, 8443}


def test_hooks_containers_are_locked_down_and_probed():
    pod = load("manifests/hooks/deployment.yaml")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        assert container["image"] == "ghcr.io/akri-py/hooks:latest"
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["path"] == "/healthz"
        binds = [a.split("=", 1)[1] for a in container["args"] if a.startswith("--bind=")]
        assert HooksConfig(bind=binds[0]).validated()
    webhook = next(c for c in pod["containers"] if c["name"] == "webhook")
    assert "--certfile=/tls/tls.crt" in webhook["args"] and "--keyfile=/tls/tls.key" in webhook["args"]
    assert webhook["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert pod["volumes"] == [{"name": "tls", "secret": {"secretName": "akri-hooks-tls"}}]


def test_validating_webhook_configuration():
    config = load("manifests/webhook/validating-webhook.yaml")
    assert config["kind"] == "ValidatingWebhookConfiguration"
    assert config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "akri/akri-hooks"
    [webhook] = config["webhooks"]
    assert webhook["clientConfig"]["service"] == {
        "name": "akri-hooks",
        "namespace": "akri",
        "port": 443,
        "path": "/validate/configuration",
    }
    assert webhook["clientConfig"]["service"]["path"] in ROUTES
    assert webhook["rules"] == [
        {
            "operations": ["CREATE", "UPDATE"],
            "apiGroups": ["akri.sh"],
            "apiVersions": ["v0"],
            "resources": ["configurations"],
            "scope": "Namespaced",
        }
    ]
    assert webhook["failurePolicy"] == "Fail"
    assert webhook["sideEffects"] == "None"
    assert webhook["admissionReviewVersions"] == ["v1"]
    assert len(webhook["name"].split(".")) >= 3  # the API server requires a fully qualified name


def test_cert_manager_certificate_feeds_the_secret_and_the_annotation():
    docs = load_all("manifests/webhook/cert-manager.yaml")
    [issuer] = by_kind(docs, "Issuer")
    [certificate] = by_kind(docs, "Certificate")
    assert issuer["spec"] == {"selfSigned": {}}
    assert certificate["spec"]["secretName"] == "akri-hooks-tls"
    assert certificate["spec"]["issuerRef"]["name"] == issuer["metadata"]["name"]
    assert "akri-hooks.akri.svc" in certificate["spec"]["dnsNames"]
    annotation = load("manifests/webhook/validating-webhook.yaml")["metadata"]["annotations"][
        "cert-manager.io/inject-ca-from"
    ]
    assert annotation == f"{certificate['metadata']['namespace']}/{certificate['metadata']['name']}"


def test_certgen_job_and_its_rbac():
    job = load("manifests/webhook/certgen-job.yaml")
    rbac = load_all("manifests/webhook/certgen-rbac.yaml")
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["python", "-m", "hooks.certgen"]
    assert "--secret=akri-hooks-tls" in container["args"] and "--webhook=akri-hooks" in container["args"]
    [account] = by_kind(rbac, "ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    [role] = by_kind(rbac, "Role")
    [cluster_role] = by_kind(rbac, "ClusterRole")
    secret_verbs = {verb for rule in role["rules"] if "secrets" in rule["resources"] for verb in rule["verbs"]}
    assert {"get", "create", "update"} <= secret_verbs
    [webhook_rule] = cluster_role["rules"]
    assert webhook_rule["resources"] == ["validatingwebhookconfigurations"]
    assert {"get", "patch"} <= set(webhook_rule["verbs"])
    for binding in by_kind(rbac, "RoleBinding") + by_kind(rbac, "ClusterRoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "akri"}
        ]


def _status_schema(schema):
    return crds.to_json_schema(schema["properties"]["status"])


def test_instance_status_fits_the_instance_crd():
    schema = _status_schema(crds.instance_schema())
    for request in (
        fx.instance_request(pods=[fx.pod(f"node-a-{fx.INSTANCE}-pod")]),
        fx.instance_request(configurations=[]),
    ):
        status = {**sync_instance(request, now=fx.NOW)["status"], "observedGeneration": 3}
        jsonschema.validate(status, schema)


def test_configuration_status_fits_the_configuration_crd():
    schema = _status_schema(crds.configuration_schema())
    status = sync_configuration(fx.configuration_request(instances=[fx.instance()]), now=fx.NOW)["status"]
    jsonschema.validate({**status, "observedGeneration": 1}, schema)
