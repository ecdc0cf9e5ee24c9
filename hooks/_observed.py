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
from dataclasses import dataclass
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
    return (type(meta) is dict or isinstance(meta, Mapping)) and meta.get("deletionTimestamp") is not None


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
    count: int = _input.get(status, key, int, path=f"{path}.status", default=0)
    return max(0, count)


def job_condition(job: Mapping[str, Any], *, path: str) -> str | None:
    """`"Complete"` or `"Failed"` when that Job condition is `"True"`, else None."""
    status = _input.get(job, "status", Mapping, path=path, default={})
    conditions = _input.get(status, "conditions", list, path=f"{path}.status", default=[])
    for index, condition in enumerate(conditions):
        _input.check(condition, Mapping, f"{path}.status.conditions[{index}]")
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


@dataclass(frozen=True, slots=True)
class PodState:
    """What the hooks need of one observed Pod, read once (definitions in the module docstring)."""

    terminating: bool
    phase: str | None
    ready: bool
    start_time: datetime | None
    """`status.startTime`; read only while the Pod is Pending or has no phase (else None)."""

    @property
    def running(self) -> bool:
        """Phase `Running` and not terminating."""
        return not self.terminating and self.phase == RUNNING

    @property
    def live(self) -> bool:
        """Not terminating and not `Failed`/`Succeeded` (Pending, Unknown and no phase count)."""
        return not self.terminating and self.phase not in FINISHED_PHASES

    @property
    def finished(self) -> bool:
        """Phase `Failed` or `Succeeded`."""
        return self.phase in FINISHED_PHASES


def pod_state(pod: Mapping[str, Any], *, path: str) -> PodState:
    """Classify one observed Pod; raises HookInputError for mistyped status fields.

    Called for every observed Pod of every sync, so it reads `status` in one pass (phase; ready =
    the last `Ready` condition is `"True"`; `start_time`) and builds key paths only to report an
    error.
    """
    terminating = is_terminating(pod)
    status = pod.get("status")
    if status is None:
        return PodState(terminating=terminating, phase=None, ready=False, start_time=None)
    if type(status) is not dict:
        _input.check(status, Mapping, f"{path}.status")
    current_phase = status.get("phase")
    if current_phase is not None and type(current_phase) is not str:
        _input.check(current_phase, str, f"{path}.status.phase")
    ready = False
    conditions = status.get("conditions")
    if conditions is not None:
        if type(conditions) is not list:
            _input.check(conditions, list, f"{path}.status.conditions")
        for index, condition in enumerate(conditions):
            if type(condition) is not dict:
                _input.check(condition, Mapping, f"{path}.status.conditions[{index}]")
            if condition.get("type") == "Ready":
                ready = condition.get("status") == "True"
    started = None
    if current_phase in (None, PENDING) and status.get("startTime") is not None:
        started = start_time(pod, path=path)
    return PodState(terminating=terminating, phase=current_phase, ready=ready and not terminating, start_time=started)


@dataclass(frozen=True, slots=True)
class JobState:
    """What the hooks need of one observed Job, read once."""

    terminating: bool
    active: int
    ready: int
    finished: str | None
    """`"Complete"`, `"Failed"` or None (job_condition)."""

    @property
    def running(self) -> bool:
        """`status.ready >= 1` and not terminating."""
        return not self.terminating and self.ready >= 1

    @property
    def live(self) -> bool:
        """`status.active >= 1` and not terminating."""
        return not self.terminating and self.active >= 1


def job_state(job: Mapping[str, Any], *, path: str) -> JobState:
    """Classify one observed Job; raises HookInputError for mistyped status fields."""
    return JobState(
        terminating=is_terminating(job),
        active=job_count(job, "active", path=path),
        ready=job_count(job, "ready", path=path),
        finished=job_condition(job, path=path),
    )
