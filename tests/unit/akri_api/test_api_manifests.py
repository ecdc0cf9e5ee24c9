"""Every manifest under manifests/ and metacontroller/: parses as kubectl reads it, uses only fields
Kubernetes knows, is reachable from a kustomization, and starts commands the package installs.

Built-in kinds are checked against the `kubernetes` client's OpenAPI models with
`akri_api._kube_schema` (the checker behind `akri validate`), so a misspelt or misplaced field in
a Deployment, DaemonSet, Job, RBAC object, CRD or webhook configuration fails here instead of
being rejected (or silently pruned) by `kubectl apply`. Kinds of other projects (Metacontroller,
cert-manager, kustomize) are listed explicitly; CompositeControllers are checked against the
fields of metacontroller-contract.md §2 and §2.2.
"""

from __future__ import annotations

import importlib
import importlib.util
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from akri_api import _kube_schema, _paths, _yaml

REPO = Path(__file__).resolve().parents[3]
MANIFEST_ROOTS = ("manifests", "metacontroller")
NON_BUILT_IN_KINDS = {
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
    ("metacontroller.k8s.io/v1alpha1", "CompositeController"),
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "Certificate"),
}
NOT_IN_ANY_KUSTOMIZATION = {
    # the documented alternative to cert-manager (manifests/webhook/kustomization.yaml)
    "manifests/webhook/certgen-job.yaml",
    "manifests/webhook/certgen-rbac.yaml",
}
IMAGES = {"ghcr.io/akri-py/agent:latest", "ghcr.io/akri-py/hooks:latest"}
"""The tags the repository's Dockerfile builds (one image, two names)."""

COMPOSITE_CONTROLLER_SPEC_FIELDS = {
    "parentResource",
    "childResources",
    "resyncPeriodSeconds",
    "generateSelector",
    "hooks",
    "endpointConfigs",
}
COMPOSITE_CONTROLLER_HOOKS = {"sync", "finalize", "customize", "preUpdateChild", "postUpdateChild"}
WEBHOOK_FIELDS = {
    "url",
    "service",
    "path",
    "timeout",
    "etag",
    "responseUnMarshallMode",
    "caBundle",
    "authorization",
    "basicAuth",
    "clientTLS",
}
UPDATE_METHODS = {"OnDelete", "Recreate", "InPlace", "RollingRecreate", "RollingInPlace"}


def _manifest_files() -> list[Path]:
    return sorted(path for root in MANIFEST_ROOTS for path in (REPO / root).rglob("*.yaml"))


def _relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _documents(path: Path) -> list[Any]:
    return [document for document in _yaml.load_all(path.read_text()) if document is not None]


def _all_documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in _manifest_files():
        for document in _documents(path):
            yield _relative(path), document


def _model_class(api_version: str, kind: str) -> str | None:
    """`apps/v1` + `Deployment` → `V1Deployment` when the client has that model, else None."""
    version = api_version.rpartition("/")[2]
    name = version[:1].upper() + version[1:] + kind
    return name if hasattr(importlib.import_module("kubernetes.client.models"), name) else None


