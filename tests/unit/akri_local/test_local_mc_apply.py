"""Metacontroller's apply semantics (metacontroller-contract.md §6-§8) as pure functions."""

from __future__ import annotations

import json

import pytest

from agent.kube.resources import ResourceKind
from akri_local import _metacontroller_apply as apply

PODS = ResourceKind("v1", "Pod", "pods")
SERVICES = ResourceKind("v1", "Service", "services")
NODES = ResourceKind("v1", "Node", "nodes", namespaced=False)
PARENT = {"apiVersion": "akri.sh/v0", "kind": "Instance",
          "metadata": {"name": "inst", "namespace": "ns", "uid": "uid-1", "generation": 3}, "spec": {}}
SELECTOR = apply.parent_selector(PARENT, generate_selector=True)


def _child(name, kind="Service", **extra):
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, **extra}


def test_children_key_format():
    assert apply.children_key(PODS) == "Pod.v1"
    assert apply.children_key(ResourceKind("batch/v1", "Job", "jobs")) == "Job.batch/v1"


def test_prepare_desired_adds_namespace_and_controller_uid():
    desired = apply.prepare_desired(_child("svc", spec={"ports": [{"port": 80}]}), parent=PARENT, kind=SERVICES,
                                    selector=SELECTOR, generate_selector=True)
    assert desired["metadata"] == {"name": "svc", "namespace": "ns", "labels": {"controller-uid": "uid-1"}}


def test_prepare_desired_rejects_bad_children():
    with pytest.raises(apply.DesiredChildError, match="metadata.name"):
        apply.prepare_desired({"apiVersion": "v1", "kind": "Service"}, parent=PARENT, kind=SERVICES,
                              selector=SELECTOR, generate_selector=True)
    with pytest.raises(apply.DesiredChildError, match="not a declared childResources type"):
        apply.prepare_desired(_child("x"), parent=PARENT, kind=None, selector=SELECTOR, generate_selector=True)
    mismatching = _child("x")
    mismatching["metadata"]["labels"] = {"controller-uid": "someone-else"}
    with pytest.raises(apply.DesiredChildError, match="don't match parent selector"):
        apply.prepare_desired(mismatching, parent=PARENT, kind=SERVICES, selector=SELECTOR, generate_selector=True)


def test_parent_selector_without_generate_selector_needs_spec_selector():
    with pytest.raises(apply.DesiredChildError, match="spec.selector"):
        apply.parent_selector(PARENT, generate_selector=False)
    parent = {**PARENT, "spec": {"selector": {"matchLabels": {"app": "a"}}}}
    assert apply.parent_selector(parent, generate_selector=False) == {"matchLabels": {"app": "a"}}


def _owned(name, uid="uid-1", labels=None, **meta):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "ns", "uid": f"c-{name}", "resourceVersion": "1",
                         "labels": {"controller-uid": "uid-1"} if labels is None else labels,
                         "ownerReferences": [{"uid": uid, "controller": True, "kind": "Instance",
                                              "apiVersion": "akri.sh/v0", "name": "inst"}] if uid else [], **meta}}


