"""Typed, frozen views of the `akri.sh/v0` Configuration and Instance custom resources.

Parsing follows Akri's serde types (shared/src/akri/configuration.rs, instance.rs;
akri-contract.md §1): the fields the agent and hooks read are type-checked and given Akri's
defaults (`capacity` 1, `brokerProperties` {}, `discoveryDetails` "", Instance `shared` false,
`nodes` [], `deviceUsage` {}); fields Akri passes through untouched (broker Pod/Job specs,
Service specs) stay raw dicts. Like serde, parsing ignores fields it does not read; the strict
checks a user gets from `akri validate` and the admission webhook live in `validation.py`.
Every parsing failure raises `errors.InvalidObject` listing all problems found, each with its
field path.
The `deviceUsage` grammar lives in `device_usage.py`; its names are re-exported here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from akri_api import _paths, _reading, _yaml, naming
from akri_api.device_usage import SlotUsage, format_slot_usage, parse_slot_usage, slot_index, slot_key
from akri_api.errors import InvalidDeviceUsage, InvalidObject, Problem

__all__ = [
    "ValueFrom",
    "DiscoveryProperty",
    "DiscoveryHandlerInfo",
    "Configuration",
    "Instance",
    "SlotUsage",
    "parse_slot_usage",
    "format_slot_usage",
    "slot_index",
    "slot_key",
    "DEFAULT_CAPACITY",
    "DEFAULT_PROPERTY_NAMESPACE",
]

DEFAULT_CAPACITY = 1
"""Configuration.spec.capacity when absent (configuration.rs `default_capacity`)."""
DEFAULT_PROPERTY_NAMESPACE = "default"
"""Namespace of a discoveryProperty's Secret/ConfigMap when absent: "default", NOT the
Configuration's namespace (akri-contract.md §2.3)."""

ValueFromKind = Literal["secretKeyRef", "configMapKeyRef"]
_VALUE_FROM_KINDS: tuple[ValueFromKind, ...] = ("secretKeyRef", "configMapKeyRef")


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True, slots=True)
class ValueFrom:
    """`discoveryProperties[].valueFrom`: one key of a Secret or ConfigMap.

    kind: `secretKeyRef` | `configMapKeyRef`; name/key: object name and data key;
    namespace: defaults to "default"; optional: a missing object/key omits the property
    instead of failing discovery (akri-contract.md §2.3).
    """

    kind: ValueFromKind
    name: str
    key: str
    namespace: str = DEFAULT_PROPERTY_NAMESPACE
    optional: bool = False

    def to_dict(self) -> dict[str, Any]:
        """`{kind: {name, key, namespace, optional}}` as in the CRD."""
        return {self.kind: {"name": self.name, "key": self.key, "namespace": self.namespace, "optional": self.optional}}


