"""What every HTTP handler shares: reading bodies and tokens, answering, and
turning a :class:`~homer.errors.HomerError` into a status and a JSON body.
The routes are declared in :mod:`homer.transports.routes` and assembled in
:mod:`homer.transports.site`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from aiohttp import HttpVersion11, web

from homer.core.app import Homer
from homer.core.ops import authenticate
from homer.core.pipeline import error_details
from homer.errors import (
    ErrorCode,
    HomerError,
    InvalidInput,
    MethodNotAllowed,
    RateLimited,
    Unauthenticated,
    UnsupportedMediaType,
)
from homer.identity.accounts import User

__all__ = [
    "APP_KEY",
    "BODY_LIMITS_KEY",
    "JSON",
    "STATUS",
    "bearer_token",
    "bearer_user",
    "body_limit_middleware",
    "error_response",
    "errors_middleware",
    "expect_within_limit",
    "internal_error",
    "json_body",
    "json_response",
    "read_body",
    "require_json",
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
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
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
    if isinstance(exc, MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.allowed)
    return json_response(body, STATUS.get(exc.code, 500), headers)


def internal_error() -> web.Response:
    """What a client gets for a failure of ours (logged where it happened)."""
    return json_response({"code": "internal", "message": "internal error"}, 500)


#: The media type of every JSON request body.
JSON = "application/json"


def require_json(request: web.Request) -> None:
    """Refuse a body that is not ``application/json`` (a form, plain text, none named):
    what a page of another origin could post without asking. No body: nothing to refuse."""
    if not request.body_exists:
        return
    media = (request.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
    if media != JSON:
        named = repr(media) if media else "none"
        raise UnsupportedMediaType(f"the body must be {JSON} (Content-Type: {named})")


#: The largest body each route takes, by its handler (the others: ``limits.max_frame``).
BODY_LIMITS_KEY: web.AppKey[dict[Any, int]] = web.AppKey("body_limits", dict)


def _body_limit(request: web.Request) -> int:
    limits = request.app.get(BODY_LIMITS_KEY, {})
    default = max(request.app[APP_KEY].config.limits.max_frame, 1024)
    return limits.get(request.match_info.handler, default)


def _over_limit(request: web.Request) -> web.Response | None:
    """413 for a ``Content-Length`` past the route's limit, before a byte is read;
    the connection is closed after it (the body is never read)."""
    length = request.content_length
    limit = _body_limit(request)
    if length is None or length <= limit:
        return None
    response = json_response(
        {"code": "too_large", "message": f"a body of {length} bytes is over the limit of {limit}"},
        413,
    )
    response.force_close()
    return response


async def expect_within_limit(request: web.Request) -> web.StreamResponse | None:
    """``Expect: 100-continue``: 413 instead of ``100 Continue`` for a body past the
    route's limit; aiohttp's own answer otherwise."""
    refused = _over_limit(request)
    if refused is not None:
        return refused
    if request.version != HttpVersion11:
        return None
    expect = request.headers.get("Expect", "")
    if expect.lower() != "100-continue":
        raise web.HTTPExpectationFailed(text=f"unknown Expect: {expect}")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # what follows is the answer itself
    return None


@web.middleware
async def body_limit_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """A declared body past the route's limit is refused at once, unread."""
    refused = _over_limit(request)
    if refused is not None:
        return refused
    response: web.StreamResponse = await handler(request)
    return response


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
    require_json(request)
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


async def bearer_user(request: web.Request, *, limited: bool = True) -> tuple[User, dict[str, Any]]:
    """The user behind the request's ``Authorization: Bearer`` token and its claims;
    each call takes from the user's rate limit unless ``limited`` is false."""
    app = request.app[APP_KEY]
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is None:
        raise Unauthenticated("send the token as 'Authorization: Bearer ...'")
    user, claims = await authenticate(app, token)
    if limited:
        wait = app.user_buckets.take(user.id, app.clock())
        if wait:
            raise RateLimited("too many requests", round(wait, 3))
    return user, claims
