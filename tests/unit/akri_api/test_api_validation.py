"""akri_api.validation: the one verdict shared by `akri validate` and the admission webhook."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from akri_api import errors, model, udev_rules, validation

VALID: dict[str, Any] = {
    "apiVersion": "akri.sh/v0",
    "kind": "Configuration",
    "metadata": {"name": "akri-debug-echo-foo"},
    "spec": {
        "discoveryHandler": {"name": "debugEcho", "discoveryDetails": "descriptions: [foo0]\n"},
        "capacity": 2,
        "brokerSpec": {
            "brokerPodSpec": {
                "containers": [
                    {
                        "name": "broker",
                        "image": "nginx:stable-alpine",
                        "resources": {"limits": {"{{PLACEHOLDER}}": "1", "memory": "30Mi", "cpu": "29m"}},
                    }
                ],
            },
        },
        "brokerProperties": {"RESOLUTION_WIDTH": "800"},
    },
}

UDEV_DETAILS = 'udevRules:\n  - KERNEL=="video[0-9]*"\npermissions: rwm\n'


def config(**spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(VALID)
    obj["spec"].update(spec)
    return obj


def udev_config(details: str) -> dict[str, Any]:
    return config(discoveryHandler={"name": "udev", "discoveryDetails": details})


def messages(obj: object) -> list[str]:
    return [str(p) for p in validation.validate_configuration(obj)]


def pod_spec_config(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return config(brokerSpec={"brokerPodSpec": pod_spec})


# -- accepted -------------------------------------------------------------------------------------


def test_the_reference_configuration_is_valid() -> None:
    assert messages(VALID) == []
    assert validation.configuration_warnings(VALID) == []


def test_every_akri_case_file_is_valid(akri_case: dict[str, Any]) -> None:
    obj = akri_case
    assert messages(obj) == []
    assert validation.configuration_warnings(obj) == []
    model.Configuration.from_dict(obj)  # and the model reads it


def test_webhook_metadata_is_accepted() -> None:
    obj = config()
    obj["metadata"] = {
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": ""},
        "creationTimestamp": "2021-01-01T00:00:00Z",
        "generation": 1,
        "managedFields": [],
        "name": "broker",
        "uid": "00000000-0000-0000-0000-000000000000",
        "resourceVersion": "7",
        "finalizers": ["node-a"],
        "labels": {"a": "b"},
    }
    obj["status"] = {"observedGeneration": 1}
    assert messages(obj) == []


def test_job_broker_and_quantities_and_int_or_string_are_accepted() -> None:
    obj = config(
        brokerSpec={
            "brokerJobSpec": {
                "parallelism": 2,
                "backoffLimit": 4,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "j",
                                "image": "busybox",
                                "resources": {
                                    "requests": {"akri.sh/akri-debug-echo-foo": 1, "cpu": 0.5, "memory": "1.5Gi"}
                                },
                            }
                        ],
                    }
                },
            }
        },
        instanceServiceSpec={"ports": [{"port": 80, "targetPort": "http"}], "selector": {"app": "x"}},
        configurationServiceSpec={"ports": [{"port": 80, "targetPort": 8080}]},
    )
    assert messages(obj) == []
    assert validation.configuration_warnings(obj) == []


def test_null_means_unset_everywhere() -> None:
    obj = pod_spec_config(
        {
            "containers": [
                {
                    "name": "b",
                    "image": None,
                    "env": [{"name": "X", "value": None}],
                    "resources": {"limits": {"{{PLACEHOLDER}}": "1"}},
                }
            ],
            "nodeSelector": None,
        }
    )
    obj["spec"]["instanceServiceSpec"] = None
    obj["spec"]["brokerProperties"] = None
    assert messages(obj) == []


# -- rejected (each names its field) ------------------------------------------------------------


def test_both_broker_specs_are_mutually_exclusive() -> None:
    obj = config(brokerSpec={"brokerPodSpec": {"containers": []}, "brokerJobSpec": {"template": {}}})
    assert messages(obj) == ["spec.brokerSpec: brokerPodSpec and brokerJobSpec are mutually exclusive"]


def test_unknown_field_in_broker_pod_spec() -> None:
    obj = copy.deepcopy(VALID)
    obj["spec"]["brokerSpec"]["brokerPodSpec"]["xUnknownSyntheticField"] = "x"
    assert messages(obj) == [
        'spec.brokerSpec.brokerPodSpec.xUnknownSyntheticField: unknown field "xUnknownSyntheticField" in PodSpec'
    ]


def test_unknown_field_nested_in_a_container() -> None:
    obj = copy.deepcopy(VALID)
    obj["spec"]["brokerSpec"]["brokerPodSpec"]["containers"][0]["xUnknownSyntheticField"] = "x"
    obj["spec"]["brokerSpec"]["brokerPodSpec"]["containers"][0]["securityContext"] = {"privilegd": True}
    assert messages(obj) == [
        'spec.brokerSpec.brokerPodSpec.containers[0].xUnknownSyntheticField: unknown field "xUnknownSyntheticField"'
        " in Container",
        'spec.brokerSpec.brokerPodSpec.containers[0].securityContext.privilegd: unknown field "privilegd" in'
        ' SecurityContext (did you mean "privileged"?)',
    ]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "brokerJobSpec",
            {"template": {"spec": {"containers": [{"name": "j", "imagePullpolicy": "Always"}]}}},
            'spec.brokerSpec.brokerJobSpec.template.spec.containers[0].imagePullpolicy: unknown field "imagePullpolicy"'
            ' in Container (did you mean "imagePullPolicy"?)',
        ),
        (
            "brokerJobSpec",
            {"backoff_limit": 3},
            'spec.brokerSpec.brokerJobSpec.backoff_limit: unknown field "backoff_limit" in JobSpec'
            ' (did you mean "backoffLimit"?)',
        ),
    ],
)
def test_unknown_fields_in_broker_job_spec(field: str, value: Any, expected: str) -> None:
    assert messages(config(brokerSpec={field: value})) == [expected]


@pytest.mark.parametrize("field", ["instanceServiceSpec", "configurationServiceSpec"])
def test_unknown_and_mistyped_fields_in_service_specs(field: str) -> None:
    obj = config(**{field: {"type": "ClusterIP", "portz": [], "ports": [{"port": "80"}]}})
    assert messages(obj) == [
        f'spec.{field}.portz: unknown field "portz" in ServiceSpec (did you mean "ports"?)',
        f'spec.{field}.ports[0].port: must be an integer, got string "80"',
    ]


def test_type_errors_inside_kubernetes_types() -> None:
    obj = pod_spec_config(
        {
            "containers": {"name": "b"},
            "hostNetwork": "yes",
            "nodeSelector": {"zone": 1},
            "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1 GB"}}],
            "initContainers": [
                {
                    "name": "i",
                    "env": [{"name": "PORT", "value": 8080}],
                    "resources": {"limits": {"memory": "10MB", "akri.sh/x": True}},
                }
            ],
        }
    )
    assert messages(obj) == [
        "spec.brokerSpec.brokerPodSpec.containers: must be a list, got object",
        'spec.brokerSpec.brokerPodSpec.hostNetwork: must be a boolean, got string "yes"',
        "spec.brokerSpec.brokerPodSpec.nodeSelector.zone: must be a string, got integer 1",
        'spec.brokerSpec.brokerPodSpec.volumes[0].emptyDir.sizeLimit: must be a quantity such as "1", "250m" or'
        ' "64Mi", got string "1 GB"',
        "spec.brokerSpec.brokerPodSpec.initContainers[0].env[0].value: must be a string, got integer 8080",
        'spec.brokerSpec.brokerPodSpec.initContainers[0].resources.limits.memory: must be a quantity such as "1",'
        ' "250m" or "64Mi", got string "10MB"',
        'spec.brokerSpec.brokerPodSpec.initContainers[0].resources.limits["akri.sh/x"]: must be a quantity such as'
        ' "1", "250m" or "64Mi", got boolean true',
    ]


def test_udev_permissions_rwx() -> None:
    assert messages(udev_config('udevRules: ["KERNEL==\\"video0\\""]\npermissions: rwx\n')) == [
        'spec.discoveryHandler.discoveryDetails.permissions: must be one of r, w, m, rw, rm, rwm, wm, got string "rwx"'
    ]


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (
            "",
            'spec.discoveryHandler.discoveryDetails: the udev handler needs discoveryDetails with udevRules, got string ""',
        ),
        ("permissions: rw\n", "spec.discoveryHandler.discoveryDetails.udevRules: required (a list of udev rules)"),
        (
            'udevRules: KERNEL=="null"\n',
            'spec.discoveryHandler.discoveryDetails.udevRules: must be a list of strings, got string "KERNEL==\\"null\\""',
        ),
        ("udevRules: [5]\n", "spec.discoveryHandler.discoveryDetails.udevRules[0]: must be a string, got integer 5"),
        (
            "udevRules: []\ngroupRecursive: 'yes'\n",
            'spec.discoveryHandler.discoveryDetails.groupRecursive: must be a boolean, got string "yes"',
        ),
        (
            "- a\n- b\n",
            "spec.discoveryHandler.discoveryDetails: udev discoveryDetails must be a YAML mapping with udevRules, got list",
        ),
        (
            "udevRules: [\n",
            "spec.discoveryHandler.discoveryDetails: udev discoveryDetails are not valid YAML: line 2 column 1: "
            "did not find expected node content",
        ),
    ],
)
def test_udev_discovery_details(details: str, expected: str) -> None:
    assert messages(udev_config(details)) == [expected]


def test_udev_handler_name_is_case_insensitive() -> None:
    obj = config(discoveryHandler={"name": "UDEV", "discoveryDetails": "udevRules: []\npermissions: x\n"})
    assert messages(obj) == [
        'spec.discoveryHandler.discoveryDetails.permissions: must be one of r, w, m, rw, rm, rwm, wm, got string "x"'
    ]


def test_other_handlers_details_are_not_parsed() -> None:
    assert messages(config(discoveryHandler={"name": "debugEcho", "discoveryDetails": "permissions: rwx\n["})) == []


def test_every_udev_rule_goes_through_the_rule_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    class FakeRuleError(udev_rules.UdevRuleError):
        def __init__(self, message: str) -> None:
            ValueError.__init__(self, message)

    def parse_rule(rule: str) -> list[udev_rules.Filter]:
        seen.append(rule)
        if rule.startswith("BAD"):
            raise FakeRuleError(f"rule {rule!r}: unsupported field")
        return []

    monkeypatch.setattr(udev_rules, "parse_rule", parse_rule)
    obj = udev_config('udevRules:\n  - KERNEL=="a"\n  - BAD="x"\n  - BAD2\n')
    assert messages(obj) == [
        "spec.discoveryHandler.discoveryDetails.udevRules[1]: rule 'BAD=\"x\"': unsupported field",
        "spec.discoveryHandler.discoveryDetails.udevRules[2]: rule 'BAD2': unsupported field",
    ]
    assert seen == ['KERNEL=="a"', 'BAD="x"', "BAD2"]


def test_real_udev_rule_parser_errors_are_reported() -> None:
    # the ACTION field is not supported by Akri's grammar (akri-contract.md §5.3)
    problems = validation.validate_configuration(udev_config('udevRules:\n  - ACTION=="add"\n'))
    assert [p.path for p in problems] == ["spec.discoveryHandler.discoveryDetails.udevRules[0]"]
    assert "ACTION" in problems[0].message


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        (
            {"name": "P", "value": "v", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            "spec.discoveryHandler.discoveryProperties[0]: must set exactly one of value, valueFrom, got both",
        ),
        (
            {"name": "P"},
            "spec.discoveryHandler.discoveryProperties[0]: must set exactly one of value, valueFrom, got neither",
        ),
        (
            {"name": "1P", "value": "v"},
            "spec.discoveryHandler.discoveryProperties[0].name: must be a C identifier (letters, digits and '_', not"
            ' starting with a digit), got string "1P"',
        ),
        ({"value": "v"}, "spec.discoveryHandler.discoveryProperties[0].name: required"),
        (
            {"name": "P", "value": 5},
            "spec.discoveryHandler.discoveryProperties[0].value: must be a string, got integer 5",
        ),
        (
            {"name": "P", "valueFrom": {}},
            "spec.discoveryHandler.discoveryProperties[0].valueFrom: must set exactly one of secretKeyRef, configMapKeyRef,"
            " got neither",
        ),
        (
            {
                "name": "P",
                "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}, "configMapKeyRef": {"name": "c", "key": "k"}},
            },
            "spec.discoveryHandler.discoveryProperties[0].valueFrom: must set exactly one of secretKeyRef, configMapKeyRef,"
            " got secretKeyRef and configMapKeyRef",
        ),
        (
            {"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "x"}, "secretKeyRef": {"name": "s", "key": "k"}}},
            'spec.discoveryHandler.discoveryProperties[0].valueFrom.fieldRef: unknown field "fieldRef" in valueFrom',
        ),
        (
            {"name": "P", "valueFrom": {"secretKeyRef": {"name1": "s", "key": "k"}}},
            'spec.discoveryHandler.discoveryProperties[0].valueFrom.secretKeyRef.name1: unknown field "name1" in'
            " secretKeyRef",
        ),
        (
            {"name": "P", "valueFrom": {"configMapKeyRef": {"name": "c", "optional": "true"}}},
            "spec.discoveryHandler.discoveryProperties[0].valueFrom.configMapKeyRef.key: required",
        ),
        (
            {"name": "P", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k", "optional": "true"}}},
            "spec.discoveryHandler.discoveryProperties[0].valueFrom.configMapKeyRef.optional: must be a boolean, got"
            ' string "true"',
        ),
        (
            {"name": "P", "value": "v", "nmae": "x"},
            'spec.discoveryHandler.discoveryProperties[0].nmae: unknown field "nmae" in discoveryProperty',
        ),
    ],
)
def test_discovery_properties(prop: dict[str, Any], expected: str) -> None:
    obj = config(discoveryHandler={"name": "debugEcho", "discoveryProperties": [prop]})
    assert expected in messages(obj)


def test_discovery_properties_accepted() -> None:
    obj = config(
        discoveryHandler={
            "name": "onvif",
            "discoveryProperties": [
                {"name": "_user1", "value": "admin"},
                {
                    "name": "PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "namespace": "edge", "optional": True}},
                },
                {"name": "CA", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
            ],
        }
    )
    assert messages(obj) == []


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ({"discoveryDetails": ""}, "spec.discoveryHandler.name: required"),
        ({"name": ""}, "spec.discoveryHandler.name: must not be empty"),
        ({"name": 3}, "spec.discoveryHandler.name: must be a string, got integer 3"),
        (None, "spec.discoveryHandler: required"),
    ],
)
def test_discovery_handler_name_is_required(handler: Any, expected: str) -> None:
    obj = copy.deepcopy(VALID)
    if handler is None:
        del obj["spec"]["discoveryHandler"]
    else:
        obj["spec"]["discoveryHandler"] = handler
    assert messages(obj) == [expected]


@pytest.mark.parametrize(
    ("capacity", "expected"),
    [
        (-1, "spec.capacity: must be >= 0, got -1"),
        ("2", 'spec.capacity: must be an integer, got string "2"'),
        (True, "spec.capacity: must be an integer, got boolean true"),
        (1.5, "spec.capacity: must be an integer, got number 1.5"),
    ],
)
def test_capacity(capacity: object, expected: str) -> None:
    assert messages(config(capacity=capacity)) == [expected]


def test_capacity_zero_is_allowed() -> None:
    assert messages(config(capacity=0)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"apiVersion": "akri.sh/v1"}, 'apiVersion: must be "akri.sh/v0", got string "akri.sh/v1"'),
        ({"kind": "Instance"}, 'kind: must be "Configuration", got string "Instance"'),
        (
            {"metadata": {"name": "Bad_Name"}},
            "metadata.name: must be a DNS-1123 subdomain (at most 253 lower-case alphanumerics, '-' or '.', starting and"
            ' ending with an alphanumeric), got string "Bad_Name"',
        ),
        ({"metadata": {}}, "metadata.name: required"),
        (
            {"metadata": {"name": "a", "lables": {}}},
            'metadata.lables: unknown field "lables" in ObjectMeta (did you mean "labels"?)',
        ),
        ({"spec": []}, "spec: must be an object, got list"),
        ({"specs": {}}, 'specs: unknown field "specs" in Configuration'),
        ({"status": "ok"}, 'status: must be an object, got string "ok"'),
    ],
)
def test_object_level_problems(change: dict[str, Any], expected: str) -> None:
    obj = copy.deepcopy(VALID)
    obj.update(change)
    assert expected in messages(obj)


def test_spec_level_type_errors() -> None:
    obj = config(brokerProperties={"WIDTH": 800, "OK": "1"}, brokerSpec=[], unknownSpecField=1)
    assert messages(obj) == [
        'spec.unknownSpecField: unknown field "unknownSpecField" in Configuration spec',
        "spec.brokerSpec: must be an object with brokerPodSpec or brokerJobSpec, got list",
        "spec.brokerProperties.WIDTH: must be a string, got integer 800",
    ]


def test_multiple_problems_are_reported_at_once() -> None:
    obj = {
        "apiVersion": "akri.sh/v0",
        "kind": "Configuration",
        "metadata": {"name": "cams"},
        "spec": {
            "discoveryHandler": {
                "name": "udev",
                "discoveryDetails": "udevRules: []\npermissions: rwx\n",
                "discoveryProperties": [{"name": "P", "value": "v", "valueFrom": {}}],
            },
            "capacity": -1,
            "brokerSpec": {
                "brokerPodSpec": {"xUnknownSyntheticField": 1, "containers": [{"name": "b", "xNested": 2}]},
                "brokerJobSpec": {"template": {}},
            },
        },
    }
    assert [p.path for p in validation.validate_configuration(obj)] == [
        "spec.discoveryHandler.discoveryDetails.permissions",
        "spec.discoveryHandler.discoveryProperties[0]",
        "spec.discoveryHandler.discoveryProperties[0].valueFrom",
        "spec.capacity",
        "spec.brokerSpec",
        "spec.brokerSpec.brokerPodSpec.xUnknownSyntheticField",
        "spec.brokerSpec.brokerPodSpec.containers[0].xNested",
    ]


@pytest.mark.parametrize("obj", [None, [], 3, "Configuration", True, 1.5])
def test_non_objects_yield_one_root_problem(obj: object) -> None:
    problems = validation.validate_configuration(obj)
    assert len(problems) == 1 and problems[0].path == "(root)"
    assert "must be an object" in problems[0].message
    assert validation.configuration_warnings(obj) == []


def test_problem_str() -> None:
    assert str(errors.Problem("spec.capacity", "must be >= 0, got -1")) == "spec.capacity: must be >= 0, got -1"


def test_huge_values_are_quoted_briefly() -> None:
    (problem,) = validation.validate_configuration(config(capacity=-(10**5000)))
    assert problem.message == "must be >= 0, got <16610-bit integer>"
    (problem,) = validation.validate_configuration(config(brokerProperties={"K": ["x" * 10_000]}))
    assert problem.message == "must be a string, got list"
    (problem,) = validation.validate_configuration(config(capacity="x" * 10_000))
    assert len(problem.message) < 120


# -- device resources in the broker pod -----------------------------------------------------------


def test_pod_level_device_resources_are_an_error() -> None:
    obj = copy.deepcopy(VALID)
    obj["spec"]["brokerSpec"]["brokerPodSpec"]["resources"] = {
        "requests": {"akri.sh/x": "1"},
        "limits": {"{{PLACEHOLDER}}": "1"},
    }
    assert messages(obj) == [
        'spec.brokerSpec.brokerPodSpec.resources.requests["akri.sh/x"]: pod-level resources cannot carry'
        " extended resources such as the device; move it under containers[].resources",
        'spec.brokerSpec.brokerPodSpec.resources.limits["{{PLACEHOLDER}}"]: pod-level resources cannot carry'
        " extended resources such as the device; move it under containers[].resources",
    ]


def test_pod_level_resources_without_the_device_are_a_warning() -> None:
    obj = copy.deepcopy(VALID)
    obj["spec"]["brokerSpec"]["brokerPodSpec"]["resources"] = {"limits": {"memory": "64Mi"}}
    assert messages(obj) == []
    (warning,) = validation.configuration_warnings(obj)
    assert warning.startswith("spec.brokerSpec.brokerPodSpec.resources: pod-level resources")
    assert "containers[].resources" in warning


@pytest.mark.parametrize(
    "pod_spec",
    [
        {"containers": [{"name": "b", "image": "nginx"}]},
        {"containers": [{"name": "b", "resources": {"limits": {"memory": "1Gi", "example.com/gpu": "1"}}}]},
        {"containers": [], "resources": {"limits": {"cpu": "1"}}},
    ],
)
def test_broker_that_never_requests_its_device_is_a_warning(pod_spec: dict[str, Any]) -> None:
    obj = pod_spec_config(pod_spec)
    assert messages(obj) == []
    warnings = validation.configuration_warnings(obj)
    assert warnings[0] == (
        'spec.brokerSpec.brokerPodSpec: no container or initContainer requests or limits "{{PLACEHOLDER}}" or an'
        ' "akri.sh/..." resource, so its brokers will never receive their device'
    )


@pytest.mark.parametrize(
    "pod_spec",
    [
        {"containers": [{"name": "b", "resources": {"requests": {"{{PLACEHOLDER}}": "1"}}}]},
        {
            "initContainers": [{"name": "i", "resources": {"limits": {"akri.sh/akri-debug-echo-foo": "1"}}}],
            "containers": [{"name": "b"}],
        },
    ],
)
def test_broker_requesting_its_device_has_no_warning(pod_spec: dict[str, Any]) -> None:
    assert validation.configuration_warnings(pod_spec_config(pod_spec)) == []


def test_job_broker_without_device_is_a_warning() -> None:
    obj = config(brokerSpec={"brokerJobSpec": {"template": {"spec": {"containers": [{"name": "j"}]}}}})
    assert validation.configuration_warnings(obj) == [
        "spec.brokerSpec.brokerJobSpec.template.spec: no container or initContainer requests or limits"
        ' "{{PLACEHOLDER}}" or an "akri.sh/..." resource, so its brokers will never receive their device'
    ]


def test_udev_keys_the_handler_ignores_are_a_warning() -> None:
    obj = udev_config(UDEV_DETAILS + "groupRecursiv: true\n")
    assert messages(obj) == []
    assert validation.configuration_warnings(obj) == [
        "spec.discoveryHandler.discoveryDetails.groupRecursiv: ignored by the udev handler (it reads groupRecursive,"
        " permissions, udevRules)"
    ]


def test_names_too_long_for_instance_labels_are_a_warning() -> None:
    obj = copy.deepcopy(VALID)
    obj["metadata"]["name"] = "a" * 57
    assert messages(obj) == []
    (warning,) = validation.configuration_warnings(obj)
    assert warning.startswith("metadata.name: 57 characters")
    obj["metadata"]["name"] = "a" * 56
    assert validation.configuration_warnings(obj) == []


def test_names_too_long_for_the_configuration_label_are_an_error() -> None:
    obj = copy.deepcopy(VALID)
    obj["metadata"]["name"] = "a" * 64
    (problem,) = validation.validate_configuration(obj)
    assert problem.path == "metadata.name"
    assert "at most 63 characters, got 64" in problem.message and "akri.sh/configuration" in problem.message
    obj["metadata"]["name"] = "a" * 63
    assert messages(obj) == []
    assert validation.configuration_warnings(obj)[0].startswith("metadata.name: 63 characters")


# -- never raises -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
FIELD_NAMES = st.sampled_from(
    [
        "apiVersion",
        "kind",
        "metadata",
        "spec",
        "name",
        "discoveryHandler",
        "discoveryDetails",
        "discoveryProperties",
        "value",
        "valueFrom",
        "secretKeyRef",
        "configMapKeyRef",
        "key",
        "optional",
        "capacity",
        "brokerSpec",
        "brokerPodSpec",
        "brokerJobSpec",
        "template",
        "containers",
        "initContainers",
        "resources",
        "limits",
        "requests",
        "{{PLACEHOLDER}}",
        "instanceServiceSpec",
        "ports",
        "brokerProperties",
        "udevRules",
        "x",
    ]
)
# JSON built from the field names the validator looks at, so that deep code paths are reached.
SHAPED_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=10)
    | st.sampled_from(["udev", "akri.sh/v0", "Configuration"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(FIELD_NAMES, children, max_size=5),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_arbitrary_json_never_raises(obj: object) -> None:
    _check_total(obj)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SHAPED_JSON, SHAPED_JSON, SHAPED_JSON)
def test_configuration_shaped_json_never_raises(handler: object, broker_spec: object, extra: object) -> None:
    obj = {
        "apiVersion": "akri.sh/v0",
        "kind": "Configuration",
        "metadata": {"name": "c"},
        "spec": {"discoveryHandler": handler, "brokerSpec": broker_spec, "instanceServiceSpec": extra},
    }
    _check_total(obj)
    _check_total({"spec": extra, "metadata": handler})


def test_deep_nesting_never_raises() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = {"containers": [deep]}
    _check_total(config(brokerSpec={"brokerPodSpec": deep}, brokerProperties=deep, instanceServiceSpec=deep))
    _check_total(udev_config("[" * 5000))


def _check_total(obj: object) -> None:
    problems = validation.validate_configuration(obj)
    assert isinstance(problems, list)
    assert all(isinstance(p, errors.Problem) and isinstance(p.path, str) and p.message for p in problems)
    warnings = validation.configuration_warnings(obj)
    assert isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)
    json.dumps([str(p) for p in problems])  # messages are plain text


def test_udev_details_are_read_as_the_handler_reads_them_yaml_1_2() -> None:
    """`yes` is a string under serde_yaml (YAML 1.2), so the webhook must not accept it as a boolean
    that the udev handler would then reject."""
    from akri_api import validate_configuration

    config = {"apiVersion": "akri.sh/v0", "kind": "Configuration", "metadata": {"name": "x"},
              "spec": {"discoveryHandler": {"name": "udev",
                                            "discoveryDetails": "udevRules: ['KERNEL==\"null\"']\ngroupRecursive: yes\n"}}}
    assert [str(p) for p in validate_configuration(config)] == [
        'spec.discoveryHandler.discoveryDetails.groupRecursive: must be a boolean, got string "yes"']
