"""ONVIF handler building blocks as pure functions: UsernameToken, envelopes, ProbeMatch parsing,
credentials, discoveryDetails (akri-contract.md §5.4). No sockets, threads or sleeps.

(Pure tests; they live here because this folder holds the ONVIF handler's tests.)
"""

from __future__ import annotations

import base64
import json

import pytest
from lxml import etree

from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handlers import onvif
from agent.discovery.handlers._onvif_credentials import Credential, CredentialStore
from agent.discovery.handlers._onvif_soap import (
    BASE64_BINARY_TYPE,
    PASSWORD_DIGEST_TYPE,
    build_request,
    make_username_token,
    parse_network_interfaces,
    password_digest,
)
from agent.discovery.handlers._onvif_wsdiscovery import (
    DatagramRejected,
    ProbeMatch,
    build_probe,
    device_uuid,
    parse_probe_matches,
)
from agent.discovery.handlers.filtering import FilterList, FilterType
from agent.discovery.handlers.onvif import (
    OnvifDetails,
    OnvifDiscoveryHandler,
    parse_details,
)

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TDS = "http://www.onvif.org/ver10/device/wsdl"
MESSAGE_ID = "uuid:7b1d26aa-b02e-4ad2-8aab-4c928298ee0c"


# --- UsernameToken (username_token.rs) ----------------------------------------------------------

def test_password_digest_contract_vector() -> None:
    assert password_digest("nonce", "2000-01-01T12:34:56:789Z", "1234567") == "AGsoQQ+qNJu6Ha7h/QAPoQvYcV0="


def test_username_token_contract_vector() -> None:
    token = make_username_token(Credential("abcdefe", "1234567"), nonce="nonce", created="2000-01-01T12:34:56:789Z")
    assert (token.username, token.nonce, token.digest, token.created) == (
        "abcdefe", "bm9uY2U=", "AGsoQQ+qNJu6Ha7h/QAPoQvYcV0=", "2000-01-01T12:34:56:789Z")


def test_username_token_defaults_are_fresh_uuid_nonce_and_rfc3339_millis() -> None:
    first = make_username_token(Credential("user", "pw"))
    second = make_username_token(Credential("user", "pw"))
    assert first.nonce != second.nonce
    raw_nonce = base64.b64decode(first.nonce).decode()
    assert len(raw_nonce) == 36 and raw_nonce.count("-") == 4
    assert first.created.endswith("Z") and len(first.created) == len("2000-01-01T12:34:56.789Z")
    assert first.digest == password_digest(raw_nonce, first.created, "pw")


def test_missing_password_digests_as_empty() -> None:
    token = make_username_token(Credential("user", None), nonce="n", created="c")
    assert token.digest == password_digest("n", "c", "")


def test_secrets_are_redacted_in_reprs() -> None:
    credential = Credential("admin", "hunter2")
    token = make_username_token(credential)
    store = CredentialStore({"default": credential})
    for text in (repr(credential), repr(token), repr(store), str(credential)):
        assert "admin" not in text and "hunter2" not in text and token.digest not in text


# --- SOAP envelopes --------------------------------------------------------------------------

def test_authenticated_request_envelope() -> None:
    token = make_username_token(Credential("abcdefe", "1234567"), nonce="nonce", created="2000-01-01T12:34:56:789Z")
    envelope = etree.fromstring(build_request("GetNetworkInterfaces", token))

    security = envelope.find(f"{{{SOAP}}}Header/{{{WSSE}}}Security")
    assert security is not None and security.get(f"{{{SOAP}}}mustUnderstand") == "1"
    username_token = security.find(f"{{{WSSE}}}UsernameToken")
    assert username_token.findtext(f"{{{WSSE}}}Username") == "abcdefe"
    password = username_token.find(f"{{{WSSE}}}Password")
    assert (password.get("Type"), password.text) == (PASSWORD_DIGEST_TYPE, "AGsoQQ+qNJu6Ha7h/QAPoQvYcV0=")
    nonce = username_token.find(f"{{{WSSE}}}Nonce")
    assert (nonce.get("EncodingType"), nonce.text) == (BASE64_BINARY_TYPE, "bm9uY2U=")
    assert username_token.findtext(f"{{{WSU}}}Created") == "2000-01-01T12:34:56:789Z"
    assert [child.tag for child in envelope.find(f"{{{SOAP}}}Body")] == [f"{{{TDS}}}GetNetworkInterfaces"]


