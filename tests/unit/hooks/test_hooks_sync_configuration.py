"""sync_configuration and the customize hooks."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from hooks import customize_configuration, customize_instance, sync_configuration
from hooks.errors import HookInputError
from tests.unit.hooks import hook_fixtures as fx

SVC = f"{fx.CONFIG}-svc"


def sync(request):
    return sync_configuration(request, now=fx.NOW)


def broker(name, node="node-a", **kwargs):
    return fx.pod(name, node=node, **kwargs)


def other_instance(name, nodes):
    obj = fx.instance(name=name, nodes=nodes)
    obj["metadata"]["uid"] = f"uid-{name}"
    return obj


def test_configuration_service_while_a_broker_runs():
    request = fx.configuration_request(instances=[fx.instance()], pods=[broker("p1")])
    response = sync(request)

    [service] = response["children"]
    assert service["apiVersion"] == "v1" and service["kind"] == "Service"
    assert service["metadata"] == {
        "name": SVC,
        "namespace": fx.NAMESPACE,
        "labels": {"app": SVC, "controller": "akri.sh", "akri.sh/configuration": fx.CONFIG},
    }
    assert service["spec"]["selector"] == {"controller": "akri.sh", "akri.sh/configuration": fx.CONFIG}
    assert service["spec"]["ports"] == fx.service_spec()["ports"]


def test_no_configuration_service_without_running_broker_or_spec():
    pending = broker("p1", phase="Pending", start_time=fx.NOW - timedelta(seconds=5))
    assert sync(fx.configuration_request(pods=[pending]))["children"] == []
    assert sync(fx.configuration_request(pods=[]))["children"] == []
    no_spec = fx.configuration(configuration_service_spec=None)
    assert sync(fx.configuration_request(no_spec, pods=[broker("p1")]))["children"] == []


def test_configuration_service_hysteresis():
    pending = broker("p1", phase="Pending", start_time=fx.NOW - timedelta(seconds=5))
    kept = sync(fx.configuration_request(pods=[pending], services=[fx.service(SVC, owner_kind="Configuration")]))
    gone = sync(
        fx.configuration_request(
            pods=[broker("p1", phase="Succeeded")], services=[fx.service(SVC, owner_kind="Configuration")]
        )
    )
    assert [c["metadata"]["name"] for c in kept["children"]] == [SVC]
    assert gone["children"] == []


def test_status_counts_instances_distinct_nodes_and_ready_brokers():
    instances = [
        other_instance("i1", ["node-a", "node-b"]),
        other_instance("i2", ["node-b", "node-c"]),
        other_instance("i3", []),
    ]
    pods = [
        broker("p1", "node-a"),
        broker("p2", "node-b", ready=False),
        broker("p3", "node-c", deleting=True),
        broker("p4", "node-c", phase="Failed"),
    ]
    response = sync(fx.configuration_request(instances=instances, pods=pods))

    assert {k: v for k, v in response["status"].items() if k != "conditions"} == {
        "instances": 3,
        "nodes": 3,
        "readyBrokers": 1,
    }
    assert response["status"]["conditions"] == [
        {
            "type": "InstancesDiscovered",
            "status": "True",
            "reason": "InstancesFound",
            "message": "3 Instances on 3 nodes",
        },
        {
            "type": "BrokersReady",
            "status": "False",
            "reason": "BrokersNotReady",
            "message": "1/2 live broker Pods ready",
        },
    ]


def test_objects_of_other_configurations_are_not_counted():
    stranger = fx.instance(name="x-1", configuration_name="other-config")
    foreign_pod = fx.pod("x-pod", configuration_name="other-config")
    response = sync(fx.configuration_request(instances=[stranger], pods=[foreign_pod]))
    assert response["status"]["instances"] == 0
    assert response["status"]["readyBrokers"] == 0
    assert response["children"] == []


@pytest.mark.parametrize(
    ("config", "pods", "reason", "status"),
    [
        (fx.configuration(broker_pod_spec=None), [], "NoBrokerSpec", "True"),
        (fx.configuration(), [], "NoBrokers", "False"),
        (fx.configuration(), [fx.pod("p1")], "AllBrokersReady", "True"),
    ],
)
def test_brokers_ready_condition(config, pods, reason, status):
    found = fx.condition(sync(fx.configuration_request(config, pods=pods)), "BrokersReady")
    assert (found["reason"], found["status"]) == (reason, status)


def test_no_instances_condition():
    found = fx.condition(sync(fx.configuration_request()), "InstancesDiscovered")
    assert found == {
        "type": "InstancesDiscovered",
        "status": "False",
        "reason": "NoInstances",
        "message": "no Instances discovered",
    }


def test_replay_is_identical_with_and_without_status_and_input_is_untouched():
    request = fx.configuration_request(
        instances=[fx.instance()], pods=[broker("p1")], services=[fx.service(SVC, owner_kind="Configuration")]
    )
    request["parent"]["status"] = {"instances": 42}
    before = copy.deepcopy(request)
    first = sync(request)
    assert request == before
    del request["parent"]["status"]
    assert json.dumps(sync(request)) == json.dumps(first)


def test_agent_discovery_failure_condition_survives_the_status_rewrite():
    failed = {"type": "DiscoveryFailed", "status": "True", "reason": "InvalidDiscoveryDetails",
              "message": "node node-a: descriptions: required"}
    request = fx.configuration_request()
    request["parent"]["status"] = {"conditions": [{"type": "BrokersReady", "status": "True"}, failed]}
    conditions = sync(request)["status"]["conditions"]
    assert [c["type"] for c in conditions] == ["InstancesDiscovered", "BrokersReady", "DiscoveryFailed"]
    assert conditions[-1] == failed


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.pop("parent"), "parent"),
        (lambda r: r.update(parent="x"), "parent"),
        (lambda r: r["parent"]["metadata"].pop("name"), "parent.metadata.name"),
        (lambda r: r["parent"].update(spec=[]), "parent.spec"),
        (lambda r: r["related"].update({"Pod.v1": []}), "related.Pod.v1"),
        (
            lambda r: r["related"]["Instance.akri.sh/v0"]["i1"]["spec"].update(nodes="node-a"),
            "related.Instance.akri.sh/v0.i1.spec.nodes",
        ),
        (
            lambda r: r["parent"]["spec"].update(configurationServiceSpec={"selector": "x"}),
            "parent.spec.configurationServiceSpec.selector",
        ),
    ],
)
def test_bad_input_names_the_field(mutate, field):
    request = fx.configuration_request(instances=[other_instance("i1", ["node-a"])], pods=[broker("p1")])
    mutate(request)
    with pytest.raises(HookInputError) as caught:
        sync(request)
    assert caught.value.field == field


# --- customize ----------------------------------------------------------------------------------


def test_customize_instance_relates_its_configuration_by_name():
    response = customize_instance(fx.customize_request(fx.instance(), "instance-controller.yaml"))
    assert response == {
        "relatedResources": [
            {"apiVersion": "akri.sh/v0", "resource": "configurations", "namespace": fx.NAMESPACE, "names": [fx.CONFIG]}
        ]
    }


def test_customize_configuration_relates_instances_and_pods_by_label():
    response = customize_configuration(fx.customize_request(fx.configuration(), "configuration-controller.yaml"))
    selector = {"matchLabels": {"akri.sh/configuration": fx.CONFIG}}
    assert response == {
        "relatedResources": [
            {"apiVersion": "akri.sh/v0", "resource": "instances", "namespace": fx.NAMESPACE, "labelSelector": selector},
            {"apiVersion": "v1", "resource": "pods", "namespace": fx.NAMESPACE, "labelSelector": selector},
        ]
    }


def test_customize_hooks_reject_bad_parents():
    with pytest.raises(HookInputError) as caught:
        customize_instance({"parent": {"metadata": {"name": "i"}, "spec": {}}})
    assert caught.value.field == "parent.spec.configurationName"
    with pytest.raises(HookInputError) as caught:
        customize_configuration({"parent": {"metadata": {}}})
    assert caught.value.field == "parent.metadata.name"
    with pytest.raises(HookInputError):
        customize_configuration([])  # type: ignore[arg-type]
