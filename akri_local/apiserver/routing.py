"""URL path parsing for the Kubernetes REST API (``k8s.io/apiserver/pkg/endpoints/request``).

Turns ``/api/v1/namespaces/ns/pods/name/status`` and friends into a :class:`Route`. Pure.
Recognised shapes::

    /api | /api/v1 | /apis | /apis/<g> | /apis/<g>/<v> | /version | /healthz|/livez|/readyz
    /api/v1[/watch]/<plural>[/<name>[/<sub>]]                          cluster-scoped / all ns
    /api/v1[/watch]/namespaces/<ns>/<plural>[/<name>[/<sub>]]          namespaced
    /apis/<g>/<v>/...                                                  same, for groups
    /api/v1/namespaces/<name>[/status|/finalize]                       namespace objects
"""

from __future__ import annotations

import dataclasses
import urllib.parse

__all__ = ["Route", "parse_path"]

_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_HEALTH = frozenset({"healthz", "livez", "readyz"})


@dataclasses.dataclass(frozen=True)
class Route:
    """A parsed path.

    ``kind`` is ``resource`` (then group/version/plural/namespace/name/subresource are set and
    ``watch`` marks the legacy ``/watch/`` prefix), ``core-versions`` (``/api``),
    ``group-list`` (``/apis``), ``group`` (``/apis/<g>``), ``resource-list``
    (``/api/v1``, ``/apis/<g>/<v>``), ``version`` or ``health``; ``None`` for unknown paths.
    """

    kind: str
    group: str = ""
    version: str = ""
    plural: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str = ""
    watch: bool = False


def _resource(group: str, version: str, parts: list[str]) -> Route | None:
    """Parse the part of a path after ``<group>/<version>``."""
    watch = bool(parts) and parts[0] == "watch"
    if watch:
        parts = parts[1:]
    if not parts:
        return None
    namespace: str | None = None
    if parts[0] == "namespaces" and len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
        namespace = parts[1]
        parts = parts[2:]
    if len(parts) > 3 or not all(parts):
        return None
    return Route("resource", group, version, plural=parts[0], namespace=namespace,
                 name=parts[1] if len(parts) > 1 else None,
                 subresource=parts[2] if len(parts) > 2 else "", watch=watch)


def parse_path(path: str) -> Route | None:
    """Parse the (URL-encoded) path of a request; None when it is not an API path."""
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    if not parts:
        return None
    head = parts[0]
    if len(parts) == 1 and head in _HEALTH:
        return Route("health")
    if parts == ["version"]:
        return Route("version")
    if head == "api":
        if len(parts) == 1:
            return Route("core-versions")
        if len(parts) == 2:
            return Route("resource-list", "", parts[1])
        return _resource("", parts[1], parts[2:])
    if head == "apis":
        if len(parts) == 1:
            return Route("group-list")
        if len(parts) == 2:
            return Route("group", parts[1])
        if len(parts) == 3:
            return Route("resource-list", parts[1], parts[2])
        return _resource(parts[1], parts[2], parts[3:])
    return None
