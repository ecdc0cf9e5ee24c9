"""ONVIF handler building blocks: UsernameToken, SOAP requests and replies (zeep, HTTP through an
httpx MockTransport), ProbeMatch parsing, credentials, discoveryDetails (akri-contract.md §5.4).
No sockets or threads.

(They live here because this folder holds the ONVIF handler's tests.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from datetime import datetime, timezone

import httpx
import pytest
from lxml import etree

from agent.discovery.errors import InvalidDiscoveryDetails
from agent.discovery.handlers import onvif
from agent.discovery.handlers._onvif_credentials import Credential, CredentialStore
from agent.discovery.handlers._onvif_soap import (
    DEVICE_BINDING,
    OnvifCallError,
    OnvifSoapClient,
    device_document,
    security_header,
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
PASSWORD_DIGEST_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
BASE64_BINARY_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
MESSAGE_ID = "uuid:7b1d26aa-b02e-4ad2-8aab-4c928298ee0c"


# --- UsernameToken (username_token.rs) through zeep's UsernameToken ------------------------------

CONTRACT_CREATED = "2000-01-01T12:34:56:789Z"


class ContractCreated(datetime):
    """An instant that zeep renders as the contract's `Created` text. zeep takes `created` only as a
    datetime, drops sub-seconds and formats it with isoformat(); the contract's text (a colon
    before the milliseconds, from Akri's username_token.rs test) is no isoformat() output."""

    def isoformat(self, *args: object, **kwargs: object) -> str:
        return CONTRACT_CREATED


def digest(nonce: str, created: str, password: str) -> str:
    """The contract's formula: base64(SHA1(nonce + created + password)) over the raw nonce text."""
    return base64.b64encode(hashlib.sha1(f"{nonce}{created}{password}".encode()).digest()).decode()  # noqa: S324


def offline_client(handler: object = None, *, timeout_seconds: float = 5.0) -> OnvifSoapClient:
    """A SOAP client whose HTTP goes to `handler` (httpx MockTransport: no sockets)."""
    transport = httpx.MockTransport(handler or (lambda request: httpx.Response(500)))  # type: ignore[arg-type]
    return OnvifSoapClient(httpx.AsyncClient(transport=transport), timeout_seconds=timeout_seconds)


def token_of(request: bytes) -> dict[str, str | None]:
    envelope = etree.fromstring(request)
    security = envelope.find(f"{{{SOAP}}}Header/{{{WSSE}}}Security")
    assert security is not None and security.get(f"{{{SOAP}}}mustUnderstand") == "1"
    token = security.find(f"{{{WSSE}}}UsernameToken")
    password, nonce = token.find(f"{{{WSSE}}}Password"), token.find(f"{{{WSSE}}}Nonce")
    assert (password.get("Type"), nonce.get("EncodingType")) == (PASSWORD_DIGEST_TYPE, BASE64_BINARY_TYPE)
    return {"username": token.findtext(f"{{{WSSE}}}Username"), "digest": password.text, "nonce": nonce.text,
            "created": token.findtext(f"{{{WSU}}}Created")}


def test_password_digest_contract_vector() -> None:
    assert digest("nonce", CONTRACT_CREATED, "1234567") == "AGsoQQ+qNJu6Ha7h/QAPoQvYcV0="


def test_zeep_username_token_reproduces_the_contract_vector() -> None:
    security = security_header(Credential("abcdefe", "1234567"), nonce="nonce",
                               created=ContractCreated(2000, 1, 1, 12, 34, 56, 789000, tzinfo=timezone.utc))
    request = offline_client().build_request("GetNetworkInterfaces", security)

    assert token_of(request) == {"username": "abcdefe", "digest": "AGsoQQ+qNJu6Ha7h/QAPoQvYcV0=",
                                 "nonce": "bm9uY2U=", "created": CONTRACT_CREATED}
    body = etree.fromstring(request).find(f"{{{SOAP}}}Body")
    assert [child.tag for child in body] == [f"{{{TDS}}}GetNetworkInterfaces"]


