"""The Configuration admission webhook: review_configuration and POST /validate/configuration."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from akri_api import cli
from hooks import create_app, review_configuration
from hooks.errors import HookInputError
from hooks.validate import NO_DATA_MESSAGE

CASES = Path(__file__).resolve().parents[4] / "shared" / "cases" / "akri"
VALID = CASES / "webhookValidConfiguration.yaml"
UID = "705ab4f5-6393-11e8-b7cc-42010a800002"


def valid_configuration():
    return yaml.safe_load(VALID.read_text())


def with_unknown_field(config):
    config["spec"]["brokerSpec"]["brokerPodSpec"]["xUnknownSyntheticField"] = "x"
    return config


def with_udev_rwx(config):
    config["spec"]["discoveryHandler"] = {
        "name": "udev",
        "discoveryDetails": 'udevRules:\n- KERNEL=="video[0-9]*"\npermissions: rwx\n',
    }
    return config


def with_both_broker_specs(config):
    config["spec"]["brokerSpec"]["brokerJobSpec"] = {
        "template": {"spec": {"containers": [{"name": "job", "image": "busybox"}], "restartPolicy": "Never"}}
    }
    return config


def without_placeholder(config):
    del config["spec"]["brokerSpec"]["brokerPodSpec"]["containers"][0]["resources"]
    return config


def with_pod_level_resources(config):
    config["spec"]["brokerSpec"]["brokerPodSpec"]["resources"] = {"limits": {"cpu": "1"}}
    return config


def with_value_and_value_from(config):
    config["spec"]["discoveryHandler"]["discoveryProperties"] = [
        {"name": "PASSWORD", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ]
    return config


def without_handler_name(config):
    del config["spec"]["discoveryHandler"]["name"]
    return config


def with_capacity_minus_one(config):
    config["spec"]["capacity"] = -1
    return config


def with_pod_level_device_resources(config):
    config["spec"]["brokerSpec"]["brokerPodSpec"]["resources"] = {"limits": {"{{PLACEHOLDER}}": "1"}}
    return config


def review(obj, api_version="admission.k8s.io/v1", **request_fields):
    request = {
        "uid": UID,
        "kind": {"group": "akri.sh", "version": "v0", "kind": "Configuration"},
        "resource": {"group": "akri.sh", "version": "v0", "resource": "configurations"},
        "name": "broker",
        "namespace": "default",
        "operation": "CREATE",
        "userInfo": {"username": "admin"},
        "object": obj,
        "oldObject": None,
        "dryRun": False,
        **request_fields,
    }
    return {"apiVersion": api_version, "kind": "AdmissionReview", "request": request}


@pytest.mark.parametrize("api_version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_valid_configuration_is_allowed_with_uid_and_api_version_echoed(api_version):
    answer = review_configuration(review(valid_configuration(), api_version))
    assert answer == {"apiVersion": api_version, "kind": "AdmissionReview", "response": {"uid": UID, "allowed": True}}


def test_unknown_field_in_broker_pod_spec_is_denied_with_its_path():
    response = review_configuration(review(with_unknown_field(valid_configuration())))["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert response["status"]["message"].startswith("spec.brokerSpec.brokerPodSpec.xUnknownSyntheticField: ")


def test_udev_permissions_rwx_are_denied():
    response = review_configuration(review(with_udev_rwx(valid_configuration())))["response"]
    assert response["allowed"] is False
    assert "spec.discoveryHandler.discoveryDetails.permissions" in response["status"]["message"]
    assert "rwx" in response["status"]["message"]


def test_both_broker_specs_are_denied():
    response = review_configuration(review(with_both_broker_specs(valid_configuration())))["response"]
    assert response["allowed"] is False
    assert "spec.brokerSpec: brokerPodSpec and brokerJobSpec are mutually exclusive" in response["status"]["message"]


def test_every_problem_is_listed_separated_by_semicolons():
    config = with_udev_rwx(with_unknown_field(valid_configuration()))
    config["spec"]["capacity"] = -1
    message = review_configuration(review(config))["response"]["status"]["message"]
    parts = message.split("; ")
    assert len(parts) >= 3
    assert any(p.startswith("spec.capacity: ") for p in parts)
    assert any(p.startswith("spec.brokerSpec.brokerPodSpec.xUnknownSyntheticField: ") for p in parts)
    assert any(p.startswith("spec.discoveryHandler.discoveryDetails.permissions: ") for p in parts)


@pytest.mark.parametrize("obj", [None, {}, "absent"])
def test_request_without_object_data_is_denied(obj):
    body = review(obj)
    if obj == "absent":
        del body["request"]["object"]
    response = review_configuration(body)["response"]
    assert response == {"uid": UID, "allowed": False, "status": {"code": 400, "message": NO_DATA_MESSAGE}}


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}, "apiVersion='v1' kind='Pod'"),
        ({"apiVersion": "akri.sh/v0", "kind": "Instance"}, "kind='Instance'"),
        ([1, 2], "is an array"),
        ("text", "is a string"),
    ],
)
def test_object_that_is_not_a_configuration_is_denied(obj, words):
    response = review_configuration(review(obj))["response"]
    assert response["allowed"] is False
    assert words in response["status"]["message"]
    assert "not an akri.sh/v0 Configuration" in response["status"]["message"]


@pytest.mark.parametrize(
    ("mutate", "warning"),
    [
        (without_placeholder, "spec.brokerSpec.brokerPodSpec: "),
        (with_pod_level_resources, "spec.brokerSpec.brokerPodSpec.resources: "),
    ],
)
def test_suspicious_configurations_are_allowed_with_warnings(mutate, warning):
    response = review_configuration(review(mutate(valid_configuration())))["response"]
    assert response["allowed"] is True
    assert "status" not in response
    assert any(w.startswith(warning) for w in response["warnings"])
    assert all(isinstance(w, str) for w in response["warnings"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "request"),
        ({"apiVersion": "admission.k8s.io/v1", "request": None}, "request"),
        ({"apiVersion": "admission.k8s.io/v1", "request": {"object": {}}}, "request.uid"),
        ({"apiVersion": "admission.k8s.io/v1", "request": {"uid": 7}}, "request.uid"),
        ({"apiVersion": "admission.k8s.io/v1", "request": {"uid": ""}}, "request.uid"),
        ({"kind": "AdmissionReview", "request": {"uid": "u"}}, "apiVersion"),
        ({"apiVersion": "admission.k8s.io/v2", "request": {"uid": "u"}}, "apiVersion"),
    ],
)
def test_unreadable_reviews_raise_hook_input_error(body, field):
    with pytest.raises(HookInputError) as caught:
        review_configuration(body)
    assert caught.value.field == field


def test_review_never_mutates_its_input():
    body = review(with_udev_rwx(valid_configuration()))
    before = copy.deepcopy(body)
    review_configuration(body)
    assert body == before


# --- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    return create_app().test_client()


def test_http_allowed_and_denied(client):
    allowed = client.post("/validate/configuration", json=review(valid_configuration()))
    denied = client.post("/validate/configuration", json=review(with_unknown_field(valid_configuration())))
    assert allowed.status_code == denied.status_code == 200
    assert allowed.get_json()["response"] == {"uid": UID, "allowed": True}
    assert denied.get_json()["response"]["allowed"] is False


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b"{}", json.dumps({"apiVersion": "admission.k8s.io/v1", "request": {}}).encode()]
)
def test_http_malformed_reviews_are_400(client, body):
    response = client.post("/validate/configuration", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]


# --- same verdict as `akri validate` ------------------------------------------------------------

PARITY_CASES = {  # case: (how to change the valid Configuration, expected verdict)
    "valid": (lambda c: c, True),
    "unknown-field": (with_unknown_field, False),
    "udev-rwx": (with_udev_rwx, False),
    "both-broker-specs": (with_both_broker_specs, False),
    "no-placeholder": (without_placeholder, True),
    "pod-level-resources": (with_pod_level_resources, True),
    "pod-level-device-resources": (with_pod_level_device_resources, False),
    "value-and-value-from": (with_value_and_value_from, False),
    "no-handler-name": (without_handler_name, False),
    "capacity-minus-one": (with_capacity_minus_one, False),
    "several-problems": (lambda c: with_capacity_minus_one(with_udev_rwx(with_unknown_field(c))), False),
    "empty-object": (lambda c: {}, False),
    "not-a-configuration": (lambda c: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, False),
}


@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_akri_validate_gives_the_webhook_verdict(case, tmp_path, capsys):
    mutate, expected = PARITY_CASES[case]
    obj = mutate(valid_configuration())
    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(obj))

    allowed = review_configuration(review(obj))["response"]["allowed"]
    exit_code = cli.main(["validate", "-f", str(path)])
    capsys.readouterr()

    assert allowed is expected
    assert exit_code in (0, 1)
    assert (exit_code == 0) is allowed


@pytest.fixture(scope="module")
def parity_client():
    return create_app().test_client()


def _cli_lines(obj, tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(obj))
    exit_code = cli.main(["validate", "-f", str(path)])
    out = capsys.readouterr().out.splitlines()
    prefix = f"{path}: Configuration {obj['metadata']['name']}: "
    assert all(line.startswith(prefix) for line in out), out
    lines = [line[len(prefix) :] for line in out]
    warnings = [line[len("warning: ") :] for line in lines if line.startswith("warning: ")]
    problems = [line for line in lines if not line.startswith("warning: ") and line != "valid"]
    return exit_code, problems, warnings


@pytest.mark.parametrize(
    "case", sorted(name for name in PARITY_CASES if name not in ("empty-object", "not-a-configuration"))
)
def test_the_webhook_route_and_akri_validate_report_the_same_problems_and_warnings(
    case, parity_client, tmp_path, capsys
):
    mutate, expected = PARITY_CASES[case]
    obj = mutate(valid_configuration())

    answer = parity_client.post("/validate/configuration", json=review(obj))
    exit_code, problems, warnings = _cli_lines(obj, tmp_path, capsys)

    assert answer.status_code == 200
    response = answer.get_json()["response"]
    assert response["allowed"] is expected and (exit_code == 0) is expected
    assert response.get("status", {}).get("message") == ("; ".join(problems) if problems else None)
    assert response.get("warnings", []) == warnings
    if not expected:  # every rejection names its field
        assert all(problem.startswith("spec.") for problem in problems)


def _akri_case_files():
    names = ["akri-debug-echo-pod-configuration.yaml", "akri-onvif-video-configuration.yaml"]
    names += ["akri-opcua-configuration.yaml", "akri-udev-video-configuration.yaml", "debugEchoConfiguration.yaml"]
    names += ["udevDevNullConfiguration.yaml", "udevGroupedConfiguration.yaml", "webhookValidConfiguration.yaml"]
    return names


@pytest.mark.parametrize("name", _akri_case_files())
def test_every_akri_case_is_allowed_by_the_webhook_route_and_akri_validate(name, parity_client, tmp_path, capsys):
    if not (CASES / name).is_file():
        pytest.skip(f"{CASES / name} not present")
    text = (CASES / name).read_text()
    if name == "udevGroupedConfiguration.yaml":  # a str.format() template in Akri's e2e (test_udev.py)
        text = text.format("pci-0000:00:14.0-usb-0:1:1.0")
    obj = yaml.safe_load(text)

    answer = parity_client.post("/validate/configuration", json=review(obj))
    exit_code, problems, warnings = _cli_lines(obj, tmp_path, capsys)

    assert answer.get_json()["response"]["allowed"] is True
    assert (exit_code, problems) == (0, [])
    assert answer.get_json()["response"].get("warnings", []) == warnings
