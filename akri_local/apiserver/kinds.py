"""Resource types the emulator serves and the per-kind rules ("strategies") that go with them.

A :class:`ResourceType` describes one served ``group/version/plural`` (scope, kind names,
subresources, supported field selector labels, deletion behaviour); :data:`BUILTIN_TYPES` lists
the built-in kinds and ``registry`` adds custom resources defined by CRDs.

The strategy functions mirror the kube-apiserver's ``pkg/registry/<group>/<kind>/strategy.go``
for the parts this project depends on: status reset on create, defaulting of pods, services
and jobs, pod-spec and job-template immutability, field selector attributes. They are pure
and mutate only the object they are given.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from akri_local.apiserver import errors

if TYPE_CHECKING:
    from akri_local.apiserver.schema import StructuralSchema

__all__ = [
    "BUILTIN_TYPES",
    "CRD_CLEANUP_FINALIZER",
    "NAMESPACE_FINALIZER",
    "ResourceType",
    "default_object",
    "field_values",
    "prepare_create",
    "prepare_update",
    "validate_object",
]

CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
NAMESPACE_FINALIZER = "kubernetes"
_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One served resource: ``/<prefix>/<group>/<version>[/namespaces/<ns>]/<plural>``.

    ``status`` says whether a ``/status`` subresource exists (and main-resource writes ignore
    status); ``field_labels`` are the extra ``fieldSelector`` keys besides metadata.name and
    metadata.namespace (``selectable`` holds their JSON paths for custom resources);
    ``return_deleted_object`` makes an immediate delete answer with the object rather than a
    ``Status``; ``default_propagation`` is ``Background`` or ``Orphan`` (batch/v1 Jobs);
    ``crd`` names the defining CRD (None for built-ins); ``schema`` validates custom resources.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False
    subresources: tuple[str, ...] = ()
    field_labels: frozenset[str] = frozenset()
    selectable: tuple[tuple[str, str], ...] = ()
    return_deleted_object: bool = False
    default_propagation: str = "Background"
    dns_label_names: bool = False
    allow_unconditional_update: bool = True
    crd: str | None = None
    schema: StructuralSchema | None = dataclasses.field(default=None, compare=False, repr=False)
    storage_version: str = ""
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch",
                              "update", "watch")

    @property
    def api_version(self) -> str:
        """``v1`` or ``<group>/<version>``, as ``apiVersion`` is written."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> tuple[str, str]:
        """``(group, plural)``: the storage key, shared by every served version."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        """``<Kind>List``."""
        return f"{self.kind}List"


def _core(plural: str, kind: str, namespaced: bool = True, **extra: Any) -> ResourceType:
    """A core/v1 resource type."""
    return ResourceType("", "v1", plural, kind, namespaced, singular=kind.lower(), **extra)


_POD_FIELDS = frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                         "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                         "status.podIP", "status.podIPs", "status.nominatedNodeName"})
_EVENT_FIELDS = frozenset({"involvedObject.kind", "involvedObject.namespace",
                           "involvedObject.name", "involvedObject.uid",
                           "involvedObject.apiVersion", "involvedObject.resourceVersion",
                           "involvedObject.fieldPath", "reason", "reportingComponent",
                           "source", "type"})

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", False, short_names=("ns",), status=True,
          subresources=("status", "finalize"), field_labels=frozenset({"status.phase"}),
          dns_label_names=True),
    _core("nodes", "Node", False, short_names=("no",), status=True, subresources=("status",),
          field_labels=frozenset({"spec.unschedulable"})),
    _core("pods", "Pod", short_names=("po",), categories=("all",), status=True,
          subresources=("status", "binding"), field_labels=_POD_FIELDS,
          return_deleted_object=True),
    _core("services", "Service", short_names=("svc",), categories=("all",), status=True,
          subresources=("status",), field_labels=frozenset({"spec.clusterIP", "spec.type"}),
          return_deleted_object=True, dns_label_names=True),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret", field_labels=frozenset({"type"})),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",), return_deleted_object=True),
    _core("events", "Event", short_names=("ev",), field_labels=_EVENT_FIELDS),
    _core("bindings", "Binding", verbs=("create",)),
    ResourceType("events.k8s.io", "v1", "events", "Event", True, singular="event",
                 short_names=("ev",)),
    ResourceType("batch", "v1", "jobs", "Job", True, singular="job", categories=("all",),
                 status=True, subresources=("status",),
                 field_labels=frozenset({"status.successful"}), default_propagation="Orphan"),
    ResourceType("apps", "v1", "deployments", "Deployment", True, singular="deployment",
                 short_names=("deploy",), categories=("all",), status=True,
                 subresources=("status",)),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, singular="daemonset",
                 short_names=("ds",), categories=("all",), status=True, subresources=("status",)),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, singular="lease"),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                 "CustomResourceDefinition", False, singular="customresourcedefinition",
                 short_names=("crd", "crds"), status=True, subresources=("status",),
                 allow_unconditional_update=False),
    ResourceType("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
                 "ValidatingWebhookConfiguration", False,
                 singular="validatingwebhookconfiguration"),
)


def _field_text(value: Any) -> str:
    """A field selector attribute as text: bools lower-case, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lookup(obj: Any, path: str) -> Any:
    """Value at dotted ``path`` (``spec.nodeName``) in ``obj``, or None."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def field_values(rt: ResourceType, obj: dict[str, Any]) -> dict[str, str]:
    """The fieldSelector attributes of ``obj`` (``GetAttrs``): metadata.* plus kind-specific."""
    meta = obj.get("metadata") or {}
    fields = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}
    if not rt.namespaced:
        fields["metadata.namespace"] = ""
    for label in rt.field_labels:
        if label == "source":
            value = _lookup(obj, "source.component")
        elif label == "status.podIPs":
            value = ",".join(ip.get("ip", "") for ip in _lookup(obj, "status.podIPs") or [])
        elif label == "status.successful":
            value = _lookup(obj, "status.succeeded") or 0
        else:
            value = _lookup(obj, label)
        fields[label] = _field_text(value)
    for label, path in rt.selectable:
        fields[label] = _field_text(_lookup(obj, path.lstrip(".")))
    return fields


def supported_field_labels(rt: ResourceType) -> frozenset[str]:
    """Every fieldSelector key ``rt`` accepts."""
    return _META_FIELDS | rt.field_labels | {label for label, _ in rt.selectable}


# ---------------------------------------------------------------------------------- defaults

def _image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or untagged images, else ``IfNotPresent`` (core defaults)."""
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_pod_spec(spec: dict[str, Any]) -> None:
    """Fill the pod-spec defaults of ``pkg/apis/core/v1/defaults.go`` that clients see."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if not isinstance(container, dict):
                continue
            if isinstance(container.get("image"), str):
                container.setdefault("imagePullPolicy", _image_pull_policy(container["image"]))
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})
            for port in container.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _qos_class(spec: dict[str, Any]) -> str:
    """``status.qosClass`` from container requests/limits (pkg/apis/core/helper/qos)."""
    resources = [c.get("resources") or {} for c in spec.get("containers") or [] if isinstance(c, dict)]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for res in resources:
        limits = res.get("limits") or {}
        requests = res.get("requests") or limits
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name) != limits.get(name):
                return "Burstable"
    return "Guaranteed"


def _default_service(obj: dict[str, Any]) -> None:
    """Service spec defaults (type, sessionAffinity, port protocol/targetPort, IP families)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])


