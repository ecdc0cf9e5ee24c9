"""YAML reading the way `kubectl` reads manifests.

PyYAML's SafeLoader differs from kubectl (sigs.k8s.io/yaml) in two ways that matter here: it turns
unquoted timestamps into `datetime` objects (kubectl keeps them as strings, and so does the API
server's JSON) and it silently keeps the last of duplicate mapping keys (kubectl rejects them).
`load` / `load_all` fix both, and turn every parser failure (including nesting deep enough to
exhaust the recursion limit) into one `errors.YamlError` with a line and column.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

from akri_api import errors

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_BASE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE_LOADER):  # type: ignore[valid-type,misc]
    """SafeLoader without implicit timestamps and with duplicate-key detection."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: the base class reports it
                break
            if duplicate:
                raise ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()
}


def _describe(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1} column {mark.column + 1}: {problem}"
    return str(problem)


def load_all(text: str) -> list[Any]:
    """Every document of a (multi-document) YAML text, empty documents included as None.

    Raises errors.YamlError (one line, with line/column) for any syntax error, duplicate key,
    unhashable key or nesting too deep to parse.
    """
    try:
        return list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        raise errors.YamlError(_describe(exc)) from exc
    except RecursionError as exc:
        raise errors.YamlError("nesting too deep") from exc
    except ValueError as exc:  # a constructor rejecting a scalar, e.g. an int over the digit limit
        raise errors.YamlError(str(exc).splitlines()[0] if str(exc) else "invalid scalar") from exc


def load(text: str) -> Any:
    """The single document of a YAML text (None for an empty text); raises errors.YamlError as
    `load_all`, and also when the text holds more than one document."""
    documents = load_all(text)
    if len(documents) > 1:
        raise errors.YamlError(f"expected one YAML document, found {len(documents)}")
    return documents[0] if documents else None
