"""OPC UA discoveryDetails parsing (akri-contract.md §5.5) as pure functions.

(Pure tests; they live here because this folder holds the OPC UA handler's tests.)
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from agent.discovery.handlers.filtering import FilterList, FilterType
from agent.discovery.handlers.opcua import (
    OpcuaDetails,
    OpcuaDiscoveryHandler,
    parse_details,
    replace_host,
)


@pytest.mark.parametrize("standard", ["{}", "null", "", "{discoveryUrls: ['opc.tcp://localhost:4840/']}"])
def test_standard_method_defaults_to_the_local_discovery_server(standard: str) -> None:
    assert parse_details(f"opcuaDiscoveryMethod:\n  standard: {standard}\n") == OpcuaDetails(
        discovery_urls=("opc.tcp://localhost:4840/",), application_names=None)


def test_full_details_as_in_akri() -> None:
    parsed = parse_details(
        "opcuaDiscoveryMethod:\n  standard:\n    discoveryUrls:\n    - opc.tcp://127.0.0.1:4855/\n"
        "    - opc.tcp://[::1]:4856/path\n"
        'applicationNames:\n  action: Include\n  items:\n  - "Some application name"\n'
    )
    assert parsed == OpcuaDetails(
        discovery_urls=("opc.tcp://127.0.0.1:4855/", "opc.tcp://[::1]:4856/path"),
        application_names=FilterList(("Some application name",), FilterType.INCLUDE),
    )


def test_empty_url_list_is_allowed() -> None:
    assert parse_details("opcuaDiscoveryMethod: {standard: {discoveryUrls: []}}").discovery_urls == ()


@pytest.mark.parametrize(
    ("advertised", "host", "expected"),
    [
        ("opc.tcp://plc-7.factory:4855/UA/Server", "10.1.2.3", "opc.tcp://10.1.2.3:4855/UA/Server"),
        ("opc.tcp://plc-7.factory/UA", "10.1.2.3", "opc.tcp://10.1.2.3/UA"),  # no port stays without one
        ("opc.tcp://plc-7.factory:4855/", "::1", "opc.tcp://[::1]:4855/"),
        ("https://user@plc-7.factory:443/x?y=1", "10.0.0.1", "https://10.0.0.1:443/x?y=1"),
    ],
)
def test_host_substitution_keeps_scheme_port_and_path(advertised: str, host: str, expected: str) -> None:
    assert replace_host(urlsplit(advertised), host) == expected


def test_handler_identity() -> None:
    handler = OpcuaDiscoveryHandler()
    assert (handler.name, handler.shared) == ("opcua", True)