@dataclass(frozen=True, slots=True)
class DiscoveryProperty:
    """One `spec.discoveryHandler.discoveryProperties[]` entry.

    Exactly one of value / value_from is normally set; with neither, the handler receives the
    key with no bytes (akri-contract.md §2.3).
    """

    name: str
    value: str | None = None
    value_from: ValueFrom | None = None

    def to_dict(self) -> dict[str, Any]:
        """CRD shape: `{name, value}` or `{name, valueFrom}` (or just `{name}`)."""
        out: dict[str, Any] = {"name": self.name}
        if self.value is not None:
            out["value"] = self.value
        if self.value_from is not None:
            out["valueFrom"] = self.value_from.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class DiscoveryHandlerInfo:
    """`spec.discoveryHandler`: which handler discovers devices and with what settings.

    details: opaque text the handler parses as YAML ("" when absent).
    """

    name: str
    details: str = ""
    properties: tuple[DiscoveryProperty, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """CRD shape; `discoveryProperties` omitted when empty (serde `Option`)."""
        out: dict[str, Any] = {"name": self.name, "discoveryDetails": self.details}
        if self.properties:
            out["discoveryProperties"] = [p.to_dict() for p in self.properties]
        return out


@dataclass(frozen=True)
class Configuration:
    """An `akri.sh/v0` Configuration (akri-contract.md §1.1).

    The dict-valued fields are private deep copies of the input; treat them as read-only and
    copy before building child objects from them. namespace defaults to "default" (as kubectl);
    uid and generation are None for objects that were never stored.
    """

    name: str
    namespace: str
    discovery_handler: DiscoveryHandlerInfo
    uid: str | None = None
    generation: int | None = None
    capacity: int = DEFAULT_CAPACITY
    broker_pod_spec: dict[str, Any] | None = None
    broker_job_spec: dict[str, Any] | None = None
    instance_service_spec: dict[str, Any] | None = None
    configuration_service_spec: dict[str, Any] | None = None
    broker_properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj: object) -> Configuration:
        """Read a decoded Configuration object (`{apiVersion, kind, metadata, spec}`).

        Required: metadata.name, spec.discoveryHandler.name (non-empty). apiVersion/kind, when
        present, must be akri.sh/v0 Configuration. Raises errors.InvalidObject listing every
        problem (wrong types, both brokerPodSpec and brokerJobSpec, malformed discoveryProperties,
        negative capacity).
        """
        reader = _ObjectReader()
        result = reader.configuration(obj)
        if reader.problems or result is None:
            raise InvalidObject("Configuration", reader.problems or [Problem(_paths.ROOT, "cannot be read")])
        return result

    @classmethod
    def from_yaml(cls, text: str) -> Configuration:
        """Read a single-document YAML text; raises errors.YamlError or errors.InvalidObject."""
        return cls.from_dict(_yaml.load(text))

    @property
    def has_broker(self) -> bool:
        """True when brokerPodSpec or brokerJobSpec is set."""
        return self.broker_pod_spec is not None or self.broker_job_spec is not None

    def to_dict(self) -> dict[str, Any]:
        """The object in Akri's serialization order (configuration.rs tests), None fields omitted:
        `spec = {discoveryHandler, capacity, brokerSpec?, instanceServiceSpec?,
        configurationServiceSpec?, brokerProperties}`."""
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.uid is not None:
            metadata["uid"] = self.uid
        if self.generation is not None:
            metadata["generation"] = self.generation
        spec: dict[str, Any] = {"discoveryHandler": self.discovery_handler.to_dict(), "capacity": self.capacity}
        if self.broker_pod_spec is not None:
            spec["brokerSpec"] = {"brokerPodSpec": copy.deepcopy(self.broker_pod_spec)}
        elif self.broker_job_spec is not None:
            spec["brokerSpec"] = {"brokerJobSpec": copy.deepcopy(self.broker_job_spec)}
        if self.instance_service_spec is not None:
            spec["instanceServiceSpec"] = copy.deepcopy(self.instance_service_spec)
        if self.configuration_service_spec is not None:
            spec["configurationServiceSpec"] = copy.deepcopy(self.configuration_service_spec)
        spec["brokerProperties"] = dict(self.broker_properties)
        return {"apiVersion": naming.API_VERSION, "kind": "Configuration", "metadata": metadata, "spec": spec}


# --------------------------------------------------------------------------------------------
# Instance


