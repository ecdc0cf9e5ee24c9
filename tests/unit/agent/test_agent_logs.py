"""Structured logs: one line per event, key=value context or JSON."""

from __future__ import annotations

import io
import json
import logging

from agent.logs import ContextAdapter, configure_logging


def _emit(fmt: str) -> str:
    stream = io.StringIO()
    configure_logging("INFO", fmt, stream=stream)
    try:
        log = ContextAdapter(logging.getLogger("agent.test"), {"configuration": "ns/cfg"})
        log.info("Instance %s created", "cfg-8120fe", extra={"context": {"node": "node a"}})
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            log.exception("failed")
    finally:
        configure_logging("WARNING", "text")
    return stream.getvalue()


def test_text_lines_carry_context_and_stay_single_line() -> None:
    lines = _emit("text").splitlines()
    assert len(lines) == 2
    assert "INFO agent.test: Instance cfg-8120fe created configuration=ns/cfg node=\"node a\"" in lines[0]
    assert "ERROR" in lines[1] and "exc=" in lines[1] and "second line" in lines[1]


def test_json_lines_are_objects() -> None:
    first, second = (json.loads(line) for line in _emit("json").splitlines())
    assert first["message"] == "Instance cfg-8120fe created"
    assert first["configuration"] == "ns/cfg" and first["node"] == "node a" and first["level"] == "INFO"
    assert "ValueError: boom" in second["exc"]