def _pod_specs(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = document.get("spec") or {}
    template = spec.get("template") or (spec.get("jobTemplate") or {}).get("spec", {}).get("template")
    if template:
        yield template["spec"]


def _console_scripts() -> set[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(pyproject["project"]["scripts"])


def test_there_are_manifests_to_check() -> None:
    files = {_relative(path) for path in _manifest_files()}
    assert {"manifests/kustomization.yaml", "metacontroller/kustomization.yaml"} <= files
    assert len(files) >= 20


@pytest.mark.parametrize("file", [_relative(path) for path in _manifest_files()])
def test_every_document_parses_and_names_its_kind(file: str) -> None:
    # _yaml reads like kubectl: duplicate keys are an error, timestamps stay strings
    documents = _documents(REPO / file)
    assert documents, f"{file} holds no document"
    for document in documents:
        assert isinstance(document, dict)
        assert isinstance(document.get("apiVersion"), str) and isinstance(document.get("kind"), str)
        if document["kind"] != "Kustomization":
            assert isinstance(document["metadata"]["name"], str) and document["metadata"]["name"]


def test_built_in_kinds_use_only_fields_kubernetes_knows() -> None:
    problems = []
    for file, document in _all_documents():
        api_version, kind = document["apiVersion"], document["kind"]
        if (api_version, kind) in NON_BUILT_IN_KINDS:
            continue
        model = _model_class(api_version, kind)
        assert model is not None, f"{file}: {api_version} {kind} is neither a built-in kind nor listed as a CRD kind"
        problems += [f"{file} {kind}: {problem}" for problem in _kube_schema.check(document, model, _paths.ROOT)]
    assert problems == []


def test_the_schema_check_catches_a_misspelt_field() -> None:
    [deployment] = _documents(REPO / "manifests/hooks/deployment.yaml")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFileSystem"] = container["securityContext"].pop("readOnlyRootFilesystem")
    container["resources"]["limits"]["memory"] = "a lot"
    assert [str(p) for p in _kube_schema.check(deployment, "V1Deployment", _paths.ROOT)] == [
        'spec.template.spec.containers[0].resources.limits.memory: must be a quantity such as "1", "250m" or'
        ' "64Mi", got string "a lot"',
        'spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field'
        ' "readOnlyRootFileSystem" in SecurityContext (did you mean "readOnlyRootFilesystem"?)',
    ]


def test_composite_controllers_use_only_metacontroller_fields() -> None:
    controllers = [(f, d) for f, d in _all_documents() if d["kind"] == "CompositeController"]
    assert len(controllers) == 2
    for file, controller in controllers:
        spec = controller["spec"]
        assert set(spec) <= COMPOSITE_CONTROLLER_SPEC_FIELDS, file
        assert set(spec["parentResource"]) <= {"apiVersion", "resource", "labelSelector", "revisionHistory"}, file
        for child in spec["childResources"]:
            assert set(child) <= {"apiVersion", "resource", "updateStrategy"}, file
            assert set(child.get("updateStrategy", {})) <= {"method", "statusChecks"}, file
            assert child.get("updateStrategy", {}).get("method", "OnDelete") in UPDATE_METHODS, file
        assert set(spec["hooks"]) <= COMPOSITE_CONTROLLER_HOOKS, file
        for hook in spec["hooks"].values():
            assert set(hook) <= {"version", "webhook"} and hook.get("version", "v1") in ("v1", "v2"), file
            assert set(hook["webhook"]) <= WEBHOOK_FIELDS, file
            assert set(hook["webhook"].get("service", {})) <= {"name", "namespace", "port", "protocol"}, file


def _kustomization_dirs() -> list[Path]:
    return sorted(path.parent for root in MANIFEST_ROOTS for path in (REPO / root).rglob("kustomization.yaml"))


@pytest.mark.parametrize("directory", [_relative(path) for path in _kustomization_dirs()])
def test_kustomization_resources_exist(directory: str) -> None:
    [kustomization] = _documents(REPO / directory / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"], directory
    for resource in kustomization["resources"]:
        target = (REPO / directory / resource).resolve()
        assert target.is_file() or (target / "kustomization.yaml").is_file(), f"{directory}: {resource}"


def test_every_manifest_is_applied_by_a_kustomization_or_documented_as_an_alternative() -> None:
    listed = set()
    for directory in _kustomization_dirs():
        [kustomization] = _documents(directory / "kustomization.yaml")
        listed |= {_relative((directory / r).resolve()) for r in kustomization["resources"]}
    files = {_relative(path) for path in _manifest_files() if path.name != "kustomization.yaml"}
    assert files - listed == NOT_IN_ANY_KUSTOMIZATION


def test_top_level_kustomization_reaches_every_component() -> None:
    [kustomization] = _documents(REPO / "manifests/kustomization.yaml")
    reached = {_relative((REPO / "manifests" / r).resolve()) for r in kustomization["resources"]}
    assert {"manifests/crds", "manifests/hooks", "metacontroller", "manifests/webhook", "manifests/agent"} <= reached


def test_containers_run_installed_commands_from_the_built_images() -> None:
    scripts = _console_scripts()
    checked = 0
    for file, document in _all_documents():
        for pod_spec in _pod_specs(document):
            for container in [*pod_spec.get("initContainers", []), *pod_spec["containers"]]:
                where = f"{file} {container['name']}"
                assert container["image"] in IMAGES, where
                command = container["command"]
                if command[:2] == ["python", "-m"]:
                    assert importlib.util.find_spec(command[2]) is not None, where
                else:
                    assert len(command) == 1 and command[0] in scripts, where
                checked += 1
    assert checked >= 7


def test_named_probe_ports_exist_on_their_container() -> None:
    for file, document in _all_documents():
        for pod_spec in _pod_specs(document):
            for container in pod_spec["containers"]:
                names = {port["name"] for port in container.get("ports", []) if "name" in port}
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    port = container.get(probe, {}).get("httpGet", {}).get("port")
                    if isinstance(port, str):
                        assert port in names, f"{file} {container['name']} {probe}"
