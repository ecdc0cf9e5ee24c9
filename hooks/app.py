"""The hooks' flask app: routes only — parse JSON, call a pure hook, serialise, answer.

    POST /sync/instance             sync_instance           (CompositeController, Instance parents)
    POST /customize/instance        customize_instance
    POST /sync/configuration        sync_configuration      (CompositeController, Configuration parents)
    POST /customize/configuration   customize_configuration
    POST /validate/configuration    review_configuration    (ValidatingWebhookConfiguration)
    GET  /healthz                   200 {"status": "ok"}
    GET  /metrics                   Prometheus text (hooks._metrics)

Answers (metacontroller-contract.md §4, STYLE.md §5.14): 200 with the hook's JSON; 400
`{"error": "<field path>: <what was expected>, got <value>"}` when the body is not JSON, not a
JSON object, or lacks/mistypes a field a hook needs (HookInputError); 404/405/413 as JSON for
unknown paths, wrong methods and bodies over `max_body_bytes`. A 500 means a bug in a hook: it
is logged with its traceback and answered `{"error": "internal error ..."}`.
This module is the only place that reads the clock (`now` for the hooks).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from hooks import _metrics
from hooks.config import HooksConfig
from hooks.customize import customize_configuration, customize_instance
from hooks.errors import HookInputError
from hooks.sync_configuration import sync_configuration
from hooks.sync_instance import sync_instance
from hooks.validate import review_configuration

__all__ = ["create_app", "ROUTES", "Handler", "METRICS_EXTENSION"]

logger = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any], datetime], Any]
"""A hook as the app calls it: (decoded JSON object body, now) → JSON-serialisable answer."""

ROUTES: Mapping[str, str] = {
    "/sync/instance": "sync_instance",
    "/customize/instance": "customize_instance",
    "/sync/configuration": "sync_configuration",
    "/customize/configuration": "customize_configuration",
    "/validate/configuration": "validate_configuration",
}
"""URL path → hook name (the `hook` label of the metrics)."""

DEFAULT_HANDLERS: Mapping[str, Handler] = {
    "sync_instance": lambda body, now: sync_instance(body, now=now),
    "customize_instance": lambda body, now: customize_instance(body),
    "sync_configuration": lambda body, now: sync_configuration(body, now=now),
    "customize_configuration": lambda body, now: customize_configuration(body),
    "validate_configuration": lambda body, now: review_configuration(body),
}

METRICS_EXTENSION = "akri_hooks_metrics"
"""Key of the app's `hooks._metrics.HookMetrics` in `app.extensions`."""

JSON_MIMETYPE = "application/json"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def create_app(
    config: HooksConfig | None = None,
    *,
    clock: Callable[[], datetime] = _utc_now,
    handlers: Mapping[str, Handler] | None = None,
) -> Flask:
    """A flask app serving every hook in ROUTES plus /healthz and /metrics.

    config: only `max_body_bytes` is used here (default HooksConfig()).
    clock: source of `now` (aware datetime) passed to the sync hooks; tests pass a fixed one.
    handlers: hook name → Handler, replacing the default for that name (benchmarks use an empty
    handler; tests use a failing one to check the 500 path).
    Every app has its own Prometheus registry (`app.extensions[METRICS_EXTENSION]`).
    """
    config = config or HooksConfig()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    metrics = _metrics.HookMetrics()
    app.extensions[METRICS_EXTENSION] = metrics
    chosen = {**DEFAULT_HANDLERS, **(handlers or {})}

    for path, hook in ROUTES.items():
        app.add_url_rule(path, endpoint=hook, view_func=_view(hook, chosen[hook], clock, metrics), methods=["POST"])

    @app.get("/healthz")
    def healthz() -> Response:
        return _json_response(200, {"status": "ok"})

    @app.get("/metrics")
    def metrics_view() -> Response:
        return Response(metrics.exposition(), status=200, mimetype=None, content_type=_metrics.CONTENT_TYPE_LATEST)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return _json_response(exc.code or 500, {"error": exc.description or exc.name})

    return app


def _view(
    hook: str, handler: Handler, clock: Callable[[], datetime], metrics: _metrics.HookMetrics
) -> Callable[[], Response]:
    def view() -> Response:
        started = time.perf_counter()
        code, body = _answer(hook, handler, clock)
        metrics.observe(hook, code, time.perf_counter() - started)
        return Response(body, status=code, mimetype=JSON_MIMETYPE)

    view.__name__ = f"{hook}_view"
    return view


def _answer(hook: str, handler: Handler, clock: Callable[[], datetime]) -> tuple[int, bytes]:
    """(HTTP status, JSON body) for the current request; never raises (request-handler boundary)."""
    try:
        raw = request.get_data(cache=False)
    except HTTPException as exc:  # 413 body too large, client disconnects
        return exc.code or 400, _dumps({"error": exc.description or exc.name})
    try:
        decoded = orjson.loads(raw)  # rejects NaN/Infinity and numbers beyond float range (1e400)
    except (ValueError, RecursionError) as exc:
        return _bad_request(hook, f"body: not valid JSON ({_first_line(exc)})")
    if not isinstance(decoded, dict):
        return _bad_request(hook, f"body: expected a JSON object, got {_json_type(decoded)}")
    try:
        return 200, _dumps(handler(decoded, clock()))
    except HookInputError as exc:
        return _bad_request(hook, str(exc))
    except RecursionError:
        return _bad_request(hook, "body: nested too deeply")
    except Exception:  # request-handler boundary: a bug, not bad input
        logger.exception("hook %s failed", hook)
        return 500, _dumps({"error": f"internal error in hook {hook}; see the hooks server log"})


def _bad_request(hook: str, message: str) -> tuple[int, bytes]:
    logger.warning("hook %s: bad request: %s", hook, message)
    return 400, _dumps({"error": message})


def _dumps(payload: Any) -> bytes:
    """Compact JSON (orjson: the hooks' answers are JSON-native, decoded from a request)."""
    return orjson.dumps(payload)


def _json_response(code: int, payload: Any) -> Response:
    return Response(_dumps(payload), status=code, mimetype=JSON_MIMETYPE)


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
