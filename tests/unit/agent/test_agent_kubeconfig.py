"""`agent.kube.kubeconfig` / `agent.kube.credentials`: every supported kubeconfig auth shape, relative
paths, exec plugins (tiny scripts written by the tests), the in-cluster service account with a
fake clock, and errors that name the file and the field. No sockets: TLS material is only loaded."""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.kube import credentials, errors
from agent.kube.kubeconfig import Connection
from tests.fakes.tls_certs import CertificateAuthority

SERVER = "https://127.0.0.1:6443"
V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(directory: Path, *, cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None,
                     extra_contexts: list[dict[str, Any]] | None = None, name: str = "config",
                     current: str | None = "main") -> str:
    document: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": SERVER, **(cluster or {})}}],
        "users": [{"name": "u", "user": user or {}}],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}}, *(extra_contexts or [])],
    }
    if current is not None:
        document["current-context"] = current
    path = directory / name
    path.write_text(yaml.safe_dump(document))
    return str(path)


def config_error(path: str, **kwargs: Any) -> str:
    with pytest.raises(errors.KubeConfigError) as caught:
        Connection.from_kubeconfig(path, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"cannot use kubeconfig {path}: "), message
    return message


def write_script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# -- contexts, server, TLS ----------------------------------------------------------------------


def test_token_user_and_current_context(tmp_path: Path) -> None:
    connection = Connection.from_kubeconfig(write_kubeconfig(tmp_path, user={"token": "abc"}))
    assert connection.server == SERVER
    assert connection.credential() == credentials.Credential(authorization="Bearer abc")
    assert connection.ca_pem is None and not connection.insecure and connection.client_certificate is None
    assert connection.source == f"kubeconfig {tmp_path / 'config'} (context main)"


def test_a_named_context_and_a_server_path_prefix(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path, extra_contexts=[{"name": "other", "context": {"cluster": "d"}}])
    document = yaml.safe_load(Path(path).read_text())
    document["clusters"].append({"name": "d", "cluster": {"server": "http://10.0.0.9:8080/k8s/c-1/"}})
    Path(path).write_text(yaml.safe_dump(document))
    connection = Connection.from_kubeconfig(path, context="other")
    assert connection.server == "http://10.0.0.9:8080/k8s/c-1"
    assert not connection.uses_tls
    assert connection.credential() == credentials.Credential()  # no user: anonymous


def test_tilde_in_the_kubeconfig_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_kubeconfig(tmp_path, user={"token": "t"})
    assert Connection.from_kubeconfig("~/config").server == SERVER