def test_claim_splits_owned_orphans_and_mismatches():
    owned = _owned("a")
    other = _owned("b", uid="uid-2")
    orphan = _owned("c", uid=None)
    stale = _owned("d", labels={})
    unlabelled_orphan = _owned("e", uid=None, labels={})
    got = apply.claim([owned, other, orphan, stale, unlabelled_orphan], PARENT, SELECTOR)
    assert [[o["metadata"]["name"] for o in group] for group in got] == [["a"], ["c"], ["d"]]
    deleting_parent = {**PARENT, "metadata": {**PARENT["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert apply.claim([orphan], deleting_parent, SELECTOR)[1] == []


def test_three_way_merge_follows_metacontroller():
    observed = {"metadata": {"name": "x", "labels": {"a": "1", "server": "kept"}},
                "spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "clusterIP": "10.0.0.1",
                         "selector": {"old": "1"}, "tags": ["a", "b"]}}
    last = {"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"ports": [{"port": 80}],
                                                                       "selector": {"old": "1"}, "tags": ["a", "b"]}}
    desired = {"metadata": {"name": "x", "labels": {"a": "2"}},
               "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 81}], "tags": ["c"]}}
    merged = apply.three_way_merge(observed, last, desired)
    assert merged["metadata"]["labels"] == {"a": "2", "server": "kept"}
    assert merged["spec"]["clusterIP"] == "10.0.0.1"  # never applied by us → untouched
    assert "selector" not in merged["spec"]  # applied before, dropped from desired → removed
    assert merged["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 8080}, {"port": 81}]
    assert merged["spec"]["tags"] == ["c"]  # scalar lists are replaced
    assert observed["spec"]["selector"] == {"old": "1"}  # inputs untouched


def _observed_from_create(op, **server_fields):
    body = json.loads(json.dumps(op.body))
    body["metadata"].update(uid="c-uid", resourceVersion="7", creationTimestamp="2026-01-01T00:00:00Z")
    body.update(server_fields)
    return body


def test_plan_creates_with_owner_reference_and_last_applied():
    desired = {"Service.v1": {("ns", "svc"): apply.prepare_desired(_child("svc", spec={"ports": [{"port": 80}]}),
                                                                   parent=PARENT, kind=SERVICES, selector=SELECTOR,
                                                                   generate_selector=True)}}
    ops = apply.plan_children({"Service.v1": {}}, desired, {"Service.v1": SERVICES}, {"Service.v1": "InPlace"}, PARENT)
    assert [(o.action, o.name) for o in ops] == [("create", "svc")]
    body = ops[0].body
    assert body["metadata"]["ownerReferences"] == [{"apiVersion": "akri.sh/v0", "kind": "Instance", "name": "inst",
                                                    "uid": "uid-1", "controller": True, "blockOwnerDeletion": True}]
    last_applied = json.loads(body["metadata"]["annotations"][apply.LAST_APPLIED_ANNOTATION])
    assert last_applied == desired["Service.v1"][("ns", "svc")]
    # Once created (server adds uid, rv, status), the same desired state plans nothing.
    observed = _observed_from_create(ops[0], status={"loadBalancer": {}})
    assert apply.plan_children({"Service.v1": {("ns", "svc"): observed}}, desired, {"Service.v1": SERVICES},
                               {"Service.v1": "InPlace"}, PARENT) == []


@pytest.mark.parametrize(("method", "expected"), [("InPlace", "update"), ("Recreate", "delete"), ("OnDelete", None)])
def test_plan_updates_per_strategy(method, expected):
    first = apply.prepare_desired(_child("svc", spec={"ports": [{"port": 80}]}), parent=PARENT, kind=SERVICES,
                                  selector=SELECTOR, generate_selector=True)
    create = apply.plan_children({}, {"Service.v1": {("ns", "svc"): first}}, {"Service.v1": SERVICES},
                                 {"Service.v1": method}, PARENT)[0]
    observed = _observed_from_create(create)
    changed = apply.prepare_desired(_child("svc", spec={"ports": [{"port": 81}]}), parent=PARENT, kind=SERVICES,
                                    selector=SELECTOR, generate_selector=True)
    ops = apply.plan_children({"Service.v1": {("ns", "svc"): observed}}, {"Service.v1": {("ns", "svc"): changed}},
                              {"Service.v1": SERVICES}, {"Service.v1": method}, PARENT)
    assert [o.action for o in ops] == ([expected] if expected else [])
    if expected == "update":
        body = ops[0].body
        assert body["spec"]["ports"] == [{"port": 81}]
        assert body["metadata"]["uid"] == "c-uid" and body["metadata"]["resourceVersion"] == "7"
        assert body["metadata"]["ownerReferences"] == observed["metadata"]["ownerReferences"]
    if expected == "delete":
        assert ops[0].uid == "c-uid"


def test_plan_deletes_undesired_but_not_deleting_children():
    gone = _owned("old")
    going = _owned("going", deletionTimestamp="2026-01-01T00:00:00Z")
    ops = apply.plan_children({"Service.v1": {("ns", "old"): gone, ("ns", "going"): going}}, {"Service.v1": {}},
                              {"Service.v1": SERVICES}, {"Service.v1": "InPlace"}, PARENT)
    assert [(o.action, o.name, o.uid) for o in ops] == [("delete", "old", "c-old")]


def test_status_gets_observed_generation_and_null_clears():
    assert apply.desired_status({"ok": True}, 3) == {"ok": True, "observedGeneration": 3}
    assert apply.desired_status(None, 3) == {"observedGeneration": 3}
    written = {"ok": True, "observedGeneration": 3}
    assert not apply.status_differs({"status": dict(written)}, written)
    assert apply.status_differs({}, {"observedGeneration": 3})
