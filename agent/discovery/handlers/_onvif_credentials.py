"""ONVIF camera credentials from discoveryProperties (Akri onvif/src/credential_store.rs).

Akri lets a Configuration pass camera credentials through `discoveryProperties` (usually from a
Secret). Four forms are read, in this order, later ones overriding the same device id
(akri-contract.md §5.4):

1. `device_credential_list`: JSON array of property names; each named property holds
   `{"<uuid>": {"username": str, "password": str?, "base64encoded": bool = false}}`;
2. `device_credential_ref_list`: JSON array of property names; each holds
   `{"<uuid>": {"username_ref": prop, "password_ref": prop?}}` resolved against the other
   properties (an entry whose username is missing or empty is skipped);
3. `username_<id>` / `password_<id>`: `<id>` is the uuid in C_IDENTIFIER form (`_` for `-`);
4. `username_default` / `password_default`: the fallback credential (id `default`).

Malformed JSON and non-UTF-8 values are ignored, as in Akri. Lookup is by device uuid, then
`default`. Ids are compared case-insensitively (device uuids are lower-cased on discovery).
Nothing in this module logs, and `Credential`'s repr hides both fields: credentials must never
reach logs, exceptions or Instance properties.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Credential", "CredentialStore"]

DEVICE_CREDENTIAL_LIST = "device_credential_list"
DEVICE_CREDENTIAL_REF_LIST = "device_credential_ref_list"
USERNAME_PREFIX = "username_"
PASSWORD_PREFIX = "password_"
DEFAULT_USERNAME = "username_default"
DEFAULT_PASSWORD = "password_default"
DEFAULT_CREDENTIAL_ID = "default"


@dataclass(frozen=True, slots=True, repr=False)
class Credential:
    """A camera login; `password` None means "username only" (digest over an empty password)."""

    username: str
    password: str | None = None

    def __repr__(self) -> str:
        return "Credential(<redacted>)"


def _text(value: bytes | None) -> str | None:
    """A property value as UTF-8 text, None when absent or not UTF-8 (credential_store.rs)."""
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _names(properties: Mapping[str, bytes | None], key: str) -> list[str]:
    """The JSON array of property names stored under `key` ([] when absent or malformed)."""
    names = _json(_text(properties.get(key)))
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return []
    return names


def _credential_list(text: str | None) -> dict[str, Credential]:
    """One `device_credential_list` entry; like serde, any malformed entry voids the whole list."""
    data = _json(text)
    if not isinstance(data, dict):
        return {}
    result: dict[str, Credential] = {}
    for device_id, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("username"), str):
            return {}
        password = entry.get("password")
        encoded = entry.get("base64encoded", False)
        if (password is not None and not isinstance(password, str)) or not isinstance(encoded, bool):
            return {}
        if encoded and password is not None:
            try:
                password = base64.b64decode(password, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                password = None
        result[device_id.lower()] = Credential(entry["username"], password)
    return result


def _credential_ref_list(text: str | None, properties: Mapping[str, bytes | None]) -> dict[str, Credential]:
    """One `device_credential_ref_list` entry, references resolved against `properties`."""
    data = _json(text)
    if not isinstance(data, dict):
        return {}
    refs: dict[str, tuple[str, str | None]] = {}
    for device_id, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("username_ref"), str):
            return {}
        password_ref = entry.get("password_ref")
        if password_ref is not None and not isinstance(password_ref, str):
            return {}
        refs[device_id] = (entry["username_ref"], password_ref)
    result: dict[str, Credential] = {}
    for device_id, (username_ref, password_ref) in refs.items():
        username = _text(properties.get(username_ref))
        if not username:
            continue
        password = _text(properties.get(password_ref)) if password_ref is not None else None
        result[device_id.lower()] = Credential(username, password)
    return result


class CredentialStore:
    """Credentials by device id, built once per Discover call from its discoveryProperties."""

    def __init__(self, credentials: Mapping[str, Credential] | None = None) -> None:
        self._credentials: dict[str, Credential] = {k.lower(): v for k, v in (credentials or {}).items()}

    def __repr__(self) -> str:
        return f"CredentialStore({len(self._credentials)} credential(s))"

    def __len__(self) -> int:
        return len(self._credentials)

    @classmethod
    def from_properties(cls, properties: Mapping[str, bytes | None]) -> CredentialStore:
        """All four credential forms of credential_store.rs, applied in Akri's order.

        properties: resolved discoveryProperties (name → bytes, None for a property without value).
        Never raises: unusable entries are skipped silently (Akri ignores them too).
        """
        found: dict[str, Credential] = {}
        for name in _names(properties, DEVICE_CREDENTIAL_LIST):
            found.update(_credential_list(_text(properties.get(name))))
        for name in _names(properties, DEVICE_CREDENTIAL_REF_LIST):
            found.update(_credential_ref_list(_text(properties.get(name)), properties))
        passwords = {
            key[len(PASSWORD_PREFIX):]: _text(value)
            for key, value in properties.items()
            if key.startswith(PASSWORD_PREFIX) and len(key) > len(PASSWORD_PREFIX)
        }
        for key, value in properties.items():
            if not key.startswith(USERNAME_PREFIX) or len(key) == len(USERNAME_PREFIX):
                continue
            username = _text(value)
            if username is None:
                continue
            device_id = key[len(USERNAME_PREFIX):]
            found[device_id.replace("_", "-").lower()] = Credential(username, passwords.get(device_id))
        default_username = _text(properties.get(DEFAULT_USERNAME))
        if default_username is not None:
            found[DEFAULT_CREDENTIAL_ID] = Credential(default_username, _text(properties.get(DEFAULT_PASSWORD)))
        return cls(found)

    def get(self, device_uuid: str) -> Credential | None:
        """The credential for `device_uuid` (case-insensitive), else the `default` one, else None."""
        return self._credentials.get(device_uuid.lower()) or self._credentials.get(DEFAULT_CREDENTIAL_ID)
