"""Logging in with a password, whatever carried the password (HTTP, IRC's
``PASS`` or SASL): the same limits, the same audit trail, the same answer.

Attempts are limited per account and address, per address and per account
*before* the password is hashed (docs/decisions/0022-login-throttling.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homer.errors import RateLimited
from homer.identity.accounts import User
from homer.store.records import name_key

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["password_login"]


async def password_login(app: Homer, name: str, password: str, address: str) -> tuple[User, str]:
    """The user and a fresh token, or :class:`RateLimited`, or the error of a wrong
    name or password (the same for both)."""
    account = name_key(name)
    wait, limit = app.logins.take(account, address, app.clock())
    if wait:
        await app.identity.events.record(
            "login.throttled", actor=address, target=f"user:{name}"[:100], detail={"limit": limit}
        )
        raise RateLimited("too many login attempts: wait and try again", wait)
    user, token = await app.identity.login(name, password, client=address)
    app.logins.succeeded(account, address)
    return user, token