def test_certificate_authority_file_is_relative_to_the_kubeconfig(tmp_path: Path, ca: CertificateAuthority,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(ca.cert_pem)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = write_kubeconfig(tmp_path, cluster={"certificate-authority": "pki/ca.crt", "tls-server-name": "kube.local"})
    monkeypatch.chdir(elsewhere)
    connection = Connection.from_kubeconfig(path)
    assert connection.ca_pem == ca.cert_pem
    assert connection.tls_server_name == "kube.local"


def test_certificate_authority_data(tmp_path: Path, ca: CertificateAuthority) -> None:
    path = write_kubeconfig(tmp_path, cluster={"certificate-authority-data": b64(ca.cert_pem)})
    assert Connection.from_kubeconfig(path).ca_pem == ca.cert_pem


def test_insecure_skip_tls_verify(tmp_path: Path) -> None:
    connection = Connection.from_kubeconfig(write_kubeconfig(tmp_path, cluster={"insecure-skip-tls-verify": True}))
    assert connection.insecure
    context = connection.ssl_context(None)
    assert not context.check_hostname


@pytest.mark.parametrize(("cluster", "expected"), [
    ({"server": None}, "clusters[name=c].cluster.server is not set"),
    ({"server": "ftp://x"}, "clusters[name=c].cluster.server 'ftp://x' is not an http(s) URL"),
    ({"proxy-url": "http://proxy:3128"}, "clusters[name=c].cluster.proxy-url is not supported"),
    ({"insecure-skip-tls-verify": "yes"}, "clusters[name=c].cluster.insecure-skip-tls-verify must be true or false"),
    ({"certificate-authority": "ca.crt", "certificate-authority-data": "Zm9v"},
     "clusters[name=c].cluster.certificate-authority and clusters[name=c].cluster.certificate-authority-data "
     "are both set"),
    ({"certificate-authority-data": "not base64!"},
     "clusters[name=c].cluster.certificate-authority-data is not valid base64"),
    ({"certificate-authority": "missing.crt"}, "clusters[name=c].cluster.certificate-authority: cannot read "),
    ({"certificate-authority-data": b64(b"no certificate here")},
     "clusters[name=c].cluster.certificate-authority(-data): cannot be loaded"),
])
def test_cluster_errors_name_the_field(tmp_path: Path, cluster: dict[str, Any], expected: str) -> None:
    message = config_error(write_kubeconfig(tmp_path, cluster=cluster, user={"token": "t"}))
    assert expected in message


def test_insecure_with_a_ca_is_refused_as_client_go_does(tmp_path: Path, ca: CertificateAuthority) -> None:
    path = write_kubeconfig(tmp_path, cluster={"insecure-skip-tls-verify": True,
                                               "certificate-authority-data": b64(ca.cert_pem)})
    assert "certificate-authority(-data) and insecure-skip-tls-verify are both set" in config_error(path)


def test_context_errors(tmp_path: Path) -> None:
    assert "current-context is not set" in config_error(write_kubeconfig(tmp_path, current=None))
    assert "contexts: no entry named 'nope'" in config_error(write_kubeconfig(tmp_path), context="nope")
    path = write_kubeconfig(tmp_path, extra_contexts=[{"name": "x", "context": {"cluster": "c", "user": "ghost"}}])
    assert "users: no entry named 'ghost'" in config_error(path, context="x")
    missing = str(tmp_path / "missing")
    assert "cannot read the file" in config_error(missing)
    (tmp_path / "list").write_text("- 1\n")
    assert "not a kubeconfig" in config_error(str(tmp_path / "list"))


# -- users --------------------------------------------------------------------------------------


def test_token_file_is_relative_and_reread_after_a_401(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("first\n")
    connection = Connection.from_kubeconfig(write_kubeconfig(tmp_path, user={"tokenFile": "token"}))
    assert connection.credential().authorization == "Bearer first"
    (tmp_path / "token").write_text("second")
    assert connection.credential().authorization == "Bearer first"  # within the refresh period
    connection.invalidate_credentials()
    assert connection.credential().authorization == "Bearer second"


def test_username_and_password_are_basic_auth(tmp_path: Path) -> None:
    connection = Connection.from_kubeconfig(write_kubeconfig(tmp_path, user={"username": "ann", "password": "p:w"}))
    assert connection.credential().authorization == "Basic " + b64(b"ann:p:w")


def test_client_certificate_files_and_data(tmp_path: Path, ca: CertificateAuthority) -> None:
    alice = ca.issue("alice", client=True)
    (tmp_path / "alice.crt").write_bytes(alice.cert_pem)
    (tmp_path / "alice.key").write_bytes(alice.key_pem)
    from_files = Connection.from_kubeconfig(write_kubeconfig(
        tmp_path, user={"client-certificate": "alice.crt", "client-key": "alice.key", "token": "t"}))
    from_data = Connection.from_kubeconfig(write_kubeconfig(
        tmp_path, user={"client-certificate-data": b64(alice.cert_pem), "client-key-data": b64(alice.key_pem)},
        name="data"))
    expected = credentials.ClientCertificate(alice.cert_pem, alice.key_pem)
    assert from_files.client_certificate == expected == from_data.client_certificate
    assert from_files.credential() == credentials.Credential("Bearer t", expected)
    assert from_data.credential() == credentials.Credential(None, expected)
    assert "key_pem" not in repr(expected)


@pytest.mark.parametrize(("user", "expected"), [
    ({"auth-provider": {"name": "oidc"}}, "users[name=u].user.auth-provider is not supported"),
    ({"token": "t", "as": "admin"}, "users[name=u].user.as is not supported"),
    ({"token": "t", "username": "a", "password": "b"},
     "users[name=u].user: more than one authentication method (token, username/password)"),
    ({"username": "a"}, "users[name=u].user: username and password must be set together"),
    ({"client-certificate-data": "Zm9v"},
     "users[name=u].user.client-certificate is set but users[name=u].user.client-key(-data) is not"),
    ({"client-key": "k.pem"}, "users[name=u].user.client-key: cannot read "),
    ({"token": 42}, "users[name=u].user.token must be a string, got 42"),
    ({"tokenFile": "absent"}, "users[name=u].user.tokenFile: cannot read token file "),
    ({"client-certificate-data": b64(b"junk"), "client-key-data": b64(b"junk")},
     "users[name=u].user.client-certificate(-data)/client-key(-data): cannot be loaded"),
])
def test_user_errors_name_the_field(tmp_path: Path, user: dict[str, Any], expected: str) -> None:
    assert expected in config_error(write_kubeconfig(tmp_path, user=user))


# -- exec plugins -------------------------------------------------------------------------------

PLUGIN = """\
import json, os, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
runs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs")
with open(runs, "a") as log:
    log.write(json.dumps({"info": info, "args": sys.argv[1:], "color": os.environ.get("COLOR")}) + "\\n")
status = json.loads(os.environ.get("STATUS", '{"token": "from-exec"}'))
print(json.dumps({"apiVersion": os.environ.get("ANSWER_VERSION", info["apiVersion"]), "kind": "ExecCredential",
                  "status": status}))
"""


def runs(directory: Path) -> list[dict[str, Any]]:
    path = directory / "bin" / "runs"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def exec_user(**overrides: Any) -> dict[str, Any]:
    return {"exec": {"command": "./bin/plugin", "apiVersion": V1, "args": ["--flag", "x"],
                     "env": [{"name": "COLOR", "value": "blue"}], "interactiveMode": "Never", **overrides}}


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    write_script(tmp_path / "bin" / "plugin", PLUGIN)
    return tmp_path


def test_exec_plugin_runs_relative_to_the_kubeconfig_with_args_env_and_exec_info(plugin_dir: Path) -> None:
    path = write_kubeconfig(plugin_dir, user=exec_user())
    connection = Connection.from_kubeconfig(path, environ={"PATH": os.environ.get("PATH", "")})
    assert connection.credential().authorization == "Bearer from-exec"
    assert connection.credential().authorization == "Bearer from-exec"
    [run] = runs(plugin_dir)  # no expirationTimestamp: cached for good
    assert run["args"] == ["--flag", "x"] and run["color"] == "blue"
    assert run["info"] == {"apiVersion": V1, "kind": "ExecCredential", "spec": {"interactive": False}}
    connection.invalidate_credentials()  # after a 401
    assert connection.credential().authorization == "Bearer from-exec"
    assert len(runs(plugin_dir)) == 2


def test_exec_plugin_v1beta1_with_cluster_info_and_a_client_certificate(plugin_dir: Path,
                                                                        ca: CertificateAuthority) -> None:
    alice = ca.issue("alice", client=True)
    status = {"clientCertificateData": alice.cert_pem.decode(), "clientKeyData": alice.key_pem.decode()}
    cluster = {"certificate-authority-data": b64(ca.cert_pem), "tls-server-name": "kube.local",
               "extensions": [{"name": "client.authentication.k8s.io/exec", "extension": {"audience": "k8s"}}]}
    path = write_kubeconfig(plugin_dir, cluster=cluster, user=exec_user(
        apiVersion=V1BETA1, provideClusterInfo=True, interactiveMode=None,
        env=[{"name": "STATUS", "value": json.dumps(status)}]))
    connection = Connection.from_kubeconfig(path, environ={})
    credential = connection.credential()
    assert credential.authorization is None
    assert credential.client_certificate == credentials.ClientCertificate(alice.cert_pem, alice.key_pem)
    connection.ssl_context(credential.client_certificate)  # loads
    [run] = runs(plugin_dir)
    assert run["info"]["spec"]["cluster"] == {"server": SERVER, "tls-server-name": "kube.local",
                                              "certificate-authority-data": b64(ca.cert_pem),
                                              "config": {"audience": "k8s"}}


def test_exec_credentials_are_cached_until_they_expire(plugin_dir: Path) -> None:
    now = [datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)]
    plugin = credentials.ExecPlugin(
        command=str(plugin_dir / "bin" / "plugin"), args=[], api_version=V1, where="test", environ={},
        env={"STATUS": json.dumps({"token": "t", "expirationTimestamp": "2030-01-01T00:10:00.123456789Z"})},
        now=lambda: now[0])
    plugin.credential()
    now[0] += datetime.timedelta(minutes=9)
    plugin.credential()
    assert len(runs(plugin_dir)) == 1
    now[0] += datetime.timedelta(minutes=1)
    plugin.credential()
    assert len(runs(plugin_dir)) == 1  # nanoseconds kept to the microsecond: 00:10:00.123456 not reached
    now[0] += datetime.timedelta(seconds=1)
    assert plugin.credential().authorization == "Bearer t"
    assert len(runs(plugin_dir)) == 2


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"env": [{"name": "STATUS", "value": "{}"}]},
     "exec plugin '{bin}/plugin' answered neither status.token nor status.clientCertificateData/clientKeyData"),
    ({"env": [{"name": "STATUS", "value": '{"clientCertificateData": "x"}'}]},
     "answered only one of status.clientCertificateData and status.clientKeyData"),
    ({"env": [{"name": "ANSWER_VERSION", "value": V1BETA1}]},
     f"answered apiVersion '{V1BETA1}', expected '{V1}'"),
    ({"env": [{"name": "STATUS", "value": '{"token": "t", "expirationTimestamp": "soon"}'}]},
     "answered an invalid status.expirationTimestamp 'soon'"),
    ({"apiVersion": "client.authentication.k8s.io/v1alpha1"},
     "users[name=u].user.exec.apiVersion 'client.authentication.k8s.io/v1alpha1' is not supported"),
    ({"command": None}, "users[name=u].user.exec.command is not set"),
    ({"interactiveMode": "Always"}, "users[name=u].user.exec.interactiveMode Always needs a terminal"),
    ({"interactiveMode": None}, "users[name=u].user.exec.interactiveMode must be set for apiVersion "
                                "client.authentication.k8s.io/v1"),
    ({"interactiveMode": "Sometimes"}, "users[name=u].user.exec.interactiveMode 'Sometimes' is not one of"),
    ({"env": [{"value": "v"}]}, "users[name=u].user.exec.env[0] must have a name"),
    ({"args": "--flag"}, "users[name=u].user.exec.args must be a list of strings"),
    ({"command": "no-such-plugin-akri", "installHint": "install it from example.com"},
     "exec plugin 'no-such-plugin-akri' not found (install it from example.com)"),
])
def test_exec_errors_name_the_field(plugin_dir: Path, overrides: dict[str, Any], expected: str) -> None:
    message = config_error(write_kubeconfig(plugin_dir, user=exec_user(**overrides)), environ={"PATH": "/nonexistent"})
    assert expected.format(bin=plugin_dir / "bin") in message
    if "exec plugin" in expected:
        assert "users[name=u].user.exec: exec plugin" in message


