"""The Store for several nodes: one PostgreSQL database shared by all of them.

It behaves as the SQLite adapter does; what differs is that writers on other
nodes run at the same time. A room's row is locked for the length of an
append, so its sequence numbers stay dense and a resend finds the message it
repeats; the other rules are kept by unique indexes and row locks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from homer.errors import HomerError
from homer.store.appends import AppendBatch, Key, Plan, Spot, Tail
from homer.store.changes import search_text
from homer.store.postgresql.accounts import PostgreSQLAccounts, fill_skeletons
from homer.store.postgresql.database import (
    LOCK_SPACE,
    ROWS,
    Connection,
    PostgreSQLDatabase,
    Where,
    marks,
    rowcount,
)
from homer.store.postgresql.files import PostgreSQLFiles
from homer.store.records import (
    Appended,
    JSONMap,
    MemberRecord,
    MessageRecord,
    NewMessage,
    Page,
    RoomRecord,
    SearchHit,
)
from homer.store.rows import (
    MEMBER_COLUMNS,
    MESSAGE_COLUMNS,
    NEW_MEMBER_COLUMNS,
    ROOM_COLUMNS,
    UNREAD_COLUMNS,
    qualified,
)
from homer.store.rules import (
    UNREAD_KIND,
    ReadMarker,
    ReadMove,
    Tally,
    check_join,
    check_members,
    no_room,
    not_a_member,
    page,
    room_taken,
    room_to_join,
    window,
)
from homer.store.search import WINDOW, Query, filters

__all__ = ["PostgreSQLStore"]


#: The second key of the advisory lock that makes one user's joins take turns.
_JOIN_LOCK = "SELECT pg_advisory_xact_lock($1, hashtext($2))"


_ROOMS_OF = (
    f"SELECT {qualified('r', ROOM_COLUMNS)}, {qualified('m', MEMBER_COLUMNS)}"
    " FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = $1 ORDER BY m.room_id"
)
#: The same, with what each room's unread count is read from in the last columns.
_ROOM_LIST = (
    f"SELECT {qualified('r', ROOM_COLUMNS)}, {qualified('m', MEMBER_COLUMNS)}, {UNREAD_COLUMNS}"
    " FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = $1 ORDER BY m.room_id"
)
_UNREAD = (
    f"SELECT m.room_id, {UNREAD_COLUMNS} FROM room_members m JOIN rooms r ON r.id = m.room_id"
    " WHERE m.user_id = $1"
)
_INSERT_MEMBER = f"INSERT INTO room_members({NEW_MEMBER_COLUMNS}) VALUES ({marks(7)})"
#: The same for one who may be a member already (the stored membership is kept).
_ADD_MEMBER = _INSERT_MEMBER + " ON CONFLICT (room_id, user_id) DO NOTHING"
#: A member's read marker with its counts, and the room's last_seq and count. The
#: room's row is share-locked: its appends and purges wait for the marker to move, and
#: it for them, so the span it counts holds still; the member's row is locked against
#: another move of the same marker.
_MARKER = (
    "SELECT m.read_seq, m.read_msgs, m.own_after, r.last_seq, r.msgs"
    " FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.room_id = $1 AND m.user_id = $2"
    " FOR SHARE OF r FOR NO KEY UPDATE OF m"
)
#: A user's stored messages of a kind in a room (by the index on client ids: their own).
_OWN = "SELECT count(*) FROM messages WHERE room_id = $1 AND sender_id = $2 AND kind = $3"
#: A span (seq > $3 AND seq <= $4) of a room's messages of a kind: how many, and a user's.
_TALLY = (
    "SELECT count(*), count(*) FILTER (WHERE sender_id = $1) FROM messages"
    " WHERE room_id = $2 AND seq > $3 AND seq <= $4 AND kind = $5"
)

#: Locks the batch's rooms, in one order for every writer so that two never deadlock.
#: NO KEY UPDATE: appends to one room take turns, while members (whose foreign key
#: takes KEY SHARE on the room) still come and go.
#: Each room's last_seq and the ts of its last message (what the next must not precede).
_LOCK_ROOMS = (
    "SELECT id, last_seq, (SELECT m.ts FROM messages m WHERE m.room_id = rooms.id"
    " ORDER BY m.seq DESC LIMIT 1) FROM rooms WHERE id = ANY($1::text[])"
    " ORDER BY id FOR NO KEY UPDATE OF rooms"
)
_STORED_MESSAGES = (
    f"SELECT {qualified('s', MESSAGE_COLUMNS)} FROM messages s"
    " JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(room_id, sender_id, client_id)"
    " ON s.room_id = k.room_id AND s.sender_id = k.sender_id AND s.client_id = k.client_id"
)
#: The batch, the rooms' new last_seq and counts and the senders' own counts in one
#: statement, one round trip.
_APPEND = (
    f"WITH appended AS (INSERT INTO messages({MESSAGE_COLUMNS}, thread, search)"
    " SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::float8[], $8::json[], $15::bigint[], $16::text[])),"
    " own AS (UPDATE room_members SET own_after = own_after + sent.msgs"
    " FROM unnest($12::text[], $13::text[], $14::bigint[]) AS sent(room_id, user_id, msgs)"
    " WHERE room_members.room_id = sent.room_id AND room_members.user_id = sent.user_id)"
    " UPDATE rooms SET last_seq = grown.last_seq, msgs = rooms.msgs + grown.msgs"
    " FROM unnest($9::text[], $10::bigint[], $11::bigint[]) AS grown(id, last_seq, msgs)"
    " WHERE rooms.id = grown.id"
)

_MESSAGES_AT = (
    f"SELECT {qualified('s', MESSAGE_COLUMNS)} FROM messages s"
    " JOIN unnest($1::text[], $2::bigint[]) AS k(room_id, seq)"
    " ON s.room_id = k.room_id AND s.seq = k.seq"
)
#: Mentions of a user past their read markers, per room (add a GROUP BY).
_MENTIONS = (
    "SELECT r.room_id, COUNT(*) FROM room_members r JOIN mentions m"
    " ON m.room_id = r.room_id AND m.user_id IN (r.user_id, '*') AND m.seq > r.read_seq"
    " AND m.sender_id <> r.user_id WHERE r.user_id = $1"
)
#: Matches in the rooms of a user: the newest ``WINDOW``, ranked, each message as
#: it is now.
_SEARCH = (
    f"SELECT {qualified('f', MESSAGE_COLUMNS)} FROM ("
    f"SELECT {qualified('m', MESSAGE_COLUMNS)},"
    " ts_rank_cd(to_tsvector('simple', m.search), q) AS score"
    " FROM messages m JOIN room_members r ON r.room_id = m.room_id AND r.user_id = $1,"
    " to_tsquery('simple', $2) AS q"
    " WHERE m.search IS NOT NULL AND to_tsvector('simple', m.search) @@ q{where}"
    " ORDER BY m.ts DESC LIMIT {window}) AS f ORDER BY f.score DESC, f.ts DESC LIMIT {limit}"
)
_SPOTS = "unnest($1::text[], $2::bigint[]) AS k(room_id, seq)"


def _hit(message: MessageRecord, query: Query) -> SearchHit:
    text = message.body.get("text")
    return SearchHit(message, query.highlights(text) if isinstance(text, str) else [])


async def _write_changes(conn: Connection, plan: Plan) -> None:
    """Everything of ``plan`` besides the new rows and the counts (decision 0019)."""
    if plan.updates:
        await conn.execute(
            "UPDATE messages SET body = k.body, search = k.search"
            " FROM unnest($1::text[], $2::bigint[], $3::json[], $4::text[])"
            " AS k(room_id, seq, body, search)"
            " WHERE messages.room_id = k.room_id AND messages.seq = k.seq",
            [m.room_id for m, _ in plan.updates],
            [m.seq for m, _ in plan.updates],
            [body for _, body in plan.updates],
            [search_text(m) for m, _ in plan.updates],
        )
        await conn.execute(
            f"DELETE FROM mentions USING {_SPOTS}"
            " WHERE mentions.room_id = k.room_id AND mentions.seq = k.seq",
            [m.room_id for m, _ in plan.updates],
            [m.seq for m, _ in plan.updates],
        )
    if plan.edits:
        await conn.execute(
            "INSERT INTO message_edits(room_id, target, seq, previous)"
            " SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::json[])",
            *_columns(plan.edits, 4),
        )
    if plan.redacted:
        spots = _columns(plan.redacted, 2)
        await conn.execute(
            "UPDATE messages SET body = json_build_object('target', e.target, 'redacted', true)"
            f" FROM message_edits e JOIN {_SPOTS} ON e.room_id = k.room_id AND e.target = k.seq"
            " WHERE messages.room_id = e.room_id AND messages.seq = e.seq",
            *spots,
        )
        await conn.execute(
            f"UPDATE message_edits e SET previous = NULL FROM {_SPOTS}"
            " WHERE e.room_id = k.room_id AND e.target = k.seq",
            *spots,
        )
    if plan.mentions:
        await conn.execute(
            "INSERT INTO mentions(room_id, user_id, seq, sender_id)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])"
            " ON CONFLICT DO NOTHING",
            *_columns(plan.mentions, 4),
        )


async def _require_room(conn: Connection, room_id: str) -> None:
    """Fail unless the room exists, and keep it from being deleted until the commit."""
    if await conn.fetchrow("SELECT 1 FROM rooms WHERE id = $1 FOR KEY SHARE", room_id) is None:
        raise no_room(room_id)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as ``width`` columns (arrays for ``unnest``), empty ones for no rows."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


async def _moved(conn: Connection, room_id: str, user_id: str, move: ReadMove) -> ReadMarker:
    """Where ``move`` puts a member's read marker, with its counts."""
    if move.empty:
        return move.result(Tally())
    row = await conn.fetchrow(_TALLY, user_id, room_id, move.after, move.upto, UNREAD_KIND)
    assert row is not None
    return move.result(Tally(row[0], row[1]))


