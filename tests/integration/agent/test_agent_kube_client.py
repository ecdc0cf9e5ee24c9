"""`agent.kube.client.KubeClient` over real HTTPS: a local scripted server on 127.0.0.1 (and ::1)
with a test-made CA that requires client certificates. Checks TLS verification, tls-server-name,
client certificates from files and from an exec plugin (re-run after a 401), the JSON bodies and
content types of each verb, typed errors and retries, and that `shutdown()` of a watch response
ends a blocked read from another thread."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.kube import client as client_module
from agent.kube import errors
from agent.kube.client import PATCH_APPLY, PATCH_JSON, KubeClient
from agent.kube.kubeconfig import Connection
from agent.kube.resources import ResourceKind
from tests.fakes.tls_certs import CertificateAuthority, Issued

pytestmark = pytest.mark.integration

WIDGETS = ResourceKind("example.com/v1", "Widget", "widgets")
HOLD_SECONDS = 10.0


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_name: str | None
    sni: str | None


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    events: list[dict[str, Any]] | None = None
    """A chunked watch stream: these lines, then the connection is held open."""
    headers: dict[str, str] = field(default_factory=dict)


Script = Callable[[Seen], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    script: Script
    seen: list[Seen]
    stopping: threading.Event
    sni: dict[int, str | None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        name = dict(item[0] for item in peer["subject"])["commonName"] if peer else None
        seen = Seen(self.command, self.path, dict(self.headers.items()), body, name,
                    self.server.sni.get(id(self.connection)) if isinstance(self.connection, ssl.SSLSocket) else None)
        self.server.seen.append(seen)
        reply = self.server.script(seen)
        if reply.events is not None:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in reply.events:
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            self.server.stopping.wait(HOLD_SECONDS)
            self.close_connection = True
            return
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _ok(seen: Seen) -> Reply:
    return Reply(body={"kind": "Widget", "echo": json.loads(seen.body) if seen.body else None})


class ApiServer:
    """A scripted HTTPS server with a certificate from `ca`, requiring client certificates it signed
    (unless not `client_certificates`)."""

    def __init__(self, ca: CertificateAuthority, tmp_path: Path, *, host: str = "127.0.0.1",
                 server_names: tuple[str, ...] = (), ip_san: bool = True, client_certificates: bool = True) -> None:
        issued = ca.issue("apiserver", dns_names=server_names, ip_addresses=(host,) if ip_san else ())
        (tmp_path / "server.pem").write_bytes(issued.cert_pem + issued.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tmp_path / "server.pem"))
        context.verify_mode = ssl.CERT_REQUIRED if client_certificates else ssl.CERT_NONE
        context.load_verify_locations(cadata=ca.cert_pem.decode())
        sni: dict[int, str | None] = {}
        context.sni_callback = lambda sock, name, _ctx: sni.__setitem__(id(sock), name)  # type: ignore[assignment]
        server_class = type("S", (_Server,), {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET})
        self.httpd = server_class((host, 0), _Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.script = _ok
        self.httpd.seen = []
        self.httpd.stopping = threading.Event()
        self.httpd.sni = sni
        self.port = self.httpd.server_address[1]
        self.url = f"https://[{host}]:{self.port}" if ":" in host else f"https://{host}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def seen(self) -> list[Seen]:
        return self.httpd.seen

    def script(self, script: Script) -> None:
        self.httpd.script = script

    def stop(self) -> None:
        self.httpd.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture(scope="module")
def alice(ca: CertificateAuthority) -> Issued:
    return ca.issue("alice", client=True)


@pytest.fixture
def server(ca: CertificateAuthority, tmp_path: Path) -> Iterator[ApiServer]:
    api = ApiServer(ca, tmp_path)
    try:
        yield api
    finally:
        api.stop()


def kubeconfig(tmp_path: Path, server_url: str, *, cluster: dict[str, Any] | None = None,
               user: dict[str, Any] | None = None) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": server_url, **(cluster or {})}}],
        "users": [{"name": "u", "user": user or {}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    return str(path)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def kube(server: ApiServer, ca: CertificateAuthority, alice: Issued, tmp_path: Path) -> Iterator[KubeClient]:
    """A client with the test CA, alice's client certificate (files) and a token."""
    (tmp_path / "alice.crt").write_bytes(alice.cert_pem)
    (tmp_path / "alice.key").write_bytes(alice.key_pem)
    kube = KubeClient.from_kubeconfig(kubeconfig(
        tmp_path, server.url, cluster={"certificate-authority-data": b64(ca.cert_pem)},
        user={"client-certificate": "alice.crt", "client-key": "alice.key", "token": "secret"}), pool_size=2)
    try:
        yield kube
    finally:
        kube.close()


