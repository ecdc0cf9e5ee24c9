"""Where each API request's credentials come from: a fixed value, a re-read token file, an exec plugin.

A `CredentialSource` hands `agent.kube.client.KubeClient` the current `Credential` (an
`Authorization` header value and/or a client certificate) before every request, from any thread.
Three sources exist, matching what client-go does with a kubeconfig or in a pod:

- `Static`: a token or username/password from the kubeconfig, never changing;
- `TokenFile`: a bearer token file (kubeconfig `tokenFile`, the in-cluster service-account
  token), re-read at most every `TOKEN_REFRESH_SECONDS` because bound tokens rotate (client-go
  `transport.NewCachedFileTokenSource`); when a re-read fails the last token is kept;
- `ExecPlugin`: a credential plugin (`users[].user.exec`, API `client.authentication.k8s.io` v1
  and v1beta1, https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins):
  the command runs with `KUBERNETES_EXEC_INFO` set, its `ExecCredential` answer is cached until
  `status.expirationTimestamp` (for ever without one).

`invalidate()` is called after a 401 answer, so the next request fetches fresh credentials
(client-go re-runs the exec plugin on 401 too). Every failure is an `errors.KubeConfigError`
whose message starts with `where` (the file and the field the source came from).
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.kube import errors

__all__ = ["ClientCertificate", "Credential", "CredentialSource", "Static", "TokenFile", "ExecPlugin",
           "basic_authorization", "EXEC_API_VERSIONS", "TOKEN_REFRESH_SECONDS", "EXEC_TIMEOUT_SECONDS"]

logger = logging.getLogger(__name__)

TOKEN_REFRESH_SECONDS = 60.0
"""A token file is re-read when its last read is this old (seconds), as client-go does."""
EXEC_TIMEOUT_SECONDS = 60.0
"""An exec credential plugin that has not exited after this long (seconds) has failed."""
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
"""ExecCredential API versions understood (v1alpha1 was removed from Kubernetes in 1.24)."""
STDERR_MAX_CHARS = 512


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client certificate chain and its private key, both PEM (bytes); the key is not in repr."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Credential:
    """What one request carries: `authorization` (the `Authorization` header value, e.g.
    `Bearer <token>`, not in repr) and/or a TLS `client_certificate`; either may be None."""

    authorization: str | None = field(default=None, repr=False)
    client_certificate: ClientCertificate | None = None


class CredentialSource(Protocol):
    """Hands out the current credential; thread-safe."""

    def credential(self) -> Credential:
        """The credential for the next request. Raises errors.KubeConfigError."""
        ...

    def invalidate(self) -> None:
        """Forget cached credentials (the server answered 401)."""
        ...


def basic_authorization(username: str, password: str) -> str:
    """The `Authorization` value for HTTP basic auth (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class Static:
    """A credential that never changes (kubeconfig `token`, `username`/`password`)."""

    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    def credential(self) -> Credential:
        """The fixed credential."""
        return self._credential

    def invalidate(self) -> None:
        """Nothing to refresh."""


class TokenFile:
    """`Bearer <token>` read from `path` (surrounding whitespace stripped).

    The file is read once here (raising errors.KubeConfigError, prefixed by `where`, when it is
    missing, unreadable or empty), then again when the last read is `refresh_seconds` old on the
    `clock` (seconds, monotonic). A failed re-read is logged at WARNING and the previous token is
    kept until the next period, as client-go does.
    """

    def __init__(self, path: str, *, where: str, refresh_seconds: float = TOKEN_REFRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._where = where
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._token = self._read()
        self._read_at = clock()

    def credential(self) -> Credential:
        """The token, re-read first when the last read is `refresh_seconds` old."""
        with self._lock:
            now = self._clock()
            if now - self._read_at >= self._refresh_seconds:
                self._read_at = now
                try:
                    self._token = self._read()
                except errors.KubeConfigError as exc:
                    logger.warning("keeping the previous bearer token: %s", exc)
            return Credential(authorization=f"Bearer {self._token}")

    def invalidate(self) -> None:
        """Re-read the file before the next request."""
        with self._lock:
            self._read_at = -float("inf")

    def _read(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as stream:
                token = stream.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise errors.KubeConfigError(f"{self._where}: cannot read token file {self.path}: {exc}") from exc
        if not token:
            raise errors.KubeConfigError(f"{self._where}: token file {self.path} is empty")
        logger.debug("read bearer token file %s", self.path)
        return token


class ExecPlugin:
    """Credentials from an exec credential plugin, cached until they expire.

    command: program (a PATH lookup, or a path); args: its arguments; env: variables added to
    `environ` (the process environment it inherits); api_version: one of EXEC_API_VERSIONS;
    cluster: the `spec.cluster` object handed over when the kubeconfig sets `provideClusterInfo`
    (None otherwise); install_hint: shown when the command is missing; where: error prefix naming
    the kubeconfig and the `users[...].user.exec` field. The plugin runs non-interactively
    (stdin closed, `spec.interactive: false`), at most EXEC_TIMEOUT_SECONDS; its stderr goes into
    the error message. Its answer must be an `ExecCredential` of the same apiVersion with
    `status.token` and/or both `status.clientCertificateData` and `status.clientKeyData` (PEM);
    `status.expirationTimestamp` (RFC 3339) ends the cache, compared with `now()` (aware UTC).
    """

    def __init__(self, *, command: str, args: Sequence[str], env: Mapping[str, str], api_version: str,
                 environ: Mapping[str, str], where: str, cluster: Mapping[str, Any] | None = None,
                 install_hint: str | None = None, timeout_seconds: float = EXEC_TIMEOUT_SECONDS,
                 now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc)) -> None:
        self.command = command
        self._argv = [command, *args]
        self._env = {**environ, **env}
        self._api_version = api_version
        self._cluster = dict(cluster) if cluster is not None else None
        self._install_hint = install_hint
        self._where = where
        self._timeout_seconds = timeout_seconds
        self._now = now
        self._lock = threading.Lock()
        self._cached: Credential | None = None
        self._expiry: datetime.datetime | None = None

    def credential(self) -> Credential:
        """The cached credential, or the plugin's fresh answer when none is cached or it expired.
        Raises errors.KubeConfigError when the plugin fails or answers something unusable."""
        with self._lock:
            if self._cached is None or (self._expiry is not None and self._now() >= self._expiry):
                self._cached, self._expiry = self._run()
            return self._cached

    def invalidate(self) -> None:
        """Run the plugin again before the next request."""
        with self._lock:
            self._cached = None

    def _fail(self, problem: str) -> errors.KubeConfigError:
        return errors.KubeConfigError(f"{self._where}: exec plugin {self.command!r} {problem}")

    def _run(self) -> tuple[Credential, datetime.datetime | None]:
        spec: dict[str, Any] = {"interactive": False}
        if self._cluster is not None:
            spec["cluster"] = self._cluster
        info = {"apiVersion": self._api_version, "kind": "ExecCredential", "spec": spec}
        logger.debug("running exec credential plugin %s", self.command)
        try:
            done = subprocess.run(self._argv, env={**self._env, "KUBERNETES_EXEC_INFO": json.dumps(info)},
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=self._timeout_seconds,
                                  check=False)
        except FileNotFoundError as exc:
            hint = f" ({self._install_hint.strip()})" if self._install_hint else ""
            raise self._fail(f"not found{hint}") from exc
        except subprocess.TimeoutExpired as exc:
            raise self._fail(f"did not exit within {self._timeout_seconds:g}s") from exc
        except OSError as exc:
            raise self._fail(f"cannot run: {exc}") from exc
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace").strip()[:STDERR_MAX_CHARS]
            raise self._fail(f"exited with status {done.returncode}" + (f": {stderr}" if stderr else ""))
        return self._parse(done.stdout)

    def _parse(self, stdout: bytes) -> tuple[Credential, datetime.datetime | None]:
        try:
            answer = json.loads(stdout)
        except ValueError as exc:
            raise self._fail(f"printed no JSON ExecCredential: {exc}") from exc
        if not isinstance(answer, dict) or answer.get("kind") != "ExecCredential":
            raise self._fail("printed no ExecCredential (kind must be ExecCredential)")
        if answer.get("apiVersion") != self._api_version:
            raise self._fail(f"answered apiVersion {answer.get('apiVersion')!r}, expected {self._api_version!r}")
        status = answer.get("status")
        if not isinstance(status, dict):
            raise self._fail("answered without a status object")
        token, cert, key = (status.get(k) or None for k in ("token", "clientCertificateData", "clientKeyData"))
        for name, value in (("token", token), ("clientCertificateData", cert), ("clientKeyData", key)):
            if value is not None and not isinstance(value, str):
                raise self._fail(f"answered a non-string status.{name}")
        if (cert is None) != (key is None):
            raise self._fail("answered only one of status.clientCertificateData and status.clientKeyData")
        if token is None and cert is None:
            raise self._fail("answered neither status.token nor status.clientCertificateData/clientKeyData")
        credential = Credential(authorization=f"Bearer {token}" if token else None,
                                client_certificate=ClientCertificate(cert.encode(), key.encode())
                                if cert and key else None)
        return credential, self._expiry_of(status.get("expirationTimestamp"))

    def _expiry_of(self, stamp: Any) -> datetime.datetime | None:
        if stamp is None:
            return None
        try:
            expiry = datetime.datetime.fromisoformat(str(stamp))
        except ValueError as exc:
            raise self._fail(f"answered an invalid status.expirationTimestamp {stamp!r}: {exc}") from exc
        if expiry.tzinfo is None:
            raise self._fail(f"answered status.expirationTimestamp {stamp!r} without a time zone (RFC 3339)")
        return expiry
