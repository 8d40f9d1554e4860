"""Homer's own operations, registered with ``app.on`` like any application's.

docs/protocol.md specifies each one with an example exchange.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from msgspec import Meta

from homer.core.fields import (
    Cid,
    Int64,
    MessageSeq,
    Name,
    RoomId,
    RoomKind,
    described,
)
from homer.core.fields import Position as SeqPosition
from homer.core.session import CloseCode, Peer, Session
from homer.errors import (
    Conflict,
    Forbidden,
    HomerError,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from homer.identity.accounts import User
from homer.messaging.rooms import MAX_ROOM_NAME, MAX_TOPIC, not_yours
from homer.protocol.envelope import Envelope

if TYPE_CHECKING:
    from homer.core.app import Context, Homer

__all__ = [
    "after_welcome",
    "authenticate",
    "check_connections",
    "open_session",
    "register",
    "send_message",
]

log = logging.getLogger("homer.server")

PROTOCOL_VERSION = 1


class Position(msgspec.Struct, forbid_unknown_fields=True):
    epoch: int
    seq: SeqPosition


class Hello(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    #: Room -> the last (epoch, seq) the client holds, to get exactly what it missed.
    resume: dict[str, Position] = {}
    #: The client's name and version, for logs.
    client: str = ""


class Refresh(msgspec.Struct, forbid_unknown_fields=True):
    #: A new token for the same user; without one, the server mints it from the current.
    token: str | None = None


class Create(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId | None = None
    kind: RoomKind = "public"
    name: Annotated[str, described(maxLength=MAX_ROOM_NAME)] | None = None
    topic: Annotated[str, described(maxLength=MAX_TOPIC)] = ""
    meta: dict[str, Any] | None = None


class RoomOnly(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId


class RoomUser(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId
    user: Name


class Direct(msgspec.Struct, forbid_unknown_fields=True):
    user: Name


class Directory(msgspec.Struct, forbid_unknown_fields=True):
    after: str | None = None
    limit: Int64 = 50


class Members(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId
    after: str | None = None
    limit: Int64 = 100


class Topic(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId
    topic: Annotated[str, described(maxLength=MAX_TOPIC)] | None = None
    meta: dict[str, Any] | None = None


class Send(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId
    cid: Cid
    text: str = ""
    data: Any = None
    reply_to: MessageSeq | None = None
    thread: MessageSeq | None = None
    files: list[str] = []


class History(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId
    #: The seq of a thread's root: its replies (``after`` them), with the root.
    thread: MessageSeq | None = None
    after: SeqPosition | None = None
    before: SeqPosition | None = None
    since: float | None = None
    until: float | None = None
    limit: Annotated[int, Meta(ge=1)] = 50


class Resume(msgspec.Struct, forbid_unknown_fields=True):
    rooms: dict[str, Position]


class Read(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId
    seq: SeqPosition


class SetPresence(msgspec.Struct, forbid_unknown_fields=True):
    status: Annotated[str, described(enum=["online", "away"])]


class Broadcast(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    data: Any = None


def register(app: Homer) -> None:
    """Register every built-in operation on ``app``."""

    @app.on("hello", auth=False)
    async def hello(ctx: Context, params: Hello) -> dict[str, Any]:
        if ctx.peer.session is not None:
            raise Conflict("this connection already said hello")
        user, claims = await authenticate(app, params.token)
        try:
            check_connections(app, user)
        except Conflict:
            # Close right after the error reply has gone out.
            asyncio.get_running_loop().call_soon(
                ctx.peer.close, CloseCode.TOO_MANY, "too many connections for this user"
            )
            raise
        session, rooms = await open_session(app, ctx.peer, user, claims)
        limits = app.config.limits
        log.debug(  # per connection: debug, or a busy node spends its time logging
            "session started",
            extra={"conn": id(ctx.peer), "user": user.name, "address": ctx.peer.address},
        )
        welcome = {
            "protocol": PROTOCOL_VERSION,
            "session": session.id,
            "user": {"id": user.id, "name": user.name, "attributes": dict(user.attributes)},
            "permissions": sorted(app.identity.authorizer.effective(user)),
            "rooms": rooms,
            "expires_at": session.expires_at,
            "server_time": app.clock(),
            "heartbeat": limits.heartbeat,
        }
        fresh = {info["id"]: info["last_seq"] for info in rooms if info["id"] not in params.resume}
        app.spawn(after_welcome(app, ctx.peer, session, fresh, params.resume))
        return welcome

    @app.on("refresh")
    async def refresh(ctx: Context, params: Refresh) -> dict[str, Any]:
        session = _session(ctx)
        identity = app.identity
        tokens = identity.tokens
        # Judged by the store, not memory: a refresh must not outlive a revocation
        # (or a deletion) that another process made in the last few seconds.
        if params.token is None:  # a new token for the session's user, as they are now
            if await tokens.revoked_in_store(session.user.id, session.jti, session.issued_at):
                raise Unauthenticated("this session's token was revoked")
            token = tokens.issue((await identity.account_of(session.user.id)).token_info())
            claims = tokens.check(token)
        else:
            token = params.token
            claims = await tokens.check_stored(token)  # Unauthenticated when expired
            if claims.get("sub") != session.user.id:
                raise Unauthenticated("that token is for another user")
            await identity.account_of(session.user.id)
        if claims is None:
            raise Unauthenticated("that token has expired")
        session.adopt(claims)
        return {"token": token, "expires_at": session.expires_at}

    @app.on("ping")
    async def ping(ctx: Context) -> dict[str, Any]:
        return {"server_time": app.clock()}

    # -- rooms --------------------------------------------------------------------

    @app.on("create")
    async def create(ctx: Context, params: Create) -> dict[str, Any]:
        return await app.rooms.create(
            ctx.user,
            room_id=params.room,
            kind=params.kind,
            name=params.name,
            topic=params.topic,
            meta=params.meta,
        )

    @app.on("join")
    async def join(ctx: Context, params: RoomOnly) -> dict[str, Any]:
        info = await app.rooms.join(ctx.user, params.room)
        app.presence.introduce(ctx.user.id, ctx.user.name, params.room)
        return info

    @app.on("leave")
    async def leave(ctx: Context, params: RoomOnly) -> dict[str, Any]:
        await app.rooms.leave(ctx.user, params.room)
        return {"room": params.room}

    @app.on("invite")
    async def invite(ctx: Context, params: RoomUser) -> dict[str, Any]:
        await app.rooms.invite(ctx.user, params.room, params.user)
        return {"room": params.room, "user": params.user}

    @app.on("kick")
    async def kick(ctx: Context, params: RoomUser) -> dict[str, Any]:
        await app.rooms.kick(ctx.user, params.room, params.user, ban=False)
        return {"room": params.room, "user": params.user}

    @app.on("ban")
    async def ban(ctx: Context, params: RoomUser) -> dict[str, Any]:
        await app.rooms.kick(ctx.user, params.room, params.user, ban=True)
        return {"room": params.room, "user": params.user}

    @app.on("unban")
    async def unban(ctx: Context, params: RoomUser) -> dict[str, Any]:
        await app.rooms.unban(ctx.user, params.room, params.user)
        return {"room": params.room, "user": params.user}

    @app.on("rooms")
    async def rooms(ctx: Context) -> dict[str, Any]:
        return {"rooms": await app.rooms.mine(ctx.user)}

    @app.on("directory")
    async def directory(ctx: Context, params: Directory) -> dict[str, Any]:
        page = await app.rooms.directory(after=params.after, limit=params.limit)
        return {"rooms": page.items, "next": page.next_cursor}

    @app.on("members")
    async def members(ctx: Context, params: Members) -> dict[str, Any]:
        page = await app.rooms.members(
            ctx.user, params.room, after=params.after, limit=params.limit
        )
        for member in page.items:
            member["status"] = app.presence.status(member["uid"])
        return {"room": params.room, "members": page.items, "next": page.next_cursor}

    @app.on("topic")
    async def topic(ctx: Context, params: Topic) -> dict[str, Any]:
        return await app.rooms.set_topic(
            ctx.user, params.room, topic=params.topic, meta=params.meta
        )

    @app.on("dm")
    async def dm(ctx: Context, params: Direct) -> dict[str, Any]:
        return await app.rooms.direct(ctx.user, params.user)

    # -- messages -----------------------------------------------------------------

    @app.on("send")
    async def send(ctx: Context, params: Send) -> dict[str, Any]:
        session = _session(ctx)
        return await send_message(
            app,
            session.user,
            params.room,
            params.cid,
            params.text,
            params.data,
            member=params.room in session.rooms or None,
            reply_to=params.reply_to,
            thread=params.thread,
            files=params.files,
        )

    @app.on("history")
    async def history(ctx: Context, params: History) -> dict[str, Any]:
        if params.thread is not None:
            if params.before is not None or params.since is not None or params.until is not None:
                raise InvalidInput("a thread's history pages forward: use after")
            return await app.changes.thread(
                ctx.user, params.room, params.thread, after=params.after or 0, limit=params.limit
            )
        return await app.messages.history(
            ctx.user,
            params.room,
            after=params.after,
            before=params.before,
            since=params.since,
            until=params.until,
            limit=params.limit,
        )

    @app.on("resume")
    async def resume(ctx: Context, params: Resume) -> dict[str, Any]:
        session = _session(ctx)
        strangers = sorted(set(params.rooms) - session.rooms)
        if strangers:  # check them all before holding any
            raise NotFound(f"you are not in {', '.join(map(repr, strangers))}")
        for room in params.rooms:
            # Still subscribed: the node keeps following the room, its order and its
            # binding; only this connection's live events wait for the replay.
            app.hub.hold(room, ctx.peer)
        app.spawn(_resume_rooms(app, ctx.peer, _session(ctx), params.rooms))
        return {"rooms": sorted(params.rooms)}

    @app.on("purge")
    async def purge(ctx: Context, params: RoomOnly) -> dict[str, Any]:
        return await app.messages.purge(ctx.user, params.room)

    @app.on("read")
    async def read(ctx: Context, params: Read) -> dict[str, Any]:
        return await app.messages.read(ctx.user, params.room, params.seq)

    # -- ephemeral signals ------------------------------------------------------------

    @app.on("presence")
    async def presence(ctx: Context, params: SetPresence) -> dict[str, Any]:
        session = _session(ctx)
        if params.status not in ("online", "away"):
            raise InvalidInput("status must be 'online' or 'away'")
        away = params.status == "away"
        if away != session.away:
            session.away = away
            app.presence.set_away(session.user.id, session.user.name, away, session.rooms)
        return {"status": params.status}

    @app.on("typing")
    async def typing(ctx: Context, params: RoomOnly) -> dict[str, Any]:
        session = _session(ctx)
        if params.room not in session.rooms:
            raise NotFound(f"you are not in {params.room!r}")
        now = app.clock()
        ttl = app.config.limits.typing_ttl
        seen = session.typing if session.typing is not None else {}
        session.typing = seen
        if now - seen.get(params.room, -ttl) >= ttl / 2:  # at most twice per ttl
            seen[params.room] = now
            await app.events.to_room(
                params.room,
                Envelope(
                    op="typing",
                    room=params.room,
                    sender=session.user.name,
                    uid=session.user.id,
                    body={"until": now + ttl},
                ),
            )
        return {"room": params.room, "until": now + ttl}

    @app.on("broadcast", requires="broadcast.send")
    async def broadcast(ctx: Context, params: Broadcast) -> dict[str, Any]:
        user = ctx.user
        app.messages.check_body(params.text, params.data)
        now = app.clock()
        body: dict[str, Any] = {"text": params.text}
        if params.data is not None:
            body["data"] = params.data
        await app.events.to_everyone(
            Envelope(op="broadcast", sender=user.name, uid=user.id, ts=now, body=body)
        )
        return {"ts": now}


def _session(ctx: Context) -> Session:
    if ctx.session is None:
        raise Unauthenticated("say hello with a token first")
    return ctx.session


async def authenticate(app: Homer, token: str) -> tuple[User, dict[str, Any]]:
    claims = app.identity.tokens.check(token)
    if claims is None:
        raise Unauthenticated("token expired: refresh it")
    if claims.get("guest"):
        raise Unauthenticated("guests cannot chat on this server")
    try:
        user = await app.identity.accounts.get_by_id(claims["sub"], cached=True)
    except NotFound:
        raise Unauthenticated("the account behind this token no longer exists") from None
    return user, claims


def check_connections(app: Homer, user: User, address: str | None = None) -> None:
    """Raise :class:`Conflict` when ``user`` (or, for a stream about to open, its
    ``address``) already has as many connections as allowed."""
    limits = app.config.limits
    most = limits.max_connections_per_user
    if len(app.hub.users.get(user.id, ())) >= most:
        raise Conflict(f"at most {most} connections per user")
    cap = limits.max_connections_per_address
    if address is not None and cap and app.connections_from(address) >= cap:
        raise Conflict(f"at most {cap} connections from one address")


async def open_session(
    app: Homer,
    peer: Peer,
    user: User,
    claims: dict[str, Any],
    *,
    rooms: Collection[str] | None = None,
) -> tuple[Session, list[dict[str, Any]]]:
    """Start ``peer``'s session: subscribe it to the user's rooms (only ``rooms`` when
    given, each of which must be one of them) with live events held, and return the
    session and the snapshot of those rooms that :func:`after_welcome` continues from.

    Subscribe first and hold live events, then take the snapshot: whatever is
    committed meanwhile is either in the snapshot or released from the hold
    afterwards, never lost between the two.
    """
    session = Session(peer, user, claims)
    peer.session = session
    app.names.remember(user.id, user.name)
    app.hub.attach_user(user.id, peer)
    memberships = [room for room, _ in await app.store.rooms_of(user.id)]
    if rooms is not None:
        strangers = sorted(set(rooms) - {room.id for room in memberships})
        if strangers:
            app.release(peer)
            peer.session = None
            for stranger in strangers:  # NotFound first: no such room, or a hidden one
                room = await app.rooms.get(stranger)
                if room.kind in ("private", "dm"):
                    raise not_yours(room, stranger)
            raise Forbidden(f"you are not in {', '.join(map(repr, strangers))}")
    for room in memberships:
        if rooms is None or room.id in rooms:
            app.hub.hold(room.id, peer)
            session.add_room(room.id)
            app.hub.subscribe(room.id, peer)
            app.hub.seed(room.id, room.last_seq)
    infos = await app.rooms.mine(user)
    if rooms is not None:
        infos = [info for info in infos if info["id"] in session.rooms]
    if peer not in app.peers:  # it went away while we read
        app.release(peer)
        raise Unauthenticated("the connection closed during hello")
    app.presence.connected(user.id, user.name, session.rooms)
    return session, infos


async def send_message(
    app: Homer,
    user: User,
    room: str,
    cid: str,
    text: str,
    data: Any,
    *,
    member: bool | None = None,
    reply_to: int | None = None,
    thread: int | None = None,
    files: Sequence[str] = (),
) -> dict[str, Any]:
    """The one send path, whatever the transport: checks, hooks, idempotency, metrics."""
    ack = await app.messages.send(
        user, room, cid, text, data, member=member, reply_to=reply_to, thread=thread, files=files
    )
    if not ack["duplicate"]:
        app.metrics.messages_in.inc()
    return ack


async def after_welcome(
    app: Homer,
    peer: Peer,
    session: Session,
    fresh: dict[str, int],
    resume: dict[str, Position],
) -> None:
    """Runs once the welcome is out: rooms the client did not resume continue from
    the welcome's ``last_seq``; the others are replayed from the client's position."""
    for room, last_seq in fresh.items():
        app.hub.move_cursor(room, peer, last_seq)
        app.hub.release(room, peer)
    if resume:
        await _resume_rooms(app, peer, session, resume)


async def _resume_rooms(
    app: Homer, peer: Peer, session: Session, rooms: dict[str, Position]
) -> None:
    """Replay what the client missed per room, then let live traffic through.

    The replay passes the connection's delivery cursor like live events do: what
    this connection was already sent is not sent again, and the ``resumed`` answer
    counts what follows it."""
    hub = app.hub
    for room, position in rooms.items():
        try:
            if room not in session.rooms:
                raise NotFound(f"you are not in {room!r}")
            resumed = await app.messages.resume(session.user, room, position.epoch, position.seq)
            answer = resumed.answer
            if answer.get("recovered"):
                hub.move_cursor(room, peer, position.seq)
                cursor = hub.cursor(room, peer)
                after = position.seq if cursor is None else cursor
                backlog = [e for e in resumed.backlog if e.seq is not None and e.seq > after]
                answer = {**answer, "from": after + 1, "count": len(backlog)}
            else:  # live traffic continues after the room's last seq
                hub.move_cursor(room, peer, answer["last_seq"])
                backlog = []
            hub.replay(room, peer, [Envelope(op="resumed", room=room, body=answer), *backlog])
        except HomerError as exc:
            peer.send(
                Envelope(
                    op="resumed",
                    room=room,
                    body={
                        "room": room,
                        "recovered": False,
                        "reason": exc.code.value,
                        "message": exc.message,
                    },
                )
            )
        finally:
            hub.release(room, peer)