def _default_job(obj: dict[str, Any]) -> None:
    """Job defaults: parallelism, completions, backoffLimit, completionMode, pod template."""
    spec = obj.setdefault("spec", {})
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        _default_pod_spec(template["spec"])


def default_object(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Apply the built-in defaults of ``rt``'s kind to ``obj`` in place (no-op for others)."""
    key = rt.group_resource
    if key == ("", "pods") and isinstance(obj.get("spec"), dict):
        _default_pod_spec(obj["spec"])
    elif key == ("", "services"):
        _default_service(obj)
    elif key == ("batch", "jobs"):
        _default_job(obj)
    elif key == ("", "secrets"):
        obj.setdefault("type", "Opaque")


# -------------------------------------------------------------------------------- validation

def _pod_spec_causes(spec: Any, path: str) -> list[errors.FieldCause]:
    """Minimal pod spec validation: containers present, each named and with an image."""
    if not isinstance(spec, dict):
        return [errors.FieldCause(path, "Required value", "FieldValueRequired")]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [errors.FieldCause(f"{path}.containers", "Required value", "FieldValueRequired")]
    causes = []
    names: set[str] = set()
    for index, container in enumerate(containers):
        where = f"{path}.containers[{index}]"
        if not isinstance(container, dict):
            causes.append(errors.FieldCause(where, "must be an object"))
            continue
        name = container.get("name")
        if not isinstance(name, str) or not name:
            causes.append(errors.FieldCause(f"{where}.name", "Required value", "FieldValueRequired"))
        elif name in names:
            causes.append(errors.FieldCause(f"{where}.name", f'Duplicate value: "{name}"',
                                            "FieldValueDuplicate"))
        names.add(name if isinstance(name, str) else "")
        if not isinstance(container.get("image"), str) or not container.get("image"):
            causes.append(errors.FieldCause(f"{where}.image", "Required value", "FieldValueRequired"))
    return causes


def validate_object(rt: ResourceType, obj: dict[str, Any]) -> list[errors.FieldCause]:
    """Kind-specific validation of a create/update body (after defaulting)."""
    key = rt.group_resource
    if key == ("", "pods"):
        return _pod_spec_causes(obj.get("spec"), "spec")
    if key == ("batch", "jobs"):
        template = (obj.get("spec") or {}).get("template")
        if not isinstance(template, dict):
            return [errors.FieldCause("spec.template", "Required value", "FieldValueRequired")]
        causes = _pod_spec_causes(template.get("spec"), "spec.template.spec")
        policy = (template.get("spec") or {}).get("restartPolicy")
        if policy not in ("OnFailure", "Never"):
            causes.append(errors.FieldCause(
                "spec.template.spec.restartPolicy",
                f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
                "FieldValueNotSupported"))
        return causes
    if key == ("", "events") and not isinstance(obj.get("involvedObject"), dict):
        return [errors.FieldCause("involvedObject", "Required value", "FieldValueRequired")]
    return []


# ---------------------------------------------------------------------------- create / update

def _job_labels(obj: dict[str, Any]) -> None:
    """Generated selector and template labels of a Job without ``manualSelector``."""
    meta = obj["metadata"]
    spec = obj.setdefault("spec", {})
    if spec.get("manualSelector"):
        return
    uid, name = meta["uid"], meta["name"]
    labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
              "controller-uid": uid, "job-name": name}
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    template = spec.get("template")
    if isinstance(template, dict):
        template_meta = template.setdefault("metadata", {})
        template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}


