"""CompositeController objects → validated, frozen specs the runner executes (metacontroller-contract.md §2).

Reads `metacontroller.k8s.io/v1alpha1` `CompositeController` objects (from dicts or every YAML file
of a directory), checks the fields the runner relies on and resolves each hook to one URL:
`webhook.url` as is; `webhook.service{name, namespace, port=80, protocol=http}` + `path` becomes
`<protocol>://<name>.<namespace>:<port><path>` (cluster DNS, contract §2.2) — or, when the runner is
given a `hook_base_url` (no cluster DNS on a laptop), `hook_base_url + path`. Other documents in the
directory (kustomization files, DecoratorControllers) are skipped with a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import durationpy
import yaml

__all__ = ["ControllerSpec", "ChildSpec", "HookSpec", "SpecError", "load_controllers", "parse_controller",
           "UPDATE_METHODS", "DEFAULT_HOOK_TIMEOUT_SECONDS", "CC_API_VERSION"]

logger = logging.getLogger(__name__)

CC_API_VERSION = "metacontroller.k8s.io/v1alpha1"
UPDATE_METHODS = ("OnDelete", "Recreate", "InPlace", "RollingRecreate", "RollingInPlace")
DEFAULT_HOOK_TIMEOUT_SECONDS = 10.0
HOOK_VERSIONS = ("v1", "v2")


class SpecError(ValueError):
    """A CompositeController the runner cannot execute; the message names the controller and field."""


@dataclass(frozen=True, slots=True)
class HookSpec:
    """One hook: `url` to POST to, `timeout_seconds` for the whole exchange, `version` v1|v2."""

    url: str
    timeout_seconds: float = DEFAULT_HOOK_TIMEOUT_SECONDS
    version: str = "v1"


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One `childResources[]` entry: `api_version`, lower-case plural `resource`, update `method`."""

    api_version: str
    resource: str
    method: str = "OnDelete"


@dataclass(frozen=True, slots=True)
class ControllerSpec:
    """What the runner needs from one CompositeController (contract §2).

    parent_label_selector: LabelSelector mapping or None (all parents).
    resync_period_seconds: None = no periodic resync, else ≥ 1 s.
    raw: the CompositeController object as given; it is sent as `controller` in hook requests.
    """

    name: str
    parent_api_version: str
    parent_resource: str
    parent_label_selector: Mapping[str, Any] | None
    children: tuple[ChildSpec, ...]
    generate_selector: bool
    resync_period_seconds: float | None
    sync: HookSpec | None
    finalize: HookSpec | None
    customize: HookSpec | None
    raw: Mapping[str, Any]

    @property
    def finalizer(self) -> str:
        """The finalizer Metacontroller manages on parents when a finalize hook exists (contract §9)."""
        return f"metacontroller.io/compositecontroller-{self.name}"


def parse_controller(obj: Mapping[str, Any], *, hook_base_url: str | None = None) -> ControllerSpec:
    """Validate one CompositeController object and resolve its hook URLs.

    Raises SpecError naming the controller and the offending field (missing parentResource,
    unknown updateStrategy.method, hook without url or service+path, bad timeout, ...).
    """
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"CompositeController without metadata.name: {dict(meta)!r}")
    where = f"CompositeController {name!r}"
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise SpecError(f"{where}: spec must be an object, got {spec!r}")
    parent = spec.get("parentResource")
    if not isinstance(parent, Mapping):
        raise SpecError(f"{where}: spec.parentResource is required")
    parent_api_version = _required_str(parent, "apiVersion", f"{where}: spec.parentResource")
    parent_resource = _required_str(parent, "resource", f"{where}: spec.parentResource")
    selector = parent.get("labelSelector")
    if selector is not None and not isinstance(selector, Mapping):
        raise SpecError(f"{where}: spec.parentResource.labelSelector must be an object, got {selector!r}")
    children = tuple(_parse_child(child, f"{where}: spec.childResources[{i}]")
                     for i, child in enumerate(spec.get("childResources") or []))
    hooks = spec.get("hooks")
    if not isinstance(hooks, Mapping) or not hooks:
        raise SpecError(f"{where}: spec.hooks is required (no hooks defined)")
    parsed = {hook: _parse_hook(hooks.get(hook), f"{where}: spec.hooks.{hook}", hook_base_url)
              for hook in ("sync", "finalize", "customize")}
    if parsed["sync"] is None:
        raise SpecError(f"{where}: spec.hooks.sync is required")
    resync = spec.get("resyncPeriodSeconds")
    if resync is not None and (isinstance(resync, bool) or not isinstance(resync, int | float)):
        raise SpecError(f"{where}: spec.resyncPeriodSeconds must be a number, got {resync!r}")
    return ControllerSpec(
        name=name, parent_api_version=parent_api_version, parent_resource=parent_resource,
        parent_label_selector=selector, children=children,
        generate_selector=bool(spec.get("generateSelector", False)),
        resync_period_seconds=max(1.0, float(resync)) if resync else None,
        sync=parsed["sync"], finalize=parsed["finalize"], customize=parsed["customize"], raw=obj)


