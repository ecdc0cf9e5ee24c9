"""The udev rule language of Akri's udev discovery handler, and its glob patterns.

Contract: akri-contract.md §5.3 (Akri's `udev_rule_grammar.pest` / `parse_udev_rule`). A rule is
one line of comma-separated match filters, each `FIELD OP "value"` or `FIELD{key} OP "value"`:

    rule    := "" | filter ( " "* "," " "* filter )* " "*
    filter  := field " "* op " "* '"' value '"'
    field   := ATTRS{key} | ATTR{key} | DEVPATH | DRIVERS | DRIVER | ENV{key} | KERNELS | KERNEL
             | SUBSYSTEMS | SUBSYSTEM | TAGS | TAG
    op      := "==" | "!="
    key     := ( ASCII letter/digit | " $._*?[]-|\\/" )+
    value   := ( ASCII letter/digit | " $._*?[]-|\\/" | ":%{}" )*

Field names are read as a whole word, so `ATTRS` is never taken for `ATTR` followed by garbage
(Akri's grammar tries the longer alternative first; the effect is the same). A rule may not start
with a space (Akri rejects it). The empty rule has no filters and therefore matches every device,
exactly as in Akri. Everything else — udev action operators (`=`, `+=`, `-=`, `:=`), action fields
(`RUN`, `LABEL`, `GOTO`, ...), match fields Akri does not implement (`ACTION`, `NAME`, ...), unknown
fields, bad characters, unterminated quotes and trailing text — raises `UdevRuleError`: a rule is
never silently narrowed or widened. Positions in messages are 1-based character columns.

Values are udev glob patterns: `*`, `?`, `[...]` (with `!`/`^` negation, ranges and `[:class:]`),
backslash escapes, and `|` separating alternatives (udev's own semantics; fnmatch(3) with no flags,
so `*` also matches `/`). `glob_matcher` turns a value into a predicate the udev handler uses for
every field and both operators. This module is pure: no pyudev, no I/O.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "UdevRuleError",
    "Filter",
    "parse_rule",
    "glob_matcher",
    "SINGLE_DEVICE_FIELDS",
    "ANCESTOR_FIELDS",
    "KEYED_FIELDS",
]

#: Fields matched against the device itself (akri-contract.md §5.3).
SINGLE_DEVICE_FIELDS = frozenset({"ATTR", "DEVPATH", "DRIVER", "ENV", "KERNEL", "SUBSYSTEM", "TAG"})
#: Fields matched against the device and every ancestor ("plural" udev keys).
ANCESTOR_FIELDS = frozenset({"ATTRS", "DRIVERS", "KERNELS", "SUBSYSTEMS", "TAGS"})
#: Fields that require a `{key}`.
KEYED_FIELDS = frozenset({"ATTR", "ATTRS", "ENV"})
_SUPPORTED_FIELDS = SINGLE_DEVICE_FIELDS | ANCESTOR_FIELDS

_ACTION_FIELDS = frozenset({"RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS", "OWNER", "GROUP", "MODE", "WAIT_FOR"})
_UNSUPPORTED_MATCH_FIELDS = frozenset(
    {"ACTION", "NAME", "SYMLINK", "TEST", "PROGRAM", "RESULT", "CONST", "SECLABEL", "SYSCTL"}
)
_SUPPORTED_LIST = (
    "ATTR{key}, ATTRS{key}, DEVPATH, DRIVER, DRIVERS, ENV{key}, KERNEL, KERNELS, SUBSYSTEM, SUBSYSTEMS, TAG, TAGS"
)

_ALNUM = frozenset(string.ascii_letters + string.digits)
_KEY_CHARS = _ALNUM | frozenset(" $._*?[]-|\\/")
_VALUE_CHARS = _KEY_CHARS | frozenset(":%{}")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ACTION_OPERATORS = (":=", "+=", "-=", "=")


class UdevRuleError(ValueError):
    """A rule that cannot be parsed.

    `rule` is the rule text, `position` the 1-based column of the problem, `reason` what is wrong;
    `str()` is `rule '<rule>': position <n>: <reason>` (one line: the rule is shown with `repr`).
    """

    def __init__(self, rule: str, position: int, reason: str) -> None:
        self.rule = rule
        self.position = position
        self.reason = reason
        super().__init__(f"rule {rule!r}: position {position}: {reason}")


@dataclass(frozen=True, slots=True)
class Filter:
    """One `FIELD{key} OP "value"` match of a rule.

    field: one of the supported field names (`KERNEL`, `ATTRS`, ...); key: the `{key}` of `ATTR`,
    `ATTRS` and `ENV`, else None; operator: `==` or `!=`; value: the glob pattern between the
    quotes (may be empty). `str()` renders it back in rule syntax.
    """

    field: str
    key: str | None
    operator: str
    value: str

    def __str__(self) -> str:
        key = "" if self.key is None else "{" + self.key + "}"
        return f'{self.field}{key}{self.operator}"{self.value}"'


class _Scanner:
    """Cursor over one rule; every error it raises names the rule and a 1-based position."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.pos = 0

    def error(self, reason: str, at: int | None = None) -> UdevRuleError:
        return UdevRuleError(self.rule, (self.pos if at is None else at) + 1, reason)

    def at_end(self) -> bool:
        return self.pos >= len(self.rule)

    def peek(self) -> str:
        return self.rule[self.pos] if self.pos < len(self.rule) else ""

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def describe_here(self) -> str:
        return "the end of the rule" if self.at_end() else repr(self.peek())