@dataclass(frozen=True)
class Instance:
    """An `akri.sh/v0` Instance: one discovered device (akri-contract.md §1.2).

    configuration_name: owning Configuration; cdi_name: `akri.sh/<configuration>=<hash>`;
    capacity: slot count; broker_properties: env for brokers; shared: discovered by a shared
    handler; nodes: nodes that can reach the device (a set, in input order); device_usage:
    `<instance>-<slot>` → usage value (see `parse_slot_usage`). uid / resource_version are the
    stored object's, None for a new object.
    """

    name: str
    namespace: str
    configuration_name: str
    cdi_name: str
    capacity: int
    broker_properties: dict[str, str] = field(default_factory=dict)
    shared: bool = False
    nodes: tuple[str, ...] = ()
    device_usage: dict[str, str] = field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None

    @classmethod
    def from_dict(cls, obj: object) -> Instance:
        """Read a decoded Instance object. Required: metadata.name, spec.configurationName,
        spec.cdiName, spec.capacity (integer >= 0) as in the CRD; the rest default as in Akri.
        Raises errors.InvalidObject listing every problem. deviceUsage keys/values are only
        type-checked here; `slot_usages()` checks their grammar."""
        reader = _ObjectReader()
        result = reader.instance(obj)
        if reader.problems or result is None:
            raise InvalidObject("Instance", reader.problems or [Problem(_paths.ROOT, "cannot be read")])
        return result

    @classmethod
    def from_yaml(cls, text: str) -> Instance:
        """Read a single-document YAML text; raises errors.YamlError or errors.InvalidObject."""
        return cls.from_dict(_yaml.load(text))

    def to_dict(self) -> dict[str, Any]:
        """The full object: `{apiVersion: akri.sh/v0, kind: Instance, metadata: {name, namespace,
        labels: {akri.sh/configuration: <configuration>}, uid?, resourceVersion?}, spec}` where
        spec is Akri's canonical shape and order (instance.rs tests): `{configurationName,
        cdiName, capacity, brokerProperties, shared, nodes, deviceUsage}`."""
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {naming.LABEL_CONFIGURATION: self.configuration_name},
        }
        if self.uid is not None:
            metadata["uid"] = self.uid
        if self.resource_version is not None:
            metadata["resourceVersion"] = self.resource_version
        spec = {
            "configurationName": self.configuration_name,
            "cdiName": self.cdi_name,
            "capacity": self.capacity,
            "brokerProperties": dict(self.broker_properties),
            "shared": self.shared,
            "nodes": list(self.nodes),
            "deviceUsage": dict(self.device_usage),
        }
        return {"apiVersion": naming.API_VERSION, "kind": "Instance", "metadata": metadata, "spec": spec}

    def slot_usages(self) -> dict[int, SlotUsage]:
        """deviceUsage as `{slot index: SlotUsage}` (absent slots are free and not listed).

        Raises errors.InvalidDeviceUsage for a key that is not `<name>-<int>`, an index
        >= capacity, or a value outside the grammar (akri-contract.md §1.2).
        """
        slots: dict[int, SlotUsage] = {}
        for key, value in self.device_usage.items():
            index = slot_index(self.name, key)
            if index >= self.capacity:
                raise InvalidDeviceUsage(
                    f"deviceUsage key {_paths.quote(key)}: slot {index} is not below capacity {self.capacity}"
                )
            try:
                slots[index] = parse_slot_usage(value)
            except InvalidDeviceUsage as exc:
                raise InvalidDeviceUsage(f"deviceUsage key {_paths.quote(key)}: {exc}") from exc
        return slots


# --------------------------------------------------------------------------------------------
# parsing


