"""sync_instance: broker Pods / Job, instance Service and status for an Instance parent."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from hooks import PENDING_GRACE_SECONDS, sync_instance
from hooks.errors import HookInputError
from tests.unit.hooks import hook_fixtures as fx

POD_A = f"node-a-{fx.INSTANCE}-pod"
POD_B = f"node-b-{fx.INSTANCE}-pod"
LOCAL_POD = f"{fx.INSTANCE}-pod"
SVC = f"{fx.INSTANCE}-svc"


def sync(request):
    return sync_instance(request, now=fx.NOW)


def node_terms(pod):
    return pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]


def only_node_term(node):
    return {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}


# --- broker Pods --------------------------------------------------------------------------------


def test_shared_instance_gets_one_broker_pod_per_node_with_akri_names_labels_and_affinity():
    response = sync(fx.instance_request(fx.instance(nodes=["node-b", "node-a"], shared=True)))

    assert [c["metadata"]["name"] for c in response["children"]] == [POD_A, POD_B]
    pod = fx.children_of(response, "Pod")[POD_A]
    assert pod["apiVersion"] == "v1"
    assert pod["metadata"]["namespace"] == fx.NAMESPACE
    assert pod["metadata"]["labels"] == {
        "app": POD_A,
        "controller": "akri.sh",
        "akri.sh/configuration": fx.CONFIG,
        "akri.sh/instance": fx.INSTANCE,
        "akri.sh/target-node": "node-a",
    }
    assert "ownerReferences" not in pod["metadata"]  # Metacontroller adds the controller reference
    assert node_terms(pod) == [only_node_term("node-a")]
    assert node_terms(fx.children_of(response, "Pod")[POD_B]) == [only_node_term("node-b")]
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {fx.RESOURCE: "1"}}
    assert "resyncAfterSeconds" not in response


def test_local_instance_gets_one_pod_named_after_the_instance():
    response = sync(fx.instance_request(fx.instance(nodes=["node-a"], shared=False)))

    pods = fx.children_of(response, "Pod")
    assert list(pods) == [LOCAL_POD]
    assert pods[LOCAL_POD]["metadata"]["labels"]["akri.sh/target-node"] == "node-a"
    assert node_terms(pods[LOCAL_POD]) == [only_node_term("node-a")]


def test_instance_without_nodes_has_no_brokers():
    response = sync(fx.instance_request(fx.instance(nodes=[])))

    assert response["children"] == []
    assert fx.condition(response, "BrokersReady")["reason"] == "NoNodes"


def test_no_service_until_a_broker_runs():
    response = sync(fx.instance_request(fx.instance(nodes=["node-a"]), pods=[fx.pod(POD_A, phase="Pending")]))
    assert fx.children_of(response, "Service") == {}


def test_running_brokers_get_the_instance_service_and_ready_status():
    request = fx.instance_request(
        fx.instance(nodes=["node-a", "node-b"]),
        pods=[fx.pod(POD_A, node="node-a"), fx.pod(POD_B, node="node-b")],
    )
    response = sync(request)

    assert [(c["kind"], c["metadata"]["name"]) for c in response["children"]] == [
        ("Pod", POD_A),
        ("Pod", POD_B),
        ("Service", SVC),
    ]
    service = fx.children_of(response, "Service")[SVC]
    assert service["metadata"]["labels"] == {"app": SVC, "controller": "akri.sh", "akri.sh/instance": fx.INSTANCE}
    assert service["spec"]["selector"] == {"controller": "akri.sh", "akri.sh/instance": fx.INSTANCE}
    assert service["spec"]["ports"] == fx.service_spec()["ports"]
    assert response["status"]["desiredBrokers"] == 2
    assert response["status"]["liveBrokers"] == 2
    assert response["status"]["readyBrokers"] == 2
    assert fx.condition(response, "BrokersReady") == {
        "type": "BrokersReady",
        "status": "True",
        "reason": "AllBrokersReady",
        "message": "2/2 broker Pods ready",
    }
    assert fx.condition(response, "ConfigurationFound")["status"] == "True"


def test_user_selector_is_kept_and_extended():
    spec = {**fx.service_spec(), "selector": {"tier": "camera"}}
    request = fx.instance_request(pods=[fx.pod(POD_A)], configurations=[fx.configuration(instance_service_spec=spec)])
    service = fx.children_of(sync(request), "Service")[SVC]
    assert service["spec"]["selector"] == {"tier": "camera", "controller": "akri.sh", "akri.sh/instance": fx.INSTANCE}


def test_service_hysteresis_pending_keeps_an_existing_service_but_never_creates_one():
    pending = fx.pod(POD_A, phase="Pending", start_time=fx.NOW - timedelta(seconds=10))

    without_service = sync(fx.instance_request(pods=[pending]))
    with_service = sync(fx.instance_request(pods=[pending], services=[fx.service(SVC)]))
    failed_with_service = sync(fx.instance_request(pods=[fx.pod(POD_A, phase="Failed")], services=[fx.service(SVC)]))
    terminating_service = sync(fx.instance_request(pods=[pending], services=[fx.service(SVC, deleting=True)]))

    assert SVC not in fx.children_of(without_service, "Service")
    assert SVC in fx.children_of(with_service, "Service")
    assert SVC not in fx.children_of(failed_with_service, "Service")
    assert SVC not in fx.children_of(terminating_service, "Service")


def test_no_instance_service_without_instance_service_spec():
    request = fx.instance_request(pods=[fx.pod(POD_A)], configurations=[fx.configuration(instance_service_spec=None)])
    assert fx.children_of(sync(request), "Service") == {}


def test_shared_node_moved_from_a_to_b_drops_the_old_pod_and_adds_the_new_one():
    request = fx.instance_request(fx.instance(nodes=["node-b"]), pods=[fx.pod(POD_A, node="node-a")])
    response = sync(request)

    pods = fx.children_of(response, "Pod")
    assert list(pods) == [POD_B]
    assert pods[POD_B]["metadata"]["labels"]["akri.sh/target-node"] == "node-b"
    assert node_terms(pods[POD_B]) == [only_node_term("node-b")]
    # the node-a broker still runs until Metacontroller deletes it, so the service stays meanwhile
    assert SVC in fx.children_of(response, "Service")
    assert response["status"]["desiredBrokers"] == 1
    assert fx.condition(response, "BrokersReady")["message"] == "0/1 broker Pods ready"


def test_local_node_moved_from_a_to_b_retargets_the_same_pod_name():
    request = fx.instance_request(fx.instance(nodes=["node-b"], shared=False), pods=[fx.pod(LOCAL_POD, node="node-a")])
    pods = fx.children_of(sync(request), "Pod")

    assert list(pods) == [LOCAL_POD]  # same name: the Recreate strategy deletes and recreates it
    assert pods[LOCAL_POD]["metadata"]["labels"]["akri.sh/target-node"] == "node-b"
    assert node_terms(pods[LOCAL_POD]) == [only_node_term("node-b")]


def test_local_instance_with_several_nodes_keeps_the_observed_node():
    request = fx.instance_request(
        fx.instance(nodes=["node-a", "node-c", "node-b"], shared=False), pods=[fx.pod(LOCAL_POD, node="node-c")]
    )
    pods = fx.children_of(sync(request), "Pod")
    assert pods[LOCAL_POD]["metadata"]["labels"]["akri.sh/target-node"] == "node-c"
    fresh = fx.children_of(sync(fx.instance_request(fx.instance(nodes=["node-c", "node-b"], shared=False))), "Pod")
    assert fresh[LOCAL_POD]["metadata"]["labels"]["akri.sh/target-node"] == "node-b"


@pytest.mark.parametrize("phase", ["Failed", "Succeeded"])
def test_finished_broker_is_left_out_so_metacontroller_deletes_it(phase):
    request = fx.instance_request(
        fx.instance(nodes=["node-a", "node-b"]),
        pods=[fx.pod(POD_A, phase=phase), fx.pod(POD_B, node="node-b")],
    )
    response = sync(request)

    assert list(fx.children_of(response, "Pod")) == [POD_B]
    assert response["status"]["liveBrokers"] == 1
    assert "resyncAfterSeconds" not in response
    # next sync, after the deletion: the broker comes back
    again = sync(fx.instance_request(fx.instance(nodes=["node-a", "node-b"]), pods=[fx.pod(POD_B, node="node-b")]))
    assert list(fx.children_of(again, "Pod")) == [POD_A, POD_B]


def test_pending_broker_inside_the_grace_is_kept_and_asks_for_a_resync():
    started = fx.NOW - timedelta(seconds=100)
    response = sync(fx.instance_request(pods=[fx.pod(POD_A, phase="Pending", start_time=started)]))

    assert list(fx.children_of(response, "Pod")) == [POD_A]
    assert response["resyncAfterSeconds"] == pytest.approx(PENDING_GRACE_SECONDS - 100)


def test_resync_is_the_earliest_pending_deadline():
    request = fx.instance_request(
        fx.instance(nodes=["node-a", "node-b"]),
        pods=[
            fx.pod(POD_A, phase="Pending", start_time=fx.NOW - timedelta(seconds=10)),
            fx.pod(POD_B, node="node-b", phase="Pending", start_time=fx.NOW - timedelta(seconds=250)),
        ],
    )
    assert sync(request)["resyncAfterSeconds"] == pytest.approx(50)


@pytest.mark.parametrize("age_seconds", [300, 301, 3600])
def test_pending_broker_after_the_grace_is_replaced(age_seconds):
    pending = fx.pod(POD_A, phase="Pending", start_time=fx.NOW - timedelta(seconds=age_seconds))
    response = sync(fx.instance_request(pods=[pending]))

    assert fx.children_of(response, "Pod") == {}
    assert "resyncAfterSeconds" not in response


def test_grace_is_measured_against_the_now_argument():
    pending = fx.pod(POD_A, phase="Pending", start_time=fx.NOW - timedelta(seconds=100))
    request = fx.instance_request(pods=[pending])

    assert POD_A in fx.children_of(sync_instance(request, now=fx.NOW), "Pod")
    assert fx.children_of(sync_instance(request, now=fx.NOW + timedelta(seconds=200)), "Pod") == {}


def test_pending_broker_without_start_time_is_kept_without_resync():
    response = sync(fx.instance_request(pods=[fx.pod(POD_A, phase="Pending", start_time=None)]))
    assert POD_A in fx.children_of(response, "Pod")
    assert "resyncAfterSeconds" not in response


def test_start_time_in_the_future_caps_the_resync_at_the_grace():
    pending = fx.pod(POD_A, phase="Pending", start_time=fx.NOW + timedelta(days=1))
    assert sync(fx.instance_request(pods=[pending]))["resyncAfterSeconds"] == PENDING_GRACE_SECONDS


def test_terminating_and_unknown_brokers_are_kept_and_terminating_ones_are_not_live():
    request = fx.instance_request(
        fx.instance(nodes=["node-a", "node-b"]),
        pods=[fx.pod(POD_A, phase="Failed", deleting=True), fx.pod(POD_B, node="node-b", phase="Unknown")],
    )
    response = sync(request)
    assert list(fx.children_of(response, "Pod")) == [POD_A, POD_B]
    assert response["status"]["liveBrokers"] == 1


def test_naive_now_is_taken_as_utc():
    pending = fx.pod(POD_A, phase="Pending", start_time=fx.NOW - timedelta(seconds=100))
    naive = fx.NOW.replace(tzinfo=None)
    assert sync_instance(fx.instance_request(pods=[pending]), now=naive)["resyncAfterSeconds"] == pytest.approx(200)


# --- placeholder substitution and affinity ------------------------------------------------------


def _single_pod(broker_pod_spec):
    request = fx.instance_request(configurations=[fx.configuration(broker_pod_spec=broker_pod_spec)])
    return fx.children_of(sync(request), "Pod")[POD_A]


def test_placeholder_in_requests_only():
    spec = {"containers": [{"name": "b", "image": "i", "resources": {"requests": {"cpu": "1", fx.PLACEHOLDER: "1"}}}]}
    resources = _single_pod(spec)["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "1", fx.RESOURCE: "1"}}
    assert list(resources["requests"]) == ["cpu", fx.RESOURCE]  # same position


def test_placeholder_in_limits_only():
    spec = {
        "containers": [
            {"name": "b", "image": "i", "resources": {"limits": {fx.PLACEHOLDER: "2"}, "requests": {"memory": "10Mi"}}}
        ]
    }
    resources = _single_pod(spec)["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {fx.RESOURCE: "2"}, "requests": {"memory": "10Mi"}}


def test_placeholder_in_an_init_container_and_claims_dropped():
    spec = {
        "initContainers": [
            {"name": "init", "image": "i", "resources": {"limits": {fx.PLACEHOLDER: "1"}, "claims": [{"name": "gpu"}]}}
        ],
        "containers": [{"name": "b", "image": "i"}, {"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}}}],
    }
    pod_spec = _single_pod(spec)["spec"]
    assert pod_spec["initContainers"][0]["resources"] == {"limits": {fx.RESOURCE: "1"}}
    assert pod_spec["containers"][0] == {"name": "b", "image": "i"}
    assert pod_spec["containers"][1]["resources"] == {"limits": {"cpu": "1"}}


def test_node_affinity_is_anded_with_every_user_term():
    user_term_1 = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}
    user_term_2 = {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-x"]}]}
    preferred = [{"weight": 1, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}]
    spec = {
        "containers": [{"name": "b", "image": "i"}],
        "affinity": {
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []},
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [user_term_1, user_term_2, {}]},
                "preferredDuringSchedulingIgnoredDuringExecution": preferred,
            },
        },
    }
    pod_spec = _single_pod(spec)["spec"]
    ours = {"key": "metadata.name", "operator": "In", "values": ["node-a"]}
    assert node_terms({"spec": pod_spec}) == [
        {**user_term_1, "matchFields": [ours]},
        {"matchFields": [*user_term_2["matchFields"], ours]},
        {},  # an empty term matches nothing; ANDing keeps it so
    ]
    assert pod_spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == preferred
    assert pod_spec["affinity"]["podAntiAffinity"] == spec["affinity"]["podAntiAffinity"]


def test_response_never_aliases_the_request_and_pods_own_their_metadata_and_affinity():
    request = fx.instance_request(fx.instance(nodes=["node-a", "node-b"]))
    before = copy.deepcopy(request)
    response = sync(request)
    pod_a, pod_b = response["children"]

    for child in response["children"]:  # scribble over every container of every Pod
        for container in child["spec"]["containers"]:
            container["image"] = "changed"
            container["resources"]["limits"].clear()
    pod_a["metadata"]["labels"]["app"] = "changed"
    node_terms(pod_a).append("changed")

    assert request == before
    assert pod_b["metadata"]["labels"]["app"] == POD_B
    assert node_terms(pod_b) == [only_node_term("node-b")]


# --- broker Jobs --------------------------------------------------------------------------------

JOB_SPEC = {
    "parallelism": 1,
    "backoffLimit": 2,
    "template": {
        "metadata": {"labels": {"team": "vision"}},
        "spec": {
            "containers": [{"name": "job", "image": "busybox", "resources": {"limits": {fx.PLACEHOLDER: "1"}}}],
            "restartPolicy": "OnFailure",
        },
    },
}
JOB = f"{fx.INSTANCE}-7-job"


def _job_request(**kwargs):
    return fx.instance_request(
        fx.instance(nodes=["node-a", "node-b"]),
        configurations=[fx.configuration(broker_job_spec=copy.deepcopy(JOB_SPEC), generation=7)],
        **kwargs,
    )


def test_broker_job_spec_gives_one_job_named_after_the_configuration_generation():
    response = sync(_job_request())

    assert [(c["kind"], c["metadata"]["name"]) for c in response["children"]] == [("Job", JOB)]
    job = response["children"][0]
    assert job["apiVersion"] == "batch/v1"
    assert job["metadata"]["labels"] == {
        "akri.sh/configuration": fx.CONFIG,
        "akri.sh/instance": fx.INSTANCE,
        "app": JOB,
        "controller": "akri.sh",
    }
    template = job["spec"]["template"]
    assert template["metadata"]["labels"] == {
        "team": "vision",
        "akri.sh/configuration": fx.CONFIG,
        "akri.sh/instance": fx.INSTANCE,
        "controller": "akri.sh",
    }
    assert template["spec"]["containers"][0]["resources"] == {"limits": {fx.RESOURCE: "1"}}
    assert "affinity" not in template["spec"]
    assert job["spec"]["backoffLimit"] == 2
    assert response["status"]["desiredBrokers"] == 1
    assert fx.condition(response, "BrokersReady")["reason"] == "JobNotStarted"


def test_instance_service_selects_job_pods():
    """akri-contract.md §9 row 12, decided: Job pods carry controller=akri.sh, so the selector matches."""
    response = sync(_job_request(jobs=[fx.job(JOB, active=1, ready=1)]))
    service = fx.children_of(response, "Service")[SVC]
    template_labels = fx.children_of(response, "Job")[JOB]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= template_labels.items()
    assert fx.condition(response, "BrokersReady")["reason"] == "JobRunning"
    assert response["status"]["liveBrokers"] == 1
    assert response["status"]["readyBrokers"] == 1


@pytest.mark.parametrize(
    ("observed", "reason", "ok", "service"),
    [
        (dict(active=1, ready=0), "JobPending", "False", False),
        (dict(complete=True), "JobComplete", "True", False),
        (dict(failed=True), "JobFailed", "False", False),
    ],
)
def test_job_condition_comes_from_the_observed_job(observed, reason, ok, service):
    response = sync(_job_request(jobs=[fx.job(JOB, **observed)]))
    assert fx.condition(response, "BrokersReady")["reason"] == reason
    assert fx.condition(response, "BrokersReady")["status"] == ok
    assert (SVC in fx.children_of(response, "Service")) is service
    assert JOB in fx.children_of(response, "Job")  # a finished Job stays: one run per generation


def test_new_configuration_generation_replaces_the_old_job():
    old_job = f"{fx.INSTANCE}-6-job"
    response = sync(_job_request(jobs=[fx.job(old_job, active=1, ready=1)]))
    assert list(fx.children_of(response, "Job")) == [JOB]


# --- no broker, no configuration ----------------------------------------------------------------


def test_no_broker_spec_means_no_children():
    config = fx.configuration(broker_pod_spec=None)
    response = sync(fx.instance_request(pods=[fx.pod(POD_A)], configurations=[config]))

    assert response["children"] == []
    assert fx.condition(response, "BrokersReady") == {
        "type": "BrokersReady",
        "status": "True",
        "reason": "NoBrokerSpec",
        "message": "Configuration has no brokerSpec",
    }
    assert response["status"]["desiredBrokers"] == 0


@pytest.mark.parametrize("related", [{}, {"Configuration.akri.sh/v0": {}}, None])
def test_missing_configuration_means_no_children_and_a_condition(related):
    request = fx.instance_request(pods=[fx.pod(POD_A)], services=[fx.service(SVC)])
    if related is None:
        del request["related"]
    else:
        request["related"] = related
    response = sync(request)

    assert response["children"] == []
    found = fx.condition(response, "ConfigurationFound")
    assert found == {
        "type": "ConfigurationFound",
        "status": "False",
        "reason": "ConfigurationNotFound",
        "message": f"Configuration {fx.NAMESPACE}/{fx.CONFIG} not found",
    }
    assert fx.condition(response, "BrokersReady")["status"] == "False"
    assert response["status"]["liveBrokers"] == 1


def test_related_configuration_keyed_namespace_slash_name_is_found():
    request = fx.instance_request()
    request["related"]["Configuration.akri.sh/v0"] = {f"{fx.NAMESPACE}/{fx.CONFIG}": fx.configuration()}
    assert list(fx.children_of(sync(request), "Pod")) == [POD_A]


def test_other_configuration_in_related_map_is_ignored():
    request = fx.instance_request(configurations=[fx.configuration(name="someone-else")])
    assert fx.condition(sync(request), "ConfigurationFound")["status"] == "False"


# --- purity -------------------------------------------------------------------------------------


def _busy_request():
    return fx.instance_request(
        fx.instance(nodes=["node-c", "node-a", "node-b"], status={"desiredBrokers": 99, "conditions": []}),
        pods=[
            fx.pod(POD_A, phase="Pending", start_time=fx.NOW - timedelta(seconds=42)),
            fx.pod(POD_B, node="node-b"),
            fx.pod(f"node-x-{fx.INSTANCE}-pod", node="node-x", phase="Failed"),
        ],
        services=[fx.service(SVC)],
    )


def test_replaying_a_request_gives_an_identical_response_and_never_mutates_it():
    request = _busy_request()
    before = copy.deepcopy(request)
    first = sync(request)
    second = sync(request)

    assert request == before
    assert json.dumps(first, sort_keys=False) == json.dumps(second, sort_keys=False)


def test_response_does_not_depend_on_parent_status():
    with_status = _busy_request()
    without_status = copy.deepcopy(with_status)
    del without_status["parent"]["status"]
    assert json.dumps(sync(with_status)) == json.dumps(sync(without_status))


def test_response_is_plain_json():
    response = sync(_busy_request())
    assert json.loads(json.dumps(response)) == response
    assert set(response) <= {"status", "children", "resyncAfterSeconds"}


# --- bad input ----------------------------------------------------------------------------------


def _mutated(path, value):
    request = fx.instance_request(pods=[fx.pod(POD_A)])
    target = request
    *parents, last = path
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return request


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("parent",), KeyError, "parent"),
        (("parent",), [1, 2], "parent"),
        (("parent",), None, "parent"),
        (("parent", "spec"), "a string", "parent.spec"),
        (("parent", "spec"), KeyError, "parent.spec"),
        (("parent", "metadata"), KeyError, "parent.metadata"),
        (("parent", "metadata", "name"), 7, "parent.metadata.name"),
        (("parent", "spec", "configurationName"), KeyError, "parent.spec.configurationName"),
        (("parent", "spec", "nodes"), "node-a", "parent.spec.nodes"),
        (("parent", "spec", "nodes"), ["node-a", 5], "parent.spec.nodes[1]"),
        (("parent", "spec", "shared"), "yes", "parent.spec.shared"),
        (("children",), [], "children"),
        (("children", "Pod.v1"), ["x"], "children.Pod.v1"),
        (("children", "Pod.v1", POD_A), "x", f"children.Pod.v1.{POD_A}"),
        (("children", "Pod.v1", POD_A, "status"), "x", f"children.Pod.v1.{POD_A}.status"),
        (("children", "Pod.v1", POD_A, "status", "phase"), 3, f"children.Pod.v1.{POD_A}.status.phase"),
        (
            ("related", "Configuration.akri.sh/v0", fx.CONFIG, "spec"),
            [],
            f"related.Configuration.akri.sh/v0.{fx.CONFIG}.spec",
        ),
        (
            ("related", "Configuration.akri.sh/v0", fx.CONFIG, "spec", "brokerSpec", "brokerPodSpec", "containers"),
            {},
            f"related.Configuration.akri.sh/v0.{fx.CONFIG}.spec.brokerSpec.brokerPodSpec.containers",
        ),
    ],
)
def test_bad_input_raises_hook_input_error_naming_the_field(path, value, field):
    with pytest.raises(HookInputError) as caught:
        sync(_mutated(path, value))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_unparsable_start_time_is_a_hook_input_error():
    pending = fx.pod(POD_A, phase="Pending")
    pending["status"]["startTime"] = "yesterday"
    with pytest.raises(HookInputError, match="startTime: expected an RFC 3339 timestamp, got 'yesterday'"):
        sync(fx.instance_request(pods=[pending]))


def test_both_broker_specs_is_a_hook_input_error():
    config = fx.configuration(broker_pod_spec=fx.pod_spec(), broker_job_spec=copy.deepcopy(JOB_SPEC))
    with pytest.raises(HookInputError, match="mutually exclusive"):
        sync(fx.instance_request(configurations=[config]))


def test_job_broker_needs_the_configuration_generation():
    config = fx.configuration(broker_job_spec=copy.deepcopy(JOB_SPEC))
    del config["metadata"]["generation"]
    with pytest.raises(HookInputError) as caught:
        sync(fx.instance_request(configurations=[config]))
    assert caught.value.field == f"related.Configuration.akri.sh/v0.{fx.CONFIG}.metadata.generation"
