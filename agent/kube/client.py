"""The agent's only door to the Kubernetes API: plain-dict REST calls over urllib3.

A `KubeClient` sends JSON over one urllib3 pool built from an `agent.kube.kubeconfig.Connection`
(server, TLS, credentials); it never imports the `kubernetes` package, whose models alone cost
~34 MiB of RSS (DESIGN.md §5), and the agent works with plain JSON dicts (STYLE.md §5.6). Blocking
calls run on a bounded thread pool (`run_in_executor`), never on the event loop. Transient failures
(transport errors, 5xx, 429) are retried over `RETRY_BACKOFFS_SECONDS` (a longer `Retry-After` from the
server wins, up to `RETRY_AFTER_MAX_SECONDS`) with a WARNING per attempt;
the final failure is raised as a typed `agent.kube.errors.KubeError`. 409 is never retried here:
read-modify-write loops re-read first (`agent.kube.updating`). A 401 makes the next request fetch
fresh credentials (a rotated token file, a new exec-plugin answer), as client-go does.

Bodies: dicts and lists are sent as JSON under the given content type (`application/json`, merge
patch, JSON patch, and server-side apply, whose YAML content type accepts JSON); str or bytes are
sent as they are.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3

from agent.kube import credentials, errors
from agent.kube.kubeconfig import Connection
from agent.kube.resources import ResourceKind

__all__ = ["KubeClient", "PATCH_MERGE", "PATCH_JSON", "PATCH_APPLY", "RETRY_BACKOFFS_SECONDS",
           "REQUEST_TIMEOUT_SECONDS", "DEFAULT_POOL_SIZE", "USER_AGENT"]

logger = logging.getLogger(__name__)

PATCH_MERGE = "application/merge-patch+json"
PATCH_JSON = "application/json-patch+json"
PATCH_APPLY = "application/apply-patch+yaml"
RETRY_BACKOFFS_SECONDS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)
RETRY_AFTER_MAX_SECONDS = 30.0
"""Longest wait a server's Retry-After can impose between two attempts."""
REQUEST_TIMEOUT_SECONDS = 30.0
DEFAULT_POOL_SIZE = 16
"""HTTP connections kept open per host: the executor's 8 workers plus the agent's open watches."""
USER_AGENT = "akri-py"

Obj = dict[str, Any]
Timeout = float | tuple[float, float] | None
"""Seconds: a total per request, (connect, read), or None for no limit."""