def test_a_failing_exec_plugin_reports_its_status_and_stderr(tmp_path: Path) -> None:
    write_script(tmp_path / "fail", "import sys\nsys.stderr.write('no cloud login\\n')\nsys.exit(3)\n")
    message = config_error(write_kubeconfig(tmp_path, user={"exec": {"command": "./fail", "apiVersion": V1,
                                                                           "interactiveMode": "Never"}}))
    assert message.endswith(f"users[name=u].user.exec: exec plugin '{tmp_path}/fail' exited with status 3: "
                            "no cloud login")


# -- in-cluster ---------------------------------------------------------------------------------


@pytest.fixture
def service_account(tmp_path: Path, ca: CertificateAuthority) -> dict[str, str]:
    (tmp_path / "token").write_text("token-1\n")
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    return {"token_path": str(tmp_path / "token"), "ca_path": str(tmp_path / "ca.crt")}


def test_in_cluster_rereads_the_token_at_most_every_minute(service_account: dict[str, str],
                                                           ca: CertificateAuthority,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    clock = [100.0]
    connection = Connection.in_cluster(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1",
                                                "KUBERNETES_SERVICE_PORT": "443"},
                                       clock=lambda: clock[0], **service_account)
    assert connection.server == "https://10.96.0.1:443"
    assert connection.ca_pem == ca.cert_pem
    assert connection.credential().authorization == "Bearer token-1"
    Path(service_account["token_path"]).write_text("token-2")
    clock[0] += 59.9
    assert connection.credential().authorization == "Bearer token-1"
    clock[0] += 0.1
    assert connection.credential().authorization == "Bearer token-2"
    os.remove(service_account["token_path"])
    clock[0] += 60
    with caplog.at_level(logging.WARNING, logger="agent.kube.credentials"):
        assert connection.credential().authorization == "Bearer token-2"  # kept, as client-go does
    assert "keeping the previous bearer token" in caplog.text and service_account["token_path"] in caplog.text