async def _new_marker(
    conn: Connection, member: MemberRecord, *, last_seq: int, room_msgs: int
) -> ReadMarker:
    """A new member's read marker where the membership puts it, with its counts (the
    room's row share-locked: no append or purge changes what is counted)."""
    own = await conn.fetchval(_OWN, member.room_id, member.user_id, UNREAD_KIND)
    start = ReadMarker.at_start(own)
    move = start.move(member.read_seq, last_seq=last_seq, room_msgs=room_msgs)
    return start if move is None else await _moved(conn, member.room_id, member.user_id, move)


class PostgreSQLStore(PostgreSQLAccounts, PostgreSQLFiles):
    """Implements :class:`homer.store.ports.Store` on one PostgreSQL database: rooms
    and messages here, shared files in :class:`PostgreSQLFiles`, the rest in
    :class:`PostgreSQLAccounts`.

    ``url`` is a libpq URL (``postgresql://user@host:5432/db``); ``?pool_size=N``
    in it sets how many connections the node keeps, unless ``pool_size`` is given.
    """

    #: The package holding this adapter's numbered migrations.
    MIGRATIONS: ClassVar[str] = "homer.store.postgresql.migrations"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int | None = None,
        connect_timeout: float = 10.0,
        command_timeout: float | None = None,
    ) -> None:
        self.db = PostgreSQLDatabase(
            url,
            pool_size=pool_size,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
        )

    @property
    def where(self) -> str:
        """The server and database, without user or password."""
        return self.db.where

    @property
    def pool_size(self) -> int:
        return self.db.pool_size

    async def open(self) -> None:
        await self.db.open(self.MIGRATIONS)
        await self.db.write(fill_skeletons)  # rows from before migration 6

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self.db.fetchval("SELECT 1")

    async def schema_version(self) -> int:
        return await self.db.read(PostgreSQLDatabase.current_version)

    # -- rooms ----------------------------------------------------------------

    async def create_room(self, room: RoomRecord, members: Sequence[MemberRecord]) -> None:
        check_members(room, members)
        member_rows = [
            ROWS.member_row(member, ReadMarker.first(member, room)) for member in members
        ]

        async def run(conn: Connection) -> None:
            taken = await conn.fetchrow(
                "SELECT EXISTS(SELECT 1 FROM rooms WHERE id = $1),"
                " EXISTS(SELECT 1 FROM rooms WHERE dm_key = $2)",
                room.id,
                room.dm_key,
            )
            assert taken is not None
            room_taken(room, id_taken=taken[0], dm_taken=taken[1])
            await conn.execute(
                f"INSERT INTO rooms({ROOM_COLUMNS}) VALUES ({marks(10)})", *ROWS.room_row(room)
            )
            if member_rows:
                await conn.executemany(_INSERT_MEMBER, member_rows)

        await self.db.write(run)

    async def room(self, room_id: str) -> RoomRecord | None:
        row = await self.db.fetchrow(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1", room_id)
        return None if row is None else ROWS.room(row)

    async def room_by_dm_key(self, dm_key: str) -> RoomRecord | None:
        row = await self.db.fetchrow(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE dm_key = $1", dm_key)
        return None if row is None else ROWS.room(row)

    async def update_room(
        self,
        room_id: str,
        *,
        name: str | None = None,
        topic: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> RoomRecord:
        changes = Where()
        for column, value in ROWS.room_changes(name=name, topic=topic, meta=meta):
            changes.add(f"{column} = {{}}", value)
        if changes.clauses:
            sql = (
                f"UPDATE rooms SET {', '.join(changes.clauses)}"
                f" WHERE id = {changes.param(room_id)} RETURNING {ROOM_COLUMNS}"
            )
            row = await self.db.fetchrow(sql, *changes.params)
        else:
            row = await self.db.fetchrow(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1", room_id)
        if row is None:
            raise no_room(room_id)
        return ROWS.room(row)

    async def delete_room(self, room_id: str) -> bool:
        # Members, bans, invitations and messages go with it (ON DELETE CASCADE).
        return await self.db.execute("DELETE FROM rooms WHERE id = $1", room_id) > 0

    async def list_rooms(
        self, *, kinds: Sequence[str], after: str | None = None, limit: int = 50
    ) -> Page[RoomRecord]:
        if not kinds:
            return Page([])
        where = Where()
        where.add("kind = ANY({}::text[])", list(kinds))
        if after is not None:
            where.add("id > {}", after)
        limit_at = where.param(window(limit))
        sql = f"SELECT {ROOM_COLUMNS} FROM rooms {where} ORDER BY id LIMIT {limit_at}"
        rows = await self.db.fetch(sql, *where.params)
        return page(rows, limit, ROWS.room, lambda row: row[0])

    async def rooms_of(self, user_id: str) -> list[tuple[RoomRecord, MemberRecord]]:
        rows = await self.db.fetch(_ROOMS_OF, user_id)
        return [ROWS.room_and_member(row) for row in rows]

    async def room_list(
        self, user_id: str, *, cap: int = 1000
    ) -> list[tuple[RoomRecord, MemberRecord, int]]:
        rows = await self.db.fetch(_ROOM_LIST, user_id)
        return [ROWS.listed_room(row, max(cap, 0)) for row in rows]

    async def join_room(
        self, room_id: str, user_id: str, *, joined_at: float, max_rooms: int
    ) -> tuple[RoomRecord, MemberRecord, bool]:
        async def run(conn: Connection) -> tuple[RoomRecord, MemberRecord, bool]:
            # One user's joins take turns on every node: the count of their rooms
            # checked here is still the count when this one commits.
            await conn.execute(_JOIN_LOCK, LOCK_SPACE, user_id)
            # Shared: appends to the room and purges wait until the membership and its
            # counts are in, and it for them.
            found = await conn.fetchrow(
                f"SELECT {ROOM_COLUMNS}, msgs FROM rooms WHERE id = $1 FOR SHARE", room_id
            )
            room = room_to_join(room_id, None if found is None else ROWS.room(found))
            existing = await self._member(conn, room_id, user_id)
            if existing is not None:
                return room, existing, False
            flags = await conn.fetchrow(
                "SELECT EXISTS(SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2),"
                " EXISTS(SELECT 1 FROM room_invites WHERE room_id = $1 AND user_id = $2),"
                " (SELECT COUNT(*) FROM room_members WHERE user_id = $2)",
                room_id,
                user_id,
            )
            assert flags is not None
            banned, invited, count = flags
            check_join(room, banned=banned, invited=invited, count=count, max_rooms=max_rooms)
            member = MemberRecord(room_id, user_id, "member", joined_at)
            assert found is not None
            marker = await _new_marker(conn, member, last_seq=room.last_seq, room_msgs=found[-1])
            added = await conn.execute(_ADD_MEMBER, *ROWS.member_row(member, marker))
            if rowcount(added) == 0:  # made a member meanwhile, by add_member
                existing = await self._member(conn, room_id, user_id)
                assert existing is not None
                return room, existing, False
            if invited:
                await conn.execute(
                    "DELETE FROM room_invites WHERE room_id = $1 AND user_id = $2",
                    room_id,
                    user_id,
                )
            return room, member, True

        return await self.db.write(run)

    async def add_member(self, member: MemberRecord) -> bool:
        async def run(conn: Connection) -> bool:
            # Shared, as for a join: the counts beside the marker are of a history that
            # holds still.
            room = await conn.fetchrow(
                "SELECT last_seq, msgs FROM rooms WHERE id = $1 FOR SHARE", member.room_id
            )
            if room is None:
                raise no_room(member.room_id)
            marker = await _new_marker(conn, member, last_seq=room[0], room_msgs=room[1])
            status = await conn.execute(_ADD_MEMBER, *ROWS.member_row(member, marker))
            return rowcount(status) > 0

        return await self.db.write(run)

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        deleted = await self.db.execute(
            "DELETE FROM room_members WHERE room_id = $1 AND user_id = $2", room_id, user_id
        )
        return deleted > 0

    async def member(self, room_id: str, user_id: str) -> MemberRecord | None:
        return await self.db.read(lambda conn: self._member(conn, room_id, user_id))

    async def members(
        self, room_id: str, *, after: str | None = None, limit: int = 100
    ) -> Page[MemberRecord]:
        where = Where()
        where.add("room_id = {}", room_id)
        if after is not None:
            where.add("user_id > {}", after)
        sql = (
            f"SELECT {MEMBER_COLUMNS} FROM room_members {where}"
            f" ORDER BY user_id LIMIT {where.param(window(limit))}"
        )
        rows = await self.db.fetch(sql, *where.params)
        return page(rows, limit, ROWS.member, lambda row: row[1])

    async def count_rooms_of(self, user_id: str) -> int:
        count = await self.db.fetchval(
            "SELECT COUNT(*) FROM room_members WHERE user_id = $1", user_id
        )
        return int(count)

    async def set_ban(self, room_id: str, user_id: str, banned: bool) -> None:
        await self._set_flag("room_bans", room_id, user_id, banned)

    async def is_banned(self, room_id: str, user_id: str) -> bool:
        return await self._has_flag("room_bans", room_id, user_id)

    async def set_invite(self, room_id: str, user_id: str, invited: bool) -> None:
        await self._set_flag("room_invites", room_id, user_id, invited)

    async def is_invited(self, room_id: str, user_id: str) -> bool:
        return await self._has_flag("room_invites", room_id, user_id)

    async def set_read(self, room_id: str, user_id: str, seq: int) -> int:
        async def run(conn: Connection) -> int:
            row = await conn.fetchrow(_MARKER, room_id, user_id)
            if row is None:
                raise not_a_member(room_id, user_id)
            marker = ReadMarker(row[0], row[1], row[2])
            move = marker.move(seq, last_seq=row[3], room_msgs=row[4])
            if move is None:
                return marker.seq
            moved = await _moved(conn, room_id, user_id, move)
            await conn.execute(
                "UPDATE room_members SET read_seq = $3, read_msgs = $4, own_after = $5"
                " WHERE room_id = $1 AND user_id = $2",
                room_id,
                user_id,
                moved.seq,
                moved.msgs,
                moved.own,
            )
            return moved.seq

        return await self.db.write(run)

    async def unread_counts(
        self, user_id: str, *, cap: int = 1000, room_id: str | None = None
    ) -> dict[str, int]:
        # One row per room, read from the counts kept beside the marker: no history.
        sql, params = _UNREAD, [user_id]
        if room_id is not None:
            sql, params = sql + " AND m.room_id = $2", [user_id, room_id]
        rows = await self.db.fetch(sql + " ORDER BY m.room_id", *params)
        return dict(ROWS.unread_count(row, max(cap, 0)) for row in rows)

    # -- messages -------------------------------------------------------------

    async def append_messages(self, batch: Sequence[NewMessage]) -> list[Appended | HomerError]:
        if not batch:
            return []
        checked = AppendBatch(batch)
        room_ids = checked.room_ids

        async def run(conn: Connection) -> list[Appended | HomerError]:
            locked = await conn.fetch(_LOCK_ROOMS, room_ids)
            tails: dict[str, Tail] = {row[0]: (row[1], row[2]) for row in locked}
            # A statement of its own, after the locks: its snapshot holds every message
            # committed by the appends this one waited for, so a resend is recognised.
            keys = checked.keys(tails)
            stored: dict[Key, MessageRecord] = {}
            if keys:
                found = await conn.fetch(
                    _STORED_MESSAGES, *(list(column) for column in zip(*keys, strict=True))
                )
                for row in found:
                    record = ROWS.message(row)
                    stored[(record.room_id, record.sender_id, record.client_id)] = record
            targets: dict[Spot, MessageRecord] = {}
            spots = checked.spots(tails)
            if spots:
                for row in await conn.fetch(_MESSAGES_AT, *_columns(spots, 2)):
                    record = ROWS.message(row)
                    targets[(record.room_id, record.seq)] = record
            plan = checked.plan(tails, stored, targets)
            if plan.rows:
                await conn.execute(
                    _APPEND,
                    *_columns(plan.rows, 8),
                    *_columns(plan.rooms, 3),
                    *_columns(plan.senders, 3),
                    *_columns(plan.extras, 2),
                )
                await _write_changes(conn, plan)
            return plan.outcomes

        return await self.db.write(run)

    async def messages_after(
        self, room_id: str, after_seq: int, *, limit: int = 100
    ) -> list[MessageRecord]:
        rows = await self.db.fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq > $2"
            " ORDER BY seq LIMIT $3",
            room_id,
            after_seq,
            max(limit, 0),
        )
        return [ROWS.message(row) for row in rows]

    async def messages_before(
        self, room_id: str, before_seq: int | None, *, limit: int = 50
    ) -> list[MessageRecord]:
        if before_seq is None:
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1"
            params: tuple[Any, ...] = (room_id, max(limit, 0))
        else:
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq < $3"
            params = (room_id, max(limit, 0), before_seq)
        sql += " ORDER BY seq DESC LIMIT $2"
        rows = await self.db.fetch(sql, *params)
        return [ROWS.message(row) for row in reversed(rows)]

    async def messages_between(
        self, room_id: str, since: float, until: float, *, limit: int = 100, newest: bool = False
    ) -> list[MessageRecord]:
        order = "ts DESC, seq DESC" if newest else "ts, seq"
        rows = await self.db.fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM messages"
            f" WHERE room_id = $1 AND ts >= $2 AND ts < $3 ORDER BY {order} LIMIT $4",
            room_id,
            since,
            until,
            max(limit, 0),
        )
        return [ROWS.message(row) for row in (reversed(rows) if newest else rows)]

    async def message_at(self, room_id: str, seq: int) -> MessageRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq = $2",
            room_id,
            seq,
        )
        return None if row is None else ROWS.message(row)

    async def thread(
        self, room_id: str, root: int, *, after: int = 0, limit: int = 100
    ) -> list[MessageRecord]:
        rows = await self.db.fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND thread = $2"
            " AND seq > $3 ORDER BY seq LIMIT $4",
            room_id,
            root,
            after,
            max(limit, 0),
        )
        return [ROWS.message(row) for row in rows]

    async def edits_of(self, room_id: str, seq: int) -> list[tuple[int, JSONMap | None]]:
        rows = await self.db.fetch(
            "SELECT seq, previous FROM message_edits WHERE room_id = $1 AND target = $2"
            " ORDER BY seq",
            room_id,
            seq,
        )
        return [(row[0], row[1]) for row in rows]

    async def mention_counts(self, user_id: str, *, room_id: str | None = None) -> dict[str, int]:
        sql, params = _MENTIONS, [user_id]
        if room_id is not None:
            sql, params = sql + " AND r.room_id = $2", [user_id, room_id]
        rows = await self.db.fetch(sql + " GROUP BY r.room_id", *params)
        return {row[0]: row[1] for row in rows}

    async def search(
        self,
        user_id: str,
        query: Query,
        *,
        room_id: str | None = None,
        sender_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 20,
    ) -> list[SearchHit]:
        where: list[str] = []
        params: list[Any] = [user_id, query.tsquery()]
        for column, op, value in filters(room_id, sender_id, since, until):
            params.append(value)
            where.append(f" AND m.{column} {op} ${len(params)}")
        params += [WINDOW, max(limit, 0)]
        sql = _SEARCH.format(
            where="".join(where), window=f"${len(params) - 1}", limit=f"${len(params)}"
        )
        rows = await self.db.fetch(sql, *params)
        return [_hit(ROWS.message(row), query) for row in rows]

    async def purge_history(self, room_id: str) -> int:
        async def run(conn: Connection) -> int:
            # The row lock makes the purge wait for appends in flight, and them for it.
            epoch = await conn.fetchval(
                "UPDATE rooms SET epoch = epoch + 1, msgs = 0 WHERE id = $1 RETURNING epoch",
                room_id,
            )
            if epoch is None:
                raise no_room(room_id)
            for table in ("messages", "mentions", "message_edits"):
                await conn.execute(f"DELETE FROM {table} WHERE room_id = $1", room_id)
            await conn.execute(
                "UPDATE room_members SET read_msgs = 0, own_after = 0 WHERE room_id = $1", room_id
            )
            return int(epoch)

        return await self.db.write(run)

    # -- helpers --------------------------------------------------------------

    @staticmethod
    async def _member(conn: Connection, room_id: str, user_id: str) -> MemberRecord | None:
        row = await conn.fetchrow(
            f"SELECT {MEMBER_COLUMNS} FROM room_members WHERE room_id = $1 AND user_id = $2",
            room_id,
            user_id,
        )
        return None if row is None else ROWS.member(row)

    async def _set_flag(self, table: str, room_id: str, user_id: str, on: bool) -> None:
        """Add or remove a (room, user) row of ``room_bans`` or ``room_invites``."""
        if not on:
            await self.db.execute(
                f"DELETE FROM {table} WHERE room_id = $1 AND user_id = $2", room_id, user_id
            )
            return

        async def run(conn: Connection) -> None:
            await _require_room(conn, room_id)
            await conn.execute(
                f"INSERT INTO {table}(room_id, user_id) VALUES ($1, $2)"
                " ON CONFLICT (room_id, user_id) DO NOTHING",
                room_id,
                user_id,
            )

        await self.db.write(run)

    async def _has_flag(self, table: str, room_id: str, user_id: str) -> bool:
        row = await self.db.fetchrow(
            f"SELECT 1 FROM {table} WHERE room_id = $1 AND user_id = $2", room_id, user_id
        )
        return row is not None
