"""Akri's shared API: the akri.sh/v0 model, names, Configuration validation and CRDs.

Used by both the agent and the hooks (DESIGN.md §1); pure (no Kubernetes API calls, no I/O
except reading the packaged CRD files). Inside this repo, import modules and refer to
`module.name` (`from akri_api import validation`); this façade lists what other packages may use.
"""

from akri_api.crds import configuration_schema, instance_schema, load_crds, to_json_schema
from akri_api.device_usage import SlotUsage, format_slot_usage, parse_slot_usage, slot_index, slot_key
from akri_api.errors import AkriApiError, InvalidDeviceUsage, InvalidObject, Problem, YamlError
from akri_api.model import (
    DEFAULT_CAPACITY,
    DEFAULT_PROPERTY_NAMESPACE,
    Configuration,
    DiscoveryHandlerInfo,
    DiscoveryProperty,
    Instance,
    ValueFrom,
)
from akri_api.naming import (
    AKRI_PREFIX,
    API_GROUP,
    API_VERSION,
    CONTROLLER_VALUE,
    LABEL_CONFIGURATION,
    LABEL_CONTROLLER,
    LABEL_INSTANCE,
    LABEL_TARGET_NODE,
    PLACEHOLDER,
    ConfigurationName,
    InstanceName,
    NodeName,
    broker_job_name,
    broker_pod_name,
    cdi_name,
    configuration_resource_name,
    configuration_service_name,
    device_hash,
    instance_name,
    instance_resource_name,
    instance_service_name,
)
from akri_api.validation import UDEV_PERMISSIONS, configuration_warnings, validate_configuration

__all__ = [
    "AKRI_PREFIX",
    "API_GROUP",
    "API_VERSION",
    "AkriApiError",
    "CONTROLLER_VALUE",
    "Configuration",
    "ConfigurationName",
    "DEFAULT_CAPACITY",
    "DEFAULT_PROPERTY_NAMESPACE",
    "DiscoveryHandlerInfo",
    "DiscoveryProperty",
    "Instance",
    "InstanceName",
    "InvalidDeviceUsage",
    "InvalidObject",
    "LABEL_CONFIGURATION",
    "LABEL_CONTROLLER",
    "LABEL_INSTANCE",
    "LABEL_TARGET_NODE",
    "NodeName",
    "PLACEHOLDER",
    "Problem",
    "SlotUsage",
    "UDEV_PERMISSIONS",
    "ValueFrom",
    "YamlError",
    "broker_job_name",
    "broker_pod_name",
    "cdi_name",
    "configuration_resource_name",
    "configuration_schema",
    "configuration_service_name",
    "configuration_warnings",
    "device_hash",
    "format_slot_usage",
    "instance_name",
    "instance_resource_name",
    "instance_schema",
    "instance_service_name",
    "load_crds",
    "parse_slot_usage",
    "slot_index",
    "slot_key",
    "to_json_schema",
    "validate_configuration",
]
