"""Errors of the agent process itself (start-up), as opposed to API or discovery errors.

    AgentError
    └── ConfigError      one or more environment variables / flags are missing or invalid

API errors live in `agent.kube.errors`, discovery errors in `agent.discovery.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AgentError", "ConfigError"]


class AgentError(Exception):
    """Base of the agent's own errors."""


class ConfigError(AgentError):
    """Invalid start-up configuration. `problems` lists every bad variable as `NAME: reason`;
    `str()` is one line joining them, suitable to print before exiting with status 2."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("invalid configuration: " + "; ".join(self.problems))
