"""akri_api.udev_rules: Akri's udev rule grammar (akri-contract.md §5.3) and udev glob patterns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akri_api.udev_rules import Filter, UdevRuleError, glob_matcher, parse_rule

# (rule, number of filters) — every supported field, both operators, spacing and value forms.
SUPPORTED = [
    ("", 0),
    ('KERNEL=="null"', 1),
    ('KERNEL!="null"', 1),
    ('KERNELS=="1-1"', 1),
    ('SUBSYSTEM=="video4linux"', 1),
    ('SUBSYSTEMS=="usb"', 1),
    ('DRIVER=="uvcvideo"', 1),
    ('DRIVERS!="usb"', 1),
    ('DEVPATH=="/devices/virtual/mem/null"', 1),
    ('TAG=="uaccess"', 1),
    ('TAGS=="seat"', 1),
    ('ATTR{idVendor}=="046d"', 1),
    ('ATTRS{idProduct}!="0825"', 1),
    ('ENV{ID_PATH}=="pci-0000:00:14.0-usb-0:1:1.0"', 1),
    ('ENV{ID_*}=="x"', 1),
    ('ATTR{device/vendor}=="0x10de"', 1),
    ('ATTR{some key}=="a b"', 1),
    ('KERNEL==""', 1),
    ('KERNEL=="video[0-9]*"', 1),
    ('KERNEL=="video?|loop[0-3]|tty\\*"', 1),
    ('ENV{X}=="%{}$:._-/"', 1),
    ('KERNEL=="video[0-9]*",SUBSYSTEM=="video4linux", ATTR{idVendor}=="05a9"', 3),
    ('KERNEL == "a" , SUBSYSTEM  !=  "b"', 2),
    ('KERNEL=="a"   ', 1),
    ('SUBSYSTEM=="usb", ATTRS{idVendor}=="046d", ATTRS{idProduct}=="0825", DRIVERS=="uvcvideo", TAGS=="uaccess"', 5),
]

# (rule, expected 1-based position, fragment of the reason)
UNSUPPORTED = [
    ('KERNEL=="null", RUN+="x"', 17, "RUN is an action field"),
    ('RUN{program}+="x"', 1, "RUN is an action field"),
    ('LABEL="end"', 1, "LABEL is an action field"),
    ('GOTO="end"', 1, "GOTO is an action field"),
    ('IMPORT{program}="x"', 1, "IMPORT is an action field"),
    ('OPTIONS+="last_rule"', 1, "OPTIONS is an action field"),
    ('OWNER="root"', 1, "OWNER is an action field"),
    ('GROUP="video"', 1, "GROUP is an action field"),
    ('MODE="0666"', 1, "MODE is an action field"),
    ('WAIT_FOR=="x"', 1, "WAIT_FOR is an action field"),
    ('ACTION=="add"', 1, "ACTION is a udev match field not supported"),
    ('NAME=="x"', 1, "NAME is a udev match field not supported"),
    ('SYMLINK=="x"', 1, "SYMLINK is a udev match field not supported"),
    ('TEST=="/x"', 1, "TEST is a udev match field not supported"),
    ('TEST{0644}=="/x"', 1, "TEST is a udev match field not supported"),
    ('PROGRAM=="x"', 1, "PROGRAM is a udev match field not supported"),
    ('RESULT=="x"', 1, "RESULT is a udev match field not supported"),
    ('CONST{arch}=="x86-64"', 1, "CONST is a udev match field not supported"),
    ('SECLABEL{selinux}=="x"', 1, "SECLABEL is a udev match field not supported"),
    ('SYSCTL{kernel/x}=="1"', 1, "SYSCTL is a udev match field not supported"),
    ('KERNEL="a"', 7, "'=' is an action operator"),
    ('KERNEL+="a"', 7, "'+=' is an action operator"),
    ('KERNEL-="a"', 7, "'-=' is an action operator"),
    ('KERNEL:="a"', 7, "':=' is an action operator"),
    ('SUBSYSTEM=="usb", ATTR{x}="1"', 26, "'=' is an action operator"),
    ('KERNEL=="a', 9, "unterminated value"),
    ('ATTR{idVendor=="1"', 5, "unterminated key"),
    ('TYPO=="x"', 1, "unknown field 'TYPO'"),
    ('kernel=="x"', 1, "unknown field 'kernel'"),
    ('KERNEL=="a", TYPO=="blah"', 14, "unknown field 'TYPO'"),
    ('KERNEL=="a" x', 13, "unexpected 'x' after the value"),
    ('KERNEL=="a""b"', 12, "unexpected '\"' after the value"),
    ('KERNEL=="a",', 13, "expected a filter after ','"),
    ('KERNEL=="a",,KERNEL=="b"', 13, "expected a field name"),
    (' KERNEL=="a"', 1, "must not start with a space"),
    ("\tKERNEL==\"a\"", 1, "expected a field name"),
    ('KERNEL==a', 9, "expected '\"' to open the value"),
    ('KERNEL', 7, "expected an operator"),
    ('KERNEL<>"a"', 7, "expected an operator"),
    ('ENV=="x"', 4, "ENV needs a key"),
    ('ATTRS=="x"', 6, "ATTRS needs a key"),
    ('ATTR{}=="x"', 6, "non-empty key"),
    ('KERNEL{x}=="a"', 7, "KERNEL takes no {key}"),
    ('ENV {X}=="a"', 4, "ENV needs a key"),
    ('KERNEL=="a=b"', 11, "character '=' is not allowed in a value"),
    ("KERNEL==\"it's\"", 12, "character \"'\" is not allowed in a value"),
    ('KERNEL=="a,b"', 11, "character ',' is not allowed in a value"),
    ('KERNEL=="é"', 10, "not allowed in a value"),
    ('KERNEL=="loop[!0-3]"', 15, "character '!' is not allowed in a value"),
    ('ATTR{a:b}=="x"', 7, "character ':' is not allowed in a key"),
    ('==""', 1, "expected a field name"),
]


@pytest.mark.parametrize(("rule", "count"), SUPPORTED)
def test_supported_forms_parse_to_the_expected_number_of_filters(rule: str, count: int) -> None:
    filters = parse_rule(rule)
    assert len(filters) == count
    assert all(f.operator in ("==", "!=") for f in filters)


@pytest.mark.parametrize(("rule", "position", "reason"), UNSUPPORTED)
def test_unsupported_forms_are_errors_with_position_and_reason(rule: str, position: int, reason: str) -> None:
    with pytest.raises(UdevRuleError) as caught:
        parse_rule(rule)
    err = caught.value
    assert reason in err.reason
    assert err.position == position
    assert str(err) == f"rule {rule!r}: position {position}: {err.reason}"
    assert isinstance(err, ValueError)


def test_error_message_matches_the_documented_example() -> None:
    with pytest.raises(UdevRuleError) as caught:
        parse_rule('KERNEL=="null", RUN+="x"')
    assert str(caught.value) == (
        "rule 'KERNEL==\"null\", RUN+=\"x\"': position 17: "
        "RUN is an action field, not supported by Akri's udev discovery"
    )


def test_filters_keep_field_key_operator_and_value() -> None:
    assert parse_rule('ATTRS{idVendor}!="046d", KERNEL == "video[0-9]*", ENV{ID_PATH}==""') == [
        Filter("ATTRS", "idVendor", "!=", "046d"),
        Filter("KERNEL", None, "==", "video[0-9]*"),
        Filter("ENV", "ID_PATH", "==", ""),
    ]


@pytest.mark.parametrize(("rule", "field"), [
    ('ATTRS{a}=="1"', "ATTRS"), ('ATTR{a}=="1"', "ATTR"), ('DRIVERS=="x"', "DRIVERS"), ('DRIVER=="x"', "DRIVER"),
    ('KERNELS=="x"', "KERNELS"), ('KERNEL=="x"', "KERNEL"), ('SUBSYSTEMS=="x"', "SUBSYSTEMS"),
    ('SUBSYSTEM=="x"', "SUBSYSTEM"), ('TAGS=="x"', "TAGS"), ('TAG=="x"', "TAG"),
])
def test_longest_field_name_wins(rule: str, field: str) -> None:
    assert parse_rule(rule)[0].field == field


def test_filter_renders_back_to_rule_syntax() -> None:
    rule = 'ATTRS{idVendor}=="046d", KERNEL!="video[0-9]*"'
    assert ", ".join(str(f) for f in parse_rule(rule)) == rule


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('KERNLSUBYTMDVIAPHG{}=!+-:"*?[]|, \\/x0aé\t')), max_size=40))
def test_fuzz_grammar_alphabet_gives_filters_or_udev_rule_error(rule: str) -> None:
    try:
        filters = parse_rule(rule)
    except UdevRuleError as err:
        assert 1 <= err.position <= len(rule) + 1
    else:
        assert all(isinstance(f, Filter) for f in filters)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_any_text_gives_filters_or_udev_rule_error(rule: str) -> None:
    try:
        parse_rule(rule)
    except UdevRuleError:
        pass


# --- globs --------------------------------------------------------------------------------------

GLOBS = [
    ("video[0-9]*", "video0", True),
    ("video[0-9]*", "video10", True),
    ("video[0-9]*", "videox", False),
    ("video[0-9]*", "xvideo0", False),
    ("null", "null", True),
    ("null", "nul", False),
    ("a|b*", "a", True),
    ("a|b*", "bcd", True),
    ("a|b*", "c", False),
    ("a||b", "", True),
    ("?", "x", True),
    ("?", "xy", False),
    ("*", "", True),
    ("*", "a/b", True),
    ("[!a]x", "bx", True),
    ("[!a]x", "ax", False),
    ("[^a]x", "ax", False),
    ("[]]", "]", True),
    ("[a", "[a", True),
    ("[[:digit:]]", "5", True),
    ("[[:digit:]]", "a", False),
    ("[a-c]", "b", True),
    ("[a-c]", "d", False),
    ("\\*", "*", True),
    ("\\*", "a", False),
    ("", "", True),
    ("", "a", False),
    ("a.b", "axb", False),
    ("(x)", "(x)", True),
]


@pytest.mark.parametrize(("pattern", "value", "expected"), GLOBS)
def test_glob_matcher_follows_udev_fnmatch_semantics(pattern: str, value: str, expected: bool) -> None:
    assert glob_matcher(pattern)(value) is expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab*?[]!^-|\\:")), max_size=12), st.text(alphabet="ab-:]", max_size=6))
def test_fuzz_glob_matcher_never_raises(pattern: str, value: str) -> None:
    assert glob_matcher(pattern)(value) in (True, False)
