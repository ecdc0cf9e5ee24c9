"""The akri.sh/v0 CRDs: Akri's schemas plus status, shipped identically in the package and in
manifests/crds/, and accepting every Configuration manifest from Akri's repository.

Documents are checked with `jsonschema` (2020-12) after `akri_api.crds.to_json_schema` has
translated the Kubernetes extensions (`nullable`, `x-kubernetes-*`).
"""

from __future__ import annotations

import copy
import importlib.resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from akri_api import crds, model, validation

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = REPO_ROOT / "manifests" / "crds"
AKRI_CASES = REPO_ROOT.parent / "shared" / "cases" / "akri"
# Akri's e2e tests fill this template in with str.format() (test/e2e/test_udev.py).
TEMPLATE_ARGUMENTS = {"udevGroupedConfiguration.yaml": ("pci-0000:00:14.0-usb-0:1:1.0",)}


def _case_documents() -> list[Any]:
    if not AKRI_CASES.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{AKRI_CASES} not present"))]
    params = []
    for path in sorted(AKRI_CASES.glob("*.yaml")):
        text = path.read_text()
        if path.name in TEMPLATE_ARGUMENTS:
            text = text.format(*TEMPLATE_ARGUMENTS[path.name])
        document = yaml.safe_load(text)
        if isinstance(document, dict) and document.get("kind") == "Configuration":
            params.append(pytest.param(document, id=path.name))
    return params


def configuration_validator() -> jsonschema.protocols.Validator:
    schema = crds.to_json_schema(crds.configuration_schema())
    return jsonschema.Draft202012Validator(schema)


def instance_validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(crds.to_json_schema(crds.instance_schema()))


# -- files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", crds.CRD_FILES)
def test_manifest_copies_are_identical_to_the_package_data(file_name: str) -> None:
    packaged = importlib.resources.files("akri_api.crds").joinpath(file_name).read_bytes()
    assert (MANIFESTS / file_name).read_bytes() == packaged


def test_kustomization_lists_both_crds() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == list(crds.CRD_FILES)


def test_load_crds_returns_fresh_copies() -> None:
    first = crds.load_crds()
    assert [crd["metadata"]["name"] for crd in first] == ["configurations.akri.sh", "instances.akri.sh"]
    first[0]["spec"]["group"] = "changed"
    assert crds.load_crds()[0]["spec"]["group"] == "akri.sh"


