"""Desired broker Pod and broker Job objects built from a Configuration's brokerSpec.

Shapes follow Akri's `shared/src/k8s/pod.rs` and `job.rs` (akri-contract.md §3.2, §3.3), with
two decided differences (akri-contract.md §9):

* row 11, node affinity: Akri *appends* its `metadata.name In [node]` term to the user's
  `nodeSelectorTerms`, which ORs it with them (a broker could land on a node that has no device).
  We AND it instead: the `matchFields` requirement is added to **every** non-empty user term
  (requirements inside one term are ANDed); an empty user term matches nothing in Kubernetes and
  is left as it is; without user terms the pod gets the single term Akri would add.
* row 12, Job pods and services: Akri's service selectors contain `controller: akri.sh`, which
  Akri never puts on Job pods, so services never select them. We add `controller: akri.sh` to the
  Job's pod-template labels (next to `akri.sh/configuration` and `akri.sh/instance`).

No ownerReferences are set: Metacontroller adds the controller reference itself (contract §8).
Input specs are copied once per call and never mutated or aliased. For speed (1,000 Instances ×
100 nodes must resync in seconds, DESIGN.md §5), the broker Pods of one response share the
sub-objects of that private copy (containers, volumes, ...); only `metadata` and the affinity path
are per Pod. Treat a response as read-only (app.py serialises it at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akri_api import naming
from hooks import _input

PLACEHOLDER = naming.PLACEHOLDER
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def copy_json(value: Any) -> Any:
    """Deep copy of a decoded-JSON value (dicts, lists, scalars); faster than copy.deepcopy."""
    if type(value) is dict or isinstance(value, Mapping):  # `type` first: skips the slow ABC check
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def substitute_placeholder(pod_spec: Mapping[str, Any], instance: str, *, path: str) -> dict[str, Any]:
    """Copy of `pod_spec` with `{{PLACEHOLDER}}` resource keys renamed to `akri.sh/<instance>`.

    For every entry of `containers` and `initContainers` that has `resources`: in `limits` and
    `requests` (each only if present) the key `{{PLACEHOLDER}}` becomes `akri.sh/<instance>` with
    the same quantity, in the same position; `resources.claims` is dropped (Akri `pod.rs`).
    Raises HookInputError when those lists/objects have the wrong JSON type.
    """
    spec: dict[str, Any] = copy_json(pod_spec)
    resource = naming.instance_resource_name(instance)
    for list_key in ("containers", "initContainers"):
        containers = _input.get(spec, list_key, list, path=path, default=[])
        for index, container in enumerate(containers):
            item_path = f"{path}.{list_key}[{index}]"
            _input.check(container, Mapping, item_path)
            resources = _input.get(container, "resources", Mapping, path=item_path, default=None)
            if resources is None:
                continue
            resources.pop("claims", None)
            for kind in ("limits", "requests"):
                quantities = _input.get(resources, kind, Mapping, path=f"{item_path}.resources", default=None)
                if quantities is not None and PLACEHOLDER in quantities:
                    resources[kind] = {
                        (resource if key == PLACEHOLDER else key): value for key, value in quantities.items()
                    }
    return spec


def prepare_pod_spec(pod_spec: Mapping[str, Any], instance: str, *, path: str) -> dict[str, Any]:
    """Private copy of a brokerPodSpec, placeholder substituted, ready for `pod_spec_for_node`.

    Checks once the JSON types of the affinity fields `pod_spec_for_node` reads, so that the
    per-node step needs no checks. Raises HookInputError naming the mistyped field.
    """
    spec = substitute_placeholder(pod_spec, instance, path=path)
    affinity = _input.get(spec, "affinity", Mapping, path=path, default={})
    node_affinity = _input.get(affinity, "nodeAffinity", Mapping, path=f"{path}.affinity", default={})
    required_path = f"{path}.affinity.nodeAffinity"
    required = _input.get(node_affinity, _REQUIRED, Mapping, path=required_path, default={})
    terms_path = f"{required_path}.{_REQUIRED}"
    for index, term in enumerate(_input.get(required, "nodeSelectorTerms", list, path=terms_path, default=[])):
        term_path = f"{terms_path}.nodeSelectorTerms[{index}]"
        _input.check(term, Mapping, term_path)
        _input.get(term, "matchFields", list, path=term_path, default=[])
    return spec


def pod_spec_for_node(spec: Mapping[str, Any], node: str) -> dict[str, Any]:
    """`spec` (from `prepare_pod_spec`) whose required node affinity also demands `metadata.name == node`.

    See the module docstring for the AND semantics (akri-contract.md §9 row 11). The affinity
    path is rebuilt for each node; other sub-objects are shared with `spec` (module docstring).
    """
    requirement = {"key": "metadata.name", "operator": "In", "values": [node]}
    affinity = spec.get("affinity") or {}
    node_affinity = affinity.get("nodeAffinity") or {}
    required = node_affinity.get(_REQUIRED) or {}
    terms: list[Any] = []
    for term in required.get("nodeSelectorTerms") or ():
        if term.get("matchExpressions") or term.get("matchFields"):
            term = {**term, "matchFields": [*(term.get("matchFields") or ()), requirement]}
        terms.append(term)
    if not terms:
        terms.append({"matchFields": [requirement]})
    return {
        **spec,
        "affinity": {
            **affinity,
            "nodeAffinity": {**node_affinity, _REQUIRED: {**required, "nodeSelectorTerms": terms}},
        },
    }


def broker_pod(
    *,
    instance: str,
    namespace: str,
    configuration: str,
    node: str,
    name: str,
    spec: Mapping[str, Any],
) -> dict[str, Any]:
    """One broker Pod `name` (= `naming.broker_pod_name(...)`) for `node` (akri-contract.md §3.2).

    `spec` comes from `prepare_pod_spec`; the result has labels `app`, `controller`, `akri.sh/configuration`,
    `akri.sh/instance`, `akri.sh/target-node`, and the node affinity described above.
    """
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = {
        "app": name,
        naming.LABEL_CONTROLLER: naming.CONTROLLER_VALUE,
        naming.LABEL_CONFIGURATION: configuration,
        naming.LABEL_INSTANCE: instance,
        naming.LABEL_TARGET_NODE: node,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": pod_spec_for_node(spec, node),
    }


def broker_job(
    *,
    instance: str,
    namespace: str,
    configuration: str,
    generation: int,
    job_spec: Mapping[str, Any],
    path: str,
) -> dict[str, Any]:
    """The broker Job `<instance>-<generation>-job` (akri-contract.md §3.3).

    Job labels: `akri.sh/configuration`, `akri.sh/instance`, `app=<job name>`, `controller=akri.sh`.
    Pod-template labels: the user's, plus `akri.sh/configuration`, `akri.sh/instance` and (our
    decision, §9 row 12) `controller=akri.sh`. The template's pod spec gets the placeholder
    substitution; no node affinity. Raises HookInputError for a mistyped `template`.
    """
    name = naming.broker_job_name(instance, generation)
    spec = copy_json(job_spec)
    template = _input.get(spec, "template", Mapping, path=path, default=None)
    if template is not None:
        template_path = f"{path}.template"
        template_meta = _input.get(template, "metadata", Mapping, path=template_path, default={})
        template_labels = _input.get(template_meta, "labels", Mapping, path=f"{template_path}.metadata", default={})
        template_meta = {**template_meta}
        template_meta["labels"] = {
            **template_labels,
            naming.LABEL_CONFIGURATION: configuration,
            naming.LABEL_INSTANCE: instance,
            naming.LABEL_CONTROLLER: naming.CONTROLLER_VALUE,
        }
        template["metadata"] = template_meta
        pod_spec = _input.get(template, "spec", Mapping, path=template_path, default=None)
        if pod_spec is not None:
            template["spec"] = substitute_placeholder(pod_spec, instance, path=f"{template_path}.spec")
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = {
        naming.LABEL_CONFIGURATION: configuration,
        naming.LABEL_INSTANCE: instance,
        "app": name,
        naming.LABEL_CONTROLLER: naming.CONTROLLER_VALUE,
    }
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}