def prepare_create(rt: ResourceType, obj: dict[str, Any], *,
                   allocate_ip: Callable[[], str]) -> None:
    """Strategy ``PrepareForCreate``: reset/initialise status and system-owned spec fields.

    ``obj`` already has uid, name and namespace; ``allocate_ip`` returns a fresh ClusterIP.
    """
    key = rt.group_resource
    if key == ("", "pods"):
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj.get("spec") or {})}
    elif key == ("", "namespaces"):
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        finalizers = spec.setdefault("finalizers", [])
        if NAMESPACE_FINALIZER not in finalizers:
            finalizers.append(NAMESPACE_FINALIZER)
    elif key == ("", "services"):
        obj["status"] = {"loadBalancer": {}}
        spec = obj["spec"]
        if spec.get("type") != "ExternalName" and not spec.get("clusterIP"):
            spec["clusterIP"] = allocate_ip()
        if spec.get("clusterIP") and "clusterIPs" not in spec:
            spec["clusterIPs"] = [spec["clusterIP"]]
    elif key == ("batch", "jobs"):
        obj["status"] = {}
        _job_labels(obj)
    elif key in (("apps", "deployments"), ("apps", "daemonsets")):
        obj["status"] = {}
    elif rt.crd is not None and rt.status:
        obj.pop("status", None)


_POD_MUTABLE = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds",
                "schedulingGates")


def _neutral_pod_spec(spec: Any) -> Any:
    """A copy of a pod spec with the fields an update may change blanked out."""
    spec = copy.deepcopy(spec) if isinstance(spec, dict) else {}
    for field in _POD_MUTABLE:
        spec.pop(field, None)
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                container.pop("image", None)
    return spec


def prepare_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> list[errors.FieldCause]:
    """Strategy ``PrepareForUpdate`` + ``ValidateUpdate`` for the main resource.

    Copies system-allocated fields from ``old`` into ``new`` (service clusterIP, job selector)
    and returns immutability violations (pod spec, job template) as field causes.
    """
    key = rt.group_resource
    if key == ("", "services"):
        new_spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        for field in ("clusterIP", "clusterIPs"):
            if field in old_spec and not new_spec.get(field):
                new_spec[field] = old_spec[field]
        if old_spec.get("clusterIP") and new_spec.get("clusterIP") != old_spec.get("clusterIP"):
            return [errors.FieldCause("spec.clusterIP", "Invalid value: field is immutable")]
    elif key == ("", "pods"):
        if _neutral_pod_spec(new.get("spec")) != _neutral_pod_spec(old.get("spec")):
            return [errors.FieldCause(
                "spec", "Forbidden: pod updates may not change fields other than "
                "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if "
                "it was previously negative)", "FieldValueForbidden")]
    elif key == ("batch", "jobs"):
        new_spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        if "selector" not in new_spec and "selector" in old_spec:
            new_spec["selector"] = old_spec["selector"]
        template = new_spec.get("template")
        old_labels = ((old_spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if isinstance(template, dict) and not new_spec.get("manualSelector"):
            template_meta = template.setdefault("metadata", {})
            template_meta["labels"] = {**old_labels, **(template_meta.get("labels") or {})}
        for field in ("template", "selector", "completionMode"):
            if new_spec.get(field) != old_spec.get(field):
                return [errors.FieldCause(f"spec.{field}", "Invalid value: field is immutable")]
    return []