def test_zeep_sends_created_in_whole_utc_seconds() -> None:
    security = security_header(Credential("abcdefe", "1234567"), nonce="nonce",
                               created=datetime(2000, 1, 1, 12, 34, 56, 789000, tzinfo=timezone.utc))
    token = token_of(offline_client().build_request("GetNetworkInterfaces", security))
    assert token["created"] == "2000-01-01T12:34:56Z"
    assert token["digest"] == digest("nonce", "2000-01-01T12:34:56Z", "1234567") == "UJew0g7Uz2lnpJ0ZOb8RTDZIxgc="


def test_default_nonce_is_a_fresh_uuid_and_created_is_now() -> None:
    client = offline_client()
    first, second = (token_of(client.build_request("GetNetworkInterfaces", security_header(Credential("user", "pw"))))
                     for _ in range(2))
    assert first["nonce"] != second["nonce"]
    raw_nonce = base64.b64decode(first["nonce"]).decode()
    assert len(raw_nonce) == 36 and raw_nonce.count("-") == 4
    assert first["created"].endswith("Z") and datetime.fromisoformat(first["created"]).tzinfo == timezone.utc
    assert first["digest"] == digest(raw_nonce, first["created"], "pw")


def test_missing_password_digests_as_empty() -> None:
    security = security_header(Credential("user", None), nonce="n",
                               created=datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc))
    token = token_of(offline_client().build_request("GetNetworkInterfaces", security))
    assert token["digest"] == digest("n", "2024-05-01T10:00:00Z", "")


def test_secrets_are_redacted_in_reprs() -> None:
    credential = Credential("admin", "hunter2")
    store = CredentialStore({"default": credential})
    for text in (repr(credential), repr(security_header(credential)), repr(store), str(credential)):
        assert "admin" not in text and "hunter2" not in text


# --- SOAP requests and replies (zeep, the ONVIF device WSDL; HTTP through httpx MockTransport) -----

def test_unauthenticated_request_has_no_security_header() -> None:
    envelope = etree.fromstring(offline_client().build_request("GetSystemDateAndTime"))
    assert envelope.tag == f"{{{SOAP}}}Envelope"
    assert envelope.find(f".//{{{WSSE}}}Security") is None
    assert [child.tag for child in envelope.find(f"{{{SOAP}}}Body")] == [f"{{{TDS}}}GetSystemDateAndTime"]


def test_the_device_wsdl_is_parsed_once_per_process() -> None:
    assert device_document() is device_document()
    assert DEVICE_BINDING in device_document().bindings


def soap_reply(body: str, status: int = 200) -> httpx.Response:
    envelope = (f'<e:Envelope xmlns:e="{SOAP}" xmlns:tds="{TDS}" xmlns:tt="http://www.onvif.org/ver10/schema"'
                f' xmlns:ter="http://www.onvif.org/ver10/error"><e:Body>{body}</e:Body></e:Envelope>')
    return httpx.Response(status, content=envelope.encode(), headers={"Content-Type": "application/soap+xml"})


def interface(token: str, mac: str | None, config: str | None) -> str:
    info = f"<tt:Info><tt:HwAddress>{mac}</tt:HwAddress></tt:Info>" if mac is not None else ""
    ipv4 = (f"<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config>{config}<tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
            if config is not None else "")
    return f'<tds:NetworkInterfaces token="{token}"><tt:Enabled>true</tt:Enabled>{info}{ipv4}</tds:NetworkInterfaces>'


NETWORK_INTERFACES = (
    "<tds:GetNetworkInterfacesResponse>"
    + interface("wlan0", None, None)  # no Info, no IPv4: skipped for both values
    + interface("eth0", " 00:11:22:33:44:55 ",
                "<tt:Manual><tt:Address>10.0.0.8</tt:Address><tt:PrefixLength>24</tt:PrefixLength></tt:Manual>"
                "<tt:FromDHCP><tt:Address>10.0.0.7</tt:Address><tt:PrefixLength>24</tt:PrefixLength></tt:FromDHCP>")
    + interface("eth1", "66:77:88:99:AA:BB",
                "<tt:FromDHCP><tt:Address>10.0.1.9</tt:Address><tt:PrefixLength>24</tt:PrefixLength></tt:FromDHCP>")
    + "</tds:GetNetworkInterfacesResponse>"
)


