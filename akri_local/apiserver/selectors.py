"""Label and field selectors: parsing and matching.

Implements the string grammar of ``k8s.io/apimachinery/pkg/labels.Parse`` (``key``, ``!key``,
``key=v``, ``key==v``, ``key!=v``, ``key in (a,b)``, ``key notin (a,b)``, ``key>n``, ``key<n``)
and of ``fields.ParseSelector`` (``f=v``, ``f==v``, ``f!=v`` joined by commas, ``\\`` escapes),
plus the structured ``metav1.LabelSelector`` (matchLabels / matchExpressions) used by webhook
``objectSelector`` / ``namespaceSelector``. Pure: no I/O, no state.
Errors are :class:`ValueError` with a message naming the offending text.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from akri_local.apiserver import meta

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "parse_field_selector",
    "parse_label_selector",
    "selector_from_object",
]

_OPERATORS = ("in", "notin", "=", "==", "!=", "exists", "!", ">", "<")


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key`` ``operator`` ``values``.

    ``operator`` is one of ``in``, ``notin``, ``=``, ``!=``, ``exists``, ``!`` (does not
    exist), ``>``, ``<``; ``values`` holds the operand(s) (empty for exists / ``!``).
    """

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when ``labels`` satisfies this requirement (labels.Requirement.Matches)."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in ("=", "==", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if not present:
            return False
        try:
            number = int(value or "")
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if self.operator == ">" else number < bound


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    """A conjunction of :class:`Requirement`; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """True when every requirement holds for ``labels`` (None = no labels)."""
        labels = labels or {}
        return all(req.matches(labels) for req in self.requirements)


_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)")


def _tokens(text: str) -> list[str]:
    """Split a label selector into tokens; raises ValueError on leftovers."""
    tokens = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"unable to parse requirement: {text[position:]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _check_key(key: str) -> str:
    """Return ``key`` or raise ValueError naming it when not a qualified name."""
    why = meta.validate_qualified_name(key)
    if why:
        raise ValueError(f"invalid label key {key!r}: {why}")
    return key


def _check_value(value: str) -> str:
    """Return ``value`` or raise ValueError naming it when not a valid label value."""
    why = meta.validate_label_value(value)
    if why:
        raise ValueError(f"invalid label value {value!r}: {why}")
    return value


def _parse_set(tokens: list[str], index: int) -> tuple[tuple[str, ...], int]:
    """Parse ``( v1, v2 )`` starting at ``tokens[index]``; returns values and next index."""
    if index >= len(tokens) or tokens[index] != "(":
        raise ValueError("found end of selector or unexpected token, expected: '('")
    index += 1
    values: list[str] = []
    expect_value = True
    while index < len(tokens) and tokens[index] != ")":
        token = tokens[index]
        if token == ",":
            if expect_value:
                values.append("")
            expect_value = True
        elif expect_value:
            values.append(_check_value(token))
            expect_value = False
        else:
            raise ValueError(f"expected ',' or ')' in value set, found {token!r}")
        index += 1
    if index >= len(tokens):
        raise ValueError("found end of selector, expected: ')'")
    if expect_value and values:
        values.append("")
    return tuple(values), index + 1


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a ``labelSelector`` query string; None/empty selects everything.

    Raises ValueError (message names the bad requirement) on syntax errors, bad keys or values.
    """
    if not text or not text.strip():
        return LabelSelector()
    tokens = _tokens(text)
    requirements: list[Requirement] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "!":
            if index + 1 >= len(tokens):
                raise ValueError("found end of selector, expected: identifier after '!'")
            requirements.append(Requirement(_check_key(tokens[index + 1]), "!"))
            index += 2
        elif token in ("(", ")", ",", "=", "==", "!=", ">", "<"):
            raise ValueError(f"found {token!r}, expected: identifier in selector {text!r}")
        else:
            key = _check_key(token)
            index += 1
            operator = tokens[index] if index < len(tokens) else ","
            if operator == ",":
                requirements.append(Requirement(key, "exists"))
            elif operator in ("in", "notin"):
                values, index = _parse_set(tokens, index + 1)
                requirements.append(Requirement(key, operator, values))
            elif operator in ("=", "==", "!="):
                index += 1
                value = ""
                if index < len(tokens) and tokens[index] != ",":
                    value = _check_value(tokens[index])
                    index += 1
                requirements.append(Requirement(key, "=" if operator == "==" else operator, (value,)))
            elif operator in (">", "<"):
                index += 1
                if index >= len(tokens) or not re.fullmatch(r"-?\d+", tokens[index]):
                    raise ValueError(f"for {operator!r} operator, the value must be an integer")
                requirements.append(Requirement(key, operator, (tokens[index],)))
                index += 1
            else:
                raise ValueError(f"found {operator!r}, expected: in, notin, =, ==, !=, gt, lt")
        if index < len(tokens):
            if tokens[index] != ",":
                raise ValueError(f"found {tokens[index]!r}, expected: ','")
            index += 1
            if index >= len(tokens):
                raise ValueError("found end of selector, expected: identifier after ','")
    return LabelSelector(tuple(requirements))


