"""One connection's session lifecycle, sans-I/O: what is due and when, never how.

Every peer (WebSocket, raw TCP, SSE stream, long-poll queue) holds one
:class:`Lifecycle`. The transport tells it what happened: bytes arrived
(:meth:`~Lifecycle.received`), the session opened with a token that expires
(:meth:`~Lifecycle.opened`), a refresh brought a new token
(:meth:`~Lifecycle.renewed`), the server decided to close
(:meth:`~Lifecycle.closing`), the connection is gone (:meth:`~Lifecycle.closed`).
The node's sweep asks it, at the clock's ``now``, what is due
(:meth:`~Lifecycle.tick`): a ping, a close with its code and reason, or
nothing. The transport decides how a ping or a close looks on its wire.

The states and the steps between them::

    state            step                  next state
    ---------------  --------------------  --------------
    AWAITING_HELLO   opened(expires_at)    OPEN
    AWAITING_HELLO   closing(code, why)    CLOSING
    AWAITING_HELLO   closed()              CLOSED
    OPEN             renewed(expires_at)   OPEN
    OPEN             closing(code, why)    CLOSING
    OPEN             closed()              CLOSED
    CLOSING          opened(expires_at)    CLOSING
    CLOSING          renewed(expires_at)   CLOSING
    CLOSING          closed()              CLOSED
    CLOSED           opened(expires_at)    CLOSED
    CLOSED           renewed(expires_at)   CLOSED

Any other step raises :class:`LifecycleError` at once (a second ``opened``, a
``renewed`` before ``opened``, closing twice, losing the connection twice): the
caller misused the machine. A ``hello`` or a refresh that finishes after the
close was decided (its handler awaited the store meanwhile) changes nothing.

What :meth:`~Lifecycle.tick` checks, by state:

- every state but CLOSING and CLOSED: silent for ``heartbeat`` seconds, a ping
  is due (once per silence); silent ``heartbeat_timeout`` seconds more after
  it, a close with 1001 ``no answer to heartbeats``;
- AWAITING_HELLO: open longer than ``handshake_timeout``, a close with 4001
  ``no hello with a token in time``;
- OPEN: the token's expiry reached, a close with 4001 ``token expired:
  refresh and reconnect``.

Revocation is not the machine's to judge (it needs the node's revocation
list): the sweep checks it beside :meth:`~Lifecycle.tick`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

from homer.config import LimitsConfig

__all__ = [
    "NEVER",
    "NOTHING_DUE",
    "PING_DUE",
    "Close",
    "CloseCode",
    "Due",
    "Lifecycle",
    "LifecycleError",
    "State",
    "Timeouts",
]


class CloseCode:
    """Why a connection was closed (WebSocket close codes; other transports say the same)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    POLICY = 1008
    TOO_LARGE = 1009
    INTERNAL = 1011
    #: The token expired or was revoked: get a new one and reconnect.
    UNAUTHENTICATED = 4001
    #: The connection fell too far behind: reconnect and resume from the last seq.
    TOO_SLOW = 4008
    #: Too many connections for this user.
    TOO_MANY = 4029


class State(enum.Enum):
    AWAITING_HELLO = "awaiting_hello"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


#: For the sweep's hot path: an enum member read off its class costs a lookup.
_AWAITING_HELLO: Final = State.AWAITING_HELLO


class _Step(enum.Enum):
    OPENED = "opened"
    RENEWED = "renewed"
    CLOSING = "closing"
    CLOSED = "closed"


_TRANSITIONS: Final[dict[tuple[State, _Step], State]] = {
    (State.AWAITING_HELLO, _Step.OPENED): State.OPEN,
    (State.AWAITING_HELLO, _Step.CLOSING): State.CLOSING,
    (State.AWAITING_HELLO, _Step.CLOSED): State.CLOSED,
    (State.OPEN, _Step.RENEWED): State.OPEN,
    (State.OPEN, _Step.CLOSING): State.CLOSING,
    (State.OPEN, _Step.CLOSED): State.CLOSED,
    (State.CLOSING, _Step.OPENED): State.CLOSING,
    (State.CLOSING, _Step.RENEWED): State.CLOSING,
    (State.CLOSING, _Step.CLOSED): State.CLOSED,
    (State.CLOSED, _Step.OPENED): State.CLOSED,
    (State.CLOSED, _Step.RENEWED): State.CLOSED,
}


