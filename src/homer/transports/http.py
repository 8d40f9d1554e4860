"""The HTTP API on aiohttp: accounts, tokens, health, metrics, the web client,
and the application's own routes.

Login is rate limited per account and per address *before* any password is
hashed (a hash costs real CPU); hashing runs in a bounded pool off the event
loop; an unknown name costs the same time and gets the same answer as a
wrong password.
"""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from homer.errors import ErrorCode, HomerError, NotFound, RateLimited, Unauthenticated
from homer.identity.accounts import User
from homer.protocol.codecs import Codec, media_type
from homer.server.session import CloseCode
from homer.store.records import name_key
from homer.transports.longpoll import (
    POLL_CODECS,
    EventQueue,
    PollFormat,
    Queues,
    poll_timeout,
    registration,
)

if TYPE_CHECKING:
    from homer.server.app import Homer

__all__ = ["STATUS", "build_http_app", "load_web_client"]

log = logging.getLogger("homer.http")

#: HTTP status for each error code.
STATUS: dict[str, int] = {
    ErrorCode.INVALID: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.INVALID_TOKEN: 401,
    ErrorCode.TOKEN_REVOKED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNKNOWN_OP: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}

_encode = msgspec.json.encode

APP_KEY: web.AppKey[Homer] = web.AppKey("homer", Any)  # type: ignore[arg-type]


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=_encode(data), status=status, content_type="application/json", headers=headers
    )


def error_response(exc: HomerError) -> web.Response:
    from homer.server.app import error_details

    body: dict[str, Any] = {"code": str(exc.code), "message": exc.message, **error_details(exc)}
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return json_response(body, STATUS.get(exc.code, 500), headers)


def internal_error() -> web.Response:
    """What a client gets for a failure of ours (logged where it happened)."""
    return json_response({"code": "internal", "message": "internal error"}, 500)


