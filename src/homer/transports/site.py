"""The HTTP side assembled: every route of the HTTP port in one aiohttp
application (accounts, health, metrics, the web client, ``/api/ops``, REST,
SSE and long-poll on a reused connection, ``/ws`` after HTTP requests, and
the application's own routes). The composition root mounts it.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from homer.core.app import Homer
from homer.errors import HomerError, NotFound
from homer.transports.aiohttp_ws import websocket_handler
from homer.transports.http import (
    APP_KEY,
    errors_middleware,
    json_response,
    login,
    post_message,
    refresh,
    register,
)
from homer.transports.http_ops import post_op as run_op_over_http
from homer.transports.longpoll import Queues
from homer.transports.openapi import add_openapi_route
from homer.transports.queue_routes import QUEUES_KEY, create_queue, delete_queue, poll_queue
from homer.transports.rest import add_rest_routes
from homer.transports.sse import stream_events

__all__ = ["build_http_app", "load_web_client"]


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


PAGE_KEY: web.AppKey[bytes] = web.AppKey("page", bytes)


async def web_client(request: web.Request) -> web.Response:
    return web.Response(body=request.app[PAGE_KEY], content_type="text/html", charset="utf-8")


def load_web_client() -> bytes:
    """The web client's page (read once at start-up, off the event loop)."""
    return resources.files("homer.web").joinpath("index.html").read_bytes()


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /api/events``: Server-Sent Events (:mod:`homer.transports.sse`)."""
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
        raise NotFound(f"no route for {request.method} {path}")
    response: web.StreamResponse = await route.func(request)
    return response


def build_http_app(app: Homer, page: bytes = b"") -> web.Application:
    http = web.Application(
        middlewares=[errors_middleware], client_max_size=max(app.config.limits.max_frame, 1024)
    )
    http[APP_KEY] = app
    http[PAGE_KEY] = page
    http[QUEUES_KEY] = Queues()
    http.router.add_post("/api/register", register)
    http.router.add_post("/api/login", login)
    http.router.add_post("/api/token/refresh", refresh)
    http.router.add_get("/healthz", healthz)
    http.router.add_get("/readyz", readyz)
    http.router.add_get("/metrics", metrics)
    http.router.add_get("/ws", websocket)
    http.router.add_get("/api/events", events)
    http.router.add_post("/api/rooms/{room}/messages", post_message)
    http.router.add_post("/api/ops/{op}", post_op)
    http.router.add_post("/api/queues", create_queue)
    http.router.add_get("/api/queues/{queue}/events", poll_queue)
    http.router.add_delete("/api/queues/{queue}", delete_queue)
    add_rest_routes(http)
    add_openapi_route(http)
    if app.config.server.web_client:
        http.router.add_get("/", web_client)
    http.router.add_route("*", "/{tail:.*}", custom)
    return http
