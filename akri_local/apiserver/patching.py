"""Patch application: JSON merge patch, strategic merge patch, JSON patch, apply patch.

- ``application/merge-patch+json``: RFC 7386 (objects merge recursively, ``null`` deletes,
  arrays replace).
- ``application/strategic-merge-patch+json``: an approximation of
  ``k8s.io/apimachinery/pkg/util/strategicpatch`` for built-in kinds: lists of objects whose
  field has a well-known ``patchMergeKey`` (containers by ``name``, conditions by ``type``,
  ownerReferences by ``uid``, ...) merge element-wise, ``metadata.finalizers`` merges as a set,
  ``$patch: delete|replace``, ``$retainKeys`` and ``$deleteFromPrimitiveList/<f>`` directives
  are honoured, ``$setElementOrder/<f>`` is accepted and ignored.
- ``application/json-patch+json``: RFC 6902 through the ``jsonpatch`` library.
- ``application/apply-patch+yaml``: server-side apply simplified to a merge of the applied
  configuration (strategic for built-ins, RFC 7386 for custom resources); managedFields are
  not tracked.

All functions are pure: they return new documents and never mutate their inputs. Failures
raise :class:`PatchError` (``malformed`` True for a patch that cannot be decoded, False for one
that does not apply).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "PATCH_TYPES",
    "STRATEGIC_MERGE_PATCH",
    "PatchError",
    "apply_patch",
    "json_patch",
    "merge_patch",
    "strategic_merge_patch",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

# patchMergeKey of list fields in the core/batch types (by field name; "ports" is resolved by
# the keys its elements carry).
_MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "hostAliases": ("ip",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "addresses": ("type",),
    "taints": ("key", "effect"),
    "readinessGates": ("conditionType",),
    "resourceClaims": ("name",),
    "ports": ("containerPort", "port"),
}
_PRIMITIVE_MERGE_LISTS = frozenset({"finalizers"})
_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"


class PatchError(ValueError):
    """A patch that is malformed (``malformed=True``, 400) or does not apply (422)."""

    def __init__(self, message: str, *, malformed: bool) -> None:
        super().__init__(message)
        self.malformed = malformed


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of ``patch`` onto ``target``; returns the new document."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch; ``operations`` is the decoded list of ``{op, path, ...}``."""
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations", malformed=True)
    try:
        return jsonpatch.JsonPatch(operations).apply(target, in_place=False)
    except jsonpatch.InvalidJsonPatch as exc:
        raise PatchError(f"invalid json patch: {exc}", malformed=True) from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise PatchError(f"the json patch does not apply: {exc}", malformed=False) from exc
    except (TypeError, KeyError, IndexError) as exc:
        raise PatchError(f"the json patch does not apply: {exc!r}", malformed=False) from exc


def _merge_key(field: str, items: list[Any]) -> str | None:
    """The merge key for list ``field`` given its elements, or None for a replace list."""
    for key in _MERGE_KEYS.get(field, ()):
        if any(isinstance(item, dict) and key in item for item in items):
            return key
    return None


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    """Strategic merge of one list field."""
    original_list = original if isinstance(original, list) else []
    if field in _PRIMITIVE_MERGE_LISTS:
        merged = list(original_list)
        merged += [item for item in patch if item not in merged]
        return merged
    if any(isinstance(item, dict) and item.get(_DIRECTIVE) == "replace" for item in patch):
        return [copy.deepcopy(i) for i in patch
                if not (isinstance(i, dict) and i.get(_DIRECTIVE) == "replace")]
    key = _merge_key(field, patch + original_list)
    if key is None or not all(isinstance(item, dict) for item in patch):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(original_list)
    for item in patch:
        position = next((i for i, old in enumerate(merged)
                         if isinstance(old, dict) and old.get(key) == item.get(key)), None)
        if item.get(_DIRECTIVE) == "delete":
            if position is not None:
                del merged[position]
        elif position is None:
            merged.append(_strategic(None, item))
        else:
            merged[position] = _strategic(merged[position], item)
    return merged


def _strategic(original: Any, patch: Any) -> Any:
    """Strategic merge of ``patch`` onto ``original`` (both decoded JSON)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get(_DIRECTIVE)
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != _DIRECTIVE}
    if directive == "delete":
        return None
    if directive is not None:
        raise PatchError(f"unknown patch directive {_DIRECTIVE}: {directive!r}", malformed=True)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key == _RETAIN_KEYS or key.startswith(_SET_ORDER):
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE):]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [item for item in result[field] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            merged = _strategic(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    retain = patch.get(_RETAIN_KEYS)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Approximate strategic merge patch (see module docstring); returns the new document."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", malformed=True)
    return _strategic(target, patch)


def apply_patch(target: Any | None, applied: Any, *, strategic: bool) -> Any:
    """Server-side apply simplified: merge the applied configuration onto ``target``.

    ``target`` None means the object does not exist yet (apply creates it). ``strategic``
    selects strategic merge (built-in kinds) over RFC 7386 (custom resources).
    """
    if not isinstance(applied, dict):
        raise PatchError("apply patch must be a YAML or JSON object", malformed=True)
    if target is None:
        return copy.deepcopy(applied)
    return strategic_merge_patch(target, applied) if strategic else merge_patch(target, applied)
