"""The Kubernetes resource kinds the agent touches, as data (lightkube's `ResourceDef` idea)."""

from __future__ import annotations

from dataclasses import dataclass

from akri_api import naming

__all__ = ["ResourceKind", "CONFIGURATIONS", "INSTANCES", "NODES", "PODS", "SECRETS", "CONFIGMAPS", "EVENTS"]


@dataclass(frozen=True, slots=True)
class ResourceKind:
    """One REST resource: `api_version` ("v1" or "group/version"), `kind`, lower-case `plural`."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """REST path, e.g. `/apis/akri.sh/v0/namespaces/ns/instances/x/status`.

        namespace None on a namespaced kind means "all namespaces" (list/watch only).
        """
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        parts = [prefix]
        if self.namespaced and namespace is not None:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


CONFIGURATIONS = ResourceKind(naming.API_VERSION, "Configuration", "configurations")
INSTANCES = ResourceKind(naming.API_VERSION, "Instance", "instances")
NODES = ResourceKind("v1", "Node", "nodes", namespaced=False)
PODS = ResourceKind("v1", "Pod", "pods")
SECRETS = ResourceKind("v1", "Secret", "secrets")
CONFIGMAPS = ResourceKind("v1", "ConfigMap", "configmaps")
EVENTS = ResourceKind("v1", "Event", "events")
