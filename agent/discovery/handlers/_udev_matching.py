"""Which devices of the udev database match Akri udev rules (akri-contract.md §5.3 `find_devices`).

A rule (parsed by `akri_api.udev_rules`) is compiled once into `CompiledRule`. `find_matches` runs
each rule over a pyudev `Context`: an Enumerator is narrowed with libudev matches that can only
*widen* the result compared with our own semantics (a pre-filter for speed — a full scan of /sys
costs ~80 ms on a small VM), and every candidate is then checked by `rule_matches`, which is the
single source of truth. Matched devices are reduced to their identity `(devpath, devnode)`.

Semantics (Akri's, except that every value is a udev glob — Akri post-filters some fields with a
Rust regex, which panics on patterns like `?*`, quirk §9 row 14):
- single-device fields (`KERNEL` sysname, `SUBSYSTEM`, `DRIVER`, `DEVPATH` devpath without /sys,
  `TAG` tags of the device, `ATTR{k}` sysfs attribute, `ENV{k}` udev property, `k` may be a glob
  like libudev's `match_property`) look at the device itself only;
- plural fields (`KERNELS`, `SUBSYSTEMS`, `DRIVERS`, `TAGS`, `ATTRS{k}`) look at the device and
  every ancestor: `==` holds if any of them matches, `!=` if none does;
- a device (or ancestor) without the field never matches, so `==` drops it and `!=` keeps it;
- all filters of a rule must hold (AND); rules are unioned by the caller.
Identity: a matched device with a devnode is `(devpath, devnode)`; without one, the nearest
ancestor with a devnode stands for it; with none at all it is `(devpath, None)`.

Devices are read through the duck-typed pyudev API (`device_path`, `sys_name`, `subsystem`,
`driver`, `device_node`, `properties`, `attributes.get`, `tags`, `parent`), so tests can pass
look-alike objects. Every function here blocks on sysfs: call it from a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from akri_api import udev_rules

__all__ = ["CompiledFilter", "CompiledRule", "compile_rule", "DeviceView", "rule_matches", "find_matches",
           "Identity"]

#: `(devpath, devnode)` of a matched device; devpath is the udev devpath (`/devices/...`).
Identity = tuple[str, "str | None"]

logger = logging.getLogger(__name__)

_GLOB_CHARS = frozenset("*?[")


class UdevContext(Protocol):
    """The part of `pyudev.Context` used here: `list_devices()` returns a pyudev `Enumerator`."""

    def list_devices(self, **kwargs: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A `udev_rules.Filter` with its value (and, for `ENV`, key) turned into glob predicates."""

    filter: udev_rules.Filter
    matches_value: Callable[[str], bool]
    matches_key: Callable[[str], bool] | None  # ENV keys with glob characters only

    @property
    def negated(self) -> bool:
        """True for `!=`."""
        return self.filter.operator == "!="


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule: its text and its filters (all must hold). No filters ⇒ every device matches."""

    text: str
    filters: tuple[CompiledFilter, ...]

    @property
    def uses_env(self) -> bool:
        """True when a filter reads udev properties (`ENV{...}`), which mostly live in /run/udev."""
        return any(f.filter.field == "ENV" for f in self.filters)


def compile_rule(rule: str) -> CompiledRule:
    """`CompiledRule` for rule text; raises udev_rules.UdevRuleError from `parse_rule`."""
    compiled = []
    for flt in udev_rules.parse_rule(rule):
        key_glob = flt.field == "ENV" and flt.key is not None and bool(_GLOB_CHARS & set(flt.key))
        compiled.append(CompiledFilter(
            filter=flt,
            matches_value=udev_rules.glob_matcher(flt.value),
            matches_key=udev_rules.glob_matcher(flt.key) if key_glob and flt.key is not None else None,
        ))
    return CompiledRule(text=rule, filters=tuple(compiled))


class DeviceView:
    """Read-once view of one pyudev-shaped device; `views` shares ancestors between devices."""

    __slots__ = ("_device", "_views", "_attributes", "_parent", "_parent_known", "devpath")

    def __init__(self, device: Any, views: dict[str, DeviceView]) -> None:
        self._device = device
        self._views = views
        self._attributes: dict[str, str | None] = {}
        self._parent: DeviceView | None = None
        self._parent_known = False
        self.devpath: str = device.device_path

    @property
    def sysname(self) -> str:
        """Kernel name (`KERNEL`), e.g. `video0`."""
        return str(self._device.sys_name)

    @property
    def subsystem(self) -> str | None:
        """Subsystem (`SUBSYSTEM`), None when the device has none."""
        value = self._device.subsystem
        return None if value is None else str(value)

    @property
    def driver(self) -> str | None:
        """Bound driver (`DRIVER`), None when unbound."""
        value = self._device.driver
        return None if value is None else str(value)

    @property
    def devnode(self) -> str | None:
        """Device node path (`/dev/...`), None when the device has none."""
        value = self._device.device_node
        return None if value is None else str(value)

    def properties(self) -> Mapping[str, str]:
        """udev properties (`ENV`): the kernel uevent ones plus the udev database's."""
        return self._device.properties  # type: ignore[no-any-return]

    def attribute(self, key: str) -> str | None:
        """sysfs attribute `key` (`ATTR{key}`) as text (trailing newline stripped by libudev),
        None when absent or unreadable; read at most once per view."""
        if key not in self._attributes:
            raw = self._device.attributes.get(key)
            self._attributes[key] = None if raw is None else bytes(raw).decode("utf-8", "surrogateescape")
        return self._attributes[key]

    def tags(self) -> set[str]:
        """udev tags: the database's tag list and the `TAGS` property (`:a:b:`)."""
        tags = {str(t) for t in self._device.tags}
        tags.update(t for t in (self.properties().get("TAGS") or "").split(":") if t)
        return tags

    @property
    def parent(self) -> DeviceView | None:
        """Parent device view (shared through `views`), None for a root device."""
        if not self._parent_known:
            parent = self._device.parent
            self._parent = None if parent is None else view_of(parent, self._views)
            self._parent_known = True
        return self._parent

    def lineage(self) -> Iterator[DeviceView]:
        """This device, then its parent, grandparent, ... up to the root."""
        view: DeviceView | None = self
        while view is not None:
            yield view
            view = view.parent


