"""udev rule language of Akri's udev discovery handler (akri-contract.md §5.3, issue #7).

STUB: owned by the udev helper; the signature below is the contract the validator relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UdevRuleError", "Filter", "parse_rule"]


class UdevRuleError(ValueError):
    """A rule that cannot be parsed; `str()` names the rule, the position and the reason."""


@dataclass(frozen=True, slots=True)
class Filter:
    """One `FIELD{key} OP "value"` match of a rule."""

    field: str
    key: str | None
    operator: str
    value: str


def parse_rule(rule: str) -> list[Filter]:
    """Filters of one udev rule; raises UdevRuleError. STUB."""
    return []
