"""Public YAML reading for the other packages: kubectl's dialect and serde_yaml's, one error type.

Every failure is one `akri_api.errors.YamlError` whose `str()` is `line L column C: reason` when
the position is known (syntax errors, duplicate keys), so callers can name the offending place.

- `load` / `load_all`: how kubectl (sigs.k8s.io/yaml) reads manifests: YAML 1.1 scalars, but
  timestamps stay strings and duplicate keys are rejected (see `akri_api._yaml`). The webhook and
  `akri validate` read Configurations (and the udev discoveryDetails) this way.
- `load_yaml12`: one document under the YAML 1.2 core schema, as Akri's discovery handlers decode
  `discoveryDetails` with serde_yaml (akri-contract.md §5): `10:20:30:40:50:59` (a MAC address)
  stays a string where YAML 1.1 reads a base-60 integer, `on`/`yes`/`no` stay strings, only
  `true`/`false` are booleans, `0o17`/`0x1f` are integers; duplicate keys are rejected.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from akri_api import _yaml, errors
from akri_api._yaml import load, load_all

__all__ = ["load", "load_all", "load_yaml12"]

_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")


class _Yaml12Loader(_yaml._Loader):  # type: ignore[misc,valid-type]
    """The kubectl loader (duplicate-key detection) with YAML 1.2 core-schema plain scalars."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}

    def construct_yaml12_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)

    def construct_yaml12_float(self, node: yaml.ScalarNode) -> float:
        text = str(self.construct_scalar(node)).lower()
        if text.endswith(".inf"):
            return -math.inf if text.startswith("-") else math.inf
        if text == ".nan":
            return math.nan
        return float(text)


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", _BOOL_RE, "tTfF"),
    ("tag:yaml.org,2002:int", _INT_RE, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT_RE, "-+.0123456789"),
    ("tag:yaml.org,2002:null", _NULL_RE, ["~", "n", "N", ""]),
):
    _Yaml12Loader.add_implicit_resolver(_tag, _regexp, list(_first))
_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _Yaml12Loader.construct_yaml12_int)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:float", _Yaml12Loader.construct_yaml12_float)


def load_yaml12(text: str) -> Any:
    """The single document of `text` under the YAML 1.2 core schema (None for an empty text).

    Raises errors.YamlError for a syntax error or duplicate key (`line L column C: reason`),
    nesting too deep to parse, an invalid scalar, or more than one document.
    """
    try:
        documents = list(yaml.load_all(text, Loader=_Yaml12Loader))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise errors.YamlError(_yaml._describe(exc)) from exc
    except (RecursionError, ValueError) as exc:
        raise errors.YamlError("nesting too deep or an invalid scalar") from exc
    if len(documents) > 1:
        raise errors.YamlError(f"expected one YAML document, found {len(documents)}")
    return documents[0] if documents else None