class KubeClient:
    """Async plain-dict access to any `ResourceKind`, plus the blocking calls it is built on.

    connection: the server, TLS material and credentials; executor: the bounded pool blocking
    calls run on (shared by every component of the process; default 8 threads); pool_size: HTTP
    connections kept per host (each open watch holds one; more are opened when needed, but not
    kept). Raises errors.KubeConfigError when the TLS material cannot be loaded.
    """

    def __init__(self, connection: Connection, *, executor: Executor | None = None,
                 pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.connection = connection
        self._executor = executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="kube")
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._pool_certificate: credentials.ClientCertificate | None = None
        try:
            self._pool = self._new_pool(connection.credential().client_certificate)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise errors.KubeConfigError(f"cannot use {connection.source}: TLS settings: {exc}") from exc

    @classmethod
    def from_kubeconfig(cls, path: str | None, *, executor: Executor | None = None,
                        pool_size: int = DEFAULT_POOL_SIZE, environ: Mapping[str, str] | None = None) -> KubeClient:
        """Client from the current context of kubeconfig file `path`, or from the in-cluster
        service account when `path` is None or empty (`Connection.in_cluster`). environ: the
        environment (KUBERNETES_SERVICE_HOST/PORT, exec plugins'; default os.environ).

        Raises errors.KubeConfigError (starting `cannot use kubeconfig <path>:` or `cannot use
        in-cluster configuration:`) when the source is unusable.
        """
        if path:
            connection = Connection.from_kubeconfig(path, environ=environ)
        else:
            connection = Connection.in_cluster(environ=environ)
        logger.info("API server %s (from %s)", connection.server, connection.source)
        return cls(connection, executor=executor, pool_size=pool_size)

    def close(self) -> None:
        """Close the pooled HTTP connections (open watches end when their thread releases them)."""
        with self._lock:
            self._pool.clear()

    def _new_pool(self, certificate: credentials.ClientCertificate | None) -> urllib3.PoolManager:
        """A pool presenting `certificate`. Raises ssl.SSLError/ValueError when it does not load."""
        self._pool_certificate = certificate
        if not self.connection.uses_tls:
            return urllib3.PoolManager(maxsize=self._pool_size)
        context = self.connection.ssl_context(certificate)
        return urllib3.PoolManager(maxsize=self._pool_size, ssl_context=context,
                                   cert_reqs="CERT_NONE" if self.connection.insecure else "CERT_REQUIRED",
                                   server_hostname=self.connection.tls_server_name)

    def _pool_for(self, certificate: credentials.ClientCertificate | None) -> urllib3.PoolManager:
        """The pool presenting `certificate`; a new one when an exec plugin handed out a new certificate."""
        with self._lock:
            if certificate != self._pool_certificate:
                previous, self._pool = self._pool, self._new_pool(certificate)
                previous.clear()
            return self._pool

    # -- raw request -----------------------------------------------------------------------------

    def request_sync(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                     body: Any = None, content_type: str = "application/json",
                     timeout: Timeout = REQUEST_TIMEOUT_SECONDS, stream: bool = False) -> Any:
        """One HTTP call (blocking, no retries here): `method` on server + `path` (e.g.
        `/api/v1/nodes`) with `query` (None values dropped, booleans as true/false).

        Returns the decoded JSON body ({} when empty), or with `stream` the open
        `urllib3.HTTPResponse` (the caller reads it and calls `release_conn()`). Raises the typed
        errors.KubeError for a non-2xx answer, errors.KubeServerError (status 0) for a transport
        failure or a credential source that failed (e.g. an exec plugin).
        """
        params = [(key, _query_value(value)) for key, value in (query or {}).items() if value is not None]
        url = self.connection.server + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        encoded = _encode(body)
        if encoded is not None:
            headers["Content-Type"] = content_type
        try:
            credential = self.connection.credential()
            pool = self._pool_for(credential.client_certificate)
        except errors.KubeConfigError as exc:
            raise errors.KubeServerError(0, "CredentialError", str(exc)[:errors.TEXT_ERROR_MAX_SIZE]) from exc
        except (OSError, ValueError) as exc:  # a client certificate from an exec plugin that does not load
            raise errors.KubeServerError(0, "CredentialError", f"client certificate: {exc}") from exc
        if credential.authorization:
            headers["Authorization"] = credential.authorization
        try:
            # retries=False: urllib3 would otherwise retry on its own (and sleep on Retry-After) under
            # this client's single retry loop, `request`.
            response = pool.request(method, url, body=encoded, headers=headers, timeout=_timeout(timeout),
                                    retries=False,
                                    preload_content=not stream)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.KubeServerError(0, "TransportError", str(exc)[:errors.TEXT_ERROR_MAX_SIZE]) from exc
        if not 200 <= response.status < 300:
            if response.status == 401:
                self.connection.invalidate_credentials()
            try:
                raise errors.from_response(response.status, response.data,
                                           retry_after=response.headers.get("Retry-After"))
            finally:
                response.release_conn()
        if stream:
            return response
        return _decode(response.data) if response.data else {}

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """`request_sync` on the executor, retried on transport errors, 5xx and 429."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self.request_sync, method, path, **kwargs)
        attempts = len(RETRY_BACKOFFS_SECONDS) + 1
        for attempt, backoff in enumerate((*RETRY_BACKOFFS_SECONDS, None), start=1):
            try:
                return await loop.run_in_executor(self._executor, call)
            except (errors.KubeServerError, errors.TooManyRequests) as exc:
                if backoff is None:
                    logger.error("%s %s failed after %d attempts: %s", method, path, attempts, exc)
                    raise
                # The server's Retry-After wins when longer than the planned backoff (capped).
                delay = min(max(backoff, exc.retry_after_seconds or 0.0), RETRY_AFTER_MAX_SECONDS)
                logger.warning("%s %s attempt #%d/%d failed; will retry in %.1fs: %s",
                               method, path, attempt, attempts, delay, exc)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    # -- verbs ----------------------------------------------------------------------------------

    async def get(self, kind: ResourceKind, name: str, namespace: str | None = None) -> Obj:
        """GET one object. Raises errors.NotFound."""
        return await self.request("GET", kind.path(namespace, name))

    async def get_or_none(self, kind: ResourceKind, name: str, namespace: str | None = None) -> Obj | None:
        """GET one object, None when it does not exist."""
        try:
            return await self.get(kind, name, namespace)
        except errors.NotFound:
            return None

    async def list(self, kind: ResourceKind, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None) -> Obj:
        """LIST (all namespaces when namespace is None): `{"items": [...], "metadata": {"resourceVersion"}}`.

        Items get `apiVersion` and `kind` filled in (the API omits them inside lists), so they can
        be written back as they are."""
        listing = await self.request("GET", kind.path(namespace), query={
            "labelSelector": label_selector, "fieldSelector": field_selector})
        for item in listing.get("items") or []:
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return listing

    async def create(self, kind: ResourceKind, body: Obj, namespace: str | None = None) -> Obj:
        """POST. Raises errors.AlreadyExists, errors.Invalid."""
        ns = namespace if namespace is not None else body.get("metadata", {}).get("namespace")
        return await self.request("POST", kind.path(ns), body=body)

    async def replace(self, kind: ResourceKind, body: Obj, *, subresource: str | None = None) -> Obj:
        """PUT the whole object (its metadata.resourceVersion is the precondition). Raises errors.Conflict."""
        meta = body["metadata"]
        return await self.request("PUT", kind.path(meta.get("namespace"), meta["name"], subresource), body=body)

    async def patch(self, kind: ResourceKind, name: str, patch: Any, namespace: str | None = None, *,
                    content_type: str = PATCH_MERGE, field_manager: str | None = None,
                    force: bool | None = None, subresource: str | None = None) -> Obj:
        """PATCH with a merge patch (dict), JSON patch (list) or server-side apply (dict, needs field_manager)."""
        return await self.request("PATCH", kind.path(namespace, name, subresource), body=patch,
                                  content_type=content_type,
                                  query={"fieldManager": field_manager, "force": force})

    async def delete(self, kind: ResourceKind, name: str, namespace: str | None = None, *,
                     uid: str | None = None, resource_version: str | None = None,
                     propagation: str | None = None, grace_period_seconds: int | None = None) -> None:
        """DELETE with optional preconditions. Raises errors.NotFound, errors.Conflict (precondition)."""
        options: Obj = {"apiVersion": "v1", "kind": "DeleteOptions"}
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            options["preconditions"] = preconditions
        if propagation:
            options["propagationPolicy"] = propagation
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        await self.request("DELETE", kind.path(namespace, name), body=options)

    # -- watch (blocking; used by agent.kube.watching from a thread) --------------------------

    def watch_sync(self, kind: ResourceKind, namespace: str | None, resource_version: str, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   timeout_seconds: int = 300,
                   on_response: Callable[[Any], None] | None = None) -> Iterator[Obj]:
        """Yield raw watch events `{"type", "object"}` from `resource_version` until the server ends
        the stream (timeout_seconds). Raises errors.Gone for an expired version (HTTP 410, or an
        ERROR event carrying code 410), errors.KubeError for other failures (a broken stream is
        errors.KubeServerError status 0).
        on_response receives the open `urllib3.HTTPResponse`, so another thread can `shutdown()`
        it to end a blocked read (which then raises errors.KubeServerError or ends the stream)."""
        response = self.request_sync("GET", kind.path(namespace), query={
            "watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
            "labelSelector": label_selector, "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds}, timeout=(5.0, timeout_seconds + 10.0), stream=True)
        if on_response is not None:
            on_response(response)
        deadline = time.monotonic() + timeout_seconds + 10.0
        try:
            buffer = b""
            for chunk in response.stream(4096, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield _decode_event(line)
                if time.monotonic() > deadline:
                    return
            if buffer.strip():
                yield _decode_event(buffer)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.KubeServerError(0, "TransportError", str(exc)[:errors.TEXT_ERROR_MAX_SIZE]) from exc
        finally:
            response.release_conn()


def _decode(data: bytes) -> Any:
    """A JSON response body, without `metadata.managedFields` in the object or in a list's items.

    The agent never reads managedFields (server-side apply bookkeeping, often larger than the rest
    of an Instance) and must not keep them in its caches (memory: DESIGN.md §5; client-go offers the
    same as `TransformStripManagedFields`). Writing such an object back is safe: an update without
    managedFields keeps the server's. orjson also shares the key strings of all decoded objects.
    """
    decoded = orjson.loads(data)
    if isinstance(decoded, dict):
        _strip_managed_fields(decoded)
        for item in decoded.get("items") or ():
            _strip_managed_fields(item)
    return decoded


def _strip_managed_fields(obj: Any) -> None:
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)


def _decode_event(line: bytes) -> Obj:
    event = orjson.loads(line)
    if event.get("type") == "ERROR":
        status = event.get("object") or {}
        raise errors.from_response(int(status.get("code") or 500), json.dumps(status))
    _strip_managed_fields(event.get("object"))
    return event


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _encode(body: Any) -> bytes | None:
    """The request body: None stays None, str/bytes as they are (UTF-8), anything else as JSON."""
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, separators=(",", ":")).encode()


def _timeout(timeout: Timeout) -> urllib3.Timeout | None:
    if timeout is None:
        return None
    if isinstance(timeout, tuple):
        return urllib3.Timeout(connect=timeout[0], read=timeout[1])
    return urllib3.Timeout(total=timeout)