def test_unauthenticated_request_has_no_security_header() -> None:
    envelope = etree.fromstring(build_request("GetSystemDateAndTime"))
    assert envelope.find(f".//{{{WSSE}}}Security") is None
    assert [child.tag for child in envelope.find(f"{{{SOAP}}}Body")] == [f"{{{TDS}}}GetSystemDateAndTime"]


def test_network_interfaces_take_the_first_ipv4_config_address_and_hw_address() -> None:
    document = etree.fromstring(
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"'
        b' xmlns:tt="http://www.onvif.org/ver10/schema"><e:Body><tds:GetNetworkInterfacesResponse>'
        b'<tds:NetworkInterfaces token="eth0"><tt:Info><tt:HwAddress> 00:11:22:33:44:55 </tt:HwAddress></tt:Info>'
        b"<tt:IPv4><tt:Config><tt:FromDHCP><tt:Address>10.0.0.7</tt:Address></tt:FromDHCP>"
        b"<tt:Manual><tt:Address>10.0.0.8</tt:Address></tt:Manual></tt:Config></tt:IPv4></tds:NetworkInterfaces>"
        b"</tds:GetNetworkInterfacesResponse></e:Body></e:Envelope>"
    )
    assert parse_network_interfaces(document) == ("10.0.0.7", "00:11:22:33:44:55")
    assert parse_network_interfaces(etree.fromstring(b"<x/>")) == (None, None)


# --- WS-Discovery ----------------------------------------------------------------------------

def test_probe_is_namespace_valid_and_asks_for_network_video_transmitters() -> None:
    envelope = etree.fromstring(build_probe(MESSAGE_ID))
    assert envelope.tag == f"{{{SOAP}}}Envelope"
    header = envelope.find(f"{{{SOAP}}}Header")
    assert header.findtext(f"{{{WSA}}}MessageID") == MESSAGE_ID
    assert header.findtext(f"{{{WSA}}}To") == "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
    assert header.findtext(f"{{{WSA}}}Action") == "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
    types = envelope.find(f"{{{SOAP}}}Body/{{{WSD}}}Probe/{{{WSD}}}Types")
    prefix, local = types.text.split(":")
    assert (types.nsmap[prefix], local) == ("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter")


def probe_matches(relates_to: str | None, body: str) -> bytes:
    relates = f"<wsa:RelatesTo>{relates_to}</wsa:RelatesTo>" if relates_to is not None else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        f"<SOAP-ENV:Header><wsa:MessageID>urn:uuid:2bc6f06c</wsa:MessageID>{relates}</SOAP-ENV:Header>"
        f"<SOAP-ENV:Body><d:ProbeMatches>{body}</d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


def probe_match(address: str, xaddrs: str | None, scopes: str | None) -> str:
    parts = [f"<wsa:EndpointReference><wsa:Address>{address}</wsa:Address></wsa:EndpointReference>",
             "<d:Types>dn:NetworkVideoTransmitter</d:Types>"]
    if scopes is not None:
        parts.append(f"<d:Scopes>{scopes}</d:Scopes>")
    if xaddrs is not None:
        parts.append(f"<d:XAddrs>{xaddrs}</d:XAddrs>")
    return f"<d:ProbeMatch>{''.join(parts)}<d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch>"


