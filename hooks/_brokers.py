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
Input specs are copied, never mutated; children built in one call share nothing mutable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akri_api import naming
from hooks import _input

PLACEHOLDER = naming.PLACEHOLDER


def copy_json(value: Any) -> Any:
    """Deep copy of a decoded-JSON value (dicts, lists, scalars); faster than copy.deepcopy."""
    if isinstance(value, Mapping):
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
    spec = copy_json(pod_spec)
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


def with_node_affinity(pod_spec: Mapping[str, Any], node: str, *, path: str) -> dict[str, Any]:
    """Copy of `pod_spec` whose required node affinity also demands `metadata.name == node`.

    `pod_spec` is the already substituted (private) spec; `affinity` is rebuilt, the rest is
    deep-copied so that the Pods of one response never share mutable objects.
    See the module docstring for the AND semantics (akri-contract.md §9 row 11).
    """
    requirement = {"key": "metadata.name", "operator": "In", "values": [node]}
    affinity = _input.get(pod_spec, "affinity", Mapping, path=path, default={})
    node_affinity = _input.get(affinity, "nodeAffinity", Mapping, path=f"{path}.affinity", default={})
    required_path = f"{path}.affinity.nodeAffinity"
    required = _input.get(
        node_affinity, "requiredDuringSchedulingIgnoredDuringExecution", Mapping, path=required_path, default={}
    )
    terms_path = f"{required_path}.requiredDuringSchedulingIgnoredDuringExecution"
    user_terms = _input.get(required, "nodeSelectorTerms", list, path=terms_path, default=[])
    terms: list[Any] = []
    for index, term in enumerate(user_terms):
        term_path = f"{terms_path}.nodeSelectorTerms[{index}]"
        _input.check(term, Mapping, term_path)
        new_term = copy_json(term)
        if any(new_term.get(key) for key in ("matchExpressions", "matchFields")):
            fields = _input.get(new_term, "matchFields", list, path=term_path, default=[])
            new_term["matchFields"] = [*fields, requirement]
        terms.append(new_term)
    if not terms:
        terms.append({"matchFields": [requirement]})

    spec = {key: (copy_json(value) if key != "affinity" else None) for key, value in pod_spec.items()}
    new_affinity = {key: copy_json(value) for key, value in affinity.items() if key != "nodeAffinity"}
    new_node_affinity = {
        key: copy_json(value)
        for key, value in node_affinity.items()
        if key != "requiredDuringSchedulingIgnoredDuringExecution"
    }
    new_required = {key: copy_json(value) for key, value in required.items() if key != "nodeSelectorTerms"}
    new_required["nodeSelectorTerms"] = terms
    new_node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = new_required
    new_affinity["nodeAffinity"] = new_node_affinity
    spec["affinity"] = new_affinity
    return spec


def broker_pod(
    *,
    instance: str,
    namespace: str,
    configuration: str,
    shared: bool,
    node: str,
    spec: Mapping[str, Any],
    path: str,
) -> dict[str, Any]:
    """One broker Pod for `node` (akri-contract.md §3.2).

    `spec` is the placeholder-substituted brokerPodSpec; the result has name
    `naming.broker_pod_name(...)`, labels `app`, `controller`, `akri.sh/configuration`,
    `akri.sh/instance`, `akri.sh/target-node`, and the node affinity described above.
    """
    name = naming.broker_pod_name(instance, shared=shared, node=node)
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
        "spec": with_node_affinity(spec, node, path=path),
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
