"""The kubelet simulator's scheduling rules (DESIGN.md §4)."""

from __future__ import annotations

import pytest

from akri_local import _kubelet_scheduling as sched

RES = "akri.sh/cfg-abc123"


def _node(allocatable=None, labels=None, ready=True, name="node-a"):
    return {"metadata": {"name": name, "labels": labels or {"kubernetes.io/hostname": name}},
            "status": {"allocatable": allocatable or {}, "conditions": [{"type": "Ready",
                                                                          "status": "True" if ready else "False"}]}}


def _pod(requests=None, init_requests=None, limits_only=False, **spec):
    def container(name, req):
        resources = {"limits": req} if limits_only else {"requests": req, "limits": req}
        return {"name": name, "image": "busybox", "resources": resources if req else {}}
    body = {"containers": [container("main", requests)], **spec}
    if init_requests is not None:
        body["initContainers"] = [container("init", init_requests)]
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": body, "status": {"phase": "Pending"}}


def test_extended_resource_names():
    assert sched.is_extended_resource(RES)
    assert not sched.is_extended_resource("cpu")
    assert not sched.is_extended_resource("hugepages-2Mi")
    assert not sched.is_extended_resource("kubernetes.io/batch")
    assert not sched.is_extended_resource("requests.kubernetes.io/x")


def test_pod_requests_effective_rule_and_limits_only():
    assert sched.pod_requests(_pod({RES: "1"}, init_requests={RES: "2"})) == {RES: 2}
    assert sched.pod_requests(_pod({RES: "1"}, limits_only=True)) == {RES: 1}
    assert sched.pod_requests(_pod({"cpu": "100m"})) == {}
    with pytest.raises(ValueError, match="'main'"):
        sched.pod_requests(_pod({RES: "500m"}))


def test_fits_by_extended_resources_counting_bound_pods():
    node = _node({RES: "2"})
    assert sched.fits(_pod({RES: "2"}), node, []) == (True, "")
    ok, reason = sched.fits(_pod({RES: "1"}), node, [_pod({RES: "2"})])
    assert not ok and "insufficient akri.sh/cfg-abc123: requested 1, free 0" in reason
    done = _pod({RES: "2"})
    done["status"]["phase"] = "Succeeded"
    assert sched.fits(_pod({RES: "1"}), node, [done])[0]
    assert not sched.fits(_pod({RES: "1"}), _node({}), [])[0]


def test_fits_node_selector_affinity_readiness_and_node_name():
    node = _node({RES: "1"}, labels={"zone": "a"})
    assert sched.fits(_pod(nodeSelector={"zone": "a"}), node, [])[0]
    assert not sched.fits(_pod(nodeSelector={"zone": "b"}), node, [])[0]
    assert not sched.fits(_pod(nodeName="node-b"), node, [])[0]
    assert not sched.fits(_pod(), _node(ready=False), [])[0]
    affinity = lambda names: {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {  # noqa: E731
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": names}]}]}}}
    assert sched.fits(_pod(affinity=affinity(["node-a"])), node, [])[0]
    ok, reason = sched.fits(_pod(affinity=affinity(["node-b"])), node, [])
    assert not ok and reason == "node affinity does not match"
    expressions = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]}}}
    assert sched.fits(_pod(affinity=expressions), node, [])[0]  # terms are ORed
