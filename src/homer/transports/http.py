"""What every HTTP handler shares (reading bodies and tokens, answering and
mapping errors), and the account routes: register, log in, refresh.

Login is rate limited per account and per address *before* any password is
hashed (a hash costs real CPU); hashing runs in a bounded pool off the event
loop; an unknown name costs the same time and gets the same answer as a
wrong password. The routes are assembled in :mod:`homer.transports.site`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from aiohttp import web

from homer.core.app import Homer, error_details
from homer.core.ops import authenticate, send_message
from homer.errors import ErrorCode, HomerError, InvalidInput, RateLimited, Unauthenticated
from homer.identity.accounts import User
from homer.store.records import name_key

__all__ = [
    "APP_KEY",
    "STATUS",
    "NewQueue",
    "PostedMessage",
    "bearer_token",
    "bearer_user",
    "error_response",
    "errors_middleware",
    "internal_error",
    "json_body",
    "json_response",
    "read_body",
]

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

APP_KEY: web.AppKey[Homer] = web.AppKey("homer", Homer)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=_encode(data), status=status, content_type="application/json", headers=headers
    )


def error_response(exc: HomerError) -> web.Response:
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


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(await read_body(request))
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
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
    data = await json_body(request)
    name, password = data.pop("name", None), data.pop("password", None)
    user = await app.identity.accounts.register(name, password, data)
    return json_response(
        {"user": {"id": user.id, "name": user.name, "attributes": user.attributes}}, 201
    )


async def login(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    data = await json_body(request)
    name, password = data.get("name"), data.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise InvalidInput("name and password are required strings")
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
        token = (await json_body(request)).get("token")
    if not isinstance(token, str):
        raise Unauthenticated("send the token as 'Authorization: Bearer ...' or {\"token\": ...}")
    _, fresh = await app.identity.refresh(token)
    claims = app.identity.tokens.check(fresh) or {}
    return json_response({"token": fresh, "expires_at": claims.get("exp")})


class PostedMessage(msgspec.Struct, forbid_unknown_fields=True):
    cid: str
    text: str = ""
    data: Any = None


async def post_message(request: web.Request) -> web.Response:
    """``POST /api/rooms/{room}/messages``: the ``send`` operation over plain HTTP,
    acknowledged the same way (a resend with the same ``cid`` gets the first ack)."""
    app = request.app[APP_KEY]
    app.metrics.requests.inc()
    user, _ = await bearer_user(request)
    try:
        message = msgspec.convert(await json_body(request), PostedMessage)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from None
    room = request.match_info["room"]
    ack = await send_message(app, user, room, message.cid, message.text, message.data)
    return json_response(ack, 201)


class NewQueue(msgspec.Struct, forbid_unknown_fields=True):
    rooms: list[str] | None = None
    cursor: str = ""


async def bearer_user(request: web.Request, *, limited: bool = True) -> tuple[User, dict[str, Any]]:
    """The user behind the request's ``Authorization: Bearer`` token and its claims;
    each call takes from the user's rate limit unless ``limited`` is false."""
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
