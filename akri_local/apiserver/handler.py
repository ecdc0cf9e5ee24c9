"""The HTTP layer: one :class:`RequestHandler` per connection, speaking the Kubernetes REST API.

Decodes requests (path via ``routing``, query parameters, JSON / YAML bodies by
``Content-Type``), calls :class:`api.Api`, and encodes answers: JSON bodies with
``Content-Length``, ``Status`` objects for errors (``errors.ApiError``), admission warnings as
``Warning: 299 - "<text>"`` headers, and watches as HTTP/1.1 chunked streams of one JSON event
per line (``{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}``). A watch ends at
``timeoutSeconds``, when the client goes away, or when the server stops; a too-old
resourceVersion yields HTTP 200 and one ERROR event carrying a 410 ``Expired`` Status, as the
real apiserver does.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import logging
import select
import socket
import threading
import time
import urllib.parse
from typing import Any

import yaml

from akri_local.apiserver import discovery, errors, patching, routing, selectors
from akri_local.apiserver.api import Api, DeleteOptions, ListOptions, Result
from akri_local.apiserver.kinds import ResourceType
from akri_local.apiserver.registry import Registry
from akri_local.apiserver.store import Watcher

__all__ = ["RequestHandler", "ServerContext"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024
WATCH_POLL_SECONDS = 0.5
_JSON = "application/json"
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")


class _JsonYamlLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it (YAML -> JSON): timestamps stay strings."""


_JsonYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclasses.dataclass
class ServerContext:
    """What every handler shares: the verbs, the served types, the bookmark interval
    (seconds between BOOKMARK events on watches that allow them) and the stop signal."""

    api: Api
    types: Registry
    bookmark_interval_seconds: float
    stopping: threading.Event
    address: str


class _ClientGone(Exception):
    """The client closed the connection (nothing more can be written)."""