def test_in_cluster_ipv6_host_is_bracketed(service_account: dict[str, str]) -> None:
    connection = Connection.in_cluster(environ={"KUBERNETES_SERVICE_HOST": "fd00:10:96::1",
                                                "KUBERNETES_SERVICE_PORT": "6443"}, **service_account)
    assert connection.server == "https://[fd00:10:96::1]:6443"


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": ""}, "KUBERNETES_SERVICE_PORT is not set"),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "https"},
     "KUBERNETES_SERVICE_PORT='https' is not a port number"),
])
def test_in_cluster_environment_errors(service_account: dict[str, str], environ: dict[str, str],
                                       expected: str) -> None:
    with pytest.raises(errors.KubeConfigError, match="^cannot use in-cluster configuration: " + expected):
        Connection.in_cluster(environ=environ, **service_account)


def test_in_cluster_file_errors_name_the_file(service_account: dict[str, str], tmp_path: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    Path(service_account["token_path"]).write_text("\n")
    with pytest.raises(errors.KubeConfigError, match=f"token file {service_account['token_path']} is empty"):
        Connection.in_cluster(environ=environ, **service_account)
    with pytest.raises(errors.KubeConfigError, match=f"cannot read the CA file {tmp_path}/absent"):
        Connection.in_cluster(environ=environ, token_path=service_account["token_path"],
                              ca_path=str(tmp_path / "absent"))
    Path(service_account["ca_path"]).write_text("garbage")
    Path(service_account["token_path"]).write_text("t")
    with pytest.raises(errors.KubeConfigError, match="holds no usable certificate"):
        Connection.in_cluster(environ=environ, **service_account)


@pytest.mark.parametrize("other", ["token", "client certificate"])
def test_exec_is_not_run_when_the_user_has_a_token_or_a_client_certificate(tmp_path: Path, ca: CertificateAuthority,
                                                                           other: str) -> None:
    """client-go skips the exec plugin then (exec Authenticator.UpdateTransportConfig)."""
    alice = ca.issue("alice", client=True)
    marker = tmp_path / "ran"
    write_script(tmp_path / "plugin", f"open({str(marker)!r}, 'w').close()\n")
    user: dict[str, Any] = {"token": "t"} if other == "token" else {
        "client-certificate-data": base64.b64encode(alice.cert_pem).decode(),
        "client-key-data": base64.b64encode(alice.key_pem).decode()}
    user["exec"] = {"command": "./plugin", "apiVersion": V1, "interactiveMode": "Never"}
    connection = Connection.from_kubeconfig(str(write_kubeconfig(tmp_path, user=user)))
    connection.credential()
    assert not marker.exists()


@pytest.mark.parametrize(("cluster", "url"), [
    ({"server": "127.0.0.1:6443"}, "http://127.0.0.1:6443"),
    ({"server": "127.0.0.1:6443", "insecure-skip-tls-verify": True}, "https://127.0.0.1:6443"),
    ({"server": "api.example:6443", "tls-server-name": "api"}, "https://api.example:6443"),
])
def test_a_server_without_scheme_gets_client_gos_default(tmp_path: Path, cluster: dict[str, Any], url: str) -> None:
    connection = Connection.from_kubeconfig(str(write_kubeconfig(tmp_path, cluster=cluster, user={"token": "t"})))
    assert connection.server == url


def test_an_exec_env_value_of_null_is_empty(tmp_path: Path) -> None:
    write_script(tmp_path / "plugin", "import json, os\nprint(json.dumps({'apiVersion': '%s', 'kind': "
                 "'ExecCredential', 'status': {'token': 'x' + os.environ['EMPTY']}}))\n" % V1)
    user = {"exec": {"command": "./plugin", "apiVersion": V1, "interactiveMode": "Never",
                     "env": [{"name": "EMPTY", "value": None}]}}
    connection = Connection.from_kubeconfig(str(write_kubeconfig(tmp_path, user=user)))
    assert connection.credential().authorization == "Bearer x"