class _ObjectReader(_reading.FieldReader):
    """Reads Configuration and Instance objects field by field (Akri serde semantics)."""

    def configuration(self, obj: object) -> Configuration | None:
        header = self.header(obj, "Configuration")
        if header is None:
            return None
        metadata, spec = header
        name, namespace, uid = self.identity(metadata)
        generation = metadata.get("generation")
        if generation is not None:
            generation = self.count(generation, "metadata.generation", default=None)
        handler = self.discovery_handler(spec.get("discoveryHandler"), "spec.discoveryHandler")
        capacity = self.count(spec.get("capacity"), "spec.capacity", default=DEFAULT_CAPACITY)
        pod_spec, job_spec = self.broker_spec(spec.get("brokerSpec"), "spec.brokerSpec")
        instance_service = self.raw(spec.get("instanceServiceSpec"), "spec.instanceServiceSpec")
        configuration_service = self.raw(spec.get("configurationServiceSpec"), "spec.configurationServiceSpec")
        broker_properties = self.string_map(spec.get("brokerProperties"), "spec.brokerProperties")
        if self.problems or name is None or handler is None or capacity is None:
            return None
        return Configuration(
            name=name,
            namespace=namespace,
            uid=uid,
            generation=generation,
            discovery_handler=handler,
            capacity=capacity,
            broker_pod_spec=pod_spec,
            broker_job_spec=job_spec,
            instance_service_spec=instance_service,
            configuration_service_spec=configuration_service,
            broker_properties=broker_properties,
        )

    def discovery_handler(self, value: object, path: str) -> DiscoveryHandlerInfo | None:
        source = self.mapping(value, path, required=True)
        if source is None:
            return None
        name = self.text(source.get("name"), f"{path}.name", required=True, non_empty=True)
        details = self.text(source.get("discoveryDetails"), f"{path}.discoveryDetails", required=False)
        properties: list[DiscoveryProperty] = []
        raw_properties = source.get("discoveryProperties")
        properties_path = f"{path}.discoveryProperties"
        if raw_properties is not None and not isinstance(raw_properties, list):
            self._bad(properties_path, f"must be a list, got {_paths.describe(raw_properties)}")
        for index, item in enumerate(raw_properties if isinstance(raw_properties, list) else []):
            prop = self.discovery_property(item, _paths.join(properties_path, index))
            if prop is not None:
                properties.append(prop)
        if name is None:
            return None
        return DiscoveryHandlerInfo(name=name, details=details or "", properties=tuple(properties))

    def discovery_property(self, value: object, path: str) -> DiscoveryProperty | None:
        source = self.mapping(value, path, required=True)
        if source is None:
            return None
        name = self.text(source.get("name"), f"{path}.name", required=True)
        prop_value = self.text(source.get("value"), f"{path}.value", required=False)
        value_from = None
        if source.get("valueFrom") is not None:
            value_from = self.value_from(source.get("valueFrom"), f"{path}.valueFrom")
        if name is None:
            return None
        return DiscoveryProperty(name=name, value=prop_value, value_from=value_from)

    def value_from(self, value: object, path: str) -> ValueFrom | None:
        source = self.mapping(value, path, required=True)
        if source is None:
            return None
        kinds = [kind for kind in _VALUE_FROM_KINDS if source.get(kind) is not None]
        if len(kinds) != 1:
            self._bad(path, f"must set exactly one of secretKeyRef, configMapKeyRef, got {len(kinds)}")
            return None
        kind = kinds[0]
        ref_path = f"{path}.{kind}"
        ref = self.mapping(source.get(kind), ref_path, required=True)
        if ref is None:
            return None
        name = self.text(ref.get("name"), f"{ref_path}.name", required=True)
        key = self.text(ref.get("key"), f"{ref_path}.key", required=True)
        namespace = self.text(ref.get("namespace"), f"{ref_path}.namespace", required=False)
        optional = self.boolean(ref.get("optional"), f"{ref_path}.optional", default=False)
        if name is None or key is None:
            return None
        return ValueFrom(
            kind=kind, name=name, key=key, namespace=namespace or DEFAULT_PROPERTY_NAMESPACE, optional=optional
        )

    def broker_spec(self, value: object, path: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        source = self.mapping(value, path, required=False)
        if source is None:
            return None, None
        pod_spec = self.raw(source.get("brokerPodSpec"), f"{path}.brokerPodSpec")
        job_spec = self.raw(source.get("brokerJobSpec"), f"{path}.brokerJobSpec")
        if pod_spec is not None and job_spec is not None:
            self._bad(path, "brokerPodSpec and brokerJobSpec are mutually exclusive")
        return pod_spec, job_spec

    def instance(self, obj: object) -> Instance | None:
        header = self.header(obj, "Instance")
        if header is None:
            return None
        metadata, spec = header
        name, namespace, uid = self.identity(metadata)
        resource_version = self.text(metadata.get("resourceVersion"), "metadata.resourceVersion", required=False)
        configuration_name = self.text(
            spec.get("configurationName"), "spec.configurationName", required=True, non_empty=True
        )
        cdi = self.text(spec.get("cdiName"), "spec.cdiName", required=True, non_empty=True)
        capacity = self.count(spec.get("capacity"), "spec.capacity", default=None)
        broker_properties = self.string_map(spec.get("brokerProperties"), "spec.brokerProperties")
        shared = self.boolean(spec.get("shared"), "spec.shared", default=False)
        nodes = self.nodes(spec.get("nodes"), "spec.nodes")
        device_usage = self.string_map(spec.get("deviceUsage"), "spec.deviceUsage")
        if self.problems or name is None or configuration_name is None or cdi is None or capacity is None:
            return None
        return Instance(
            name=name,
            namespace=namespace,
            configuration_name=configuration_name,
            cdi_name=cdi,
            capacity=capacity,
            broker_properties=broker_properties,
            shared=shared,
            nodes=nodes,
            device_usage=device_usage,
            uid=uid,
            resource_version=resource_version,
        )