def view_of(device: Any, views: dict[str, DeviceView]) -> DeviceView:
    """The shared `DeviceView` of a pyudev-shaped device (created on first use)."""
    view = views.get(device.device_path)
    if view is None:
        view = views[device.device_path] = DeviceView(device, views)
    return view


def _values(flt: CompiledFilter, view: DeviceView) -> list[str]:
    """The values of `flt`'s field on `view` alone ([] when the device lacks the field)."""
    field, key = flt.filter.field, flt.filter.key
    if field in ("KERNEL", "KERNELS"):
        return [view.sysname]
    if field in ("SUBSYSTEM", "SUBSYSTEMS"):
        single: str | None = view.subsystem
    elif field in ("DRIVER", "DRIVERS"):
        single = view.driver
    elif field == "DEVPATH":
        single = view.devpath
    elif field in ("TAG", "TAGS"):
        return sorted(view.tags())
    elif field in ("ATTR", "ATTRS"):
        single = view.attribute(key or "")
    elif flt.matches_key is not None:  # ENV with a glob key
        return [value for name, value in view.properties().items() if flt.matches_key(name)]
    else:  # ENV with a literal key
        single = view.properties().get(key or "")
    return [] if single is None else [single]


def filter_holds(flt: CompiledFilter, view: DeviceView) -> bool:
    """True when `view` passes one filter (semantics in the module docstring)."""
    candidates = view.lineage() if flt.filter.field in udev_rules.ANCESTOR_FIELDS else iter((view,))
    found = any(flt.matches_value(value) for candidate in candidates for value in _values(flt, candidate))
    return found != flt.negated


def rule_matches(rule: CompiledRule, view: DeviceView) -> bool:
    """True when `view` passes every filter of `rule`."""
    return all(filter_holds(flt, view) for flt in rule.filters)


def identity(view: DeviceView) -> Identity:
    """`(devpath, devnode)` standing for a matched device: itself if it has a devnode, else its
    nearest ancestor with one, else `(its devpath, None)` (akri-contract.md §5.3)."""
    for candidate in view.lineage():
        node = candidate.devnode
        if node is not None:
            return candidate.devpath, node
    return view.devpath, None


def _pushable(value: str) -> list[str] | None:
    """Alternatives of a value that libudev's fnmatch treats exactly like `glob_matcher`, or None."""
    alternatives = value.split("|")
    if any(alt == "" or "\\" in alt or "[:" in alt for alt in alternatives):
        return None
    return alternatives


def prefilter(enumerator: Any, rule: CompiledRule) -> Any:
    """Narrow a pyudev Enumerator with libudev matches that keep a superset of the rule's devices.

    Pushed: `SUBSYSTEM==`, `KERNEL==`, `ENV{k}==` (libudev ORs patterns of one kind, which can only
    widen) and `ATTR{k}==` without `|` (libudev ANDs attributes). Everything is re-checked by
    `rule_matches`, so a skipped push-down only costs time. Returns the enumerator.
    """
    for flt in rule.filters:
        f = flt.filter
        if f.operator != "==":
            continue
        alternatives = _pushable(f.value)
        if alternatives is None:
            continue
        if f.field == "SUBSYSTEM":
            for alt in alternatives:
                enumerator = enumerator.match_subsystem(alt)
        elif f.field == "KERNEL":
            for alt in alternatives:
                enumerator = enumerator.match_sys_name(alt)
        elif f.field == "ENV" and f.key is not None and "|" not in f.key and "\\" not in f.key:
            for alt in alternatives:
                enumerator = enumerator.match_property(f.key, alt)
        elif f.field == "ATTR" and f.key is not None and len(alternatives) == 1:
            enumerator = enumerator.match_attribute(f.key, alternatives[0])
    return enumerator


def find_matches(context: UdevContext, rules: Iterable[CompiledRule]) -> set[Identity]:
    """Identities of every device matching any of `rules` in the udev database of `context`.

    context: a `pyudev.Context` (or look-alike). Blocks on sysfs reads; run it in a thread.
    Raises OSError when the udev database cannot be read at all. A device whose names or values
    are not valid in the file-system encoding (pyudev decodes strictly) is skipped and logged.
    """
    views: dict[str, DeviceView] = {}
    found: set[Identity] = set()
    for rule in rules:
        for device in prefilter(context.list_devices(), rule):
            try:
                view = view_of(device, views)
                if rule_matches(rule, view):
                    found.add(identity(view))
            except UnicodeDecodeError as exc:
                logger.debug("skipping a udev device with undecodable data: %s", exc)
    return found