# -- TLS ----------------------------------------------------------------------------------------


def test_tls_with_a_client_certificate_and_a_token(kube: KubeClient, server: ApiServer) -> None:
    assert kube.request_sync("GET", "/apis/example.com/v1/namespaces/ns/widgets/w") == {"kind": "Widget",
                                                                                         "echo": None}
    [seen] = server.seen
    assert (seen.method, seen.path, seen.client_name) == ("GET", "/apis/example.com/v1/namespaces/ns/widgets/w",
                                                         "alice")
    assert seen.headers["Authorization"] == "Bearer secret"
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["User-Agent"] == client_module.USER_AGENT


def test_a_server_signed_by_another_ca_is_refused(server: ApiServer, alice: Issued, tmp_path: Path) -> None:
    other = CertificateAuthority("someone-else")
    kube = KubeClient.from_kubeconfig(kubeconfig(
        tmp_path, server.url, cluster={"certificate-authority-data": b64(other.cert_pem)},
        user={"client-certificate-data": b64(alice.cert_pem), "client-key-data": b64(alice.key_pem)}))
    with pytest.raises(errors.KubeServerError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        kube.request_sync("GET", "/api/v1/nodes")
    assert caught.value.status == 0 and caught.value.reason == "TransportError"
    assert server.seen == []
    kube.close()


def test_tls_server_name_is_sent_and_verified(ca: CertificateAuthority, alice: Issued, tmp_path: Path) -> None:
    api = ApiServer(ca, tmp_path, server_names=("kubernetes.default.svc",), ip_san=False)
    user = {"client-certificate-data": b64(alice.cert_pem), "client-key-data": b64(alice.key_pem)}
    cluster = {"certificate-authority-data": b64(ca.cert_pem)}
    try:
        by_ip = KubeClient.from_kubeconfig(kubeconfig(tmp_path, api.url, cluster=cluster, user=user))
        with pytest.raises(errors.KubeServerError, match="127.0.0.1"):  # the certificate does not name the IP
            by_ip.request_sync("GET", "/api/v1/nodes")
        by_ip.close()
        by_name = KubeClient.from_kubeconfig(kubeconfig(
            tmp_path, api.url, cluster={**cluster, "tls-server-name": "kubernetes.default.svc"}, user=user))
        assert by_name.request_sync("GET", "/api/v1/nodes")["kind"] == "Widget"
        assert api.seen[-1].sni == "kubernetes.default.svc"
        by_name.close()
    finally:
        api.stop()


def test_in_cluster_over_ipv6(ca: CertificateAuthority, tmp_path: Path) -> None:
    api = ApiServer(ca, tmp_path, host="::1", client_certificates=False)
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    try:
        connection = Connection.in_cluster(environ={"KUBERNETES_SERVICE_HOST": "::1",
                                                    "KUBERNETES_SERVICE_PORT": str(api.port)},
                                           token_path=str(tmp_path / "token"), ca_path=str(tmp_path / "ca.crt"))
        assert connection.server == api.url
        kube = KubeClient(connection)
        assert kube.request_sync("GET", "/api/v1/nodes")["kind"] == "Widget"
        assert api.seen[0].headers["Authorization"] == "Bearer sa-token"
        kube.close()
    finally:
        api.stop()


# -- credentials that change ------------------------------------------------------------------

EXEC_PLUGIN = """\
import json, pathlib
here = pathlib.Path(__file__).parent
who = (here / "who").read_text().strip()
(here / "runs").open("a").write(who + "\\n")
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {
    "clientCertificateData": (here / f"{who}.crt").read_text(), "clientKeyData": (here / f"{who}.key").read_text()}}))
"""


def test_an_exec_plugin_certificate_is_replaced_after_a_401(server: ApiServer, ca: CertificateAuthority,
                                                            alice: Issued, tmp_path: Path) -> None:
    bob = ca.issue("bob", client=True)
    for who, issued in (("alice", alice), ("bob", bob)):
        (tmp_path / f"{who}.crt").write_bytes(issued.cert_pem)
        (tmp_path / f"{who}.key").write_bytes(issued.key_pem)
    (tmp_path / "who").write_text("alice")
    plugin = tmp_path / "plugin"
    plugin.write_text(f"#!{sys.executable}\n{EXEC_PLUGIN}")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    server.script(lambda seen: Reply(401, {"reason": "Unauthorized"}) if seen.client_name == "alice" else _ok(seen))
    kube = KubeClient.from_kubeconfig(kubeconfig(
        tmp_path, server.url, cluster={"certificate-authority-data": b64(ca.cert_pem)},
        user={"exec": {"command": "./plugin", "apiVersion": "client.authentication.k8s.io/v1",
                       "interactiveMode": "Never"}}))
    with pytest.raises(errors.KubeClientError) as caught:
        kube.request_sync("GET", "/api/v1/nodes")
    assert caught.value.status == 401
    (tmp_path / "who").write_text("bob")
    assert kube.request_sync("GET", "/api/v1/nodes")["kind"] == "Widget"
    assert [seen.client_name for seen in server.seen] == ["alice", "bob"]
    assert (tmp_path / "runs").read_text().split() == ["alice", "bob"]
    kube.close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_skip_tls_verify_accepts_any_server_certificate(server: ApiServer, alice: Issued,
                                                                  tmp_path: Path) -> None:
    kube = KubeClient.from_kubeconfig(kubeconfig(
        tmp_path, server.url, cluster={"insecure-skip-tls-verify": True},
        user={"client-certificate-data": b64(alice.cert_pem), "client-key-data": b64(alice.key_pem)}))
    assert kube.request_sync("GET", "/api/v1/nodes")["kind"] == "Widget"
    kube.close()


async def test_a_401_rereads_the_token_file_before_the_next_request(server: ApiServer, ca: CertificateAuthority,
                                                                   alice: Issued, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("old")
    server.script(lambda seen: _ok(seen) if seen.headers.get("Authorization") == "Bearer new"
                  else Reply(401, {"reason": "Unauthorized", "message": "token expired"}))
    kube = KubeClient.from_kubeconfig(kubeconfig(
        tmp_path, server.url, cluster={"certificate-authority-data": b64(ca.cert_pem)},
        user={"tokenFile": "token", "client-certificate-data": b64(alice.cert_pem),
              "client-key-data": b64(alice.key_pem)}))
    with pytest.raises(errors.KubeClientError, match="401 Unauthorized: token expired"):
        await kube.get(WIDGETS, "w", "ns")
    (tmp_path / "token").write_text("new")
    assert (await kube.get(WIDGETS, "w", "ns"))["kind"] == "Widget"
    kube.close()


# -- verbs, errors, retries -------------------------------------------------------------------


async def test_verbs_send_json_with_their_content_types(kube: KubeClient, server: ApiServer) -> None:
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "ns",
                                                                             "resourceVersion": "7"}}
    await kube.create(WIDGETS, body)
    await kube.replace(WIDGETS, body, subresource="status")
    await kube.patch(WIDGETS, "w", {"spec": {"size": 2}}, "ns")
    await kube.patch(WIDGETS, "w", [{"op": "remove", "path": "/spec/size"}], "ns", content_type=PATCH_JSON)
    await kube.patch(WIDGETS, "w", body, "ns", content_type=PATCH_APPLY, field_manager="akri", force=True)
    await kube.delete(WIDGETS, "w", "ns", uid="u-1", resource_version="7", propagation="Foreground")
    server.script(lambda seen: Reply(body={"metadata": {"resourceVersion": "9"}, "items": [{"metadata": {}}]}))
    listing = await kube.list(WIDGETS, label_selector="a=b,c!=d")
    assert listing["items"] == [{"metadata": {}, "apiVersion": "example.com/v1", "kind": "Widget"}]
    sent = [(s.method, s.path, s.headers.get("Content-Type"), json.loads(s.body) if s.body else None)
            for s in server.seen]
    assert sent == [
        ("POST", "/apis/example.com/v1/namespaces/ns/widgets", "application/json", body),
        ("PUT", "/apis/example.com/v1/namespaces/ns/widgets/w/status", "application/json", body),
        ("PATCH", "/apis/example.com/v1/namespaces/ns/widgets/w", "application/merge-patch+json",
         {"spec": {"size": 2}}),
        ("PATCH", "/apis/example.com/v1/namespaces/ns/widgets/w", "application/json-patch+json",
         [{"op": "remove", "path": "/spec/size"}]),
        ("PATCH", "/apis/example.com/v1/namespaces/ns/widgets/w?fieldManager=akri&force=true",
         "application/apply-patch+yaml", body),
        ("DELETE", "/apis/example.com/v1/namespaces/ns/widgets/w", "application/json",
         {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "u-1", "resourceVersion": "7"},
          "propagationPolicy": "Foreground"}),
        ("GET", "/apis/example.com/v1/widgets?labelSelector=a%3Db%2Cc%21%3Dd", None, None),
    ]


