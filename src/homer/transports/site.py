"""The HTTP side assembled: every route of the HTTP port in one aiohttp
application (accounts, health, metrics, the web client, ``/api/ops``, REST,
SSE and long-poll on a reused connection, ``/ws`` after HTTP requests, and
the application's own routes). The composition root mounts it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web
from msgspec import UNSET, Meta, UnsetType

from homer.core.app import Homer
from homer.errors import Forbidden, HomerError, InvalidInput, MethodNotAllowed, NotFound
from homer.transports.account_routes import AUTH_ROUTES
from homer.transports.aiohttp_ws import websocket_handler
from homer.transports.browser_session import SESSION_ROUTES
from homer.transports.browsers import SAFE_METHODS, BrowserPolicy
from homer.transports.file_routes import FILE_ROUTES
from homer.transports.http import (
    APP_KEY,
    body_limit_middleware,
    errors_middleware,
    expect_within_limit,
    json_response,
)
from homer.transports.http_ops import post_op as run_op_over_http
from homer.transports.longpoll import Queues
from homer.transports.openapi import DOCUMENT_PATH, OPENAPI_CACHE_KEY, Cached, openapi_document
from homer.transports.queue_routes import QUEUE_ROUTES, QUEUES_KEY
from homer.transports.rest import REST_ROUTES
from homer.transports.routes import Route, add_routes
from homer.transports.sse_stream import stream_events
from homer.transports.web_client import PAGE, WebClient, load_web_client, serve_file

__all__ = ["HTTP_ROUTES", "build_http_app", "load_web_client"]


class Health(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["ok"]


class Ready(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["ready"]


class NotReady(msgspec.Struct, forbid_unknown_fields=True):
    """The store does not answer."""

    status: Literal["unavailable"]
    store: str


class EventsQuery(msgspec.Struct, forbid_unknown_fields=True):
    """The query of ``GET /api/events`` (read by :mod:`homer.transports.sse_stream`)."""

    rooms: (
        Annotated[
            str,
            Meta(
                description="Only these rooms, by id, separated by commas (each one of"
                " the caller's)."
            ),
        ]
        | UnsetType
    ) = UNSET
    token: (
        Annotated[
            str, Meta(description="The token, for a browser's EventSource (prefer the header).")
        ]
        | UnsetType
    ) = UNSET
    last_event_id: (
        Annotated[
            str, Meta(description="The cursor to resume from (the `Last-Event-ID` header wins).")
        ]
        | UnsetType
    ) = UNSET


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    try:
        await app.identity.store.ping()
    except HomerError as exc:
        return json_response({"status": "unavailable", "store": exc.message}, 503)
    return json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    return web.Response(
        body=app.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
    )


PAGE_KEY: web.AppKey[WebClient] = web.AppKey("page", WebClient)
#: (method, path pattern) of each route served: which methods a path takes.
PATTERNS_KEY: web.AppKey[list[tuple[str, re.Pattern[str]]]] = web.AppKey("patterns", list)


def _pattern(path: str) -> re.Pattern[str]:
    """``/api/rooms/{room}`` as a pattern of the paths it serves."""
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))


async def web_client(request: web.Request) -> web.Response:
    return serve_file(request, request.app[PAGE_KEY], PAGE)


async def web_client_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name == PAGE:  # the page only at /
        raise NotFound(f"no such file: {name}")
    try:
        return serve_file(request, request.app[PAGE_KEY], name)
    except web.HTTPNotFound:
        raise NotFound(f"no such file: {name}") from None


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /api/events``: Server-Sent Events (:mod:`homer.transports.sse_stream`)."""
    return await stream_events(request, request.app[APP_KEY])


async def post_op(request: web.Request) -> web.Response:
    """``POST /api/ops/{op}``: any operation over HTTP (:mod:`homer.transports.http_ops`)."""
    return await run_op_over_http(request, request.app[APP_KEY])


async def websocket(request: web.Request) -> web.StreamResponse:
    """``/ws`` on a connection that already carried HTTP requests."""
    return await websocket_handler(request, request.app[APP_KEY])


async def custom(request: web.Request) -> web.StreamResponse:
    """The application's routes, looked up per request so they can change at run time."""
    app = request.app[APP_KEY]
    path = "/" + request.match_info["tail"]  # the path under a mount point, if any
    route = app.routes.get((request.method, path))
    if route is None:
        allowed = {method for method, known in app.routes if known == path}
        allowed |= {
            method for method, pattern in request.app[PATTERNS_KEY] if pattern.fullmatch(path)
        }
        if allowed:
            if "GET" in allowed:
                allowed.add("HEAD")
            raise MethodNotAllowed(request.method, path, sorted(allowed))
        raise NotFound(f"no route for {request.method} {path}")
    response: web.StreamResponse = await route.func(request)
    return response


_JSON = "application/json"
_TEXT = {"type": "string"}