# -- shape required by DESIGN.md §2 ---------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1])
def test_status_subresource_and_schema(index: int) -> None:
    crd = crds.load_crds()[index]
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v0" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["type"] == "object" and status["x-kubernetes-preserve-unknown-fields"] is True
    assert status["properties"]["observedGeneration"]["type"] == "integer"
    condition = status["properties"]["conditions"]["items"]
    assert set(condition["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }


def test_capacities_are_non_negative_int64_without_uint() -> None:
    instance_capacity = crds.instance_schema()["properties"]["spec"]["properties"]["capacity"]
    assert instance_capacity == {
        "description": "This contains the number of slots for the Instance",
        "format": "int64",
        "minimum": 0,
        "type": "integer",
    }
    assert crds.configuration_schema()["properties"]["spec"]["properties"]["capacity"] == {
        "type": "integer",
        "minimum": 0,
    }


def _walk(schema: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path, schema)]
    for name, sub in schema.get("properties", {}).items():
        nodes += _walk(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            nodes += _walk(schema[key], f"{path}[{key}]")
    return nodes


@pytest.mark.parametrize(
    "schema", [crds.configuration_schema(), crds.instance_schema()], ids=["configuration", "instance"]
)
def test_schemas_are_structural(schema: dict[str, Any]) -> None:
    # kube-apiserver requires a type on every node of a structural schema and warns about unknown formats
    for path, node in _walk(schema):
        assert "type" in node, f"{path or '(root)'} has no type"
        assert node.get("format") in (None, "int64", "int32", "date-time"), f"{path}: format {node.get('format')}"


def _without_our_additions(crd: dict[str, Any]) -> dict[str, Any]:
    crd = copy.deepcopy(crd)
    for version in crd["spec"]["versions"]:
        version.pop("subresources", None)
        properties = version["schema"]["openAPIV3Schema"]["properties"]
        properties.pop("status")
        capacity = properties["spec"]["properties"]["capacity"]
        if capacity.get("format") == "int64":
            capacity["format"] = "uint"
        else:
            capacity.pop("minimum")
    return crd


@pytest.mark.parametrize("index", [0, 1])
def test_schema_is_akris_apart_from_status_and_capacity(index: int) -> None:
    akri_file = AKRI_CASES / crds.CRD_FILES[index]
    if not akri_file.exists():
        pytest.skip(f"{akri_file} not present")
    akri = yaml.safe_load(akri_file.read_text())
    for version in akri["spec"]["versions"]:
        version.pop("subresources", None)
    assert _without_our_additions(crds.load_crds()[index]) == akri


# -- documents against the schema -----------------------------------------------------------------


def test_translated_schemas_are_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(crds.to_json_schema(crds.configuration_schema()))
    jsonschema.Draft202012Validator.check_schema(crds.to_json_schema(crds.instance_schema()))


@pytest.mark.parametrize("document", _case_documents())
def test_every_akri_configuration_matches_the_crd(document: dict[str, Any]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in configuration_validator().iter_errors(document)]
    assert errors == []


# Documents the CRD schema rejects; validate_configuration must reject each as well, so the CLI
# never accepts what the API server would refuse.
SCHEMA_VIOLATIONS: dict[str, dict[str, Any]] = {
    "negative capacity": {"capacity": -1},
    "string capacity": {"capacity": "1"},
    "property name pattern": {"discoveryHandler": {"name": "x", "discoveryProperties": [{"name": "1x", "value": "v"}]}},
    "value and valueFrom": {
        "discoveryHandler": {
            "name": "x",
            "discoveryProperties": [
                {"name": "P", "value": "v", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
            ],
        }
    },
    "neither value nor valueFrom": {"discoveryHandler": {"name": "x", "discoveryProperties": [{"name": "P"}]}},
    "both refs": {
        "discoveryHandler": {
            "name": "x",
            "discoveryProperties": [
                {
                    "name": "P",
                    "valueFrom": {
                        "secretKeyRef": {"name": "s", "key": "k"},
                        "configMapKeyRef": {"name": "c", "key": "k"},
                    },
                }
            ],
        }
    },
    "ref without name": {
        "discoveryHandler": {
            "name": "x",
            "discoveryProperties": [{"name": "P", "valueFrom": {"secretKeyRef": {"key": "k"}}}],
        }
    },
    "non-string broker property": {"brokerProperties": {"A": 1}},
    "list as pod spec": {"brokerSpec": {"brokerPodSpec": []}},
    "details not a string": {"discoveryHandler": {"name": "x", "discoveryDetails": {"a": 1}}},
}


@pytest.mark.parametrize("spec_change", SCHEMA_VIOLATIONS.values(), ids=SCHEMA_VIOLATIONS.keys())
def test_schema_violations_are_rejected_by_both(spec_change: dict[str, Any]) -> None:
    document: dict[str, Any] = {
        "apiVersion": "akri.sh/v0",
        "kind": "Configuration",
        "metadata": {"name": "c"},
        "spec": {"discoveryHandler": {"name": "debugEcho", "discoveryDetails": ""}, **spec_change},
    }
    assert list(configuration_validator().iter_errors(document)), "the CRD schema accepts it"
    assert validation.validate_configuration(document), "validate_configuration accepts it"


def test_nullable_fields_accept_null() -> None:
    document = {
        "spec": {
            "discoveryHandler": {"name": "x", "discoveryProperties": None},
            "brokerSpec": {"brokerPodSpec": None, "brokerJobSpec": {}},
            "instanceServiceSpec": None,
        }
    }
    assert list(configuration_validator().iter_errors(document)) == []


def test_model_instances_match_the_instance_crd() -> None:
    instance = model.Instance(
        name="cfg-8120fe",
        namespace="default",
        configuration_name="cfg",
        cdi_name="akri.sh/cfg=8120fe",
        capacity=2,
        shared=True,
        nodes=("node-a",),
        device_usage={"cfg-8120fe-0": "C:cfg-0:node-a"},
    )
    document = instance.to_dict()
    document["status"] = {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}], "brokers": 2}
    assert list(instance_validator().iter_errors(document)) == []
    for path, bad in [("capacity", -1), ("cdiName", None), ("nodes", "node-a"), ("deviceUsage", {"k": 1})]:
        broken = copy.deepcopy(document)
        if bad is None:
            del broken["spec"][path]
        else:
            broken["spec"][path] = bad
        assert list(instance_validator().iter_errors(broken)), f"spec.{path}={bad!r} accepted"


def test_to_json_schema_translates_kubernetes_extensions() -> None:
    translated = crds.to_json_schema(
        {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "maybe": {"type": "string", "nullable": True},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            },
        }
    )
    assert translated == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "port": {"type": ["integer", "string"]},
            "maybe": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