def selector_from_object(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a ``metav1.LabelSelector`` mapping; None selects everything.

    ``matchExpressions[].operator`` is In, NotIn, Exists or DoesNotExist. Raises ValueError on
    an unknown operator or malformed entry.
    """
    if not selector:
        return LabelSelector()
    requirements = [Requirement(_check_key(key), "=", (_check_value(value),))
                    for key, value in sorted((selector.get("matchLabels") or {}).items())]
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in selector.get("matchExpressions") or []:
        operator = operators.get(expression.get("operator"))
        if operator is None:
            raise ValueError(f"{expression.get('operator')!r} is not a valid label selector operator")
        values = tuple(expression.get("values") or ())
        if operator in ("in", "notin") and not values:
            raise ValueError(f"values: must be specified when operator is {expression['operator']}")
        requirements.append(Requirement(_check_key(expression.get("key", "")), operator, values))
    return LabelSelector(tuple(requirements))


@dataclasses.dataclass(frozen=True)
class FieldSelector:
    """A conjunction of ``(field, operator, value)`` with operator ``=`` or ``!=``."""

    requirements: tuple[tuple[str, str, str], ...] = ()

    @property
    def fields(self) -> frozenset[str]:
        """The field paths this selector reads (to check them against supported labels)."""
        return frozenset(field for field, _, _ in self.requirements)

    def matches(self, fields: Mapping[str, str]) -> bool:
        """True when each requirement holds; a field absent from ``fields`` reads as ``""``."""
        for field, operator, value in self.requirements:
            actual = fields.get(field, "")
            if (actual == value) != (operator == "="):
                return False
        return True


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split ``text`` on ``separator`` not preceded by a backslash escape."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise ValueError(f"invalid field selector {text!r}: trailing backslash")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    """Undo ``fields.EscapeValue`` (``\\\\``, ``\\,``, ``\\=``)."""
    return re.sub(r"\\(.)", r"\1", text)


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse a ``fieldSelector`` query string; None/empty selects everything.

    Raises ValueError naming the term that has no ``=``, ``==`` or ``!=``.
    """
    if not text or not text.strip():
        return FieldSelector()
    requirements = []
    for term in _split_unescaped(text, ","):
        term = term.strip()
        if not term:
            continue
        match = re.match(r"^([^=!]+?)\s*(==|!=|=)\s*(.*)$", term)
        if not match:
            raise ValueError(f"invalid selector: {term!r}; can't understand {term!r}")
        field, operator, value = match.groups()
        requirements.append((field.strip(), "!=" if operator == "!=" else "=", _unescape(value)))
    return FieldSelector(tuple(requirements))