def test_every_probe_match_of_a_datagram_is_read() -> None:
    datagram = probe_matches(MESSAGE_ID, "".join([
        probe_match("urn:uuid:AAAA-1", "http://10.0.0.1/onvif/device_service\n  http://[fe80::1]/onvif", "s1  s2"),
        probe_match("uuid:bbbb-2", None, "s3"),  # no XAddrs: skipped
        probe_match("cccc-3", "http://10.0.0.3/onvif/device_service", None),  # no Scopes: empty
    ]))
    assert parse_probe_matches(datagram, MESSAGE_ID) == [
        ProbeMatch("aaaa-1", ("http://10.0.0.1/onvif/device_service", "http://[fe80::1]/onvif"), ("s1", "s2")),
        ProbeMatch("cccc-3", ("http://10.0.0.3/onvif/device_service",), ()),
    ]


@pytest.mark.parametrize("relates_to", [None, "uuid:another-probe", ""])
def test_replies_to_other_messages_are_rejected_as_unrelated(relates_to: str | None) -> None:
    datagram = probe_matches(relates_to, probe_match("uuid:a", "http://10.0.0.1/", "s"))
    with pytest.raises(DatagramRejected) as excinfo:
        parse_probe_matches(datagram, MESSAGE_ID)
    assert excinfo.value.malformed is False


@pytest.mark.parametrize(
    "datagram",
    [b"", b"<unclosed", b"\xff\xfe<\x00", b"<Envelope>not soap</Envelope>",
     b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'],
)
def test_malformed_datagrams_are_rejected_as_malformed(datagram: bytes) -> None:
    with pytest.raises(DatagramRejected) as excinfo:
        parse_probe_matches(datagram, MESSAGE_ID)
    assert excinfo.value.malformed is True


@pytest.mark.parametrize(
    ("address", "expected"),
    [("a", "a"), ("urn:b", "b"), ("uuid:c", "c"), ("urn:uuid:d", "d"), ("uuid:urn:e", "urn:e"),
     ("urn:x:uuid:F", "x:uuid:f"), ("x:uuid:G", "x:uuid:g")],
)
def test_device_uuid_matches_akri(address: str, expected: str) -> None:
    assert device_uuid(address) == expected


# --- credentials (credential_store.rs) ---------------------------------------------------------

UUID = "5f5a69c2-e0ae-504f-829b-00fcdab169cc"


def props(**values: object) -> dict[str, bytes | None]:
    return {k: (v if isinstance(v, bytes) or v is None else json.dumps(v).encode()) for k, v in values.items()}


def test_credential_list_with_base64_password() -> None:
    store = CredentialStore.from_properties(props(
        device_credential_list=["list1", "list2"],
        list1={UUID: {"username": "u1", "password": "cGFzcw==", "base64encoded": True}},
        list2={"other": {"username": "u2"}},
    ))
    assert store.get(UUID) == Credential("u1", "pass")
    assert store.get("OTHER") == Credential("u2", None)
    assert store.get("unknown") is None


def test_malformed_credential_list_is_ignored_as_a_whole() -> None:
    store = CredentialStore.from_properties(props(
        device_credential_list=["bad", "broken-json", "missing"],
        bad={UUID: {"username": "u1"}, "x": {"password": "no-username"}},
        **{"broken-json": b"{not json"},
    ))
    assert len(store) == 0


def test_credential_ref_list_resolves_references_and_skips_empty_usernames() -> None:
    store = CredentialStore.from_properties(props(
        device_credential_ref_list=["refs"],
        refs={UUID: {"username_ref": "u", "password_ref": "p"}, "empty": {"username_ref": "blank"},
              "dangling": {"username_ref": "nope"}},
        u=b"admin", p=b"secret", blank=b"",
    ))
    assert store.get(UUID) == Credential("admin", "secret")
    assert store.get("empty") is None and store.get("dangling") is None


def test_username_password_pairs_use_c_identifier_ids_and_override_lists() -> None:
    c_id = UUID.replace("-", "_")
    store = CredentialStore.from_properties(props(
        device_credential_list=["l"], l={UUID: {"username": "from-list", "password": "x"}},
        **{f"username_{c_id}": b"from-pair", f"password_{c_id}": b"pw", "username_": b"ignored",
           "password_lonely": b"p"},
    ))
    assert store.get(UUID) == Credential("from-pair", "pw")
    assert store.get("lonely") is None


def test_default_credential_is_the_fallback_and_non_utf8_is_ignored() -> None:
    store = CredentialStore.from_properties({"username_default": b"guest", "password_default": b"\xff\xfe",
                                             "username_abc": b"\xc3\x28"})
    assert store.get("anything") == Credential("guest", None)
    assert store.get("abc") == Credential("guest", None)  # the non-UTF-8 username was ignored


# --- discoveryDetails ------------------------------------------------------------------------

def test_empty_details_mean_akri_defaults() -> None:
    assert parse_details("") == parse_details("{}") == OnvifDetails(discovery_timeout_seconds=1)


def test_full_details() -> None:
    parsed = parse_details(
        "ipAddresses: {items: [10.0.0.1], action: Exclude}\n"
        "macAddresses: {items: [10:20:30:40:50:59]}\n"
        "scopes: null\n"
        "uuids: {items: []}\n"
        "discoveryTimeoutSeconds: 2\n"
        "directedProbes: [10.0.0.9, 'camera.local:8702']\n"
    )
    assert parsed == OnvifDetails(
        ip_addresses=FilterList(("10.0.0.1",), FilterType.EXCLUDE),
        mac_addresses=FilterList(("10:20:30:40:50:59",), FilterType.INCLUDE),
        scopes=None,
        uuids=FilterList((), FilterType.INCLUDE),
        discovery_timeout_seconds=2,
        directed_probes=(("10.0.0.9", 3702), ("camera.local", 8702)),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("discoveryTimeoutSeconds: true", "discoveryTimeoutSeconds: True is not of type 'number'"),
        ("discoveryTimeoutSeconds: .inf", "discoveryTimeoutSeconds: inf is greater than the maximum of 3600"),
        ("directedProbes: ['']", "directedProbes[0]: '' should be non-empty"),
        ("directedProbes: ['host:0']", "directedProbes[0]: 'host:0' has port 0"),
        ("directedProbes: ['user@host']", "directedProbes[0]: 'user@host' is not host[:port]"),
        ("directedProbes: 10.0.0.1", "directedProbes: '10.0.0.1' is not of type 'array', 'null'"),
        ("scopes: {items: [1]}", "scopes.items[0]: 1 is not of type 'string'"),
    ],
)
def test_invalid_details(text: str, message: str) -> None:
    with pytest.raises(InvalidDiscoveryDetails) as excinfo:
        parse_details(text)
    assert str(excinfo.value).startswith(message)