async def test_network_interfaces_take_the_first_ipv4_config_address_and_hw_address() -> None:
    requests: list[httpx.Request] = []

    def camera(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return soap_reply(NETWORK_INTERFACES)

    client = offline_client(camera)
    assert await client.network_interfaces("http://camera.invalid/onvif", Credential("user", "pw")) == (
        "10.0.0.8", "00:11:22:33:44:55")

    [request] = requests
    assert request.headers["Content-Type"] == (
        'application/soap+xml; charset=utf-8; action="http://www.onvif.org/ver10/device/wsdl/GetNetworkInterfaces"')
    token = token_of(request.content)
    assert token["username"] == "user"
    assert token["digest"] == digest(base64.b64decode(token["nonce"]).decode(), token["created"], "pw")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("<tds:GetNetworkInterfacesResponse/>", (None, None)),
        ("<tds:GetNetworkInterfacesResponse>" + interface("eth0", "AA:BB:CC:DD:EE:FF", "") +
         "</tds:GetNetworkInterfacesResponse>", (None, "AA:BB:CC:DD:EE:FF")),
        ("<tds:GetNetworkInterfacesResponse>" + interface("eth0", None,
         "<tt:LinkLocal><tt:Address>169.254.0.5</tt:Address><tt:PrefixLength>16</tt:PrefixLength></tt:LinkLocal>")
         + "</tds:GetNetworkInterfacesResponse>", ("169.254.0.5", None)),
    ],
    ids=["no-interfaces", "mac-only", "link-local-only"],
)
async def test_network_interfaces_without_some_values(reply: str, expected: tuple[str | None, str | None]) -> None:
    client = offline_client(lambda request: soap_reply(reply))
    assert await client.network_interfaces("http://camera.invalid/onvif", None) == expected


NOT_AUTHORIZED = ("<e:Fault><e:Code><e:Value>e:Sender</e:Value><e:Subcode><e:Value>ter:NotAuthorized</e:Value>"
                  "</e:Subcode></e:Code><e:Reason><e:Text>user camera-admin is not allowed</e:Text></e:Reason>"
                  "</e:Fault>")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (lambda request: soap_reply(NOT_AUTHORIZED, 400), "SOAP fault e:Sender (NotAuthorized)"),
        (lambda request: httpx.Response(500), "HTTP 500, not a readable SOAP reply"),
        (lambda request: httpx.Response(200, content=b"<not-xml camera-admin"), "HTTP 200, not a readable SOAP reply"),
        (lambda request: httpx.Response(200, content=b"<html>camera-admin</html>"), "unreadable reply"),
    ],
    ids=["fault", "http-500", "not-xml", "not-soap"],
)
async def test_failed_calls_name_the_reason_but_no_reply_or_request_text(reply: object, reason: str) -> None:
    client = offline_client(reply)
    url = "http://camera.invalid/onvif"
    with pytest.raises(OnvifCallError) as excinfo:
        await client.network_interfaces(url, Credential("camera-admin", "s3cr3t"))
    assert str(excinfo.value).startswith(f"GetNetworkInterfaces to {url}: {reason}")
    assert "camera-admin" not in str(excinfo.value) and "s3cr3t" not in str(excinfo.value)
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__
    assert await client.is_responding(url) is False


async def test_a_camera_that_never_answers_times_out() -> None:
    async def silent(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()  # never set
        raise AssertionError("unreachable")

    client = offline_client(silent, timeout_seconds=0.05)
    assert await client.is_responding("http://camera.invalid/onvif") is False
    with pytest.raises(OnvifCallError, match=r"GetNetworkInterfaces to http://camera.invalid/onvif: no answer within"):
        await client.network_interfaces("http://camera.invalid/onvif", None)


async def test_a_responsive_camera() -> None:
    reply = "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>" \
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    assert await offline_client(lambda request: soap_reply(reply)).is_responding("http://camera.invalid/onvif")


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