class LifecycleError(RuntimeError):
    """A step the transition table does not allow: a bug in the caller, not the client."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long a connection may stay silent or unauthenticated, in seconds; one
    per node, shared by every connection's :class:`Lifecycle`."""

    heartbeat: float
    heartbeat_timeout: float
    handshake_timeout: float

    @classmethod
    def of(cls, limits: LimitsConfig) -> Timeouts:
        """The timeouts a node's configuration sets."""
        return cls(
            heartbeat=limits.heartbeat,
            heartbeat_timeout=limits.heartbeat_timeout,
            handshake_timeout=limits.handshake_timeout,
        )


#: For a peer nobody sweeps (one HTTP request): nothing ever falls due.
NEVER: Final = Timeouts(heartbeat=math.inf, heartbeat_timeout=math.inf, handshake_timeout=math.inf)


@dataclass(frozen=True, slots=True)
class Close:
    """A close to make: the code and the reason the client is told."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Due:
    """What a :meth:`Lifecycle.tick` asks for: a ping, a close, both, or neither."""

    ping: bool = False
    close: Close | None = None


NOTHING_DUE: Final = Due()
PING_DUE: Final = Due(ping=True)

NO_HEARTBEAT: Final = Close(CloseCode.GOING_AWAY, "no answer to heartbeats")
NO_HELLO: Final = Close(CloseCode.UNAUTHENTICATED, "no hello with a token in time")
TOKEN_EXPIRED: Final = Close(CloseCode.UNAUTHENTICATED, "token expired: refresh and reconnect")


class Lifecycle:
    """One connection's state and the times its timeouts count from."""

    __slots__ = (
        "closed_with",
        "ended",
        "expires_at",
        "last_seen",
        "opened_at",
        "pinged_at",
        "state",
        "timeouts",
    )

    def __init__(self, now: float, *, timeouts: Timeouts) -> None:
        self.state = State.AWAITING_HELLO
        #: The session has ended (CLOSING or CLOSED): nothing more goes out. A flag
        #: beside ``state`` because every write reads it.
        self.ended = False
        self.timeouts = timeouts
        #: When the connection opened: it must say hello within the handshake timeout.
        self.opened_at = now
        #: When the last bytes arrived (heartbeats).
        self.last_seen = now
        #: When the last ping was due (0: never).
        self.pinged_at = 0.0
        #: When the session's token expires (``None``: never, or no session yet).
        self.expires_at: float | None = None
        #: Why it is closing, once it is.
        self.closed_with: Close | None = None

    # -- steps --------------------------------------------------------------------------

    def opened(self, *, expires_at: float | None) -> None:
        """The session opened (``hello`` accepted, a stream authenticated) with a token
        that expires at ``expires_at``."""
        self._step(_Step.OPENED)
        self.expires_at = expires_at

    def renewed(self, *, expires_at: float | None) -> None:
        """A refresh gave the open session a new token."""
        self._step(_Step.RENEWED)
        self.expires_at = expires_at

    def closing(self, code: int, reason: str) -> None:
        """The connection is closing with ``code`` and ``reason``: the server's
        decision, or its answer to the client's close."""
        self._step(_Step.CLOSING)
        self.ended = True
        self.closed_with = Close(code, reason)

    def closed(self) -> None:
        """The connection is gone, whoever ended it."""
        self._step(_Step.CLOSED)
        self.ended = True

    def _step(self, step: _Step) -> None:
        state = _TRANSITIONS.get((self.state, step))
        if state is None:
            raise LifecycleError(f"cannot step {step.value!r} in state {self.state.value!r}")
        self.state = state

    # -- time ---------------------------------------------------------------------------

    def received(self, now: float) -> None:
        """Bytes arrived: a sign of life, in any state."""
        self.last_seen = now

    def tick(self, now: float) -> Due:
        """What is due at ``now``. A ping that falls due is counted as sent."""
        if self.ended:
            return NOTHING_DUE
        timeouts = self.timeouts
        ping = False
        if now - self.last_seen > timeouts.heartbeat:
            if self.pinged_at <= self.last_seen:  # silent since the last ping
                self.pinged_at = now
                ping = True
            elif now - self.pinged_at > timeouts.heartbeat_timeout:
                return Due(close=NO_HEARTBEAT)
        if self.state is _AWAITING_HELLO:
            if now - self.opened_at > timeouts.handshake_timeout:
                return Due(ping=ping, close=NO_HELLO)
        elif self.expires_at is not None and self.expires_at <= now:
            return Due(ping=ping, close=TOKEN_EXPIRED)
        return PING_DUE if ping else NOTHING_DUE
