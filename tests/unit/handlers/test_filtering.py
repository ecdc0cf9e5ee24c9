"""Akri FilterList semantics (akri-contract.md §5.1) and discoveryDetails decoding."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handlers.filtering import (
    FILTER_LIST_SCHEMA,
    FilterList,
    FilterType,
    check_details,
    execute_filter,
    filter_list_from,
    filter_needs_value,
    load_details,
    should_include,
)

INCLUDE_FOO_BAR = FilterList(("foo", "bar"), FilterType.INCLUDE)
EXCLUDE_FOO_BAR = FilterList(("foo", "bar"), FilterType.EXCLUDE)
INCLUDE_NOTHING = FilterList((), FilterType.INCLUDE)
EXCLUDE_NOTHING = FilterList((), FilterType.EXCLUDE)
SCHEMA = {"type": "object", "properties": {"names": FILTER_LIST_SCHEMA}}


def equal(value: str, item: str) -> bool:
    return value == item


def always(_value: str, _item: str) -> bool:
    return True


def never(_value: str, _item: str) -> bool:
    return False


# --- should_include (filtering.rs) --------------------------------------------------------------

@pytest.mark.parametrize(
    ("filter_list", "item", "expected"),
    [
        (None, "anything", True),
        (INCLUDE_FOO_BAR, "foo", True),
        (INCLUDE_FOO_BAR, "foobar", False),
        (INCLUDE_FOO_BAR, "FOO", False),  # exact, case-sensitive
        (EXCLUDE_FOO_BAR, "bar", False),
        (EXCLUDE_FOO_BAR, "baz", True),
        (INCLUDE_NOTHING, "foo", False),
        (EXCLUDE_NOTHING, "foo", True),
    ],
)
def test_should_include(filter_list: FilterList | None, item: str, expected: bool) -> None:
    assert should_include(filter_list, item) is expected


# --- execute_filter (onvif discovery_impl.rs; True = filter out) -------------------------------

@pytest.mark.parametrize("values", [None, ["foo"]])
@pytest.mark.parametrize("predicate", [always, never])
def test_execute_filter_keeps_without_filter_or_with_exclude_nothing(values: list[str] | None, predicate) -> None:
    assert execute_filter(None, values, predicate) is False
    assert execute_filter(EXCLUDE_NOTHING, values, predicate) is False


@pytest.mark.parametrize("filter_list", [INCLUDE_FOO_BAR, EXCLUDE_FOO_BAR, INCLUDE_NOTHING])
@pytest.mark.parametrize("predicate", [always, never])
def test_execute_filter_drops_when_value_unavailable(filter_list: FilterList, predicate) -> None:
    assert execute_filter(filter_list, None, predicate) is True


@pytest.mark.parametrize(
    ("filter_list", "values", "dropped"),
    [
        (EXCLUDE_FOO_BAR, ["foo"], True),
        (EXCLUDE_FOO_BAR, ["bar"], True),
        (EXCLUDE_FOO_BAR, ["foobar"], False),
        (INCLUDE_FOO_BAR, ["foo"], False),
        (INCLUDE_FOO_BAR, ["bar"], False),
        (INCLUDE_FOO_BAR, ["foobar"], True),
        (INCLUDE_FOO_BAR, ["x", "bar"], False),  # any value may match
        (INCLUDE_FOO_BAR, [], True),  # e.g. a ProbeMatch without scopes
        (EXCLUDE_FOO_BAR, [], False),
        (INCLUDE_NOTHING, ["foo"], True),
    ],
)
def test_execute_filter_matches_items_against_values(filter_list: FilterList, values: list[str], dropped: bool) -> None:
    assert execute_filter(filter_list, values, equal) is dropped


def test_execute_filter_uses_the_predicate_with_value_then_item() -> None:
    seen: list[tuple[str, str]] = []

    def record(value: str, item: str) -> bool:
        seen.append((value, item))
        return False

    execute_filter(FilterList(("item",)), ["value"], record)
    assert seen == [("value", "item")]


filter_lists = st.builds(
    FilterList, st.lists(st.sampled_from(["a", "b", "c"]), max_size=3).map(tuple), st.sampled_from(list(FilterType))
)


@given(filter_list=st.none() | filter_lists, value=st.sampled_from(["a", "b", "c", "d"]))
def test_execute_filter_on_one_value_is_the_negation_of_should_include(filter_list, value) -> None:
    assert execute_filter(filter_list, [value], equal) is (not should_include(filter_list, value))


def test_filter_needs_value() -> None:
    assert not filter_needs_value(None)
    assert not filter_needs_value(EXCLUDE_NOTHING)
    assert filter_needs_value(INCLUDE_NOTHING)
    assert filter_needs_value(EXCLUDE_FOO_BAR)


# --- FilterList from YAML --------------------------------------------------------------------

def test_filter_list_defaults_to_include() -> None:
    raw = load_details("names:\n  items: [foo]\n", allow_empty=False)
    check_details(raw, SCHEMA)
    assert filter_list_from(raw["names"]) == FilterList(("foo",), FilterType.INCLUDE)
    assert filter_list_from(None) is None


def test_filter_list_exclude() -> None:
    raw = load_details('{"names": {"action": "Exclude", "items": []}}', allow_empty=False)  # JSON is YAML
    check_details(raw, SCHEMA)
    assert filter_list_from(raw["names"]) == EXCLUDE_NOTHING


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("names:\n  action: Include\n", "names: 'items' is a required property"),
        ("names:\n  items: [a]\n  action: include\n", "names.action: 'include' is not one of ['Include', 'Exclude']"),
        ("names:\n  items: [a, 7]\n", "names.items[1]: 7 is not of type 'string'"),
        ("names: [a]\n", "names: ['a'] is not of type 'object', 'null'"),
    ],
)
def test_invalid_filter_list_names_field_and_value(text: str, message: str) -> None:
    with pytest.raises(InvalidDiscoveryDetails) as excinfo:
        check_details(load_details(text, allow_empty=False), SCHEMA)
    assert str(excinfo.value) == message


# --- YAML decoding ---------------------------------------------------------------------------

def test_yaml_12_scalars_keep_mac_addresses_and_words_as_strings() -> None:
    raw = load_details(
        "mac: 10:20:30:40:50:59\nword: on\nno: no\noctal: 017\nhex: 0x1f\nfloat: 1.5\ninf: -.inf\n"
        "yes: true\nnull1: ~\nnull2:\ndate: 2020-01-01\n",
        allow_empty=False,
    )
    assert raw["mac"] == "10:20:30:40:50:59"  # YAML 1.1 would read a base-60 integer
    assert raw["word"] == "on" and raw["no"] == "no"
    assert raw["octal"] == 17 and raw["hex"] == 31
    assert raw["float"] == 1.5 and raw["inf"] == -math.inf
    assert raw["yes"] is True and raw["null1"] is None and raw["null2"] is None
    assert raw["date"] == "2020-01-01"


@pytest.mark.parametrize("text", ["", "   \n", "null", "~"])
def test_empty_details(text: str) -> None:
    assert load_details(text, allow_empty=True) == {}
    with pytest.raises(InvalidDiscoveryDetails, match="must not be empty"):
        load_details(text, allow_empty=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a: [\n", "invalid YAML at line 2 column 1"),
        ("- a\n- b\n", "expected a mapping, got list"),
        ("a: 1\n---\nb: 2\n", "expected one YAML document, found 2"),
        ("just text", "expected a mapping, got str 'just text'"),
    ],
)
def test_invalid_yaml(text: str, message: str) -> None:
    with pytest.raises(InvalidDiscoveryDetails, match="^discoveryDetails: ") as excinfo:
        load_details(text, allow_empty=True)
    assert message in str(excinfo.value)
