"""Label selectors and customize-hook related-resource rules (metacontroller-contract.md §11).

Pure functions. `matches(selector, labels)` implements Kubernetes LabelSelector semantics
(`matchLabels` AND `matchExpressions` with In/NotIn/Exists/DoesNotExist; `{}` matches everything,
None matches everything where Metacontroller treats nil as "all"). `parse_related_rules` validates a
customize response the way Metacontroller's customize manager does; `select_related` picks the
related objects one rule names out of an informer's cache; `object_map_key` gives the v1/v2 key of
an object in the `children`/`related` maps of a hook request (contract §5, §13).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["matches", "selector_string", "RelatedRule", "RelatedRuleError", "parse_related_rules",
           "select_related", "object_map_key", "keep_for_sync_version"]

Obj = Mapping[str, Any]
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class RelatedRuleError(ValueError):
    """A customize response Metacontroller would reject; the message names the rule and field."""


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """True when `labels` satisfy LabelSelector `selector` (None or {} select everything).

    Raises ValueError for an unknown matchExpressions operator.
    """
    if not selector:
        return True
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(f"labelSelector operator {operator!r} is not one of {list(_OPERATORS)}")
        if not ok:
            return False
    return True


def selector_string(selector: Mapping[str, Any] | None) -> str | None:
    """The `labelSelector=` query form of a LabelSelector (None when it selects everything)."""
    if not selector:
        return None
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise ValueError(f"labelSelector operator {operator!r} is not one of {list(_OPERATORS)}")
    return ",".join(parts) or None


@dataclass(frozen=True, slots=True)
class RelatedRule:
    """One `relatedResources[]` entry of a customize response (contract §11).

    label_selector/namespace_selector: LabelSelector mappings or None; names: () = no name filter.
    """

    api_version: str
    resource: str
    label_selector: Mapping[str, Any] | None = None
    namespace_selector: Mapping[str, Any] | None = None
    namespace: str | None = None
    names: tuple[str, ...] = ()


def parse_related_rules(response: Any, *, parent_namespace: str | None, version: str) -> tuple[RelatedRule, ...]:
    """Rules of a customize response `{"relatedResources": [...]}` (`{}` or null = none).

    parent_namespace: "" or None for a cluster-scoped parent; version: the customize hook's v1|v2.
    Raises RelatedRuleError for shapes Metacontroller rejects: names with a selector, namespace with
    namespaceSelector, a v1 namespaced parent asking for another namespace or a namespaceSelector.
    """
    if response is None:
        return ()
    if not isinstance(response, Mapping):
        raise RelatedRuleError(f"customize response must be an object, got {type(response).__name__}")
    raw_rules = response.get("relatedResources") or []
    if not isinstance(raw_rules, list):
        raise RelatedRuleError(f"customize response relatedResources must be a list, got {raw_rules!r}")
    rules = []
    for index, raw in enumerate(raw_rules):
        where = f"relatedResources[{index}]"
        if not isinstance(raw, Mapping):
            raise RelatedRuleError(f"{where} must be an object, got {raw!r}")
        api_version, resource = raw.get("apiVersion"), raw.get("resource")
        if not isinstance(api_version, str) or not api_version or not isinstance(resource, str) or not resource:
            raise RelatedRuleError(f"{where}: apiVersion and resource are required, got {dict(raw)!r}")
        names = raw.get("names") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RelatedRuleError(f"{where}.names must be a list of strings, got {names!r}")
        rule = RelatedRule(api_version, resource, raw.get("labelSelector"), raw.get("namespaceSelector"),
                           raw.get("namespace") or None, tuple(names))
        if rule.names and (rule.label_selector is not None or rule.namespace_selector is not None):
            raise RelatedRuleError(f"{where}: names cannot be combined with labelSelector or namespaceSelector")
        if rule.namespace and rule.namespace_selector is not None:
            raise RelatedRuleError(f"{where}: namespace cannot be combined with namespaceSelector")
        if version == "v1" and parent_namespace:
            if rule.namespace_selector is not None:
                raise RelatedRuleError(f"{where}: namespaceSelector is not allowed for a namespaced parent "
                                       f"with a v1 customize hook")
            if rule.namespace and rule.namespace != parent_namespace:
                raise RelatedRuleError(f"{where}: requested related object namespace {rule.namespace!r} differs "
                                       f"from the parent's namespace {parent_namespace!r} (v1 hook)")
        rules.append(rule)
    return tuple(rules)


def select_related(rule: RelatedRule, objects: Iterable[Obj], *, namespaced_kind: bool, parent_namespace: str | None,
                   version: str, namespace_labels: Mapping[str, Mapping[str, str]] | None = None) -> list[Obj]:
    """The objects (from a cache of the rule's type) that `rule` selects (contract §11 selection modes).

    namespace_labels: labels of every Namespace by name, needed only for namespaceSelector rules.
    """
    objects = list(objects)
    if rule.namespace_selector is not None:
        wanted = {ns for ns, labels in (namespace_labels or {}).items() if matches(rule.namespace_selector, labels)}
        return [o for o in objects if _ns(o) in wanted and matches(rule.label_selector, _labels(o))]
    if rule.label_selector is not None and rule.namespace:
        return [o for o in objects if _ns(o) == rule.namespace and matches(rule.label_selector, _labels(o))]
    if rule.namespace or rule.names:
        return [o for o in objects
                if (not rule.namespace or _ns(o) == rule.namespace) and (not rule.names or _name(o) in rule.names)]
    if version == "v1" and parent_namespace and namespaced_kind:
        objects = [o for o in objects if _ns(o) == parent_namespace]
    return [o for o in objects if matches(rule.label_selector, _labels(o))]


def keep_for_sync_version(obj: Obj, *, parent_namespace: str | None, version: str) -> bool:
    """Whether a related object reaches a sync hook of `version` (contract §5 `related`).

    A v1 sync hook of a namespaced parent sees only related objects of the parent's namespace.
    """
    if version != "v1" or not parent_namespace:
        return True
    return _ns(obj) == parent_namespace


def object_map_key(obj: Obj, *, parent_namespace: str | None, version: str) -> str:
    """Key of `obj` in a children/related map: v1 `name` (or `ns/name` under a cluster-scoped parent),
    v2 `ns/name` for namespaced objects and `name` for cluster-scoped ones (contract §5, §13)."""
    namespace, name = _ns(obj), _name(obj)
    if not namespace:
        return name
    if version == "v1" and parent_namespace:
        return name
    return f"{namespace}/{name}"


def _labels(obj: Obj) -> Mapping[str, str]:
    labels: Mapping[str, str] = (obj.get("metadata") or {}).get("labels") or {}
    return labels


def _ns(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")
