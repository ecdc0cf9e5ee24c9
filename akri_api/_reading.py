"""Typed reading of decoded JSON for the model: each bad field becomes a Problem with its path.

`FieldReader` methods return the value (or a default, or None) and record a Problem instead of
raising, so one pass over an object reports every problem. Used by `model.py`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from akri_api import _paths, naming
from akri_api.errors import Problem

DEFAULT_OBJECT_NAMESPACE = "default"
"""metadata.namespace when absent (as kubectl assumes)."""


class FieldReader:
    """Reads typed fields from decoded JSON, collecting a Problem (with path) per bad field."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def _bad(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def mapping(self, value: object, path: str, *, required: bool) -> Mapping[str, Any] | None:
        """`value` if it is an object; None when absent (a Problem if `required`) or mistyped."""
        if value is None:
            if required:
                self._bad(path, "required")
            return None
        if not isinstance(value, Mapping):
            self._bad(path, f"must be an object, got {_paths.describe(value)}")
            return None
        return value

    def text(self, value: object, path: str, *, required: bool, non_empty: bool = False) -> str | None:
        """`value` if it is a string (non-empty when `non_empty`); None after recording why not."""
        if value is None:
            if required:
                self._bad(path, "required")
            return None
        if not isinstance(value, str):
            self._bad(path, f"must be a string, got {_paths.describe(value)}")
            return None
        if non_empty and not value:
            self._bad(path, "must not be empty")
            return None
        return value

    def boolean(self, value: object, path: str, default: bool) -> bool:
        """`value` if it is a boolean; `default` when absent or (with a Problem) mistyped."""
        if value is None:
            return default
        if not isinstance(value, bool):
            self._bad(path, f"must be a boolean, got {_paths.describe(value)}")
            return default
        return value

    def count(self, value: object, path: str, *, default: int | None) -> int | None:
        """`value` if it is an integer >= 0 (booleans are not); `default` when absent (a Problem
        if `default` is None); None after recording a Problem for a mistyped or negative value."""
        if value is None:
            if default is None:
                self._bad(path, "required")
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            self._bad(path, f"must be an integer, got {_paths.describe(value)}")
            return None
        if value < 0:
            self._bad(path, f"must be >= 0, got {_paths.scalar(value)}")
            return None
        return value

    def string_map(self, value: object, path: str) -> dict[str, str]:
        """A copy of a map of string to string ({} when absent); bad entries are left out with a Problem."""
        source = self.mapping(value, path, required=False) or {}
        out: dict[str, str] = {}
        for key, item in source.items():
            if not isinstance(key, str):
                self._bad(path, f"keys must be strings, got {_paths.describe(key)}")
            elif not isinstance(item, str):
                self._bad(_paths.join(path, key), f"must be a string, got {_paths.describe(item)}")
            else:
                out[key] = item
        return out

    def raw(self, value: object, path: str) -> dict[str, Any] | None:
        """A deep copy of an optional object kept as decoded JSON (e.g. a PodSpec); None when absent."""
        source = self.mapping(value, path, required=False)
        return None if source is None else copy.deepcopy(dict(source))

    def header(self, obj: object, kind: str) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
        """(metadata, spec) of an akri.sh/v0 object, or None after recording problems."""
        if not isinstance(obj, Mapping):
            self._bad(_paths.ROOT, f"must be an object (an akri.sh/v0 {kind}), got {_paths.describe(obj)}")
            return None
        api_version, obj_kind = obj.get("apiVersion"), obj.get("kind")
        if api_version is not None and api_version != naming.API_VERSION:
            self._bad("apiVersion", f"must be {_paths.quote(naming.API_VERSION)}, got {_paths.describe(api_version)}")
        if obj_kind is not None and obj_kind != kind:
            self._bad("kind", f"must be {_paths.quote(kind)}, got {_paths.describe(obj_kind)}")
        metadata = self.mapping(obj.get("metadata"), "metadata", required=True) or {}
        spec = self.mapping(obj.get("spec"), "spec", required=True)
        if spec is None:
            return None
        return metadata, spec

    def identity(self, metadata: Mapping[str, Any]) -> tuple[str | None, str, str | None]:
        """(name, namespace or "default", uid) from `metadata`; name None after a Problem."""
        name = self.text(metadata.get("name"), "metadata.name", required=True, non_empty=True)
        namespace = self.text(metadata.get("namespace"), "metadata.namespace", required=False, non_empty=True)
        uid = self.text(metadata.get("uid"), "metadata.uid", required=False)
        return name, namespace or DEFAULT_OBJECT_NAMESPACE, uid

    def nodes(self, value: object, path: str) -> tuple[str, ...]:
        """A list of non-empty node names as a tuple without duplicates, in input order (() when absent)."""
        if value is None:
            return ()
        if not isinstance(value, list):
            self._bad(path, f"must be a list, got {_paths.describe(value)}")
            return ()
        out: list[str] = []
        for index, item in enumerate(value):
            node = self.text(item, _paths.join(path, index), required=True, non_empty=True)
            if node is not None and node not in out:
                out.append(node)
        return tuple(out)