def load_controllers(source: Iterable[Mapping[str, Any]] | str | Path, *,
                     hook_base_url: str | None = None) -> list[ControllerSpec]:
    """Specs from a list of objects, or from every `*.yaml`/`*.yml` file of a directory (sorted).

    Only `CompositeController` documents are used; others are skipped (logged). Raises SpecError
    for invalid controllers, duplicate names, or a directory holding none; OSError/yaml.YAMLError
    for unreadable files.
    """
    if isinstance(source, str | Path):
        directory = Path(source)
        if not directory.is_dir():
            raise SpecError(f"controllers directory {str(directory)!r} does not exist")
        objects: list[Mapping[str, Any]] = []
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            with path.open(encoding="utf-8") as stream:
                objects += [doc for doc in yaml.safe_load_all(stream) if isinstance(doc, Mapping)]
    else:
        objects = list(source)
    specs: list[ControllerSpec] = []
    for obj in objects:
        if obj.get("kind") != "CompositeController" or obj.get("apiVersion") != CC_API_VERSION:
            logger.info("skipping %s %s: not a %s CompositeController", obj.get("kind"),
                        (obj.get("metadata") or {}).get("name"), CC_API_VERSION)
            continue
        specs.append(parse_controller(obj, hook_base_url=hook_base_url))
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"duplicate CompositeController names: {duplicates}")
    if isinstance(source, str | Path) and not specs:
        raise SpecError(f"no CompositeController found in {str(source)!r}")
    return specs


def _parse_child(child: Any, where: str) -> ChildSpec:
    if not isinstance(child, Mapping):
        raise SpecError(f"{where} must be an object, got {child!r}")
    strategy = child.get("updateStrategy") or {}
    method = strategy.get("method") or "OnDelete"
    if method not in UPDATE_METHODS:
        raise SpecError(f"{where}.updateStrategy.method: {method!r} is not one of {list(UPDATE_METHODS)}")
    return ChildSpec(_required_str(child, "apiVersion", where), _required_str(child, "resource", where), method)


def _parse_hook(hook: Any, where: str, hook_base_url: str | None) -> HookSpec | None:
    if hook is None:
        return None
    if not isinstance(hook, Mapping):
        raise SpecError(f"{where} must be an object, got {hook!r}")
    version = hook.get("version") or "v1"
    if version not in HOOK_VERSIONS:
        raise SpecError(f"{where}.version: {version!r} is not one of {list(HOOK_VERSIONS)}")
    webhook = hook.get("webhook")
    if not isinstance(webhook, Mapping):
        raise SpecError(f"{where}.webhook is required")
    return HookSpec(url=_hook_url(webhook, where, hook_base_url),
                    timeout_seconds=_timeout(webhook.get("timeout"), f"{where}.webhook.timeout"),
                    version=version)


def _hook_url(webhook: Mapping[str, Any], where: str, hook_base_url: str | None) -> str:
    url = webhook.get("url")
    if url:
        return str(url)
    service, path = webhook.get("service"), webhook.get("path")
    if not isinstance(service, Mapping) or not path:
        raise SpecError(f"{where}.webhook needs url, or service and path (got {dict(webhook)!r})")
    if not str(path).startswith("/"):
        raise SpecError(f"{where}.webhook.path must start with '/', got {path!r}")
    if hook_base_url:
        return hook_base_url.rstrip("/") + str(path)
    name = _required_str(service, "name", f"{where}.webhook.service")
    namespace = _required_str(service, "namespace", f"{where}.webhook.service")
    protocol = service.get("protocol") or "http"
    port = service.get("port") or 80
    return f"{protocol}://{name}.{namespace}:{port}{path}"


def _timeout(value: Any, where: str) -> float:
    """Go duration string (`10s`, `1m30s`, `500ms`) → seconds; absent or ≤ 0 → the 10 s default."""
    if value in (None, ""):
        return DEFAULT_HOOK_TIMEOUT_SECONDS
    try:
        seconds = durationpy.from_str(str(value)).total_seconds()
    except (ValueError, TypeError, durationpy.DurationError) as exc:
        raise SpecError(f"{where}: {value!r} is not a Go duration such as '10s': {exc}") from exc
    return seconds if seconds > 0 else DEFAULT_HOOK_TIMEOUT_SECONDS


def _required_str(obj: Mapping[str, Any], field: str, where: str) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where}.{field} is required (a non-empty string), got {value!r}")
    return value
