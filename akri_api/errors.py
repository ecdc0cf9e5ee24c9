"""Errors of the shared API package, and the `Problem` record they carry.

    AkriApiError (ValueError)
    ├── InvalidObject        a Configuration/Instance mapping cannot be read; `.problems` lists why
    ├── InvalidDeviceUsage   an Instance `deviceUsage` key or value breaks akri-contract.md §1.2
    └── YamlError            text is not YAML (or has duplicate keys); message has line and column

Every error's `str()` is one line that names the field and the offending value, so a CLI, the
admission webhook or a log line can show it as is (STYLE.md §5.11).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Problem", "AkriApiError", "InvalidObject", "InvalidDeviceUsage", "YamlError"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an object is invalid.

    path: dotted field path from the object root, with `[i]` for list items and `["key"]` for
    map keys that are not plain identifiers, e.g. `spec.brokerSpec.brokerPodSpec.containers[0].name`
    (`(root)` for the object itself). message: what is wrong, quoting the offending value.
    `str(problem) == f"{path}: {message}"`.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class AkriApiError(ValueError):
    """Base of every error raised by `akri_api`."""


class InvalidObject(AkriApiError):
    """A Configuration or Instance mapping that cannot be turned into the typed model.

    `problems` holds every problem found (at least one); `str()` joins them with "; ".
    """

    def __init__(self, kind: str, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.kind = kind
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(f"invalid {kind}: " + "; ".join(str(p) for p in self.problems))


class InvalidDeviceUsage(AkriApiError):
    """A `deviceUsage` key (`<instance>-<slot>`) or value (`""`, `<node>`, `C:<vdev>:<node>`) that
    does not follow the grammar of akri-contract.md §1.2."""


class YamlError(AkriApiError):
    """Text that is not valid YAML; `str()` is `line L column C: reason` when the position is known."""