async def read_body(request: web.Request) -> bytes:
    """The request's whole body, which must arrive within ``limits.handshake_timeout``
    (a body sent a byte at a time would hold a handler and a socket forever)."""
    limit = request.app[APP_KEY].config.limits.handshake_timeout
    try:
        async with asyncio.timeout(limit):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text=f"the request body did not arrive within {limit:g} s",
            headers={"Connection": "close"},
        ) from None


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(await read_body(request))
    except msgspec.DecodeError as exc:
        raise _Invalid(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _Invalid("the body must be a JSON object")
    return data


class _Invalid(HomerError):
    code = ErrorCode.INVALID


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except HomerError as exc:
        request.app[APP_KEY].metrics.errors.labels(code=str(exc.code)).inc()
        return error_response(exc)
    except web.HTTPRequestEntityTooLarge as exc:
        return json_response({"code": "too_large", "message": exc.text or "body too large"}, 413)
    except web.HTTPException:
        raise
    except ConnectionResetError:  # the client went away mid-request: nobody to answer
        log.debug("client left during the request", extra={"path": request.path})
        return web.Response(status=400)  # goes nowhere; aiohttp drops it quietly
    except Exception:
        log.exception("HTTP handler failed", extra={"path": request.path})
        return internal_error()


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header's value, or ``None``."""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _bearer(request: web.Request) -> str | None:
    return bearer_token(request.headers.get("Authorization", ""))


async def register(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    if not app.config.identity.open_registration:
        return json_response({"code": "forbidden", "message": "registration is closed"}, 403)
    data = await _body(request)
    name, password = data.pop("name", None), data.pop("password", None)
    user = await app.identity.accounts.register(name, password, data)
    return json_response(
        {"user": {"id": user.id, "name": user.name, "attributes": user.attributes}}, 201
    )


async def login(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    data = await _body(request)
    name, password = data.get("name"), data.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise _Invalid("name and password are required strings")
    now = app.clock()
    address = request.remote or "unknown"
    wait = max(
        app.login_by_account.take(name_key(name), now),
        app.login_by_address.take(address, now),
    )
    if wait:
        raise RateLimited("too many login attempts: wait and try again", wait)
    user, token = await app.identity.login(name, password)
    claims = app.identity.tokens.check(token) or {}
    return json_response(
        {
            "token": token,
            "expires_at": claims.get("exp"),
            "user": {"id": user.id, "name": user.name},
        }
    )


async def refresh(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    token = _bearer(request)
    if token is None and request.can_read_body:
        token = (await _body(request)).get("token")
    if not isinstance(token, str):
        raise Unauthenticated("send the token as 'Authorization: Bearer ...' or {\"token\": ...}")
    _, fresh = await app.identity.refresh(token)
    claims = app.identity.tokens.check(fresh) or {}
    return json_response({"token": fresh, "expires_at": claims.get("exp")})


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
    from homer.transports.sse import stream_events

    return await stream_events(request, request.app[APP_KEY])


class PostedMessage(msgspec.Struct, forbid_unknown_fields=True):
    cid: str
    text: str = ""
    data: Any = None


async def post_message(request: web.Request) -> web.Response:
    """``POST /api/rooms/{room}/messages``: the ``send`` operation over plain HTTP,
    acknowledged the same way (a resend with the same ``cid`` gets the first ack)."""
    from homer.server.ops import send_message

    app = request.app[APP_KEY]
    app.metrics.requests.inc()
    user, _ = await bearer_user(request)
    try:
        message = msgspec.convert(await _body(request), PostedMessage)
    except msgspec.ValidationError as exc:
        raise _Invalid(str(exc)) from None
    room = request.match_info["room"]
    ack = await send_message(app, user, room, message.cid, message.text, message.data)
    return json_response(ack, 201)


async def post_op(request: web.Request) -> web.Response:
    """``POST /api/ops/{op}``: any operation over HTTP (:mod:`homer.transports.http_ops`)."""
    from homer.transports.http_ops import post_op as run

    return await run(request, request.app[APP_KEY])


class NewQueue(msgspec.Struct, forbid_unknown_fields=True):
    rooms: list[str] | None = None
    cursor: str = ""


QUEUES_KEY: web.AppKey[Queues] = web.AppKey("queues", Queues)


async def bearer_user(request: web.Request, *, limited: bool = True) -> tuple[User, dict[str, Any]]:
    """The user behind the request's ``Authorization: Bearer`` token and its claims;
    each call takes from the user's rate limit unless ``limited`` is false."""
    from homer.server.ops import authenticate

    app = request.app[APP_KEY]
    token = _bearer(request)
    if token is None:
        raise Unauthenticated("send the token as 'Authorization: Bearer ...'")
    user, claims = await authenticate(app, token)
    if limited:
        wait = app.user_buckets.take(user.id, app.clock())
        if wait:
            raise RateLimited("too many requests", round(wait, 3))
    return user, claims


async def create_queue(request: web.Request) -> web.Response:
    """``POST /api/queues``: a long-poll queue of the user's rooms (or some of them),
    resuming from a cursor when given (:mod:`homer.transports.longpoll`)."""
    from homer.server.ops import after_welcome, check_connections, open_session
    from homer.transports.cursor import decode_cursor, plan_start

    app = request.app[APP_KEY]
    queues = request.app[QUEUES_KEY]
    user, claims = await bearer_user(request, limited=False)
    try:
        asked = msgspec.convert(await _body(request) if request.can_read_body else {}, NewQueue)
    except msgspec.ValidationError as exc:
        raise _Invalid(str(exc)) from None
    if asked.rooms is not None and not asked.rooms:
        raise _Invalid("rooms names no room: leave it out to follow all your rooms")
    resume = decode_cursor(asked.cursor)
    address = request.remote or "unknown"
    check_connections(app, user, address)
    fmt = app.codecs.wire_format(_poll_codec(app, request).name, PollFormat)
    queue = EventQueue(
        app,
        fmt,
        address,
        follows_joins=asked.rooms is None,
        on_gone=queues.remove,
    )
    app.connected(queue)
    try:
        session, infos = await open_session(app, queue, user, claims, rooms=asked.rooms)
    except BaseException:
        app.disconnected(queue)
        raise
    start = plan_start(session, infos, resume, asked.rooms)
    queue.start(start.positions)
    queues.add(queue)
    app.spawn(after_welcome(app, queue, session, start.fresh, start.resume))
    return _in_queue_codec(queue, registration(queue, session, infos), 201)


def _poll_codec(app: Homer, request: web.Request) -> Codec:
    """The codec a new queue speaks, from the registration's ``Accept``, or 406."""
    codec = app.codecs.for_accept(request.headers.get("Accept"))
    if codec is None or codec.name not in POLL_CODECS:
        offered = ", ".join(media_type(known) for known in app.codecs if known.name in POLL_CODECS)
        raise web.HTTPNotAcceptable(text=f"a queue speaks one of: {offered}")
    return codec


def _in_queue_codec(queue: EventQueue, answer: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=queue.fmt.container(answer),
        status=status,
        headers={"Content-Type": media_type(queue.fmt.codec)},
    )


async def poll_queue(request: web.Request) -> web.Response:
    """``GET /api/queues/{queue}/events``: what follows ``after``, at once or when it
    comes, or nothing after ``timeout`` seconds."""
    app = request.app[APP_KEY]
    user, claims = await bearer_user(request, limited=False)
    queue = request.app[QUEUES_KEY].get(request.match_info["queue"], user.id)
    after = request.query.get("after")
    if after is not None and not (after.isascii() and after.isdigit() and len(after) < 19):
        raise _Invalid("after must be the id of an event of this queue")
    timeout = poll_timeout(request.query.get("timeout"), app.config.limits.heartbeat)
    if queue.session is not None:
        queue.session.adopt(claims)  # a refreshed token keeps the queue alive
    batch = await queue.poll(int(after) if after is not None else None, timeout)
    return _in_queue_codec(queue, batch)


async def delete_queue(request: web.Request) -> web.Response:
    """``DELETE /api/queues/{queue}``."""
    user, _ = await bearer_user(request, limited=False)
    queues = request.app[QUEUES_KEY]
    queue = queues.get(request.match_info["queue"], user.id)
    queue.close(CloseCode.NORMAL, "closed by the client")
    queues.remove(queue)
    return web.Response(status=204)


async def websocket(request: web.Request) -> web.StreamResponse:
    """``/ws`` on a connection that already carried HTTP requests."""
    from homer.transports.aiohttp_ws import websocket_handler

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
    from homer.transports.openapi import add_openapi_route
    from homer.transports.rest import add_rest_routes

    http = web.Application(
        middlewares=[_errors], client_max_size=max(app.config.limits.max_frame, 1024)
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
