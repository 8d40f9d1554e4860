"""Sending, history, resume and read markers.

A send is acknowledged only once it is durable (group commit, see
:mod:`homer.messaging.writer`); a resend with the same client id returns the
first ack and stores nothing new. Resume answers "recovered" with exactly
what was missed, or says why it could not and how to page: never a silent
skip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from homer.clock import Clock, system_clock
from homer.config import LimitsConfig
from homer.errors import InvalidInput, NotAuthorized, TooLarge
from homer.identity.accounts import User
from homer.identity.permissions import Authorizer
from homer.messaging.events import Events, message_envelope
from homer.messaging.ids import message_id
from homer.messaging.mentions import Mentions, Resolved
from homer.messaging.names import Names
from homer.messaging.rendering import render_for
from homer.messaging.rooms import RoomService, not_yours
from homer.messaging.writer import MessageWriter
from homer.protocol.envelope import Envelope
from homer.store.ports import Store
from homer.store.records import Appended, MessageRecord, NewMessage

__all__ = ["AFTER", "QUEUED", "Attachments", "Draft", "MessageService", "Resumed", "check_cid"]

#: Set, in the context of a send, by a caller that sends several messages one
#: after another without waiting for each to be stored (the MQTT listener): the
#: send resolves it once the message has its place in the writer's queue, so
#: that the caller's next message cannot overtake it, while the commit is still
#: to come.
QUEUED: ContextVar[asyncio.Future[None] | None] = ContextVar("homer_send_queued", default=None)
#: Set with it: the previous send's ``QUEUED``, which this send waits for before it
#: takes its place, so that several sends started at once keep their order
#: whatever their checks wait for (the caller resolves it if that send fails).
AFTER: ContextVar[asyncio.Future[None] | None] = ContextVar("homer_send_after", default=None)


@dataclass(slots=True)
class Draft:
    """A message before it is stored: a before-send hook may change it or refuse it."""

    user: User
    room: str
    text: str
    data: Any


class Attachments(Protocol):
    """Where the files a message lists are checked and recorded (the file service)."""

    async def attach(
        self, user: User, file_ids: Sequence[str], room_id: str
    ) -> list[dict[str, Any]]: ...

    async def forget(self, file_ids: Sequence[str]) -> None: ...


BeforeSend = Callable[[Draft], Awaitable[None]]
AfterSend = Callable[[User, MessageRecord], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Resumed:
    """The answer to a resume for one room, and the messages to replay."""

    answer: dict[str, Any]
    backlog: list[Envelope]


def check_cid(cid: object) -> None:
    if not isinstance(cid, str) or not 1 <= len(cid) <= 64:
        raise InvalidInput("cid must be a string of 1-64 characters")


class MessageService:
    def __init__(
        self,
        store: Store,
        writer: MessageWriter,
        rooms: RoomService,
        authorizer: Authorizer,
        names: Names,
        events: Events,
        *,
        limits: LimitsConfig,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.writer = writer
        self.rooms = rooms
        self.authorizer = authorizer
        self.names = names
        self.events = events
        self.limits = limits
        self.clock = clock
        self.before_send: list[BeforeSend] = []
        self.after_send: list[AfterSend] = []
        self.mentions = Mentions(store, authorizer)
        #: The file service, once the node has one (files in messages need it).
        self.files: Attachments | None = None

    # -- sending ------------------------------------------------------------------

    async def send(
        self,
        user: User,
        room_id: str,
        cid: str,
        text: str,
        data: Any = None,
        *,
        member: bool | None = None,
        reply_to: int | None = None,
        thread: int | None = None,
        files: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Store a message and return its ack. ``member=True`` means the caller
        already knows the user is in the room (a session's subscription list).
        ``reply_to`` and ``thread`` are seqs of the same room; ``files`` ids of
        uploaded files."""
        check_cid(cid)
        self.check_body(text, data)
        if not text and data is None and not files:
            raise InvalidInput("a message needs text, data or files")
        for name, seq in (("reply_to", reply_to), ("thread", thread)):
            if seq is not None and (type(seq) is not int or seq < 1):
                raise InvalidInput(f"{name} must be the seq of a message of the room")
        if not member and await self.store.member(room_id, user.id) is None:
            raise not_yours(await self.rooms.get(room_id), room_id)
        if not self.authorizer.can(user, "room.post"):
            raise NotAuthorized("room.post", user.name)
        if await self.rooms.kind(room_id) == "announce" and not self.authorizer.can(
            user, "room.announce"
        ):
            raise NotAuthorized("room.announce", user.name)
        if self.before_send:
            draft = Draft(user, room_id, text, data)
            for hook in self.before_send:
                await hook(draft)
            text, data = draft.text, draft.data
            self.check_body(text, data)
        body: dict[str, Any] = {"text": text}
        if data is not None:
            body["data"] = data
        if reply_to is not None:
            body["reply_to"] = reply_to
        if thread is not None:
            body["thread"] = thread
        mentioned = await self.mentions.resolve(user, room_id, text) if "@" in text else None
        if mentioned is not None:
            mentioned.into(body)
        if files:
            if self.files is None:
                raise InvalidInput("this server keeps no files")
            body["files"] = await self.files.attach(user, files, room_id)
        previous = AFTER.get()
        if previous is not None and not previous.done():
            await previous  # the caller's previous message takes its place first
        stored = self.writer.append(
            NewMessage(
                room_id=room_id,
                id=message_id(),
                sender_id=user.id,
                client_id=cid,
                kind="msg",
                ts=self.clock(),
                body=body,
            )
        )
        queued = QUEUED.get()
        if queued is not None and not queued.done():
            queued.set_result(None)
        appended = await stored
        message = appended.message
        if not appended.duplicate:
            if mentioned is not None:
                await self.announce_mentions(user, message, mentioned)
            for after in self.after_send:
                await after(user, message)
        return {
            "room": message.room_id,
            "seq": message.seq,
            "id": message.id,
            "cid": message.client_id,
            "ts": message.ts,
            "duplicate": appended.duplicate,
        }

    async def announce_mentions(
        self,
        user: User,
        message: MessageRecord,
        mentioned: Resolved,
        *,
        before: Resolved | None = None,
    ) -> None:
        """A ``mention`` event to each user ``message`` mentions (only those ``before``
        did not, for an edit), and one to the room for ``@room``."""

        def mention(everyone: bool) -> Envelope:
            body = {"seq": message.seq, "kind": message.kind, "all": everyone}
            return Envelope(
                op="mention", room=message.room_id, sender=user.name, uid=user.id, body=body
            )

        if mentioned.everyone and not (before is not None and before.everyone):
            await self.events.to_room(message.room_id, mention(True))
        earlier = set(before.users) if before is not None else set()
        told = mention(False)  # one envelope for every user told
        for uid in mentioned.users:
            if uid not in earlier:
                await self.events.to_user(uid, told)

    def check_body(self, text: object, data: object) -> None:
        """Text and structured data within the configured limits (sends, broadcasts)."""
        if not isinstance(text, str):
            raise InvalidInput("text must be a string")
        if len(text) > self.limits.max_text:
            raise TooLarge(f"text is longer than {self.limits.max_text} characters")
        if data is not None:
            try:
                size = len(msgspec.json.encode(data))
            except (TypeError, msgspec.EncodeError) as exc:
                raise InvalidInput(f"data is not JSON: {exc}") from None
            if size > self.limits.max_data:
                raise TooLarge(f"data encodes to more than {self.limits.max_data} bytes")

    async def publish(self, appended: list[Appended]) -> None:
        """Called by the writer after each commit, in sequence order."""
        envelopes = []
        for item in appended:
            message = item.message
            name = self.names.known(message.sender_id) or await self.names.name(message.sender_id)
            envelopes.append(message_envelope(message, name))
        await self.events.to_rooms(envelopes)

    # -- reading ------------------------------------------------------------------

    async def history(
        self,
        user: User,
        room_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """By sequence (``after`` or ``before``; neither: the latest) or by time window
        (``since`` and/or ``until``; ``until`` alone: the latest before it, as chat
        clients page back in time). ``more`` says whether the same query would find
        further messages past this page."""
        room, _ = await self.rooms.visible(user, room_id)
        if limit < 1 or limit > self.limits.history_limit:
            raise InvalidInput(f"limit must be 1-{self.limits.history_limit}")
        by_seq = after is not None or before is not None
        by_time = since is not None or until is not None
        if by_seq and by_time:
            raise InvalidInput("ask by sequence (after/before) or by time (since/until), not both")
        if after is not None and before is not None:
            raise InvalidInput("give after or before, not both")
        fetched: list[MessageRecord]
        if by_time:
            start = since if since is not None else 0.0
            end = until if until is not None else float("inf")
            newest = since is None
            fetched = (  # an empty window holds nothing
                await self.store.messages_between(
                    room.id, start, end, limit=limit + 1, newest=newest
                )
                if start < end
                else []
            )
            more = len(fetched) > limit
            fetched = fetched[-limit:] if newest else fetched[:limit]
        elif after is not None:
            fetched = await self.store.messages_after(room.id, after, limit=limit + 1)
            more = len(fetched) > limit
            fetched = fetched[:limit]
        else:
            fetched = await self.store.messages_before(room.id, before, limit=limit + 1)
            more = len(fetched) > limit
            fetched = fetched[-limit:] if more else fetched
        return {
            "room": room.id,
            "epoch": room.epoch,
            "last_seq": room.last_seq,
            "messages": await self.render(fetched, user.id),
            "more": more,
        }

    async def render(self, messages: list[MessageRecord], reader: str) -> list[Envelope]:
        """Messages as ``reader`` sees them (their own reactions marked)."""
        return [
            message_envelope(render_for(m, reader), await self.names.name(m.sender_id))
            for m in messages
        ]

    async def resume(self, user: User, room_id: str, epoch: int, seq: int) -> Resumed:
        """What ``user`` missed in ``room_id`` since ``seq`` of ``epoch``."""
        room, _ = await self.rooms.visible(user, room_id)
        base: dict[str, Any] = {"room": room.id, "epoch": room.epoch, "last_seq": room.last_seq}
        if epoch != room.epoch:
            return Resumed(
                {
                    **base,
                    "recovered": False,
                    "reason": "epoch_changed",
                    "hint": "history was purged: drop your copy and page with history",
                },
                [],
            )
        if seq < 0:
            raise InvalidInput("seq must not be negative")
        if seq > room.last_seq:
            return Resumed(
                {
                    **base,
                    "recovered": False,
                    "reason": "ahead",
                    "hint": "the server's history ends before your position (restored from"
                    " a backup?): drop your copy and page with history",
                },
                [],
            )
        missed = room.last_seq - seq
        if missed > self.limits.resume_limit:
            return Resumed(
                {
                    **base,
                    "recovered": False,
                    "reason": "too_far",
                    "missed": missed,
                    "hint": "page with history (before/after) to fill the gap",
                },
                [],
            )
        backlog = await self.store.messages_after(room.id, seq, limit=self.limits.resume_limit)
        return Resumed(
            {**base, "recovered": True, "from": seq + 1, "count": len(backlog)},
            await self.render(backlog, user.id),
        )

    async def purge(self, user: User, room_id: str) -> dict[str, Any]:
        """Delete a room's history and start a new epoch; members are told, and
        clients drop what they hold of the old one."""
        room, member = await self.rooms.visible(user, room_id)
        if member.role != "owner" and not self.authorizer.can(user, "room.moderate"):
            raise NotAuthorized("room.moderate", user.name)
        epoch = await self.store.purge_history(room.id)
        body = {"epoch": epoch, "last_seq": room.last_seq}
        await self.events.to_room(room.id, Envelope(op="purged", room=room.id, body=body))
        return {"room": room.id, **body}

    async def read(self, user: User, room_id: str, seq: int) -> dict[str, Any]:
        """Move the read marker; every session of the user hears the new unread count."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidInput("seq must be a non-negative integer")
        await self.rooms.visible(user, room_id)
        marker = await self.store.set_read(room_id, user.id, seq)
        unread = (await self.store.unread_counts(user.id, room_id=room_id)).get(room_id, 0)
        mentions = (await self.store.mention_counts(user.id, room_id=room_id)).get(room_id, 0)
        body = {"read": marker, "unread": unread, "mentions": mentions}
        await self.events.to_user(user.id, Envelope(op="unread", room=room_id, body=body))
        return {"room": room_id, **body}
