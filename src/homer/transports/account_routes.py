"""The account routes: register, log in, refresh a token.

Login is rate limited per account and address, per address and per account
(docs/decisions/0022-login-throttling.md), and sign-up per address, *before*
any password is hashed (a hash costs real CPU); hashing runs in a bounded
pool off the event loop, each client address in its turn; an unknown name
costs the same time and gets the same answer as a wrong password. Each body
is parsed with the type its route declares, the one the OpenAPI document
shows.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web
from msgspec import UNSET, UnsetType

from homer.core.fields import Name, Password
from homer.core.logins import password_login
from homer.errors import Forbidden, RateLimited, Unauthenticated
from homer.transports.http import APP_KEY, bearer_token, json_body, json_response
from homer.transports.rest_types import UserRef
from homer.transports.routes import ROUTE_KEY, Route, as_body, route_body

__all__ = ["AUTH_ROUTES"]


class Registration(msgspec.Struct):
    """A name, a password, and any attributes of the user schema beside them."""

    name: Name
    password: Password


class RegisteredUser(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    name: str
    attributes: dict[str, Any]


class Registered(msgspec.Struct, forbid_unknown_fields=True):
    """The new account."""

    user: RegisteredUser


class Credentials(msgspec.Struct):
    name: str
    password: str


class LoggedIn(msgspec.Struct, forbid_unknown_fields=True):
    """A token and when it expires (``null``: never)."""

    token: str
    expires_at: float | None
    user: UserRef


class TokenBody(msgspec.Struct, forbid_unknown_fields=True):
    """The token to refresh, when it is not in the ``Authorization`` header (which wins)."""

    token: str | UnsetType = UNSET


class Refreshed(msgspec.Struct, forbid_unknown_fields=True):
    """A new token; the old one stays valid until it expires."""

    token: str
    expires_at: float | None


async def register(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    if not app.config.identity.open_registration:
        raise Forbidden("registration is closed")
    address = request.remote or "unknown"
    wait = app.registrations.take(address, app.clock())
    if wait:
        await app.identity.events.record("registration.throttled", actor=address, target="sign-up")
        raise RateLimited("too many sign-ups from this address: wait and try again", wait)
    data = await json_body(request)
    form: Registration = as_body(data, request[ROUTE_KEY].body or Registration)
    attributes = {key: value for key, value in data.items() if key not in ("name", "password")}
    user = await app.identity.accounts.register(
        form.name, form.password, attributes, client=address
    )
    return json_response(
        {"user": {"id": user.id, "name": user.name, "attributes": user.attributes}}, 201
    )


async def login(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    credentials: Credentials = await route_body(request)
    name, password = credentials.name, credentials.password
    user, token = await password_login(app, name, password, request.remote or "unknown")
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
    # A body is read and checked even when the header holds the token (which wins).
    sent: TokenBody | None = await route_body(request) if request.body_exists else None
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is None and sent is not None and sent.token is not UNSET:
        token = sent.token
    if token is None:
        raise Unauthenticated("send the token as 'Authorization: Bearer ...' or {\"token\": ...}")
    _, fresh = await app.identity.refresh(token)
    claims = app.identity.tokens.check(fresh) or {}
    return json_response({"token": fresh, "expires_at": claims.get("exp")})


#: The account routes.
AUTH_ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path="/api/register",
        serve=register,
        summary="Sign up",
        description="Self-service sign-up into the default group, while "
        "`identity.open_registration` is true (403 otherwise). Every invalid field is "
        "reported at once, in `fields`. Sign-ups are limited per client address.",
        tag="auth",
        auth="none",
        answers={201: {"application/json": Registered}},
        body=Registration,
        errors=(400, 403, 409, 413, 429),
    ),
    Route(
        method="POST",
        path="/api/login",
        serve=login,
        summary="Log in",
        description="A token for a name and password. A wrong password and an unknown name "
        "get the same answer. Attempts are limited per account and client address, per "
        "address, and per account from addresses that never logged into it.",
        tag="auth",
        auth="none",
        answers={200: {"application/json": LoggedIn}},
        body=Credentials,
        errors=(400, 401, 413, 429),
    ),
    Route(
        method="POST",
        path="/api/token/refresh",
        serve=refresh,
        summary="Refresh a token",
        description="A new token for the holder of a valid one, sent as "
        "`Authorization: Bearer` or as the body.",
        tag="auth",
        auth="optional",
        answers={200: {"application/json": Refreshed}},
        body=TokenBody,
        body_required=False,
        errors=(400, 401, 413),
    ),
)
