"""One sign-in per browser profile: a server-side session behind an HttpOnly cookie.

A page keeps its access token in memory (and ``sessionStorage``, which is per
tab), where a script could read it. What lets a new tab or a restarted browser
in without asking for the password again must not be readable by scripts: a
session id in a cookie that is ``HttpOnly``, ``SameSite=Strict``, ``Secure`` on
HTTPS and sent only to ``/api/session``, where it buys short access tokens.

- ``POST /api/session`` (with a valid token) opens the session and sets the
  cookie: what a page does right after it signs in.
- ``POST /api/session/token`` trades the cookie for a new access token.
- ``DELETE /api/session`` ends the session: the access tokens it gave out are
  revoked (every tab of the profile is signed out), the cookie cleared.

Each needs the header ``X-Homer-Session: 1`` and, when the browser sends an
``Origin``, this server's own: a page elsewhere can neither send that header
without a CORS preflight (which Homer does not grant) nor have the cookie sent
(``SameSite=Strict``). A user whose tokens were all revoked after the session
opened (``revoke_user``) loses the session too. docs/protocol.md, "Browser
sessions".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from homer.errors import Forbidden, Unauthenticated
from homer.transports.http import APP_KEY, bearer_token, json_response
from homer.transports.rest_types import UserRef
from homer.transports.routes import Route

__all__ = ["COOKIE", "HEADER", "SESSION_ROUTES"]

COOKIE = "homer_session"
HEADER = "X-Homer-Session"
PATH = "/api/session"
#: Access tokens a session remembers, to revoke when it ends (the newest).
_REMEMBERED = 50


class SessionOpened(msgspec.Struct, forbid_unknown_fields=True):
    """The session is open; the cookie holds it until ``expires_at``."""

    expires_at: float | None


class SessionToken(msgspec.Struct, forbid_unknown_fields=True):
    """A new access token from the session."""

    token: str
    expires_at: float | None
    user: UserRef


def _guard(request: web.Request) -> None:
    """Refuse what a page of another origin could make a browser send."""
    if request.headers.get(HEADER) != "1":
        raise Forbidden(f"send the header '{HEADER}: 1'")
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise Forbidden("a session is used from its own origin only")


def _set_cookie(response: web.StreamResponse, request: web.Request, sid: str, ttl: float) -> None:
    response.set_cookie(
        COOKIE,
        sid,
        max_age=int(ttl),
        path=PATH,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def _clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path=PATH)


async def open_session(request: web.Request) -> web.Response:
    """Open a session for the holder of a valid token, and set its cookie."""
    app = request.app[APP_KEY]
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is None:
        raise Unauthenticated("send the token as 'Authorization: Bearer ...'")
    _guard(request)
    claims = await app.identity.tokens.check_stored(token)
    user = await app.identity.account_of(claims["sub"])
    sessions = app.identity.sessions
    ttl = sessions.ttl or 86_400.0
    now = app.clock()
    sid = await sessions.create(
        {"user": user.id, "opened": now, "tokens": [[claims.get("jti"), claims.get("exp")]]},
        ttl=ttl,
    )
    response = json_response({"expires_at": now + ttl}, 201)
    _set_cookie(response, request, sid, ttl)
    return response


async def session_token(request: web.Request) -> web.Response:
    """A new access token for the session the cookie names."""
    _guard(request)
    app = request.app[APP_KEY]
    sid = request.cookies.get(COOKIE)
    sessions = app.identity.sessions
    data = await sessions.get(sid) if sid else None
    if data is None:
        raise Unauthenticated("no session in this browser: sign in")
    tokens = app.identity.tokens
    user_id = str(data.get("user"))
    if await tokens.revoked_in_store(user_id, None, float(data.get("opened", 0.0))):
        await sessions.delete(str(sid))
        raise Unauthenticated("this session was ended: sign in")
    user = await app.identity.account_of(user_id)
    fresh = tokens.issue(user.token_info())
    claims = tokens.check(fresh) or {}
    issued: list[Any] = [*data.get("tokens", []), [claims.get("jti"), claims.get("exp")]]
    await sessions.update(str(sid), {"tokens": issued[-_REMEMBERED:]})
    return json_response(
        {
            "token": fresh,
            "expires_at": claims.get("exp"),
            "user": {"id": user.id, "name": user.name},
        }
    )


async def close_session(request: web.Request) -> web.Response:
    """End the session: the tokens it gave out are revoked, the cookie cleared."""
    _guard(request)
    app = request.app[APP_KEY]
    sid = request.cookies.get(COOKIE)
    sessions = app.identity.sessions
    data = await sessions.get(sid) if sid else None
    if data is not None and sid:
        for jti, exp in data.get("tokens", []):
            if isinstance(jti, str) and jti:
                await app.identity.tokens.revoke({"jti": jti, "exp": exp, "sub": data.get("user")})
        await sessions.delete(sid)
    response = web.Response(status=204)
    _clear_cookie(response)
    return response


_ABOUT = f"Needs the header `{HEADER}: 1`; an `Origin` other than this server's is refused."
_HEADERS = (
    {
        "name": HEADER,
        "in": "header",
        "required": True,
        "description": "`1`: a request a page of another origin cannot send without asking.",
        "schema": {"type": "string", "enum": ["1"]},
    },
)

#: The browser session's routes.
SESSION_ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path=PATH,
        serve=open_session,
        summary="Open a browser session",
        description="Sets an HttpOnly, SameSite=Strict cookie that later buys access tokens "
        f"at `{PATH}/token`, for the holder of a valid token. " + _ABOUT,
        tag="auth",
        answers={201: {"application/json": SessionOpened}},
        errors=(401, 403),
        headers=_HEADERS,
    ),
    Route(
        method="POST",
        path=PATH + "/token",
        serve=session_token,
        summary="An access token from the browser session",
        description="Trades the session cookie for a new access token. " + _ABOUT,
        tag="auth",
        auth="none",
        answers={200: {"application/json": SessionToken}},
        errors=(401, 403),
        headers=_HEADERS,
    ),
    Route(
        method="DELETE",
        path=PATH,
        serve=close_session,
        summary="End the browser session",
        description="Revokes the access tokens the session gave out and clears the cookie. "
        + _ABOUT,
        tag="auth",
        auth="none",
        answers={204: {}},
        errors=(403,),
        headers=_HEADERS,
    ),
)
