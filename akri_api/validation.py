"""Validation of `akri.sh/v0` Configurations: one verdict for `akri validate` and the webhook.

`validate_configuration` applies, in one pass that reports every problem with its field path:
- the Configuration CRD schema (manifests/crds/akri-configuration-crd.yaml): types, the
  discoveryProperty name pattern, `oneOf` value/valueFrom and secretKeyRef/configMapKeyRef,
  capacity >= 0;
- Akri's serde types and validating webhook (akri-contract.md §1.1, §4): discoveryHandler.name
  required, brokerPodSpec and brokerJobSpec mutually exclusive, `valueFrom` refs need name and
  key, udev discoveryDetails (`udevRules`, `groupRecursive`, `permissions`, each rule parsed by
  `udev_rules.parse_rule`), and no field unknown to the Kubernetes types of brokerPodSpec
  (PodSpec), brokerJobSpec (JobSpec), instanceServiceSpec/configurationServiceSpec
  (ServiceSpec) and metadata (ObjectMeta), checked against the `kubernetes` client's models;
- two rules of our own: metadata.name at most 63 characters (it becomes the
  `akri.sh/configuration` label value of every Instance, and label values are limited to 63);
  pod-level `brokerPodSpec.resources` must not name the device resource
  (`{{PLACEHOLDER}}` / `akri.sh/...`): extended resources only work per container.
Where Akri is more lenient than its CRD (empty property names, properties with neither value
nor valueFrom, empty udev details), we follow the stricter rule, as the API server would.

`configuration_warnings` lists what is legal but almost certainly a mistake (brokers that never
request their device, pod-level resources, ignored udev keys, names too long for labels).
Both functions take any decoded JSON/YAML value and never raise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from akri_api import _kube_schema, _paths, naming, udev_rules, yamlio
from akri_api.errors import Problem, YamlError

__all__ = ["Problem", "validate_configuration", "configuration_warnings", "UDEV_PERMISSIONS"]

UDEV_PERMISSIONS: tuple[str, ...] = ("r", "w", "m", "rw", "rm", "rwm", "wm")
"""Device-node permissions the udev handler accepts (akri-contract.md §5.3)."""

_C_IDENTIFIER = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_SUBDOMAIN_MAX_CHARS = 253
_LABEL_VALUE_MAX_CHARS = 63
_INSTANCE_SUFFIX_CHARS = len("-123abc")

_TOP_LEVEL_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_SPEC_FIELDS = frozenset(
    {
        "discoveryHandler",
        "capacity",
        "brokerSpec",
        "instanceServiceSpec",
        "configurationServiceSpec",
        "brokerProperties",
    }
)
_HANDLER_FIELDS = frozenset({"name", "discoveryDetails", "discoveryProperties"})
_PROPERTY_FIELDS = frozenset({"name", "value", "valueFrom"})
_VALUE_FROM_FIELDS = ("secretKeyRef", "configMapKeyRef")
_KEY_REF_FIELDS = frozenset({"name", "key", "namespace", "optional"})
_BROKER_SPEC_FIELDS = {"brokerPodSpec": "V1PodSpec", "brokerJobSpec": "V1JobSpec"}
_SERVICE_SPEC_FIELDS = ("instanceServiceSpec", "configurationServiceSpec")
_UDEV_FIELDS = frozenset({"udevRules", "groupRecursive", "permissions"})

_POD_SPEC_PATH = "spec.brokerSpec.brokerPodSpec"
_JOB_POD_SPEC_PATH = "spec.brokerSpec.brokerJobSpec.template.spec"


def validate_configuration(obj: object) -> list[Problem]:
    """Every problem of a decoded Configuration object ([] when valid), section by section.

    obj: the object as decoded from JSON or YAML (`{apiVersion, kind, metadata, spec}`); any
    value is accepted (None, lists, numbers...) and yields problems rather than an exception.
    Each Problem names the field path and quotes the offending value, e.g.
    `spec.capacity: must be >= 0, got -1` or
    `spec.brokerSpec: brokerPodSpec and brokerJobSpec are mutually exclusive`.
    Contract: the Configuration CRD schema plus Akri's webhook (akri-contract.md §1.1, §4).
    """
    problems: list[Problem] = []
    if not isinstance(obj, Mapping):
        return [Problem(_paths.ROOT, f"must be an object (an akri.sh/v0 Configuration), got {_paths.describe(obj)}")]
    _check_fields(obj, _paths.ROOT, _TOP_LEVEL_FIELDS, "Configuration", problems)
    _expect_constant(obj.get("apiVersion"), "apiVersion", naming.API_VERSION, problems)
    _expect_constant(obj.get("kind"), "kind", "Configuration", problems)
    _check_metadata(obj.get("metadata"), problems)
    spec = obj.get("spec")
    if spec is None:
        problems.append(Problem("spec", "required"))
    elif not isinstance(spec, Mapping):
        problems.append(Problem("spec", f"must be an object, got {_paths.describe(spec)}"))
    else:
        _check_spec(spec, problems)
    status = obj.get("status")
    if status is not None and not isinstance(status, Mapping):
        problems.append(Problem("status", f"must be an object, got {_paths.describe(status)}"))
    return problems


def configuration_warnings(obj: object) -> list[str]:
    """Warnings for a Configuration that is valid but probably wrong; [] for anything else.

    Each warning is `"<field path>: <message>"`. Reported: a broker Pod (or Job template) in which
    no container or initContainer requests or limits `{{PLACEHOLDER}}` or an `akri.sh/...`
    resource (its brokers would never receive their device); a pod-level `resources` block that
    does not name the device (device requests belong in containers[].resources); udev
    discoveryDetails keys the udev handler ignores; a name so long that its Instance names
    cannot be label values. Never raises.
    """
    if not isinstance(obj, Mapping):
        return []
    warnings: list[str] = []
    spec = obj.get("spec")
    if isinstance(spec, Mapping):
        for path, pod_spec in _broker_pod_specs(spec):
            if not any(True for _ in _device_resource_paths(pod_spec, path)):
                warnings.append(
                    f"{path}: no container or initContainer requests or limits {_paths.quote(naming.PLACEHOLDER)}"
                    f" or an {_paths.quote(naming.AKRI_PREFIX + '/...')} resource, so its brokers will never"
                    " receive their device"
                )
            resources = pod_spec.get("resources")
            if isinstance(resources, Mapping) and not _names_device(resources):
                warnings.append(
                    f"{path}.resources: pod-level resources are not where brokers get their device; Akri only"
                    f" fills {_paths.quote(naming.PLACEHOLDER)} in containers[].resources, so put device"
                    " requests there"
                )
        warnings.extend(_udev_warnings(spec))
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if isinstance(name, str) and len(name) + _INSTANCE_SUFFIX_CHARS > _LABEL_VALUE_MAX_CHARS:
        warnings.append(
            f"metadata.name: {len(name)} characters; its Instance names (<name>-<6 hex digits>) exceed the"
            f" {_LABEL_VALUE_MAX_CHARS}-character limit of the {naming.LABEL_INSTANCE} label value, so brokers and"
            " services cannot be labelled"
        )
    return warnings


# --------------------------------------------------------------------------------------------
# object, metadata, spec


def _check_fields(obj: Mapping[Any, Any], path: str, known: frozenset[str], what: str, problems: list[Problem]) -> None:
    for key in obj:
        if not isinstance(key, str):
            problems.append(Problem(path, f"field names must be strings, got {_paths.describe(key)}"))
        elif key not in known:
            problems.append(Problem(_paths.join(path, key), f"unknown field {_paths.quote(key)} in {what}"))


def _expect_constant(value: object, path: str, expected: str, problems: list[Problem]) -> None:
    if value is None:
        problems.append(Problem(path, f"required, must be {_paths.quote(expected)}"))
    elif value != expected:
        problems.append(Problem(path, f"must be {_paths.quote(expected)}, got {_paths.describe(value)}"))


def _check_metadata(metadata: object, problems: list[Problem]) -> None:
    if metadata is None:
        problems.append(Problem("metadata", "required (with a name)"))
        return
    problems.extend(_kube_schema.check(metadata, "V1ObjectMeta", "metadata"))
    if not isinstance(metadata, Mapping):
        return
    name, generate_name = metadata.get("name"), metadata.get("generateName")
    if name is None and generate_name is None:
        problems.append(Problem("metadata.name", "required"))
    elif isinstance(name, str) and not _is_dns_subdomain(name):
        problems.append(
            Problem(
                "metadata.name",
                "must be a DNS-1123 subdomain (at most 253 lower-case alphanumerics, '-' or '.', starting and ending"
                f" with an alphanumeric), got {_paths.describe(name)}",
            )
        )
    elif isinstance(name, str) and len(name) > _LABEL_VALUE_MAX_CHARS:
        problems.append(
            Problem(
                "metadata.name",
                f"at most {_LABEL_VALUE_MAX_CHARS} characters, got {len(name)}: every Instance of this"
                f" Configuration carries it as the value of the {naming.LABEL_CONFIGURATION} label, and label"
                f" values are limited to {_LABEL_VALUE_MAX_CHARS} characters",
            )
        )


def _is_dns_subdomain(name: str) -> bool:
    return len(name) <= _DNS_SUBDOMAIN_MAX_CHARS and _DNS_SUBDOMAIN.match(name) is not None


def _check_spec(spec: Mapping[Any, Any], problems: list[Problem]) -> None:
    _check_fields(spec, "spec", _SPEC_FIELDS, "Configuration spec", problems)
    _check_discovery_handler(spec.get("discoveryHandler"), "spec.discoveryHandler", problems)
    capacity = spec.get("capacity")
    if capacity is not None:
        if not isinstance(capacity, int) or isinstance(capacity, bool):
            problems.append(Problem("spec.capacity", f"must be an integer, got {_paths.describe(capacity)}"))
        elif capacity < 0:
            problems.append(Problem("spec.capacity", f"must be >= 0, got {_paths.scalar(capacity)}"))
    _check_broker_spec(spec.get("brokerSpec"), "spec.brokerSpec", problems)
    for field in _SERVICE_SPEC_FIELDS:
        problems.extend(_kube_schema.check(spec.get(field), "V1ServiceSpec", f"spec.{field}"))
    _check_string_map(spec.get("brokerProperties"), "spec.brokerProperties", problems)


def _check_string_map(value: object, path: str, problems: list[Problem]) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"must be an object (map of string to string), got {_paths.describe(value)}"))
        return
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(Problem(path, f"keys must be strings, got {_paths.describe(key)}"))
        elif not isinstance(item, str):
            problems.append(Problem(_paths.join(path, key), f"must be a string, got {_paths.describe(item)}"))


# --------------------------------------------------------------------------------------------
# discoveryHandler


def _check_discovery_handler(handler: object, path: str, problems: list[Problem]) -> None:
    if handler is None:
        problems.append(Problem(path, "required"))
        return
    if not isinstance(handler, Mapping):
        problems.append(Problem(path, f"must be an object, got {_paths.describe(handler)}"))
        return
    _check_fields(handler, path, _HANDLER_FIELDS, "discoveryHandler", problems)
    name = handler.get("name")
    if name is None:
        problems.append(Problem(f"{path}.name", "required"))
    elif not isinstance(name, str):
        problems.append(Problem(f"{path}.name", f"must be a string, got {_paths.describe(name)}"))
    elif not name:
        problems.append(Problem(f"{path}.name", "must not be empty"))
    details = handler.get("discoveryDetails")
    if details is not None and not isinstance(details, str):
        problems.append(Problem(f"{path}.discoveryDetails", f"must be a string, got {_paths.describe(details)}"))
    elif isinstance(name, str) and name.lower() == "udev":
        _check_udev_details(details or "", f"{path}.discoveryDetails", problems)
    properties = handler.get("discoveryProperties")
    properties_path = f"{path}.discoveryProperties"
    if properties is None:
        return
    if not isinstance(properties, list):
        problems.append(Problem(properties_path, f"must be a list, got {_paths.describe(properties)}"))
        return
    for index, prop in enumerate(properties):
        _check_discovery_property(prop, _paths.join(properties_path, index), problems)


def _check_discovery_property(prop: object, path: str, problems: list[Problem]) -> None:
    if not isinstance(prop, Mapping):
        problems.append(
            Problem(path, f"must be an object with name and value or valueFrom, got {_paths.describe(prop)}")
        )
        return
    _check_fields(prop, path, _PROPERTY_FIELDS, "discoveryProperty", problems)
    name = prop.get("name")
    if name is None:
        problems.append(Problem(f"{path}.name", "required"))
    elif not isinstance(name, str):
        problems.append(Problem(f"{path}.name", f"must be a string, got {_paths.describe(name)}"))
    elif not _C_IDENTIFIER.match(name):
        problems.append(
            Problem(
                f"{path}.name",
                "must be a C identifier (letters, digits and '_', not starting with a digit),"
                f" got {_paths.describe(name)}",
            )
        )
    has_value, has_value_from = "value" in prop, "valueFrom" in prop
    if has_value == has_value_from:
        problems.append(
            Problem(path, f"must set exactly one of value, valueFrom, got {'both' if has_value else 'neither'}")
        )
    value = prop.get("value")
    if value is not None and not isinstance(value, str):
        problems.append(Problem(f"{path}.value", f"must be a string, got {_paths.describe(value)}"))
    if has_value_from:
        _check_value_from(prop.get("valueFrom"), f"{path}.valueFrom", problems)


def _check_value_from(value_from: object, path: str, problems: list[Problem]) -> None:
    if not isinstance(value_from, Mapping):
        problems.append(
            Problem(path, f"must be an object with secretKeyRef or configMapKeyRef, got {_paths.describe(value_from)}")
        )
        return
    _check_fields(value_from, path, frozenset(_VALUE_FROM_FIELDS), "valueFrom", problems)
    present = [kind for kind in _VALUE_FROM_FIELDS if kind in value_from]
    if len(present) != 1:
        problems.append(
            Problem(
                path, f"must set exactly one of secretKeyRef, configMapKeyRef, got {' and '.join(present) or 'neither'}"
            )
        )
    for kind in present:
        ref_path = f"{path}.{kind}"
        ref = value_from.get(kind)
        if not isinstance(ref, Mapping):
            problems.append(Problem(ref_path, f"must be an object with name and key, got {_paths.describe(ref)}"))
            continue
        _check_fields(ref, ref_path, _KEY_REF_FIELDS, kind, problems)
        for field in ("name", "key", "namespace"):
            item = ref.get(field)
            if item is None:
                if field != "namespace":
                    problems.append(Problem(f"{ref_path}.{field}", "required"))
            elif not isinstance(item, str):
                problems.append(Problem(f"{ref_path}.{field}", f"must be a string, got {_paths.describe(item)}"))
        optional = ref.get("optional")
        if optional is not None and not isinstance(optional, bool):
            problems.append(Problem(f"{ref_path}.optional", f"must be a boolean, got {_paths.describe(optional)}"))


def _udev_details(details: str, path: str, problems: list[Problem]) -> Mapping[Any, Any] | None:
    """The udev discoveryDetails mapping, or None after recording why it is unusable."""
    try:
        parsed = yamlio.load_yaml12(details)  # as the udev handler reads it (serde_yaml, YAML 1.2)
    except YamlError as exc:
        problems.append(Problem(path, f"udev discoveryDetails are not valid YAML: {exc}"))
        return None
    if parsed is None:
        problems.append(
            Problem(path, f"the udev handler needs discoveryDetails with udevRules, got {_paths.describe(details)}")
        )
        return None
    if not isinstance(parsed, Mapping):
        problems.append(
            Problem(path, f"udev discoveryDetails must be a YAML mapping with udevRules, got {_paths.describe(parsed)}")
        )
        return None
    return parsed


def _check_udev_details(details: str, path: str, problems: list[Problem]) -> None:
    parsed = _udev_details(details, path, problems)
    if parsed is None:
        return
    rules = parsed.get("udevRules")
    rules_path = f"{path}.udevRules"
    if rules is None:
        problems.append(Problem(rules_path, "required (a list of udev rules)"))
    elif not isinstance(rules, list):
        problems.append(Problem(rules_path, f"must be a list of strings, got {_paths.describe(rules)}"))
    else:
        for index, rule in enumerate(rules):
            rule_path = _paths.join(rules_path, index)
            if not isinstance(rule, str):
                problems.append(Problem(rule_path, f"must be a string, got {_paths.describe(rule)}"))
                continue
            try:
                udev_rules.parse_rule(rule)
            except udev_rules.UdevRuleError as exc:
                problems.append(Problem(rule_path, str(exc)))
    group_recursive = parsed.get("groupRecursive")
    if group_recursive is not None and not isinstance(group_recursive, bool):
        problems.append(Problem(f"{path}.groupRecursive", f"must be a boolean, got {_paths.describe(group_recursive)}"))
    permissions = parsed.get("permissions")
    if permissions is not None and permissions not in UDEV_PERMISSIONS:
        problems.append(
            Problem(
                f"{path}.permissions",
                f"must be one of {', '.join(UDEV_PERMISSIONS)}, got {_paths.describe(permissions)}",
            )
        )


def _udev_warnings(spec: Mapping[Any, Any]) -> list[str]:
    handler = spec.get("discoveryHandler")
    if not isinstance(handler, Mapping):
        return []
    name, details = handler.get("name"), handler.get("discoveryDetails")
    if not isinstance(name, str) or name.lower() != "udev" or not isinstance(details, str):
        return []
    parsed = _udev_details(details, "", [])
    if parsed is None:
        return []
    path = "spec.discoveryHandler.discoveryDetails"
    return [
        f"{_paths.join(path, key)}: ignored by the udev handler (it reads {', '.join(sorted(_UDEV_FIELDS))})"
        for key in parsed
        if key not in _UDEV_FIELDS
    ]


# --------------------------------------------------------------------------------------------
# brokerSpec


def _check_broker_spec(broker_spec: object, path: str, problems: list[Problem]) -> None:
    if broker_spec is None:
        return
    if not isinstance(broker_spec, Mapping):
        problems.append(
            Problem(path, f"must be an object with brokerPodSpec or brokerJobSpec, got {_paths.describe(broker_spec)}")
        )
        return
    _check_fields(broker_spec, path, frozenset(_BROKER_SPEC_FIELDS), "brokerSpec", problems)
    if all(broker_spec.get(field) is not None for field in _BROKER_SPEC_FIELDS):
        problems.append(Problem(path, "brokerPodSpec and brokerJobSpec are mutually exclusive"))
    for field, model in _BROKER_SPEC_FIELDS.items():
        problems.extend(_kube_schema.check(broker_spec.get(field), model, f"{path}.{field}"))
    spec = {"brokerSpec": broker_spec}
    for pod_path, pod_spec in _broker_pod_specs(spec):
        resources = pod_spec.get("resources")
        if isinstance(resources, Mapping):
            for resource_path in _device_resource_paths_in(resources, f"{pod_path}.resources"):
                problems.append(
                    Problem(
                        resource_path,
                        "pod-level resources cannot carry extended resources such as the device; move it under"
                        " containers[].resources",
                    )
                )


def _broker_pod_specs(spec: Mapping[Any, Any]) -> Iterator[tuple[str, Mapping[Any, Any]]]:
    """(path, pod spec) of brokerPodSpec and of brokerJobSpec.template.spec, where they are objects."""
    broker_spec = spec.get("brokerSpec")
    if not isinstance(broker_spec, Mapping):
        return
    pod_spec = broker_spec.get("brokerPodSpec")
    if isinstance(pod_spec, Mapping):
        yield _POD_SPEC_PATH, pod_spec
    job_spec = broker_spec.get("brokerJobSpec")
    template = job_spec.get("template") if isinstance(job_spec, Mapping) else None
    template_spec = template.get("spec") if isinstance(template, Mapping) else None
    if isinstance(template_spec, Mapping):
        yield _JOB_POD_SPEC_PATH, template_spec


def _device_resource_paths(pod_spec: Mapping[Any, Any], path: str) -> Iterator[str]:
    """Paths of device resources requested or limited by the containers and initContainers."""
    for list_field in ("containers", "initContainers"):
        containers = pod_spec.get(list_field)
        if not isinstance(containers, list):
            continue
        for index, container in enumerate(containers):
            resources = container.get("resources") if isinstance(container, Mapping) else None
            if isinstance(resources, Mapping):
                yield from _device_resource_paths_in(resources, f"{path}.{list_field}[{index}].resources")


def _device_resource_paths_in(resources: Mapping[Any, Any], path: str) -> Iterator[str]:
    for section in ("requests", "limits"):
        amounts = resources.get(section)
        if isinstance(amounts, Mapping):
            for key in amounts:
                if _is_device_resource(key):
                    yield _paths.join(f"{path}.{section}", key)


def _names_device(resources: Mapping[Any, Any]) -> bool:
    return any(True for _ in _device_resource_paths_in(resources, ""))


def _is_device_resource(key: object) -> bool:
    return isinstance(key, str) and (key == naming.PLACEHOLDER or key.startswith(naming.AKRI_PREFIX + "/"))