async def test_errors_are_typed_and_server_errors_retried(kube: KubeClient, server: ApiServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "RETRY_BACKOFFS_SECONDS", (0.01, 0.01))
    answers = iter([Reply(503, b"overloaded"), Reply(429, {"reason": "TooManyRequests"}), Reply(body={"ok": 1})])
    server.script(lambda seen: next(answers))
    assert await kube.get(WIDGETS, "w", "ns") == {"ok": 1}
    assert len(server.seen) == 3
    server.script(lambda seen: Reply(404, {"kind": "Status", "reason": "NotFound", "message": 'widgets "w" not found'}))
    assert await kube.get_or_none(WIDGETS, "w", "ns") is None
    with pytest.raises(errors.NotFound, match='widgets "w" not found'):
        await kube.get(WIDGETS, "w", "ns")
    server.script(lambda seen: Reply(409, {"reason": "AlreadyExists", "message": "exists"}))
    with pytest.raises(errors.AlreadyExists):
        await kube.create(WIDGETS, {"metadata": {"name": "w", "namespace": "ns"}})
    server.script(lambda seen: Reply(500, {"reason": "InternalError", "message": "etcd down"}))
    with pytest.raises(errors.KubeServerError, match="etcd down"):
        await kube.get(WIDGETS, "w", "ns")
    assert len(server.seen) == 3 + 2 + 1 + 3  # 3 attempts with two backoffs


