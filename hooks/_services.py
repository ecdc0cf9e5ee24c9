"""Desired instance/configuration Services and the rule for when they exist.

Shapes follow Akri's `shared/src/k8s/service.rs` (akri-contract.md §3.4): labels `app=<name>`,
`controller=akri.sh` plus the owner label; `spec` = the user's ServiceSpec with `selector` =
user selector + `controller: akri.sh` + the owner label.

When (decided here, documented in hooks/README.md): Akri creates a service when a broker becomes
`Running` and deletes it only when no broker is live any more (Pending counts as live). A pure
hook has no memory, so that hysteresis is read from the observed Service itself:

    wanted = any broker running  or  (service observed, not terminating, and any broker live)

so a Pending broker alone never creates a service, but does not remove one either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from akri_api import naming
from hooks import _brokers, _input, _observed


def wanted(*, observed: Mapping[str, Any] | None, any_running: bool, any_live: bool) -> bool:
    """Whether the service should be in the response (rule in the module docstring)."""
    if any_running:
        return True
    return observed is not None and not _observed.is_terminating(observed) and any_live


def service(
    *,
    name: str,
    namespace: str,
    owner_label: str,
    owner: str,
    spec: Mapping[str, Any],
    path: str,
) -> dict[str, Any]:
    """A `v1 Service` named `name` from user ServiceSpec `spec` (copied, never mutated).

    `owner_label`/`owner` is `akri.sh/instance=<instance>` or `akri.sh/configuration=<config>`.
    Raises HookInputError when `spec.selector` is not an object.
    """
    new_spec = _brokers.copy_json(spec)
    selector = _input.get(new_spec, "selector", Mapping, path=path, default={})
    new_spec["selector"] = {**selector, naming.LABEL_CONTROLLER: naming.CONTROLLER_VALUE, owner_label: owner}
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = {
        "app": name,
        naming.LABEL_CONTROLLER: naming.CONTROLLER_VALUE,
        owner_label: owner,
    }
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": new_spec}
