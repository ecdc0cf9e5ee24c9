"""Object metadata rules: names, labels, owner references, timestamps, uids.

Pure functions implementing ``k8s.io/apimachinery/pkg/api/validation`` (ObjectMeta
validation) and the system fields the apiserver fills in (``FillObjectMetaSystemFields``).
Validation functions return lists of :class:`errors.FieldCause`; callers turn a non-empty list
into a 422 ``Invalid``.
"""

from __future__ import annotations

import datetime
import random
import re
import uuid
from collections.abc import Mapping
from typing import Any

from akri_local.apiserver import errors

__all__ = [
    "DNS1123_LABEL_MAX",
    "generate_name",
    "new_uid",
    "now_rfc3339",
    "rfc3339",
    "validate_label_value",
    "validate_name",
    "validate_object_meta",
    "validate_qualified_name",
]

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# apimachinery/pkg/util/rand: consonants and digits that cannot spell words.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATED_SUFFIX_LENGTH = 5
_MAX_GENERATE_NAME_PREFIX = DNS1123_SUBDOMAIN_MAX - GENERATED_SUFFIX_LENGTH


def rfc3339(moment: datetime.datetime) -> str:
    """``2024-01-31T12:00:00Z``: seconds precision, UTC, as ``metav1.Time`` serialises."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339(offset_seconds: float = 0.0) -> str:
    """The current UTC time (plus ``offset_seconds``) in :func:`rfc3339` form."""
    moment = datetime.datetime.now(datetime.timezone.utc)
    return rfc3339(moment + datetime.timedelta(seconds=offset_seconds))


def new_uid() -> str:
    """A random RFC 4122 uid string, as ``metadata.uid``."""
    return str(uuid.uuid4())


def generate_name(prefix: str, rng: random.Random | None = None) -> str:
    """``prefix`` (cut to fit) + 5 random characters, as ``names.SimpleNameGenerator``."""
    choose = (rng or random).choice
    suffix = "".join(choose(_NAME_ALPHABET) for _ in range(GENERATED_SUFFIX_LENGTH))
    return prefix[:_MAX_GENERATE_NAME_PREFIX] + suffix


def validate_name(name: str, *, dns_label: bool) -> str | None:
    """Why ``name`` is not a valid object name, or None.

    ``dns_label`` selects RFC 1123 label rules (namespaces, services) over subdomain rules.
    """
    if dns_label:
        if len(name) > DNS1123_LABEL_MAX:
            return f"must be no more than {DNS1123_LABEL_MAX} characters"
        if not _DNS1123_LABEL.match(name):
            return ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                    "characters or '-', and must start and end with an alphanumeric character")
        return None
    if len(name) > DNS1123_SUBDOMAIN_MAX:
        return f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
    if not _DNS1123_SUBDOMAIN.match(name):
        return ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character")
    return None


def validate_qualified_name(key: str) -> str | None:
    """Why ``key`` is not a qualified name (``[prefix/]name``, label and annotation keys), or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or validate_name(prefix, dns_label=False)):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name or len(name) > DNS1123_LABEL_MAX or not _QUALIFIED_NAME.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character (at most 63 characters)")
    return None


def validate_label_value(value: Any) -> str | None:
    """Why ``value`` is not a valid label value (string, <= 63 chars, qualified-name charset)."""
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > DNS1123_LABEL_MAX:
        return "must be no more than 63 characters"
    if not _LABEL_VALUE.match(value):
        return ("a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character")
    return None


def _string_map(meta: Mapping[str, Any], field: str) -> list[errors.FieldCause]:
    """Type check ``metadata.<field>`` as map[string]string."""
    value = meta.get(field)
    if value is None:
        return []
    if not isinstance(value, dict):
        return [errors.FieldCause(f"metadata.{field}", "must be an object", "FieldValueTypeInvalid")]
    causes = []
    for key, item in value.items():
        why = validate_qualified_name(key)
        if why:
            causes.append(errors.FieldCause(f"metadata.{field}", f'Invalid value: "{key}": {why}'))
        if field == "labels":
            why = validate_label_value(item)
        elif not isinstance(item, str):
            why = "must be a string"
        else:
            why = None
        if why:
            causes.append(errors.FieldCause(f"metadata.{field}", f"Invalid value: {item!r}: {why}"))
    return causes


def _owner_references(meta: Mapping[str, Any]) -> list[errors.FieldCause]:
    """``metadata.ownerReferences``: apiVersion, kind, name, uid required; one controller."""
    refs = meta.get("ownerReferences")
    if refs is None:
        return []
    if not isinstance(refs, list):
        return [errors.FieldCause("metadata.ownerReferences", "must be a list")]
    causes = []
    controllers = 0
    for index, ref in enumerate(refs):
        path = f"metadata.ownerReferences[{index}]"
        if not isinstance(ref, dict):
            causes.append(errors.FieldCause(path, "must be an object"))
            continue
        for key in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref.get(key), str) or not ref.get(key):
                causes.append(errors.FieldCause(f"{path}.{key}", "Required value", "FieldValueRequired"))
        if ref.get("controller") is True:
            controllers += 1
    if controllers > 1:
        causes.append(errors.FieldCause("metadata.ownerReferences",
                                        "Only one reference can have Controller set to true"))
    return causes


def _finalizers(meta: Mapping[str, Any]) -> list[errors.FieldCause]:
    """``metadata.finalizers``: a list of qualified names."""
    finalizers = meta.get("finalizers")
    if finalizers is None:
        return []
    if not isinstance(finalizers, list):
        return [errors.FieldCause("metadata.finalizers", "must be a list")]
    causes = []
    for index, finalizer in enumerate(finalizers):
        why = validate_qualified_name(finalizer) if isinstance(finalizer, str) else "must be a string"
        if why:
            causes.append(errors.FieldCause(f"metadata.finalizers[{index}]",
                                            f"Invalid value: {finalizer!r}: {why}"))
    return causes


def validate_object_meta(meta: Any, *, dns_label: bool) -> list[errors.FieldCause]:
    """All ObjectMeta problems of ``meta`` (the ``metadata`` mapping of a request body).

    Checks name format, labels, annotations, ownerReferences and finalizers; the name is
    assumed already resolved from ``generateName``.
    """
    if not isinstance(meta, dict):
        return [errors.FieldCause("metadata", "must be an object", "FieldValueTypeInvalid")]
    causes = []
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        causes.append(errors.FieldCause("metadata.name",
                                        "Required value: name or generateName is required",
                                        "FieldValueRequired"))
    else:
        why = validate_name(name, dns_label=dns_label)
        if why:
            causes.append(errors.FieldCause("metadata.name", f'Invalid value: "{name}": {why}'))
    causes += _string_map(meta, "labels")
    causes += _string_map(meta, "annotations")
    causes += _owner_references(meta)
    causes += _finalizers(meta)
    return causes