#: The server's own routes: health, metrics, the web client, the document, the streams.
SERVER_ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/healthz",
        serve=healthz,
        summary="Liveness",
        description="200 while the process serves requests.",
        tag="server",
        auth="none",
        answers={200: {_JSON: Health}},
    ),
    Route(
        method="GET",
        path="/readyz",
        serve=readyz,
        summary="Readiness",
        description="200 when the store answers too.",
        tag="server",
        auth="none",
        answers={200: {_JSON: Ready}, 503: {_JSON: NotReady}},
    ),
    Route(
        method="GET",
        path="/metrics",
        serve=metrics,
        summary="Prometheus metrics",
        description="The Prometheus text format.",
        tag="server",
        auth="none",
        answers={200: {"text/plain": _TEXT}},
    ),
    Route(
        method="GET",
        path="/",
        serve=web_client,
        summary="The web client",
        description="The web client's page (unless `server.web_client` is false); its "
        "script and styles are files under `/static/`, and its Content-Security-Policy "
        "allows nothing inline.",
        tag="server",
        auth="none",
        answers={200: {"text/html": _TEXT}, 304: {}},
        when=lambda app: app.config.server.web_client,
    ),
    Route(
        method="GET",
        path="/static/{name}",
        serve=web_client_file,
        summary="The web client's files",
        description="Its module, styles and icon, revalidated by `ETag`.",
        tag="server",
        auth="none",
        answers={
            200: {"text/javascript": _TEXT, "text/css": _TEXT, "image/svg+xml": _TEXT},
            304: {},
        },
        errors=(404,),
        when=lambda app: app.config.server.web_client,
    ),
    Route(
        method="GET",
        path=DOCUMENT_PATH,
        serve=openapi_document,
        summary="This document",
        description="The OpenAPI document of this server.",
        tag="server",
        auth="none",
        answers={200: {_JSON: {"type": "object"}}},
    ),
    Route(
        method="GET",
        path="/ws",
        serve=websocket,
        summary="WebSocket",
        description="The WebSocket protocol (docs/protocol.md): an upgrade, then `hello` with "
        "a token. Subprotocol `homer.json` or `homer.msgpack`.",
        tag="streams",
        auth="none",
        answers={101: {}},
        text_errors=(400, 403),
    ),
    Route(
        method="GET",
        path="/api/events",
        serve=events,
        summary="Server-Sent Events",
        description="The caller's rooms (or some of them) as a stream of events; each `id` "
        "is a resume cursor, sent back in `Last-Event-ID`.",
        tag="streams",
        answers={200: {"text/event-stream": _TEXT}},
        query=EventsQuery,
        errors=(400, 401, 403, 404, 409),
    ),
    Route(
        method="POST",
        path="/api/ops/{op}",
        serve=post_op,
        summary="Run any operation",
        tag="ops",
    ),
)

#: Every route of the HTTP port but the application's own: what is served, and
#: what ``/api/openapi.json`` describes.
HTTP_ROUTES: tuple[Route, ...] = (
    *AUTH_ROUTES,
    *SESSION_ROUTES,
    *SERVER_ROUTES,
    *QUEUE_ROUTES,
    *REST_ROUTES,
    *FILE_ROUTES,
)


POLICY_KEY: web.AppKey[BrowserPolicy] = web.AppKey("browsers", BrowserPolicy)


@web.middleware
async def _browser_guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """A name this server does not have in ``Host`` (DNS rebinding) is refused; so is
    a request that changes something from a page of an origin not allowed
    (cross-site request forgery); a configured origin's preflight is granted
    (:mod:`homer.transports.browsers`)."""
    policy = request.app[POLICY_KEY]
    host = request.headers.get("Host")
    if not policy.host_allowed(host):
        raise InvalidInput("this server does not answer to that Host (see server.hosts)")
    origin = request.headers.get("Origin")
    changes = request.method not in SAFE_METHODS
    if origin is not None and changes and not policy.origin_allowed(origin, host):
        raise Forbidden(f"requests from pages of {origin[:100]} are refused")
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    if origin is not None and preflight:
        granted = policy.preflight(origin)
        if granted is None:
            raise Forbidden(f"pages of {origin[:100]} may not use this server")
        return web.Response(status=204, headers=granted)
    response: web.StreamResponse = await handler(request)
    return response


async def _safe_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer: no content sniffing; API answers (tokens, messages) are kept by no
    cache unless their route says otherwise (files: ``private``); a configured
    origin may read it (CORS)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    allowed = request.app[POLICY_KEY].cors_origin(request.headers.get("Origin"))
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers.add("Vary", "Origin")


def build_http_app(app: Homer, page: WebClient | None = None) -> web.Application:
    http = web.Application(
        middlewares=[body_limit_middleware, errors_middleware, _browser_guard],
        client_max_size=max(app.config.limits.max_frame, 1024),
    )
    http[APP_KEY] = app
    http[POLICY_KEY] = BrowserPolicy.of(app.config.server)
    http[PAGE_KEY] = page if page is not None else WebClient.none()
    http[QUEUES_KEY] = Queues()
    http[OPENAPI_CACHE_KEY] = Cached()
    http.on_response_prepare.append(_safe_headers)
    add_routes(http, HTTP_ROUTES)
    http[PATTERNS_KEY] = [
        (route.method, _pattern(route.path))
        for route in HTTP_ROUTES
        if route.when is None or route.when(app)
    ]
    http.router.add_route("*", "/{tail:.*}", custom, expect_handler=expect_within_limit)
    return http
