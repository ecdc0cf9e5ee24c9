"""udev `discoveryDetails`: YAML text → validated `UdevDetails` (akri-contract.md §5.3).

Shape (Akri `UdevDiscoveryDetails`, camelCase, unknown fields ignored like serde):

    udevRules: [string]        # required; each parsed by akri_api.udev_rules (errors name the rule)
    groupRecursive: bool       # default false
    permissions: string        # default "rwm"; one of r, w, m, rw, rm, rwm, wm

Every failure is `InvalidDiscoveryDetails` whose message names the field and the offending value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handlers._udev_matching import CompiledRule, compile_rule
from akri_api import errors, udev_rules, yamlio

__all__ = ["UdevDetails", "parse_details", "VALID_PERMISSIONS"]

VALID_PERMISSIONS = ("r", "w", "m", "rw", "rm", "rwm", "wm")
DEFAULT_PERMISSIONS = "rwm"
_PREFIX = "udev discoveryDetails"
_MAX_SHOWN = 120


@dataclass(frozen=True, slots=True)
class UdevDetails:
    """Validated udev discoveryDetails: compiled rules (in order), grouping flag, cgroup permissions."""

    rules: tuple[CompiledRule, ...]
    group_recursive: bool = False
    permissions: str = DEFAULT_PERMISSIONS

    @property
    def uses_env(self) -> bool:
        """True when any rule has an `ENV{...}` filter."""
        return any(rule.uses_env for rule in self.rules)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _invalid(field: str, message: str) -> InvalidDiscoveryDetails:
    return InvalidDiscoveryDetails(f"{_PREFIX}: field {field!r}: {message}")


def parse_details(text: str) -> UdevDetails:
    """Validated details from Configuration `spec.discoveryHandler.discoveryDetails`.

    text: YAML (or JSON) mapping as in the module docstring; `""` is an error (udevRules missing).
    Raises InvalidDiscoveryDetails naming the field and value; a bad rule's message is the parser's
    (`rule '...': position N: reason`).
    """
    try:
        document = yamlio.load_yaml12(text)
    except errors.YamlError as exc:
        raise InvalidDiscoveryDetails(f"{_PREFIX}: not valid YAML: {exc}") from exc
    if document is None:
        raise InvalidDiscoveryDetails(f"{_PREFIX}: empty; expected a mapping with the required field 'udevRules'")
    if not isinstance(document, dict):
        raise InvalidDiscoveryDetails(
            f"{_PREFIX}: expected a mapping with the required field 'udevRules', got {_show(document)}"
        )
    if "udevRules" not in document:
        raise _invalid("udevRules", "is required (a list of udev rules)")
    raw_rules = document["udevRules"]
    if not isinstance(raw_rules, list):
        raise _invalid("udevRules", f"expected a list of strings, got {_show(raw_rules)}")
    rules = []
    for index, raw in enumerate(raw_rules):
        if not isinstance(raw, str):
            raise _invalid(f"udevRules[{index}]", f"expected a string, got {_show(raw)}")
        try:
            rules.append(compile_rule(raw))
        except udev_rules.UdevRuleError as exc:
            raise _invalid(f"udevRules[{index}]", str(exc)) from exc
    group_recursive = document.get("groupRecursive", False)
    if not isinstance(group_recursive, bool):
        raise _invalid("groupRecursive", f"expected true or false, got {_show(group_recursive)}")
    permissions = document.get("permissions", DEFAULT_PERMISSIONS)
    if permissions not in VALID_PERMISSIONS:
        raise _invalid(
            "permissions",
            f"{_show(permissions)} is not a valid permission combination ('r', 'w', 'm', 'rw', 'rm', 'rwm', 'wm')",
        )
    return UdevDetails(rules=tuple(rules), group_recursive=group_recursive, permissions=permissions)