def parse_rule(rule: str) -> list[Filter]:
    """Filters of one Akri udev rule, in rule order (akri-contract.md §5.3).

    rule: e.g. `SUBSYSTEM=="video4linux", ATTRS{idVendor}=="046d"` → two Filters. `""` → `[]`
    (matches every device, as in Akri).
    Raises UdevRuleError (a ValueError) for anything outside the grammar in the module docstring,
    naming the rule, the 1-based position and the reason.
    """
    scanner = _Scanner(rule)
    if rule == "":
        return []
    if rule[0] == " ":
        raise scanner.error("a rule must not start with a space")
    filters: list[Filter] = []
    while True:
        filters.append(_parse_filter(scanner))
        scanner.skip_spaces()
        if scanner.at_end():
            return filters
        if scanner.peek() != ",":
            raise scanner.error(
                f"unexpected {scanner.describe_here()} after the value; filters are separated by ','"
            )
        scanner.pos += 1
        scanner.skip_spaces()
        if scanner.at_end():
            raise scanner.error("expected a filter after ','")


def _parse_filter(scanner: _Scanner) -> Filter:
    field = _parse_field_name(scanner)
    key = _parse_key(scanner, field)
    scanner.skip_spaces()
    operator = _parse_operator(scanner)
    scanner.skip_spaces()
    value = _parse_value(scanner)
    return Filter(field, key, operator, value)


def _parse_field_name(scanner: _Scanner) -> str:
    start = scanner.pos
    match = _FIELD_NAME.match(scanner.rule, start)
    if match is None:
        raise scanner.error(f"expected a field name ({_SUPPORTED_LIST}), found {scanner.describe_here()}")
    name = match.group()
    if name in _ACTION_FIELDS:
        raise scanner.error(f"{name} is an action field, not supported by Akri's udev discovery", start)
    if name in _UNSUPPORTED_MATCH_FIELDS:
        raise scanner.error(f"{name} is a udev match field not supported by Akri's udev discovery", start)
    if name not in _SUPPORTED_FIELDS:
        raise scanner.error(f"unknown field {name!r}; supported fields: {_SUPPORTED_LIST}", start)
    scanner.pos = match.end()
    return name


