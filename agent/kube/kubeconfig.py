"""How to reach the API server: a `Connection` read from a kubeconfig file or from the pod's service account.

A `Connection` is immutable: server URL, TLS material (CA bundle, `insecure-skip-tls-verify`,
`tls-server-name`, a client certificate) and where the per-request credential comes from
(`agent.kube.credentials`). `agent.kube.client.KubeClient` turns it into an HTTP pool; this module
does no HTTP itself. It replaces `kubernetes.config` so the agent never imports `kubernetes`
(DESIGN.md §5: that package alone costs ~34 MiB of RSS).

Supported, as client-go reads them (https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/):
the current context or a named one; `cluster.server`, `certificate-authority(-data)`,
`insecure-skip-tls-verify`, `tls-server-name`; `user.token`, `tokenFile` (re-read, as client-go
does), `client-certificate(-data)` + `client-key(-data)`, `username` + `password`, `exec`
(see `credentials.ExecPlugin`). Relative file paths (and an exec command containing `/`) are
resolved against the kubeconfig's directory. Fields the agent cannot honour (`auth-provider`,
impersonation `as*`, `proxy-url`) and conflicting ones (both a file and its `-data`, a CA with
`insecure-skip-tls-verify`, token and username/password together) are errors rather than silently
ignored. As in client-go, an `exec` plugin runs only for a user with no token, username/password
or client certificate, and a `server` without a scheme gets `https://` when any TLS field is set,
`http://` otherwise. Only one file is read (AgentConfig keeps the first entry of a KUBECONFIG
list); proxy environment variables are not honoured.

In a pod (`Connection.in_cluster`): `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`
(an IPv6 host in brackets), the CA `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt` and the
token file next to it, re-read at most every minute (client-go `rest.InClusterConfig`).

Every error is an `errors.KubeConfigError` whose message starts with `cannot use kubeconfig
<file>:` (then the field path, e.g. `users[name=alice].user.client-key`, and the value) or
`cannot use in-cluster configuration:`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import yaml

from agent.kube import credentials, errors

__all__ = ["Connection", "SERVICE_ACCOUNT_TOKEN", "SERVICE_ACCOUNT_CA"]

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
SERVICE_ACCOUNT_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
EXEC_CLUSTER_EXTENSION = "client.authentication.k8s.io/exec"
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")

# Kubeconfig fields whose meaning the agent cannot honour: rejected, never ignored.
_UNSUPPORTED_CLUSTER_FIELDS = ("proxy-url",)
_UNSUPPORTED_USER_FIELDS = ("auth-provider", "as", "as-uid", "as-groups", "as-user-extra")


@dataclass(frozen=True, slots=True)
class Connection:
    """Everything needed to call one API server.

    server: base URL without trailing slash (`https://10.0.0.1:6443`, may carry a path prefix);
    source: what it was read from, for logs (`kubeconfig /etc/kube.conf (context prod)`);
    ca_pem: PEM CA bundle to trust (None: the system's trust store); insecure: skip server
    certificate verification; tls_server_name: name the server certificate is checked against
    (and sent as SNI) instead of the URL's host; client_certificate: TLS client certificate from
    the kubeconfig (an exec plugin's certificate replaces it); authorization: source of the
    per-request credential (None: anonymous).
    """

    server: str
    source: str
    ca_pem: bytes | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    client_certificate: credentials.ClientCertificate | None = None
    authorization: credentials.CredentialSource | None = dataclasses.field(default=None, compare=False)

    @property
    def uses_tls(self) -> bool:
        """True for an `https://` server."""
        return self.server.startswith("https://")

    def credential(self) -> credentials.Credential:
        """The credential for the next request (the kubeconfig's client certificate unless the
        source brings its own). Raises errors.KubeConfigError when the source fails."""
        credential = self.authorization.credential() if self.authorization else credentials.Credential()
        if credential.client_certificate is None and self.client_certificate is not None:
            credential = dataclasses.replace(credential, client_certificate=self.client_certificate)
        return credential

    def invalidate_credentials(self) -> None:
        """Forget cached credentials (after a 401), so the next request fetches fresh ones."""
        if self.authorization is not None:
            self.authorization.invalidate()

    def ssl_context(self, client_certificate: credentials.ClientCertificate | None) -> ssl.SSLContext:
        """A new TLS context for this server presenting `client_certificate` (None: none).

        Raises ssl.SSLError (or ValueError) when the CA bundle or the certificate/key cannot be
        loaded. An in-memory certificate is loaded through a private temporary file (mode 0600 in
        a 0700 directory) removed at once: OpenSSL loads client keys only from files.
        """
        context = ssl.create_default_context(cadata=self.ca_pem.decode("ascii", errors="replace")
                                             if self.ca_pem else None)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if client_certificate is not None:
            with tempfile.TemporaryDirectory(prefix="akri-kube-") as directory:
                path = os.path.join(directory, "client.pem")
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as stream:
                    stream.write(client_certificate.cert_pem.rstrip() + b"\n" + client_certificate.key_pem)
                context.load_cert_chain(path)
        return context

    # -- constructors ----------------------------------------------------------------------------

    @classmethod
    def from_kubeconfig(cls, path: str, *, context: str | None = None,
                        environ: Mapping[str, str] | None = None) -> Connection:
        """The connection of `context` (default: `current-context`) in kubeconfig file `path`
        (`~` expanded). environ: environment exec plugins inherit (default os.environ).

        Reads every referenced file and runs an exec plugin once, so problems show now.
        Raises errors.KubeConfigError naming the file, the field and the value.
        """
        return _KubeconfigReader(os.path.expanduser(path),
                                 os.environ if environ is None else environ).connection(context)

    @classmethod
    def in_cluster(cls, *, environ: Mapping[str, str] | None = None, token_path: str = SERVICE_ACCOUNT_TOKEN,
                   ca_path: str = SERVICE_ACCOUNT_CA,
                   token_refresh_seconds: float = credentials.TOKEN_REFRESH_SECONDS,
                   clock: Callable[[], float] = time.monotonic) -> Connection:
        """The pod's service account: KUBERNETES_SERVICE_HOST/PORT from `environ` (default
        os.environ), the CA at `ca_path` and the token at `token_path`, re-read when the last
        read is `token_refresh_seconds` old on `clock` (seconds).

        Raises errors.KubeConfigError (`cannot use in-cluster configuration: ...`) naming the
        variable or file at fault.
        """
        env = os.environ if environ is None else environ
        prefix = "cannot use in-cluster configuration"
        host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
        missing = [name for name, value in (("KUBERNETES_SERVICE_HOST", host), ("KUBERNETES_SERVICE_PORT", port))
                   if not value]
        if missing:
            raise errors.KubeConfigError(f"{prefix}: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                                         "not set")
        if not port.isdecimal() or not 0 < int(port) < 65536:
            raise errors.KubeConfigError(f"{prefix}: KUBERNETES_SERVICE_PORT={port!r} is not a port number")
        try:
            with open(ca_path, "rb") as stream:
                ca_pem = stream.read()
        except OSError as exc:
            raise errors.KubeConfigError(f"{prefix}: cannot read the CA file {ca_path}: {exc}") from exc
        if not ca_pem.strip():
            raise errors.KubeConfigError(f"{prefix}: the CA file {ca_path} is empty")
        token = credentials.TokenFile(token_path, where=prefix, refresh_seconds=token_refresh_seconds, clock=clock)
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        connection = cls(server=f"https://{netloc}", source="in-cluster service account", ca_pem=ca_pem,
                         authorization=token)
        try:
            connection.ssl_context(None)
        except (ssl.SSLError, ValueError) as exc:
            raise errors.KubeConfigError(f"{prefix}: the CA file {ca_path} holds no usable certificate: "
                                         f"{exc}") from exc
        return connection


class _KubeconfigReader:
    """One kubeconfig file, read into a Connection; every error names the file and the field."""

    def __init__(self, path: str, environ: Mapping[str, str]) -> None:
        self.path = path
        self.directory = os.path.dirname(os.path.abspath(path))
        self.environ = environ

    def fail(self, problem: str) -> NoReturn:
        raise errors.KubeConfigError(f"cannot use kubeconfig {self.path}: {problem}")

    def connection(self, context_name: str | None) -> Connection:
        document = self._document()
        if context_name is None:
            context_name = document.get("current-context") or None
            if not isinstance(context_name, str):
                self.fail("current-context is not set (name a context)")
        context, where = self._named(document, "contexts", context_name, "context")
        cluster_name = context.get("cluster")
        if not cluster_name:
            self.fail(f"{where}.cluster is not set")
        cluster, cluster_where = self._named(document, "clusters", cluster_name, "cluster")
        user_name = context.get("user")
        user, user_where = self._named(document, "users", user_name, "user") if user_name else ({}, "")
        server, ca_pem, insecure, tls_server_name = self._cluster(cluster, cluster_where)
        client_certificate = self._client_certificate(user, user_where)
        authorization = self._authorization(user, user_where, cluster, cluster_where, server, ca_pem,
                                            has_client_certificate=client_certificate is not None)
        connection = Connection(server=server, source=f"kubeconfig {self.path} (context {context_name})",
                                ca_pem=ca_pem, insecure=insecure, tls_server_name=tls_server_name,
                                client_certificate=client_certificate, authorization=authorization)
        if connection.uses_tls:
            try:
                connection.ssl_context(client_certificate)
            except (ssl.SSLError, ValueError) as exc:
                fields = [f"{cluster_where}.certificate-authority(-data)"] if ca_pem else []
                if client_certificate is not None:
                    fields.append(f"{user_where}.client-certificate(-data)/client-key(-data)")
                self.fail(f"{' or '.join(fields) or 'TLS settings'}: cannot be loaded: {exc}")
        return connection

    # -- document --------------------------------------------------------------------------------

    def _document(self) -> dict[str, Any]:
        try:
            with open(self.path, encoding="utf-8") as stream:
                document = yaml.safe_load(stream)
        except (OSError, UnicodeDecodeError) as exc:
            self.fail(f"cannot read the file: {exc}")
        except yaml.YAMLError as exc:
            self.fail(f"not valid YAML: {exc}")
        if not isinstance(document, dict):
            self.fail("not a kubeconfig (expected a mapping with clusters, users and contexts)")
        return document

    def _named(self, document: Mapping[str, Any], section: str, name: Any, key: str) -> tuple[dict[str, Any], str]:
        """The `key` mapping of the `section` entry called `name`, and its field path."""
        entries = document.get(section) or []
        if not isinstance(entries, list):
            self.fail(f"{section} must be a list")
        found = [entry for entry in entries if isinstance(entry, dict) and entry.get("name") == name]
        if not found:
            self.fail(f"{section}: no entry named {name!r}")
        if len(found) > 1:
            self.fail(f"{section}: more than one entry named {name!r}")
        where = f"{section}[name={name}].{key}"
        value = found[0].get(key)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.fail(f"{where} must be a mapping")
        return value, where

    def _string(self, obj: Mapping[str, Any], key: str, where: str) -> str | None:
        value = obj.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.fail(f"{where}.{key} must be a string, got {value!r}")
        return value

    def _file_path(self, value: str) -> str:
        return os.path.normpath(os.path.join(self.directory, value))

    def _file_or_data(self, obj: Mapping[str, Any], key: str, where: str) -> bytes | None:
        """Content of `<key>-data` (base64) or of the file named by `<key>`; both set is an error."""
        file_name, data = self._string(obj, key, where), self._string(obj, f"{key}-data", where)
        if file_name and data:
            self.fail(f"{where}.{key} and {where}.{key}-data are both set; keep one")
        if data:
            try:
                return base64.b64decode("".join(data.split()), validate=True)
            except (binascii.Error, ValueError) as exc:
                self.fail(f"{where}.{key}-data is not valid base64: {exc}")
        if file_name:
            path = self._file_path(file_name)
            try:
                with open(path, "rb") as stream:
                    return stream.read()
            except OSError as exc:
                self.fail(f"{where}.{key}: cannot read {path}: {exc}")
        return None

    # -- cluster ---------------------------------------------------------------------------------

    def _cluster(self, cluster: Mapping[str, Any], where: str) -> tuple[str, bytes | None, bool, str | None]:
        for key in _UNSUPPORTED_CLUSTER_FIELDS:
            if cluster.get(key):
                self.fail(f"{where}.{key} is not supported by the agent")
        server = self._string(cluster, "server", where)
        if server is None:
            self.fail(f"{where}.server is not set")
        insecure = cluster.get("insecure-skip-tls-verify", False)
        if not isinstance(insecure, bool):
            self.fail(f"{where}.insecure-skip-tls-verify must be true or false, got {insecure!r}")
        ca_pem = self._file_or_data(cluster, "certificate-authority", where)
        if "://" not in server:  # client-go DefaultServerURL: https when anything about TLS is configured
            tls = ca_pem is not None or insecure or bool(cluster.get("tls-server-name"))
            server = ("https://" if tls else "http://") + server
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.fail(f"{where}.server {server!r} is not an http(s) URL")
        if insecure and ca_pem is not None:
            self.fail(f"{where}: certificate-authority(-data) and insecure-skip-tls-verify are both set; keep one")
        return server.rstrip("/"), ca_pem, insecure, self._string(cluster, "tls-server-name", where)

    # -- user ------------------------------------------------------------------------------------

    def _client_certificate(self, user: Mapping[str, Any], where: str) -> credentials.ClientCertificate | None:
        cert = self._file_or_data(user, "client-certificate", where)
        key = self._file_or_data(user, "client-key", where)
        if (cert is None) != (key is None):
            present, missing = ("client-certificate", "client-key") if key is None else ("client-key",
                                                                                       "client-certificate")
            self.fail(f"{where}.{present} is set but {where}.{missing}(-data) is not")
        return credentials.ClientCertificate(cert, key) if cert is not None and key is not None else None

    def _authorization(self, user: Mapping[str, Any], where: str, cluster: Mapping[str, Any], cluster_where: str,
                       server: str, ca_pem: bytes | None, *,
                       has_client_certificate: bool) -> credentials.CredentialSource | None:
        """The per-request credential. As client-go: token(File) and username/password exclude each
        other (clientcmd validateAuthInfo); an exec plugin is run only when the user has neither
        them nor a client certificate (exec Authenticator.UpdateTransportConfig)."""
        for key in _UNSUPPORTED_USER_FIELDS:
            if user.get(key):
                self.fail(f"{where}.{key} is not supported by the agent (use token, tokenFile, client "
                          f"certificates, username/password or exec)")
        token, token_file = self._string(user, "token", where), self._string(user, "tokenFile", where)
        username, password = self._string(user, "username", where), self._string(user, "password", where)
        methods = [name for name, used in (("token", token or token_file), ("username/password", username or password))
                   if used]
        if len(methods) > 1:
            self.fail(f"{where}: more than one authentication method ({', '.join(methods)}); only one is allowed")
        if token_file:  # client-go: the file, re-read periodically, wins over an inline token
            return credentials.TokenFile(self._file_path(token_file), where=f"cannot use kubeconfig {self.path}: "
                                                                           f"{where}.tokenFile")
        if token:
            return credentials.Static(credentials.Credential(authorization=f"Bearer {token}"))
        if username or password:
            if not (username and password):
                self.fail(f"{where}: username and password must be set together")
            return credentials.Static(credentials.Credential(
                authorization=credentials.basic_authorization(username or "", password or "")))
        if user.get("exec") and not has_client_certificate:
            plugin = self._exec_plugin(user["exec"], f"{where}.exec", cluster, server, ca_pem)
            plugin.credential()
            return plugin
        return None

    def _exec_plugin(self, config: Any, where: str, cluster: Mapping[str, Any], server: str,
                     ca_pem: bytes | None) -> credentials.ExecPlugin:
        if not isinstance(config, dict):
            self.fail(f"{where} must be a mapping")
        command = self._string(config, "command", where)
        if command is None:
            self.fail(f"{where}.command is not set")
        api_version = self._string(config, "apiVersion", where)
        if api_version is None or api_version not in credentials.EXEC_API_VERSIONS:
            self.fail(f"{where}.apiVersion {api_version!r} is not supported (use one of "
                      f"{', '.join(credentials.EXEC_API_VERSIONS)})")
        if api_version == "client.authentication.k8s.io/v1" and not config.get("interactiveMode"):
            self.fail(f"{where}.interactiveMode must be set for apiVersion {api_version} (Never or IfAvailable)")
        mode = config.get("interactiveMode") or "IfAvailable"
        if mode not in INTERACTIVE_MODES:
            self.fail(f"{where}.interactiveMode {mode!r} is not one of {', '.join(INTERACTIVE_MODES)}")
        if mode == "Always":
            self.fail(f"{where}.interactiveMode Always needs a terminal, and the agent has none")
        args = config.get("args") or []
        if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
            self.fail(f"{where}.args must be a list of strings")
        env: dict[str, str] = {}
        for index, item in enumerate(config.get("env") or []):
            if not isinstance(item, dict) or not item.get("name") or not isinstance(item.get("value") or "", str):
                self.fail(f"{where}.env[{index}] must have a name and a string value, got {item!r}")
            env[str(item["name"])] = item.get("value") or ""
        provide_cluster_info = config.get("provideClusterInfo", False)
        if not isinstance(provide_cluster_info, bool):
            self.fail(f"{where}.provideClusterInfo must be true or false, got {provide_cluster_info!r}")
        return credentials.ExecPlugin(
            command=self._file_path(command) if "/" in command else command, args=args, env=env,
            api_version=api_version, environ=self.environ, where=f"cannot use kubeconfig {self.path}: {where}",
            cluster=_exec_cluster(cluster, server, ca_pem) if provide_cluster_info else None,
            install_hint=self._string(config, "installHint", where))


def _exec_cluster(cluster: Mapping[str, Any], server: str, ca_pem: bytes | None) -> dict[str, Any]:
    """`spec.cluster` of an ExecCredential (client.authentication.k8s.io Cluster type)."""
    info: dict[str, Any] = {"server": server}
    for key in ("tls-server-name", "insecure-skip-tls-verify", "disable-compression"):
        if cluster.get(key):
            info[key] = cluster[key]
    if ca_pem is not None:
        info["certificate-authority-data"] = base64.b64encode(ca_pem).decode("ascii")
    for extension in cluster.get("extensions") or []:
        if isinstance(extension, dict) and extension.get("name") == EXEC_CLUSTER_EXTENSION:
            info["config"] = extension.get("extension")
    return info