# --- handler settings from the environment -------------------------------------------------------

@pytest.mark.parametrize(
    ("environ", "interfaces"),
    [({}, None), ({"ONVIF_MULTICAST_INTERFACES": ""}, ()),
     ({"ONVIF_MULTICAST_INTERFACES": " eth1, vlan20 "}, ("eth1", "vlan20"))],
)
def test_multicast_interfaces_from_env(environ: dict[str, str], interfaces: tuple[str, ...] | None) -> None:
    assert OnvifDiscoveryHandler.from_env(environ).multicast_interfaces == interfaces


def test_bad_multicast_interface_name_from_env() -> None:
    with pytest.raises(ValueError, match="ONVIF_MULTICAST_INTERFACES='eth0,a/b': 'a/b' is not an interface name"):
        OnvifDiscoveryHandler.from_env({"ONVIF_MULTICAST_INTERFACES": "eth0,a/b"})


def test_handler_identity() -> None:
    handler = OnvifDiscoveryHandler()
    assert (handler.name, handler.shared, handler.multicast_interfaces) == ("onvif", True, None)


def test_main_rejects_a_bad_environment(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ONVIF_MULTICAST_INTERFACES", "a/b")
    assert onvif.main([]) == 2
    assert "ONVIF_MULTICAST_INTERFACES='a/b'" in capsys.readouterr().err
