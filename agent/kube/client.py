"""The agent's only door to the Kubernetes API: plain-dict REST calls over the `kubernetes` client.

Every call goes through the official client's `ApiClient` (auth, TLS, kubeconfig handling) but the
agent works with plain JSON dicts, never with `kubernetes` model objects (STYLE.md §5.6). Blocking
calls run on a bounded thread pool (`run_in_executor`), never on the event loop. Transient failures
(transport errors, 5xx, 429) are retried over `RETRY_BACKOFFS_SECONDS` with a WARNING per attempt;
the final failure is raised as a typed `agent.kube.errors.KubeError`. 409 is never retried here:
read-modify-write loops re-read first (`agent.kube.updating`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from agent.kube import errors
from agent.kube.resources import ResourceKind

__all__ = ["KubeClient", "PATCH_MERGE", "PATCH_JSON", "PATCH_APPLY", "RETRY_BACKOFFS_SECONDS"]

logger = logging.getLogger(__name__)

PATCH_MERGE = "application/merge-patch+json"
PATCH_JSON = "application/json-patch+json"
PATCH_APPLY = "application/apply-patch+yaml"
RETRY_BACKOFFS_SECONDS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)
REQUEST_TIMEOUT_SECONDS = 30.0

Obj = dict[str, Any]


class KubeClient:
    """Async plain-dict access to any `ResourceKind`.

    api_client: a configured `kubernetes.client.ApiClient`; executor: the bounded pool blocking
    calls run on (shared by every component of the process).
    """

    def __init__(self, api_client: k8s_client.ApiClient, *, executor: Executor | None = None) -> None:
        self.api_client = api_client
        self._executor = executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="kube")

    @classmethod
    def from_kubeconfig(cls, path: str | None, *, executor: Executor | None = None) -> KubeClient:
        """Client from a kubeconfig file, or from the in-cluster service account when `path` is None.

        Raises errors.KubeConfigError (naming the file, or saying in-cluster) when neither works.
        """
        try:
            if path:
                api_client = k8s_config.new_client_from_config(config_file=path)
            else:
                configuration = k8s_client.Configuration()
                k8s_config.load_incluster_config(client_configuration=configuration)
                api_client = k8s_client.ApiClient(configuration)
        except (k8s_config.ConfigException, OSError, ValueError, TypeError) as exc:
            source = f"kubeconfig {path}" if path else "in-cluster configuration"
            raise errors.KubeConfigError(f"cannot use {source}: {exc}") from exc
        return cls(api_client, executor=executor)

    def close(self) -> None:
        """Release the HTTP pool."""
        self.api_client.close()

    # -- raw request -----------------------------------------------------------------------------

    def request_sync(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                     body: Any = None, content_type: str = "application/json",
                     timeout: float | tuple[float, float] | None = REQUEST_TIMEOUT_SECONDS,
                     stream: bool = False) -> Any:
        """One HTTP call (blocking); returns the decoded JSON body, or the raw urllib3 response when
        `stream` is true (caller must release it). Raises errors.KubeError for non-2xx."""
        query_params = [(k, _query_value(v)) for k, v in (query or {}).items() if v is not None]
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        _method, url, header_params, _body, _post = self.api_client.param_serialize(
            method=method, resource_path=path, query_params=query_params, header_params=headers,
            auth_settings=["BearerToken"])
        try:
            # The REST layer JSON-encodes the body itself for every JSON (and structured YAML) type.
            response = self.api_client.call_api(method, url, header_params=header_params, body=body,
                                                _request_timeout=timeout)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.KubeServerError(0, "TransportError", str(exc)[:errors.TEXT_ERROR_MAX_SIZE]) from exc
        if not 200 <= response.status < 300:
            try:
                raise errors.from_response(response.status, response.read())
            finally:
                response.response.release_conn()
        if stream:
            return response.response
        payload = response.read()
        return json.loads(payload) if payload else {}

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
                logger.warning("%s %s attempt #%d/%d failed; will retry in %.1fs: %s",
                               method, path, attempt, attempts, backoff, exc)
                await asyncio.sleep(backoff)
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
        ERROR event carrying code 410), errors.KubeError for other failures.
        on_response receives the open urllib3 response, so another thread can `shutdown()` it to
        end a blocked read."""
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
        finally:
            response.release_conn()


def _decode_event(line: bytes) -> Obj:
    event = json.loads(line)
    if event.get("type") == "ERROR":
        status = event.get("object") or {}
        raise errors.from_response(int(status.get("code") or 500), json.dumps(status))
    return event


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