def _flag(query: dict[str, str], name: str) -> bool:
    """A boolean query parameter; BadRequest naming it when not true/false."""
    value = query.get(name, "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.BadRequest(f'invalid value for query parameter "{name}": {query[name]!r}')


def _integer(query: dict[str, str], name: str) -> int | None:
    """An integer query parameter (None when absent); BadRequest naming it when malformed."""
    if query.get(name, "") == "":
        return None
    try:
        return int(query[name])
    except ValueError:
        raise errors.BadRequest(f'invalid value for query parameter "{name}": {query[name]!r}, '
                                "must be an integer") from None


def _dry_run(query: dict[str, str]) -> bool:
    """``dryRun=All`` -> True; absent -> False; anything else is BadRequest."""
    value = query.get("dryRun")
    if value is None or value == "":
        return False
    if value == "All":
        return True
    raise errors.BadRequest(f'Invalid dryRun value: "{value}": supported values: "All"')


def _list_options(query: dict[str, str]) -> ListOptions:
    """Selectors, limit and continue of a list/watch request."""
    try:
        labels = selectors.parse_label_selector(query.get("labelSelector"))
        fields = selectors.parse_field_selector(query.get("fieldSelector"))
    except ValueError as exc:
        raise errors.BadRequest(f"unable to parse requirement: {exc}") from exc
    limit = _integer(query, "limit") or 0
    if limit < 0:
        raise errors.BadRequest(f"limit must be >= 0, got {limit}")
    return ListOptions(labels, fields, limit, query.get("continue", ""))


def _delete_options(query: dict[str, str], body: Any) -> DeleteOptions:
    """DeleteOptions from the body (``kind: DeleteOptions``) and/or query parameters."""
    if body is not None and not isinstance(body, dict):
        raise errors.BadRequest("DeleteOptions must be a JSON object")
    body = body or {}
    preconditions = body.get("preconditions") or {}
    grace = _integer(query, "gracePeriodSeconds")
    if grace is None and body.get("gracePeriodSeconds") is not None:
        if not isinstance(body["gracePeriodSeconds"], int):
            raise errors.BadRequest("gracePeriodSeconds must be an integer")
        grace = body["gracePeriodSeconds"]
    orphan = body.get("orphanDependents")
    if "orphanDependents" in query:
        orphan = _flag(query, "orphanDependents")
    dry_run = _dry_run(query) or body.get("dryRun") == ["All"]
    return DeleteOptions(
        grace_period_seconds=grace,
        propagation_policy=query.get("propagationPolicy") or body.get("propagationPolicy"),
        orphan_dependents=orphan,
        precondition_uid=preconditions.get("uid"),
        precondition_resource_version=preconditions.get("resourceVersion"),
        dry_run=dry_run)


class RequestHandler(http.server.BaseHTTPRequestHandler):
    """Serves one client connection (HTTP/1.1 keep-alive); see the module docstring."""

    protocol_version = "HTTP/1.1"
    server_version = "akri-local-apiserver/1.0"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def context(self) -> ServerContext:
        return self.server.context  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s " + format, self.address_string(), *args)

    # ----------------------------------------------------------------------- dispatch
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        """Request guard: every failure becomes a Status answer, never a traceback."""
        try:
            raw_body = self._read_body()
            self._dispatch(method, raw_body)
        except errors.ApiError as exc:
            self._send_json(exc.code, exc.status(), exc.warnings)
        except _ClientGone:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # request handler guard: answer 500, log the traceback
            logger.exception("%s %s failed", method, self.path)
            self._send_json(500, errors.InternalError(f"Internal error occurred: {exc!r}").status())

    def _read_body(self) -> bytes:
        """The request body (Content-Length or chunked); BadRequest when too large."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                try:
                    size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    raise errors.BadRequest("malformed chunked request body") from None
                if size == 0:
                    self.rfile.readline()
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    raise errors.ApiError("request entity too large", code=413,
                                          reason="RequestEntityTooLarge")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise errors.BadRequest("invalid Content-Length header") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise errors.ApiError("request entity too large", code=413, reason="RequestEntityTooLarge")
        return self.rfile.read(length) if length else b""

    def _content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def _decode(self, raw: bytes, *, yaml_ok: bool = False) -> Any:
        """Decode a JSON (or, when allowed / declared, YAML) body; BadRequest when malformed."""
        if not raw.strip():
            return None
        content_type = self._content_type()
        try:
            if yaml_ok or content_type in _YAML_TYPES:
                return yaml.load(raw, Loader=_JsonYamlLoader)  # noqa: S506 - a SafeLoader subclass
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.BadRequest(f"the body of the request could not be decoded: {exc}") from exc

    def _dispatch(self, method: str, raw_body: bytes) -> None:
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
        route = routing.parse_path(split.path)
        if route is None:
            raise errors.NotFound("the server could not find the requested resource")
        if route.kind != "resource":
            if method != "GET":
                raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
            self._send_json(200, self._discovery(route))
            return
        rt = self._resource_type(route)
        self._resource(method, route, rt, query, raw_body)

    def _discovery(self, route: routing.Route) -> Any:
        types = self.context.types.all()
        if route.kind == "health":
            return "ok"
        if route.kind == "version":
            return discovery.VERSION_INFO
        if route.kind == "core-versions":
            return discovery.api_versions(self.context.address)
        if route.kind == "group-list":
            return discovery.api_group_list(types)
        document = (discovery.api_group(types, route.group) if route.kind == "group"
                    else discovery.resource_list(types, route.group, route.version))
        if document is None:
            raise errors.NotFound("the server could not find the requested resource")
        return document

    def _resource_type(self, route: routing.Route) -> ResourceType:
        """The served type of a resource path; 404 for unknown types or wrong scope."""
        rt = self.context.types.get(route.group, route.version, route.plural)
        not_found = errors.NotFound("the server could not find the requested resource")
        if rt is None:
            raise not_found
        if route.namespace is not None and not rt.namespaced:
            raise not_found
        if route.subresource and route.subresource not in rt.subresources:
            raise not_found
        if rt.namespaced and route.name is not None and route.namespace is None:
            raise not_found
        return rt

    def _resource(self, method: str, route: routing.Route, rt: ResourceType,
                  query: dict[str, str], raw_body: bytes) -> None:
        api = self.context.api
        ns, name, sub = route.namespace, route.name, route.subresource
        if rt.group_resource == ("", "bindings"):
            if method != "POST" or name is not None or ns is None:
                raise errors.MethodNotAllowed("bindings only support create in a namespace")
            body = self._decode(raw_body)
            target = ((body or {}).get("metadata") or {}).get("name") if isinstance(body, dict) else None
            pods = self.context.types.get("", "v1", "pods")
            assert pods is not None
            self._send_result(api.bind(pods, ns, target or "", body))
            return
        if method == "GET":
            watching = route.watch or _flag(query, "watch")
            if watching:
                options = _list_options(query)
                if name is not None:
                    options = dataclasses.replace(options, field_selector=selectors.FieldSelector(
                        options.field_selector.requirements + (("metadata.name", "=", name),)))
                self._watch(rt, ns, options, query)
                return
            result = api.get(rt, ns, name) if name is not None else api.list(rt, ns, _list_options(query))
        elif method == "POST":
            if name is None and not sub:
                if rt.namespaced and ns is None:
                    raise errors.MethodNotAllowed("create is only allowed within a namespace")
                result = api.create(rt, ns, self._decode(raw_body), dry_run=_dry_run(query))
            elif sub == "binding":
                result = api.bind(rt, ns, name or "", self._decode(raw_body))
            else:
                raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        elif method == "PUT" and name is not None:
            result = api.update(rt, ns, name, self._decode(raw_body), subresource=sub,
                                dry_run=_dry_run(query))
        elif method == "PATCH" and name is not None:
            patch_type = self._content_type()
            if patch_type not in patching.PATCH_TYPES:
                raise errors.UnsupportedMediaType(
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {', '.join(patching.PATCH_TYPES)}")
            body = self._decode(raw_body, yaml_ok=patch_type == patching.APPLY_PATCH)
            result = api.patch(rt, ns, name, patch_type, body, subresource=sub,
                               dry_run=_dry_run(query), field_manager=query.get("fieldManager"))
        elif method == "DELETE" and not sub:
            delete_options = _delete_options(query, self._decode(raw_body))
            if name is not None:
                result = api.delete(rt, ns, name, delete_options)
            else:
                result = api.delete_collection(rt, ns, _list_options(query), delete_options)
        else:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        self._send_result(result)

    # ------------------------------------------------------------------------ writing
    def _send_result(self, result: Result) -> None:
        self._send_json(result.code, result.body, result.warnings)

    def _send_json(self, code: int, body: Any, warnings: list[str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", _JSON)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache, private")
            for warning in warnings or []:
                self.send_header("Warning", '299 - "%s"' % warning.replace('"', '\\"'))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", _JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def _write_event(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except OSError as exc:
            raise _ClientGone() from exc

    def _end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError as exc:
            raise _ClientGone() from exc

    def _client_gone(self) -> bool:
        """True when the peer has closed its side (readable with EOF)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable:
                return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except OSError:
            return True
        return False

    def _watch(self, rt: ResourceType, namespace: str | None, options: ListOptions,
               query: dict[str, str]) -> None:
        """Stream a watch (see module docstring)."""
        timeout = _integer(query, "timeoutSeconds")
        bookmarks = _flag(query, "allowWatchBookmarks")
        initial = _flag(query, "sendInitialEvents")
        try:
            stream = self.context.api.watch(rt, namespace, options,
                                            resource_version=query.get("resourceVersion", ""),
                                            send_initial_events=initial)
        except errors.Gone as exc:
            self._start_stream()
            self._write_event({"type": "ERROR", "object": exc.status()})
            self._end_stream()
            return
        self._start_stream()
        started = time.monotonic()
        deadline = started + timeout if timeout else None
        interval = self.context.bookmark_interval_seconds
        next_bookmark = started + interval
        try:
            while not self.context.stopping.is_set():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    if bookmarks:
                        event = stream.bookmark()
                        if event:
                            self._write_event(event)
                    break
                waits = [WATCH_POLL_SECONDS]
                if deadline is not None:
                    waits.append(deadline - now)
                if bookmarks:
                    waits.append(next_bookmark - now)
                item = stream.next(max(0.0, min(waits)))
                if item is Watcher.CLOSED:
                    break
                if item is not None:
                    self._write_event(item)
                    continue
                if initial and bookmarks:
                    event = stream.initial_events_end()
                    if event:
                        self._write_event(event)
                if bookmarks and time.monotonic() >= next_bookmark:
                    event = stream.bookmark()
                    if event:
                        self._write_event(event)
                    next_bookmark = time.monotonic() + interval
                if self._client_gone():
                    raise _ClientGone()
        finally:
            stream.close()
        self._end_stream()