# -- watch --------------------------------------------------------------------------------------


def test_watch_shutdown_ends_a_blocked_read(kube: KubeClient, server: ApiServer) -> None:
    events = [{"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "2"}}},
              {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "3"}}}]
    server.script(lambda seen: Reply(events=events))
    responses: list[Any] = []
    stream = kube.watch_sync(WIDGETS, "ns", "1", label_selector="app=x", timeout_seconds=60,
                             on_response=responses.append)
    assert [next(stream), next(stream)] == events
    assert server.seen[0].path == ("/apis/example.com/v1/namespaces/ns/widgets?watch=true&resourceVersion=1&"
                                   "allowWatchBookmarks=true&labelSelector=app%3Dx&timeoutSeconds=60")
    timer = threading.Timer(0.2, responses[0].shutdown)
    started = time.monotonic()
    timer.start()
    with pytest.raises(errors.KubeServerError, match="TransportError"):
        next(stream)  # blocked until shutdown: the server holds the stream for HOLD_SECONDS
    assert time.monotonic() - started < HOLD_SECONDS / 2


def test_watch_error_event_410_is_gone(kube: KubeClient, server: ApiServer) -> None:
    server.script(lambda seen: Reply(events=[{"type": "ERROR", "object": {
        "kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version: 1 (5)"}}]))
    with pytest.raises(errors.Gone, match="too old resource version"):
        list(kube.watch_sync(WIDGETS, None, "1", timeout_seconds=60))


async def test_managed_fields_are_dropped_from_everything_read(kube: KubeClient, server: ApiServer) -> None:
    """Objects, list items and watch objects arrive without metadata.managedFields (never read by
    the agent; kept out of its caches)."""
    managed = [{"manager": "akri-agent", "operation": "Update", "fieldsV1": {"f:spec": {}}}]
    obj = {"kind": "Widget", "metadata": {"name": "w", "resourceVersion": "4", "managedFields": managed}}
    server.script(lambda seen: Reply(body=obj))
    assert await kube.get(WIDGETS, "w", "ns") == {"kind": "Widget", "metadata": {"name": "w", "resourceVersion": "4"}}
    server.script(lambda seen: Reply(body={"metadata": {"resourceVersion": "9"}, "items": [obj]}))
    assert (await kube.list(WIDGETS))["items"][0]["metadata"] == {"name": "w", "resourceVersion": "4"}
    server.script(lambda seen: Reply(events=[{"type": "MODIFIED", "object": obj}]))
    event = next(kube.watch_sync(WIDGETS, "ns", "1", timeout_seconds=60))
    assert event["object"]["metadata"] == {"name": "w", "resourceVersion": "4"}


async def test_retry_after_from_the_server_is_obeyed_when_longer(kube: KubeClient, server: ApiServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """429 with `Retry-After: 1` (header) or `details.retryAfterSeconds` (Status body): the next
    attempt waits that long instead of the planned 0.01 s backoff."""
    monkeypatch.setattr(client_module, "RETRY_BACKOFFS_SECONDS", (0.01, 0.01))
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)
    monkeypatch.setattr(client_module.asyncio, "sleep", recording_sleep)
    answers = iter([Reply(429, {"reason": "TooManyRequests"}, headers={"Retry-After": "1"}),
                    Reply(429, {"reason": "TooManyRequests", "details": {"retryAfterSeconds": 2}}),
                    Reply(body={"ok": 1})])
    server.script(lambda seen: next(answers))
    assert await kube.get(WIDGETS, "w", "ns") == {"ok": 1}
    assert slept == [1.0, 2.0]
