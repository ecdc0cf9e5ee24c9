"""ObjectCache: watch events applied; writes remembered without ever moving the cache backwards."""

from __future__ import annotations

from agent.kube.caching import ObjectCache, compare_versions, resource_version
from agent.kube.watching import DELETED, LISTED, WatchEvent


def obj(version: str, *, name: str = "i", note: str = "") -> dict:
    return {"metadata": {"name": name, "namespace": "default", "resourceVersion": version}, "note": note}


async def test_events_are_applied_and_announced() -> None:
    cache = ObjectCache()
    seen: list[str] = []
    cache.subscribe(lambda event: seen.append(event.type))
    cache.apply(WatchEvent("ADDED", obj("1")))
    cache.apply(WatchEvent(LISTED))
    assert cache.ready.is_set() and cache.get("default", "i") == obj("1") and len(cache) == 1
    cache.apply(WatchEvent(DELETED, obj("2")))
    assert cache.get("default", "i") is None
    assert seen == ["ADDED", LISTED, DELETED]


async def test_remember_stores_a_newer_write() -> None:
    cache = ObjectCache()
    cache.remember(obj("5", note="written"))  # nothing cached yet
    assert cache.get("default", "i")["note"] == "written"
    cache.remember(obj("9", note="newer"))
    assert cache.get("default", "i")["note"] == "newer"


async def test_remember_never_replaces_a_newer_watch_event() -> None:
    cache = ObjectCache()
    cache.apply(WatchEvent("MODIFIED", obj("12", note="from watch")))
    cache.remember(obj("11", note="our write"))
    cache.remember(obj("12", note="same version"))
    assert cache.get("default", "i")["note"] == "from watch"


async def test_versions_that_do_not_parse_trust_the_watch() -> None:
    cache = ObjectCache()
    cache.apply(WatchEvent("MODIFIED", obj("abc", note="from watch")))
    cache.remember(obj("def", note="our write"))
    cache.remember(obj("99", note="our write"))
    assert cache.get("default", "i")["note"] == "from watch"
    cache.forget("default", "i", "def")
    assert cache.get("default", "i") is not None
    cache.forget("default", "i", "abc")
    assert cache.get("default", "i") is None


async def test_forget_drops_only_the_deleted_version_or_older() -> None:
    cache = ObjectCache()
    cache.apply(WatchEvent("ADDED", obj("20", note="re-created after our delete")))
    cache.forget("default", "i", "15")
    assert cache.get("default", "i")["note"] == "re-created after our delete"
    cache.forget("default", "i", None)  # version unknown: the watch will tell
    assert cache.get("default", "i") is not None
    cache.forget("default", "i", "20")
    assert cache.get("default", "i") is None
    cache.apply(WatchEvent("ADDED", obj("30")))
    cache.forget("default", "i", "31")
    assert cache.get("default", "i") is None


def test_versions_compare_as_integers_only() -> None:
    assert compare_versions("9", "10") == -1 and compare_versions("10", "9") == 1 and compare_versions("7", "7") == 0
    assert compare_versions("abc", "1") is None and compare_versions(None, "1") is None
    assert resource_version(obj("3")) == "3" and resource_version({"metadata": {}}) is None
