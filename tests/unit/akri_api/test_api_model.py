"""akri_api.model: parsing with Akri's defaults, canonical serialization, deviceUsage grammar."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from akri_api import errors, model

MINIMAL_CONFIGURATION: dict[str, Any] = {
    "apiVersion": "akri.sh/v0",
    "kind": "Configuration",
    "metadata": {"name": "akri-debug-echo-foo"},
    "spec": {"discoveryHandler": {"name": "debugEcho"}},
}

MINIMAL_INSTANCE: dict[str, Any] = {
    "apiVersion": "akri.sh/v0",
    "kind": "Instance",
    "metadata": {"name": "foo-bar", "namespace": "default"},
    "spec": {"configurationName": "foo", "cdiName": "akri.sh/foo=bar", "capacity": 1},
}

# instance.rs tests: the serialization of an Instance with default fields.
CANONICAL_INSTANCE_SPEC = (
    '{"configurationName":"foo","cdiName":"akri.sh/foo=bar","capacity":1,"brokerProperties":{},'
    '"shared":false,"nodes":[],"deviceUsage":{}}'
)


def with_spec(**spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(MINIMAL_CONFIGURATION)
    obj["spec"].update(spec)
    return obj


def problem_paths(exc_info: pytest.ExceptionInfo[errors.InvalidObject]) -> list[str]:
    return [p.path for p in exc_info.value.problems]


# -- Configuration ------------------------------------------------------------------------------


def test_configuration_defaults_are_akris() -> None:
    config = model.Configuration.from_dict(MINIMAL_CONFIGURATION)
    assert config.name == "akri-debug-echo-foo"
    assert config.namespace == "default"
    assert config.uid is None and config.generation is None
    assert config.capacity == 1
    assert config.broker_properties == {}
    assert config.discovery_handler == model.DiscoveryHandlerInfo(name="debugEcho", details="", properties=())
    assert config.broker_pod_spec is None and config.broker_job_spec is None
    assert config.instance_service_spec is None and config.configuration_service_spec is None
    assert not config.has_broker


def test_configuration_reads_every_field() -> None:
    obj = {
        "apiVersion": "akri.sh/v0",
        "kind": "Configuration",
        "metadata": {"name": "cams", "namespace": "edge", "uid": "u-1", "generation": 3},
        "spec": {
            "discoveryHandler": {
                "name": "onvif",
                "discoveryDetails": "discoveryTimeoutSeconds: 2\n",
                "discoveryProperties": [
                    {"name": "USER", "value": "admin"},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pw"}}},
                    {
                        "name": "CA",
                        "valueFrom": {
                            "configMapKeyRef": {"name": "ca", "key": "ca.crt", "namespace": "edge", "optional": True}
                        },
                    },
                ],
            },
            "capacity": 3,
            "brokerSpec": {"brokerJobSpec": {"template": {"spec": {"containers": []}}}},
            "instanceServiceSpec": {"type": "ClusterIP"},
            "configurationServiceSpec": {"type": "NodePort"},
            "brokerProperties": {"RESOLUTION_WIDTH": "800"},
        },
    }
    config = model.Configuration.from_dict(obj)
    assert (config.name, config.namespace, config.uid, config.generation) == ("cams", "edge", "u-1", 3)
    assert config.capacity == 3
    assert config.discovery_handler.details == "discoveryTimeoutSeconds: 2\n"
    assert config.discovery_handler.properties == (
        model.DiscoveryProperty("USER", value="admin"),
        model.DiscoveryProperty(
            "PASSWORD", value_from=model.ValueFrom("secretKeyRef", "creds", "pw", "default", False)
        ),
        model.DiscoveryProperty("CA", value_from=model.ValueFrom("configMapKeyRef", "ca", "ca.crt", "edge", True)),
    )
    assert config.broker_pod_spec is None
    assert config.broker_job_spec == {"template": {"spec": {"containers": []}}}
    assert config.instance_service_spec == {"type": "ClusterIP"}
    assert config.configuration_service_spec == {"type": "NodePort"}
    assert config.broker_properties == {"RESOLUTION_WIDTH": "800"}
    assert config.has_broker


def test_configuration_copies_its_input() -> None:
    obj = with_spec(brokerSpec={"brokerPodSpec": {"containers": [{"name": "b"}]}})
    config = model.Configuration.from_dict(obj)
    obj["spec"]["brokerSpec"]["brokerPodSpec"]["containers"][0]["name"] = "changed"
    assert config.broker_pod_spec == {"containers": [{"name": "b"}]}


def test_configuration_serializes_in_akris_order() -> None:
    # configuration.rs tests: None fields omitted, brokerProperties always present.
    pod_spec = {"containers": [{"name": "b", "image": "nginx"}]}
    config = model.Configuration.from_dict(
        with_spec(discoveryHandler={"name": "random"}, capacity=4, brokerSpec={"brokerPodSpec": pod_spec})
    )
    spec = config.to_dict()["spec"]
    assert json.dumps(spec, separators=(",", ":")) == (
        '{"discoveryHandler":{"name":"random","discoveryDetails":""},"capacity":4,'
        '"brokerSpec":{"brokerPodSpec":' + json.dumps(pod_spec, separators=(",", ":")) + '},"brokerProperties":{}}'
    )
    assert model.Configuration.from_dict(config.to_dict()) == config


def test_configuration_round_trips_discovery_properties() -> None:
    config = model.Configuration.from_dict(
        with_spec(
            discoveryHandler={
                "name": "udev",
                "discoveryProperties": [
                    {"name": "A", "value": "1"},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                ],
            }
        )
    )
    assert model.Configuration.from_dict(config.to_dict()) == config


def test_configuration_from_yaml() -> None:
    config = model.Configuration.from_yaml(
        "apiVersion: akri.sh/v0\nkind: Configuration\nmetadata: {name: c}\n"
        "spec:\n  discoveryHandler: {name: debugEcho}\n  capacity: 2\n"
    )
    assert config.capacity == 2
    with pytest.raises(errors.YamlError, match="line 2 column 1"):
        model.Configuration.from_yaml("a: [")


def test_both_broker_specs_are_rejected() -> None:
    obj = with_spec(brokerSpec={"brokerPodSpec": {"containers": []}, "brokerJobSpec": {"template": {}}})
    with pytest.raises(errors.InvalidObject) as exc_info:
        model.Configuration.from_dict(obj)
    assert [str(p) for p in exc_info.value.problems] == [
        "spec.brokerSpec: brokerPodSpec and brokerJobSpec are mutually exclusive"
    ]


def test_configuration_parsing_reports_every_problem() -> None:
    obj = {
        "apiVersion": "akri.sh/v1",
        "kind": "Configuration",
        "metadata": {},
        "spec": {
            "discoveryHandler": {"discoveryDetails": 5},
            "capacity": -1,
            "brokerProperties": {"WIDTH": 800},
        },
    }
    with pytest.raises(errors.InvalidObject) as exc_info:
        model.Configuration.from_dict(obj)
    assert [str(p) for p in exc_info.value.problems] == [
        'apiVersion: must be "akri.sh/v0", got string "akri.sh/v1"',
        "metadata.name: required",
        "spec.discoveryHandler.name: required",
        "spec.discoveryHandler.discoveryDetails: must be a string, got integer 5",
        "spec.capacity: must be >= 0, got -1",
        "spec.brokerProperties.WIDTH: must be a string, got integer 800",
    ]
    assert "spec.capacity: must be >= 0, got -1" in str(exc_info.value)


@pytest.mark.parametrize(
    ("value_from", "path"),
    [
        ({}, "spec.discoveryHandler.discoveryProperties[0].valueFrom"),
        (
            {"secretKeyRef": {"name": "s", "key": "k"}, "configMapKeyRef": {"name": "c", "key": "k"}},
            "spec.discoveryHandler.discoveryProperties[0].valueFrom",
        ),
        ({"secretKeyRef": {"name": "s"}}, "spec.discoveryHandler.discoveryProperties[0].valueFrom.secretKeyRef.key"),
        (
            {"configMapKeyRef": {"key": "k"}},
            "spec.discoveryHandler.discoveryProperties[0].valueFrom.configMapKeyRef.name",
        ),
    ],
)
def test_malformed_value_from_is_rejected(value_from: dict[str, Any], path: str) -> None:
    obj = with_spec(discoveryHandler={"name": "x", "discoveryProperties": [{"name": "P", "valueFrom": value_from}]})
    with pytest.raises(errors.InvalidObject) as exc_info:
        model.Configuration.from_dict(obj)
    assert problem_paths(exc_info) == [path]


@pytest.mark.parametrize("obj", [None, [], 5, "Configuration", {"metadata": {"name": "x"}}])
def test_non_configurations_are_rejected(obj: object) -> None:
    with pytest.raises(errors.InvalidObject) as exc_info:
        model.Configuration.from_dict(obj)
    assert exc_info.value.problems
    assert isinstance(exc_info.value, ValueError)


# -- Instance -----------------------------------------------------------------------------------


def test_instance_defaults_and_canonical_spec() -> None:
    instance = model.Instance.from_dict(MINIMAL_INSTANCE)
    assert instance == model.Instance(
        name="foo-bar", namespace="default", configuration_name="foo", cdi_name="akri.sh/foo=bar", capacity=1
    )
    assert instance.broker_properties == {} and instance.device_usage == {}
    assert instance.shared is False and instance.nodes == ()
    assert json.dumps(instance.to_dict()["spec"], separators=(",", ":")) == CANONICAL_INSTANCE_SPEC


def test_instance_to_dict_is_a_complete_object() -> None:
    instance = model.Instance(
        name="cfg-8120fe",
        namespace="edge",
        configuration_name="cfg",
        cdi_name="akri.sh/cfg=8120fe",
        capacity=2,
        broker_properties={"DEBUG_ECHO_DESCRIPTION": "foo0"},
        shared=True,
        nodes=("node-a", "node-b"),
        device_usage={"cfg-8120fe-0": "node-a"},
        uid="u-9",
        resource_version="42",
    )
    assert instance.to_dict() == {
        "apiVersion": "akri.sh/v0",
        "kind": "Instance",
        "metadata": {
            "name": "cfg-8120fe",
            "namespace": "edge",
            "labels": {"akri.sh/configuration": "cfg"},
            "uid": "u-9",
            "resourceVersion": "42",
        },
        "spec": {
            "configurationName": "cfg",
            "cdiName": "akri.sh/cfg=8120fe",
            "capacity": 2,
            "brokerProperties": {"DEBUG_ECHO_DESCRIPTION": "foo0"},
            "shared": True,
            "nodes": ["node-a", "node-b"],
            "deviceUsage": {"cfg-8120fe-0": "node-a"},
        },
    }
    assert model.Instance.from_dict(instance.to_dict()) == instance


def test_instance_requires_the_crd_required_fields() -> None:
    obj = {
        "apiVersion": "akri.sh/v0",
        "kind": "Instance",
        "metadata": {"name": "x"},
        "spec": {"capacity": -2, "nodes": "node-a", "deviceUsage": {"x-0": None}},
    }
    with pytest.raises(errors.InvalidObject) as exc_info:
        model.Instance.from_dict(obj)
    assert [str(p) for p in exc_info.value.problems] == [
        "spec.configurationName: required",
        "spec.cdiName: required",
        "spec.capacity: must be >= 0, got -2",
        'spec.nodes: must be a list, got string "node-a"',
        "spec.deviceUsage.x-0: must be a string, got null",
    ]


def test_instance_from_yaml_rejects_a_configuration() -> None:
    with pytest.raises(errors.InvalidObject, match='kind: must be "Instance"'):
        model.Instance.from_yaml(
            "apiVersion: akri.sh/v0\nkind: Configuration\nmetadata: {name: x}\n"
            "spec: {configurationName: c, cdiName: d, capacity: 1}\n"
        )


# -- deviceUsage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "usage"),
    [
        ("", model.SlotUsage.free()),
        ("node-a", model.SlotUsage.instance_use("node-a")),
        ("C:akri-debug-echo-foo-0:node-a", model.SlotUsage.configuration_use("akri-debug-echo-foo-0", "node-a")),
    ],
)
def test_slot_usage_round_trip(value: str, usage: model.SlotUsage) -> None:
    assert model.parse_slot_usage(value) == usage
    assert model.format_slot_usage(usage) == value
    assert str(usage) == value


def test_slot_usage_kinds() -> None:
    assert model.parse_slot_usage("").is_free
    node_use = model.parse_slot_usage("node-a")
    assert not node_use.is_free and not node_use.is_configuration_use and node_use.node == "node-a"
    config_use = model.parse_slot_usage("C:v:node-a")
    assert config_use.is_configuration_use and (config_use.vdev, config_use.node) == ("v", "node-a")


@pytest.mark.parametrize("value", ["C:node-a", "a:b", "X:v:node-a", "C:v:node:a", "C::node-a", "C:v:", ":"])
def test_malformed_slot_usage_is_rejected(value: str) -> None:
    with pytest.raises(errors.InvalidDeviceUsage, match="C:<vdevId>:<node>"):
        model.parse_slot_usage(value)


@pytest.mark.parametrize(
    "usage",
    [
        model.SlotUsage(node="a:b"),
        model.SlotUsage(node="n", vdev="v:1"),
        model.SlotUsage(node=""),
        model.SlotUsage(vdev="v"),
    ],
)
def test_unformattable_slot_usage_is_rejected(usage: model.SlotUsage) -> None:
    with pytest.raises(errors.InvalidDeviceUsage):
        model.format_slot_usage(usage)


def test_slot_index_and_key() -> None:
    assert model.slot_index("akri-debug-echo-foo-8120fe", "akri-debug-echo-foo-8120fe-0") == 0
    assert model.slot_index("akri-debug-echo-foo-8120fe", "akri-debug-echo-foo-8120fe-12") == 12
    assert model.slot_key("cfg-8120fe", 3) == "cfg-8120fe-3"
    assert model.slot_index("cfg-8120fe", model.slot_key("cfg-8120fe", 7)) == 7


@pytest.mark.parametrize(
    "key", ["other-8120fe-0", "cfg-8120fe-x", "cfg-8120fe-", "cfg-8120fe--1", "cfg-8120fe", "cfg-8120fe-\u0663"]
)
def test_malformed_slot_keys_are_rejected(key: str) -> None:
    with pytest.raises(errors.InvalidDeviceUsage, match="deviceUsage key"):
        model.slot_index("cfg-8120fe", key)


def test_instance_slot_usages() -> None:
    instance = model.Instance(
        name="cfg-8120fe",
        namespace="default",
        configuration_name="cfg",
        cdi_name="akri.sh/cfg=8120fe",
        capacity=3,
        device_usage={"cfg-8120fe-0": "node-a", "cfg-8120fe-2": "C:cfg-0:node-b", "cfg-8120fe-1": ""},
    )
    assert instance.slot_usages() == {
        0: model.SlotUsage.instance_use("node-a"),
        1: model.SlotUsage.free(),
        2: model.SlotUsage.configuration_use("cfg-0", "node-b"),
    }


@pytest.mark.parametrize(
    ("usage", "message"),
    [
        ({"cfg-8120fe-3": "node-a"}, "slot 3 is not below capacity 3"),
        ({"cfg-8120fe-0": "C:node-a"}, 'deviceUsage key "cfg-8120fe-0": usage must be'),
        ({"cfg-abcdef-0": "node-a"}, 'deviceUsage key "cfg-abcdef-0" is not'),
    ],
)
def test_instance_slot_usages_rejects_bad_entries(usage: dict[str, str], message: str) -> None:
    instance = model.Instance(
        name="cfg-8120fe",
        namespace="default",
        configuration_name="cfg",
        cdi_name="akri.sh/cfg=8120fe",
        capacity=3,
        device_usage=usage,
    )
    with pytest.raises(errors.InvalidDeviceUsage, match=message):
        instance.slot_usages()
