"""Decoding hook answers (metacontroller-contract.md §4, §6)."""

from __future__ import annotations

import pytest

from akri_local._metacontroller_hooks import HookError, parse_sync_response, retry_after_seconds


def test_parse_full_response():
    response = parse_sync_response({"status": {"a": 1}, "children": [{"kind": "Pod"}], "resyncAfterSeconds": 1.5,
                                    "finalized": True}, strict=True)
    assert response.status == {"a": 1} and response.children == [{"kind": "Pod"}]
    assert response.resync_after_seconds == 1.5 and response.finalized is True


def test_nulls_mean_empty():
    response = parse_sync_response({"status": None, "children": None, "resyncAfterSeconds": 0}, strict=False)
    assert response.status is None and response.children == [] and response.resync_after_seconds is None
    assert response.finalized is False


@pytest.mark.parametrize(("body", "fragment"), [
    ([], "must be a JSON object"),
    ({"children": {}}, "children must be a list"),
    ({"status": "ok"}, "status must be an object"),
    ({"resyncAfterSeconds": "5"}, "resyncAfterSeconds must be a number"),
    ({"finalized": "yes"}, "finalized must be a boolean"),
])
def test_mistyped_answers_are_errors(body, fragment):
    with pytest.raises(HookError, match=fragment):
        parse_sync_response(body, strict=False)


def test_unknown_keys_strict_only():
    assert parse_sync_response({"Children": []}, strict=False).children == []
    with pytest.raises(HookError, match="unknown fields"):
        parse_sync_response({"Children": []}, strict=True)


def test_retry_after():
    assert retry_after_seconds("7", now=0) == 7.0
    assert retry_after_seconds(None, now=0) == 0.0
    assert retry_after_seconds("garbage", now=0) == 0.0
    assert retry_after_seconds("Thu, 01 Jan 1970 00:00:30 GMT", now=10) == 20.0
