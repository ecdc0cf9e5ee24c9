"""Reading the state of observed broker Pods, broker Jobs and Services.

Definitions used by every hook (and documented in hooks/README.md):

* **terminating**: `metadata.deletionTimestamp` is set.
* **running** Pod: phase `Running` and not terminating (Akri creates services on Running,
  akri-contract.md §3.4).
* **live** Pod: not terminating and phase not `Failed`/`Succeeded`; Pending, Unknown and
  phase-less Pods are live (Akri's service cleanup rule, §3.4).
* **ready** Pod: not terminating and condition `Ready` is `"True"`.
* **finished** Pod: phase `Failed` or `Succeeded` (replaced at once: Akri's 0-minute grace).
* Job: **running** when `status.ready >= 1`, **live** when `status.active >= 1` (both need the Job
  not to be terminating); its own broker Pods are owned by the Job, not by the Instance.

Times are RFC 3339 strings as the API server writes them (`2024-01-01T00:00:00Z`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from hooks import _input
from hooks.errors import HookInputError

RUNNING = "Running"
PENDING = "Pending"
FINISHED_PHASES = frozenset({"Failed", "Succeeded"})


def is_terminating(obj: Mapping[str, Any]) -> bool:
    """True if `metadata.deletionTimestamp` is set (any non-null value)."""
    meta = obj.get("metadata")
    return isinstance(meta, Mapping) and meta.get("deletionTimestamp") is not None


def phase(pod: Mapping[str, Any], *, path: str) -> str | None:
    """`status.phase`, or None when the Pod has no status/phase yet."""
    status = _input.get(pod, "status", Mapping, path=path, default={})
    return _input.get(status, "phase", str, path=f"{path}.status", default=None)


def is_running(pod: Mapping[str, Any], *, path: str) -> bool:
    """Phase `Running` and not terminating."""
    return not is_terminating(pod) and phase(pod, path=path) == RUNNING


def is_live(pod: Mapping[str, Any], *, path: str) -> bool:
    """Not terminating and phase not in {Failed, Succeeded}."""
    return not is_terminating(pod) and phase(pod, path=path) not in FINISHED_PHASES


def is_ready(pod: Mapping[str, Any], *, path: str) -> bool:
    """Not terminating and the last `Ready` condition has status `"True"`."""
    if is_terminating(pod):
        return False
    status = _input.get(pod, "status", Mapping, path=path, default={})
    conditions = _input.get(status, "conditions", list, path=f"{path}.status", default=[])
    ready = False
    for index, condition in enumerate(conditions):
        _input.check(condition, Mapping, f"{path}.status.conditions[{index}]")
        if condition.get("type") == "Ready":
            ready = condition.get("status") == "True"
    return ready


def start_time(pod: Mapping[str, Any], *, path: str) -> datetime | None:
    """`status.startTime` as an aware UTC datetime, or None when unset.

    Raises HookInputError when it is not an RFC 3339 timestamp.
    """
    status = _input.get(pod, "status", Mapping, path=path, default={})
    raw = _input.get(status, "startTime", str, path=f"{path}.status", default=None)
    if raw is None:
        return None
    return parse_time(raw, path=f"{path}.status.startTime")


def parse_time(raw: str, *, path: str) -> datetime:
    """RFC 3339 timestamp → aware datetime (naive values are taken as UTC)."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise HookInputError(path, raw, "expected an RFC 3339 timestamp") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def as_utc(now: datetime) -> datetime:
    """`now` made timezone-aware (naive → UTC), so it compares with API timestamps."""
    return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)


def job_count(job: Mapping[str, Any], key: str, *, path: str) -> int:
    """`status.<key>` of a Job (`active`, `ready`, ...) as a non-negative count; absent → 0."""
    status = _input.get(job, "status", Mapping, path=path, default={})
    return max(0, _input.get(status, key, int, path=f"{path}.status", default=0))


def job_condition(job: Mapping[str, Any], *, path: str) -> str | None:
    """`"Complete"` or `"Failed"` when that Job condition is `"True"`, else None."""
    status = _input.get(job, "status", Mapping, path=path, default={})
    conditions = _input.get(status, "conditions", list, path=f"{path}.status", default=[])
    for index, condition in enumerate(conditions):
        _input.check(condition, Mapping, f"{path}.status.conditions[{index}]")
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


def job_is_running(job: Mapping[str, Any], *, path: str) -> bool:
    """Not terminating and `status.ready >= 1`."""
    return not is_terminating(job) and job_count(job, "ready", path=path) >= 1


def job_is_live(job: Mapping[str, Any], *, path: str) -> bool:
    """Not terminating and `status.active >= 1`."""
    return not is_terminating(job) and job_count(job, "active", path=path) >= 1