def _parse_key(scanner: _Scanner, field: str) -> str | None:
    if field not in KEYED_FIELDS:
        if scanner.peek() == "{":
            raise scanner.error(f"{field} takes no {{key}}")
        return None
    if scanner.peek() != "{":
        raise scanner.error(f"{field} needs a key: {field}{{key}}")
    open_at = scanner.pos
    end = scanner.rule.find("}", open_at + 1)
    if end < 0:
        raise scanner.error(f"unterminated key: missing '}}' for the '{{' at position {open_at + 1}")
    key = scanner.rule[open_at + 1 : end]
    if key == "":
        raise scanner.error(f"{field} needs a non-empty key", open_at + 1)
    for offset, char in enumerate(key):
        if char not in _KEY_CHARS:
            raise scanner.error(f"character {char!r} is not allowed in a key", open_at + 1 + offset)
    scanner.pos = end + 1
    return key


def _parse_operator(scanner: _Scanner) -> str:
    rule, pos = scanner.rule, scanner.pos
    for operator in ("==", "!="):
        if rule.startswith(operator, pos):
            scanner.pos += 2
            return operator
    for operator in _ACTION_OPERATORS:
        if rule.startswith(operator, pos):
            raise scanner.error(
                f"{operator!r} is an action operator (assignment), not supported by Akri's udev discovery;"
                " use '==' or '!='"
            )
    raise scanner.error(f"expected an operator '==' or '!=', found {scanner.describe_here()}")


def _parse_value(scanner: _Scanner) -> str:
    if scanner.peek() != '"':
        raise scanner.error(f"expected '\"' to open the value, found {scanner.describe_here()}")
    open_at = scanner.pos
    end = scanner.rule.find('"', open_at + 1)
    if end < 0:
        raise scanner.error(f"unterminated value: missing the closing '\"' for the one at position {open_at + 1}")
    value = scanner.rule[open_at + 1 : end]
    for offset, char in enumerate(value):
        if char not in _VALUE_CHARS:
            raise scanner.error(f"character {char!r} is not allowed in a value", open_at + 1 + offset)
    scanner.pos = end + 1
    return value


# --- glob patterns ------------------------------------------------------------------------------

_CHAR_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": re.escape(string.punctuation),
    "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}


def _translate_bracket(pattern: str, start: int) -> tuple[str, int] | None:
    """Regex for the bracket expression opening at `pattern[start] == "["` and the index after it,
    or None when it is unterminated (then `[` is a literal, as in glibc fnmatch)."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    items: list[str] = []
    first = True
    while i < len(pattern):
        char = pattern[i]
        if char == "]" and not first:
            body = "".join(items)
            if not body:
                return ("(?s:.)" if negate else "(?!)"), i + 1
            return f"[{'^' if negate else ''}{body}]", i + 1
        first = False
        if char == "[" and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            if end >= 0 and pattern[i + 2 : end] in _CHAR_CLASSES:
                items.append(_CHAR_CLASSES[pattern[i + 2 : end]])
                i = end + 2
                continue
        if char == "\\" and i + 1 < len(pattern):
            i += 1
            char = pattern[i]
        low = char
        if i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            high = pattern[i + 2]
            if high == "\\" and i + 3 < len(pattern):
                high = pattern[i + 3]
                i += 1
            if low <= high:
                items.append(f"{re.escape(low)}-{re.escape(high)}")
            i += 3
            continue
        items.append(re.escape(low))
        i += 1
    return None


def _translate_alternative(pattern: str) -> str:
    """Regex (no anchors) for one fnmatch(3) pattern without `|`."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            bracket = _translate_bracket(pattern, i)
            if bracket is not None:
                out.append(bracket[0])
                i = bracket[1]
                continue
            out.append(re.escape(char))
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """Predicate `value -> bool` for a udev glob pattern (whole-value match).

    pattern: `|`-separated alternatives, each an fnmatch(3) pattern with no flags: `*` (any run,
    `/` included), `?` (one character), `[...]` / `[!...]` / `[^...]` with ranges and `[:class:]`,
    `\\x` for a literal x; an unterminated `[` is literal. `""` matches only `""`.
    Never raises; results are cached per pattern.
    """
    alternatives = pattern.split("|")
    regex = re.compile("(?:" + "|".join(_translate_alternative(alt) for alt in alternatives) + ")", re.DOTALL)
    return lambda value: regex.fullmatch(value) is not None
