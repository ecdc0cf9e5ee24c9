"""Fuzzing the HTTP routes: whatever arrives, the answer is 200 or 400, never 500 (nor a hang)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hooks import create_app
from tests.unit.hooks import hook_fixtures as fx

APP = create_app(clock=lambda: fx.NOW)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MUTATION_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)


def maybe(strategy):
    """Mostly a well-typed value (so examples get deep into the hooks), sometimes any JSON value."""
    return st.integers(0, 9).flatmap(lambda i: json_values if i == 9 else strategy)


def metadata():
    return st.fixed_dictionaries(
        {"name": maybe(st.sampled_from(["broker", "i-1"])), "namespace": maybe(st.just("default"))},
        optional={"generation": maybe(st.integers(0, 5)), "deletionTimestamp": json_values, "labels": json_values},
    )


configurations = st.fixed_dictionaries(
    {
        "apiVersion": maybe(st.just("akri.sh/v0")),
        "kind": maybe(st.just("Configuration")),
        "metadata": maybe(metadata()),
    },
    optional={
        "spec": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "discoveryHandler": maybe(
                        st.fixed_dictionaries(
                            {"name": maybe(st.sampled_from(["debugEcho", "udev", "onvif"]))},
                            optional={
                                "discoveryDetails": maybe(
                                    st.sampled_from(["", "udevRules: []", "permissions: rwx", "{"])
                                )
                            },
                        )
                    ),
                    "capacity": json_values,
                    "brokerSpec": maybe(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "brokerPodSpec": maybe(
                                    st.fixed_dictionaries(
                                        {},
                                        optional={
                                            "containers": maybe(
                                                st.lists(
                                                    maybe(
                                                        st.fixed_dictionaries(
                                                            {"name": maybe(st.just("c"))},
                                                            optional={
                                                                "resources": maybe(
                                                                    st.fixed_dictionaries(
                                                                        {},
                                                                        optional={
                                                                            "limits": maybe(
                                                                                st.just({"{{PLACEHOLDER}}": "1"})
                                                                            ),
                                                                            "requests": json_values,
                                                                            "claims": json_values,
                                                                        },
                                                                    )
                                                                )
                                                            },
                                                        )
                                                    ),
                                                    max_size=2,
                                                )
                                            ),
                                            "affinity": json_values,
                                        },
                                    )
                                ),
                                "brokerJobSpec": json_values,
                            },
                        )
                    ),
                    "instanceServiceSpec": json_values,
                    "configurationServiceSpec": json_values,
                },
            )
        ),
    },
)

admission_reviews = st.fixed_dictionaries(
    {
        "apiVersion": maybe(st.sampled_from(["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])),
        "request": maybe(
            st.fixed_dictionaries(
                {"uid": maybe(st.just("u-1"))}, optional={"object": maybe(configurations), "operation": json_values}
            )
        ),
    },
    optional={"kind": maybe(st.just("AdmissionReview"))},
)

instance_specs = st.fixed_dictionaries(
    {"configurationName": maybe(st.just("broker"))},
    optional={
        "shared": maybe(st.booleans()),
        "nodes": maybe(st.lists(maybe(st.sampled_from(["node-a", "node-b"])), max_size=3)),
    },
)
instances = st.fixed_dictionaries(
    {"metadata": maybe(metadata()), "spec": maybe(instance_specs)},
    optional={"status": json_values},
)

pods = st.fixed_dictionaries(
    {"metadata": maybe(metadata())},
    optional={
        "status": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "phase": maybe(st.sampled_from(["Pending", "Running", "Failed", "Succeeded", "Unknown"])),
                    "startTime": maybe(st.sampled_from(["2024-05-01T11:58:00Z", "garbage", "9999-12-31T23:59:59Z"])),
                    "conditions": maybe(
                        st.lists(maybe(st.fixed_dictionaries({"type": st.just("Ready"), "status": json_values})))
                    ),
                    "active": json_values,
                    "ready": json_values,
                },
            )
        )
    },
)


def object_maps(values):
    return maybe(st.dictionaries(st.sampled_from(["broker", "i-1", "default/broker", "x"]), values, max_size=3))


def sync_requests(parents):
    """Metacontroller-shaped sync requests whose parent is drawn from `parents`."""
    return st.fixed_dictionaries(
        {"parent": maybe(parents)},
        optional={
            "children": maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "Pod.v1": object_maps(pods),
                        "Job.batch/v1": object_maps(pods),
                        "Service.v1": object_maps(json_values),
                    },
                )
            ),
            "related": maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "Configuration.akri.sh/v0": object_maps(configurations),
                        "Instance.akri.sh/v0": object_maps(instances),
                        "Pod.v1": object_maps(pods),
                    },
                )
            ),
            "finalizing": json_values,
        },
    )


def _answer(path, body: bytes):
    response = APP.test_client().post(path, data=body, content_type="application/json")
    assert response.status_code in (200, 400), (response.status_code, response.get_data(as_text=True))
    payload = response.get_json()
    assert isinstance(payload, dict)
    return response.status_code, payload


@SETTINGS
@given(json_values)
def test_validate_route_with_arbitrary_json(value):
    _answer("/validate/configuration", json.dumps(value).encode())


@SETTINGS
@given(st.binary(max_size=200))
def test_validate_route_with_arbitrary_bytes(body):
    _answer("/validate/configuration", body)


@SETTINGS
@given(admission_reviews)
def test_validate_route_with_admission_review_shaped_json(body):
    code, payload = _answer("/validate/configuration", json.dumps(body).encode())
    if code == 200:
        assert payload["kind"] == "AdmissionReview"
        assert payload["response"]["uid"] == body["request"]["uid"]
        assert isinstance(payload["response"]["allowed"], bool)
        if not payload["response"]["allowed"]:
            assert payload["response"]["status"]["message"]
    else:
        assert payload["error"]


@SETTINGS
@given(st.sampled_from(["/sync/instance", "/customize/instance"]), sync_requests(instances))
def test_instance_routes_with_request_shaped_json(path, body):
    code, payload = _answer(path, json.dumps(body).encode())
    if code == 400:
        assert payload["error"]


@SETTINGS
@given(st.sampled_from(["/sync/configuration", "/customize/configuration"]), sync_requests(configurations))
def test_configuration_routes_with_request_shaped_json(path, body):
    code, payload = _answer(path, json.dumps(body).encode())
    if code == 400:
        assert payload["error"]


# --- mutation fuzzing: a realistic request with one subtree replaced by arbitrary JSON ------------


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replaced(base, path, replacement):
    if not path:
        return replacement
    copy = json.loads(json.dumps(base))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    return copy


def _base_instance_request():
    pods = [
        fx.pod(f"node-a-{fx.INSTANCE}-pod", phase="Pending", start_time=fx.NOW),
        fx.pod(f"node-b-{fx.INSTANCE}-pod", node="node-b"),
    ]
    request = fx.instance_request(
        fx.instance(nodes=["node-a", "node-b"]),
        pods=pods,
        services=[fx.service(f"{fx.INSTANCE}-svc")],
        jobs=[fx.job("j", active=1)],
    )
    request["related"]["Configuration.akri.sh/v0"][fx.CONFIG]["spec"]["brokerSpec"]["brokerPodSpec"]["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Exists"}]}]
            }
        }
    }
    return request


def _base_review():
    config = fx.configuration()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u-1", "object": config}}


BASES = {
    "/sync/instance": _base_instance_request(),
    "/customize/instance": fx.customize_request(fx.instance(), "instance-controller.yaml"),
    "/sync/configuration": fx.configuration_request(
        instances=[fx.instance()], pods=[fx.pod("p")], services=[fx.service(f"{fx.CONFIG}-svc")]
    ),
    "/customize/configuration": fx.customize_request(fx.configuration(), "configuration-controller.yaml"),
    "/validate/configuration": _base_review(),
}


@st.composite
def mutated_requests(draw):
    path = draw(st.sampled_from(sorted(BASES)))
    base = BASES[path]
    where = draw(st.sampled_from(list(_paths(base))))
    return path, _replaced(base, where, draw(json_values))


@MUTATION_SETTINGS
@given(mutated_requests())
def test_routes_with_one_field_replaced_by_arbitrary_json(case):
    path, body = case
    _answer(path, json.dumps(body).encode())


def test_unmutated_bases_are_answered_200():
    for path, body in BASES.items():
        assert _answer(path, json.dumps(body).encode())[0] == 200, path
