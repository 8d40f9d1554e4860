"""What a listener for another protocol's clients (IRC, MQTT) shares: its peer runs
Homer's operations for the client, and keeps a long-lived session's token fresh.

Such clients log in once with a name and a password (or a Homer token in the
password's place) and stay connected for days; they cannot refresh a token
themselves, so the server does it for them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from homer.core.logins import password_login
from homer.core.ops import authenticate as user_of_token
from homer.core.pipeline import Call, Context
from homer.errors import HomerError
from homer.identity.accounts import User
from homer.store.records import name_key
from homer.transports.framed import FramedSender

__all__ = ["NativePeer", "log_in"]

log = logging.getLogger("homer.connection")


class NativePeer(FramedSender):
    """A stream peer that speaks another protocol and runs Homer's operations
    on its client's behalf."""

    __slots__ = ("_renewal",)

    def _init_native(self) -> None:
        #: When the session's token is renewed next (:meth:`keep_token`).
        self._renewal: asyncio.TimerHandle | None = None

    def ping(self) -> None:
        raise NotImplementedError

    async def op(self, name: str, **params: Any) -> Any:
        """Run the operation ``name`` for this connection through the whole pipeline
        (rate limits and permissions included): its result, or its ``HomerError``."""
        app = self.app
        app.metrics.requests.inc()
        handler = app.handlers[name]
        call = Call(handler, Context(app, self, None, self.session), params)
        return await app.pipeline.run(call)

    async def server_op(self, name: str, **params: Any) -> Any:
        """An operation the server runs on the client's behalf: its permission is
        checked, it does not count against the client's rate."""
        app = self.app
        return await app.call(app.handlers[name], Context(app, self, None, self.session), params)

    def keep_token(self) -> None:
        """Renew the session's token with ``refresh`` shortly before it expires;
        ``refresh`` reads the account and the revocations from the store, so a
        revoked token or a deleted account is not renewed, and the connection
        closes at expiry with the reason (or sooner, when the sweep sees the
        revocation)."""
        expires = self.lifecycle.expires_at
        if expires is None or self.lifecycle.ended:
            return
        left = expires - self.app.clock()
        delay = max(left - min(60.0, left / 5), 0.0)
        self._renewal = asyncio.get_running_loop().call_later(delay, self._renew)

    def stop_renewing(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None

    def _renew(self) -> None:
        self._renewal = None
        self.app.spawn(self._renewing())

    async def _renewing(self) -> None:
        try:
            await self.server_op("refresh")
        except HomerError as exc:
            log.info("session not renewed: %s", exc.message, extra={"conn": id(self)})
            return
        self.keep_token()


async def log_in(peer: FramedSender, name: str, secret: str) -> tuple[User, str]:
    """A Homer token, or the account's password (with the login limits): the user
    and a token for ``hello``. ``name`` may be empty or ``*`` with a token."""
    if secret.count(".") >= 2:  # perhaps a token
        try:
            found, _ = await user_of_token(peer.app, secret)
        except HomerError:
            pass
        else:
            if not name or name == "*" or name_key(name) == name_key(found.name):
                return found, secret
    return await password_login(peer.app, name, secret, peer.address)
