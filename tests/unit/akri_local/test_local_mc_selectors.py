"""Label selectors, related rules and object map keys (metacontroller-contract.md §5, §11, §13)."""

from __future__ import annotations

import pytest

from akri_local import _metacontroller_selectors as sel


def _obj(name, namespace="ns", labels=None):
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}}}


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    (None, {}, True),
    ({}, {"a": "1"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True),
])
def test_matches(selector, labels, expected):
    assert sel.matches(selector, labels) is expected


def test_matches_rejects_unknown_operator():
    with pytest.raises(ValueError, match="'Near'"):
        sel.matches({"matchExpressions": [{"key": "a", "operator": "Near"}]}, {})


def test_selector_string():
    selector = {"matchLabels": {"b": "2", "a": "1"},
                "matchExpressions": [{"key": "c", "operator": "In", "values": ["x", "y"]},
                                     {"key": "d", "operator": "DoesNotExist"}]}
    assert sel.selector_string(selector) == "a=1,b=2,c in (x,y),!d"
    assert sel.selector_string({}) is None


def test_parse_related_rules_and_v1_namespace_rules():
    rules = sel.parse_related_rules({"relatedResources": [
        {"apiVersion": "akri.sh/v0", "resource": "configurations", "namespace": "ns", "names": ["c"]}]},
        parent_namespace="ns", version="v1")
    assert rules == (sel.RelatedRule("akri.sh/v0", "configurations", namespace="ns", names=("c",)),)
    assert sel.parse_related_rules({}, parent_namespace="ns", version="v1") == ()
    with pytest.raises(sel.RelatedRuleError, match="differs"):
        sel.parse_related_rules({"relatedResources": [{"apiVersion": "v1", "resource": "pods", "namespace": "other"}]},
                                parent_namespace="ns", version="v1")
    with pytest.raises(sel.RelatedRuleError, match="names cannot be combined"):
        sel.parse_related_rules({"relatedResources": [{"apiVersion": "v1", "resource": "pods", "names": ["a"],
                                                       "labelSelector": {}}]}, parent_namespace="ns", version="v2")
    with pytest.raises(sel.RelatedRuleError, match=r"relatedResources\[0\]"):
        sel.parse_related_rules({"relatedResources": [{"resource": "pods"}]}, parent_namespace=None, version="v1")


def test_select_related_modes():
    objects = [_obj("a", labels={"x": "1"}), _obj("b"), _obj("a", namespace="other", labels={"x": "1"})]
    by_name = sel.RelatedRule("v1", "configmaps", namespace="ns", names=("a",))
    assert sel.select_related(by_name, objects, namespaced_kind=True, parent_namespace="ns",
                              version="v1") == [objects[0]]
    by_label = sel.RelatedRule("v1", "configmaps", label_selector={"matchLabels": {"x": "1"}})
    # v1 + namespaced parent: only the parent's namespace; v2 / cluster parent: every namespace.
    assert sel.select_related(by_label, objects, namespaced_kind=True, parent_namespace="ns",
                              version="v1") == [objects[0]]
    assert sel.select_related(by_label, objects, namespaced_kind=True, parent_namespace=None,
                              version="v1") == [objects[0], objects[2]]
    by_ns_selector = sel.RelatedRule("v1", "configmaps", namespace_selector={"matchLabels": {"team": "t"}})
    assert sel.select_related(by_ns_selector, objects, namespaced_kind=True, parent_namespace=None, version="v2",
                              namespace_labels={"other": {"team": "t"}, "ns": {}}) == [objects[2]]


def test_object_map_keys():
    namespaced = _obj("a")
    cluster = {"metadata": {"name": "n1"}}
    assert sel.object_map_key(namespaced, parent_namespace="ns", version="v1") == "a"
    assert sel.object_map_key(namespaced, parent_namespace=None, version="v1") == "ns/a"
    assert sel.object_map_key(namespaced, parent_namespace="ns", version="v2") == "ns/a"
    assert sel.object_map_key(cluster, parent_namespace="ns", version="v2") == "n1"
    assert not sel.keep_for_sync_version(_obj("a", namespace="other"), parent_namespace="ns", version="v1")
    assert sel.keep_for_sync_version(_obj("a", namespace="other"), parent_namespace="ns", version="v2")
