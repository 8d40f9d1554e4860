"""What a listener for another protocol's clients (IRC, MQTT) shares: its peer runs
what the client sends in order (a task only while something waits), runs Homer's
operations for the client, and keeps a long-lived session's token fresh.

Such clients log in once with a name and a password (or a Homer token in the
password's place) and stay connected for days; they cannot refresh a token
themselves, so the server does it for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from homer.core.logins import password_login
from homer.core.ops import authenticate as user_of_token
from homer.core.pipeline import Call, Context
from homer.errors import HomerError
from homer.identity.accounts import User
from homer.store.records import name_key
from homer.transports.framed import FramedSender, StreamFormat

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["NativePeer", "log_in"]

log = logging.getLogger("homer.connection")


class NativePeer(FramedSender):
    """A stream peer that speaks another protocol and runs Homer's operations
    on its client's behalf."""

    __slots__ = ("_queue", "_renewal", "_worker")

    def __init__(self, app: Homer, address: str, fmt: StreamFormat) -> None:
        super().__init__(app, address, fmt)
        #: When the session's token is renewed next (:meth:`keep_token`).
        self._renewal: asyncio.TimerHandle | None = None
        #: What the client sent that waits for its turn; none while idle.
        self._queue: deque[Any] | None = None
        self._worker: asyncio.Task[None] | None = None

    def ping(self) -> None:
        raise NotImplementedError

    def _goodbye(self, code: int, reason: str) -> bytes:
        raise NotImplementedError

    # -- what the client sends, in order ---------------------------------------------

    def waiting_items(self) -> deque[Any]:
        """The queue of what waits for its turn (made when the first item comes)."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        return queue

    def start_work(self) -> None:
        """Run what waits, in order, unless that already runs."""
        if self._queue and self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        """Run the waiting items one after another until none is left; then the
        connection holds no queue and no task."""
        queue = self._queue
        try:
            while queue and not self.lifecycle.ended:
                item = queue.popleft()
                self.taken(len(queue))
                await self.handle(item)
        finally:
            self._worker = None
            if not queue:
                self._queue = None

    async def handle(self, item: Any) -> None:
        """Run one item the client sent (a command, a packet, a refusal to say)."""
        raise NotImplementedError

    def taken(self, left: int) -> None:
        """An item left the queue, ``left`` still wait (for back-pressure)."""

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_renewing()
        super().connection_lost(exc)
        if self._worker is not None:
            self._worker.cancel()

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
