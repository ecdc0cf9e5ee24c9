"""The flask app: routing, JSON in/out, 400 for malformed bodies, /healthz and /metrics."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from hooks import (
    HooksConfig,
    create_app,
    customize_configuration,
    customize_instance,
    sync_configuration,
    sync_instance,
)
from hooks.app import METRICS_EXTENSION, ROUTES
from tests.unit.hooks import hook_fixtures as fx

POD_A = f"node-a-{fx.INSTANCE}-pod"


@pytest.fixture
def client():
    return create_app(clock=lambda: fx.NOW).test_client()


def post(client, path, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json")


@pytest.mark.parametrize(
    ("path", "request_", "expected"),
    [
        ("/sync/instance", fx.instance_request(pods=[fx.pod(POD_A)]), lambda r: sync_instance(r, now=fx.NOW)),
        ("/customize/instance", fx.customize_request(fx.instance(), "instance-controller.yaml"), customize_instance),
        (
            "/sync/configuration",
            fx.configuration_request(pods=[fx.pod(POD_A)]),
            lambda r: sync_configuration(r, now=fx.NOW),
        ),
        (
            "/customize/configuration",
            fx.customize_request(fx.configuration(), "configuration-controller.yaml"),
            customize_configuration,
        ),
    ],
)
def test_each_route_answers_200_with_its_hook_result(client, path, request_, expected):
    response = post(client, path, request_)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == expected(request_)


def test_now_comes_from_the_app_clock():
    request = fx.instance_request(pods=[fx.pod(POD_A, phase="Pending", start_time=fx.NOW - timedelta(seconds=60))])
    early = create_app(clock=lambda: fx.NOW).test_client()
    late = create_app(clock=lambda: fx.NOW + timedelta(seconds=600)).test_client()

    assert post(early, "/sync/instance", request).get_json()["resyncAfterSeconds"] == pytest.approx(240)
    assert post(late, "/sync/instance", request).get_json()["children"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: not valid JSON"),
        (b"{not json", "body: not valid JSON"),
        (b"\xff\xfe\x00garbage", "body: not valid JSON"),
        (b'{"parent": NaN}', "body: not valid JSON"),
        (b"[1, 2]", "body: expected a JSON object, got an array"),
        (b'"parent"', "body: expected a JSON object, got a string"),
        (b"null", "body: expected a JSON object, got null"),
        (b"42", "body: expected a JSON object, got a number"),
        (b"{}", "parent: required field missing"),
        (b'{"parent": null}', "parent: required field missing"),
        (b'{"parent": []}', "parent: expected an object, got []"),
        (
            b'{"parent": {"metadata": {"name": "i"}, "spec": "a string"}}',
            "parent.spec: expected an object, got 'a string'",
        ),
        (
            b'{"parent": {"metadata": {"name": "i"}, "spec": {"configurationName": 5}}}',
            "parent.spec.configurationName: expected a string, got 5",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "body: not valid JSON"),
    ],
)
@pytest.mark.parametrize("path", ["/sync/instance", "/customize/instance"])
def test_malformed_bodies_get_400_with_a_message_naming_field_and_value(client, path, body, message):
    response = post(client, path, body)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.get_json()["error"].startswith(message)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.5e999"])
@pytest.mark.parametrize("path", sorted(ROUTES))
def test_numbers_beyond_float_range_are_400_not_500(client, path, number):
    # Python reads 1e400 as infinity, which json.dumps(allow_nan=False) cannot write back: a
    # brokerPodSpec field holding it used to be copied into a broker Pod and end in a 500.
    request = fx.instance_request()
    pod_spec = request["related"]["Configuration.akri.sh/v0"][fx.CONFIG]["spec"]["brokerSpec"]["brokerPodSpec"]
    pod_spec["terminationGracePeriodSeconds"] = "NUMBER"
    body = json.dumps(request).replace('"NUMBER"', number)
    response = post(client, path, body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    column = body.index(number) + 1
    assert error == f"body: not valid JSON (number is infinity when parsed as double: line 1 column {column} (char {column - 1}))"


def test_deeply_nested_valid_json_is_400_not_500(client):
    request = fx.instance_request()
    nested: dict = {}
    cursor = nested
    for _ in range(900):
        cursor["x"] = {}
        cursor = cursor["x"]
    request["related"]["Configuration.akri.sh/v0"][fx.CONFIG]["spec"]["brokerSpec"]["brokerPodSpec"]["deep"] = nested
    response = post(client, "/sync/instance", request)
    assert response.status_code in (200, 400)


def test_unknown_path_and_wrong_method_are_json_errors(client):
    assert client.post("/sync/nothing", data="{}").status_code == 404
    wrong = client.get("/sync/instance")
    assert wrong.status_code == 405
    assert "error" in wrong.get_json()


def test_body_over_the_limit_is_413():
    client = create_app(HooksConfig(max_body_bytes=1024)).test_client()
    response = post(client, "/sync/instance", b"{" + b" " * 4096 + b"}")
    assert response.status_code == 413
    assert "error" in response.get_json()


def test_a_bug_in_a_hook_is_a_logged_500(caplog):
    def broken(body, now):
        raise RuntimeError("boom")

    client = create_app(handlers={"sync_instance": broken}).test_client()
    with caplog.at_level(logging.ERROR, logger="hooks.app"):
        response = post(client, "/sync/instance", fx.instance_request())
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error in hook sync_instance; see the hooks server log"}
    assert "boom" in caplog.text


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_metrics_count_requests_and_latency_per_hook_and_code(client):
    post(client, "/sync/instance", fx.instance_request())
    post(client, "/sync/instance", fx.instance_request())
    post(client, "/sync/instance", b"[]")
    post(client, "/validate/configuration", b"{}")

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    assert 'akri_hooks_requests_total{code="200",hook="sync_instance"} 2.0' in text
    assert 'akri_hooks_requests_total{code="400",hook="sync_instance"} 1.0' in text
    assert 'akri_hooks_requests_total{code="400",hook="validate_configuration"} 1.0' in text
    assert 'akri_hooks_request_duration_seconds_count{code="200",hook="sync_instance"} 2.0' in text
    assert 'akri_hooks_request_duration_seconds_bucket{code="200",hook="sync_instance",le="+Inf"} 2.0' in text


def test_each_app_has_its_own_registry():
    first, second = create_app(), create_app()
    post(first.test_client(), "/sync/instance", b"[]")
    assert first.extensions[METRICS_EXTENSION].registry is not second.extensions[METRICS_EXTENSION].registry
    assert "hook=" not in second.test_client().get("/metrics").get_data(as_text=True)


def test_routes_table_lists_every_hook():
    assert set(ROUTES) == {
        "/sync/instance",
        "/customize/instance",
        "/sync/configuration",
        "/customize/configuration",
        "/validate/configuration",
    }
