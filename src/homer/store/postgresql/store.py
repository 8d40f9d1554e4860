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
from homer.store.appends import AppendBatch, Key, Tail
from homer.store.postgresql.accounts import PostgreSQLAccounts
from homer.store.postgresql.database import (
    LOCK_SPACE,
    ROWS,
    Connection,
    PostgreSQLDatabase,
    Where,
    marks,
    rowcount,
)
from homer.store.records import Appended, MemberRecord, MessageRecord, NewMessage, Page, RoomRecord
from homer.store.rows import MEMBER_COLUMNS, MESSAGE_COLUMNS, ROOM_COLUMNS, qualified
from homer.store.rules import (
    check_join,
    check_members,
    no_room,
    not_a_member,
    page,
    room_taken,
    room_to_join,
    window,
)

__all__ = ["PostgreSQLStore"]


#: The second key of the advisory lock that makes one user's joins take turns.
_JOIN_LOCK = "SELECT pg_advisory_xact_lock($1, hashtext($2))"


#: How many ``msg`` messages from others lie past member ``m``'s read marker, up to $1.
_UNREAD = (
    "(SELECT COUNT(*) FROM (SELECT 1 FROM messages g WHERE g.room_id = m.room_id"
    " AND g.seq > m.read_seq AND g.kind = 'msg' AND g.sender_id <> m.user_id LIMIT $1) u)"
)
_ROOMS_OF = (
    f"SELECT {qualified('r', ROOM_COLUMNS)}, {qualified('m', MEMBER_COLUMNS)}"
    " FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = $1 ORDER BY m.room_id"
)
_ROOM_LIST = (
    f"SELECT {qualified('r', ROOM_COLUMNS)}, {qualified('m', MEMBER_COLUMNS)}, {_UNREAD}"
    " FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = $2 ORDER BY m.room_id"
)
_INSERT_MEMBER = f"INSERT INTO room_members({MEMBER_COLUMNS}) VALUES ({marks(5)})"

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
#: The batch and the rooms' new last_seq in one statement, one round trip.
_APPEND = (
    f"WITH appended AS (INSERT INTO messages({MESSAGE_COLUMNS})"
    " SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::float8[], $8::json[]))"
    " UPDATE rooms SET last_seq = grown.last_seq"
    " FROM unnest($9::text[], $10::bigint[]) AS grown(id, last_seq) WHERE rooms.id = grown.id"
)


async def _require_room(conn: Connection, room_id: str) -> None:
    """Fail unless the room exists, and keep it from being deleted until the commit."""
    if await conn.fetchrow("SELECT 1 FROM rooms WHERE id = $1 FOR KEY SHARE", room_id) is None:
        raise no_room(room_id)


class PostgreSQLStore(PostgreSQLAccounts):
    """Implements :class:`homer.store.ports.Store` on one PostgreSQL database: rooms
    and messages here, the rest in :class:`PostgreSQLAccounts`.

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

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self.db.fetchval("SELECT 1")

    async def schema_version(self) -> int:
        return await self.db.read(PostgreSQLDatabase.current_version)

    # -- rooms ----------------------------------------------------------------

    async def create_room(self, room: RoomRecord, members: Sequence[MemberRecord]) -> None:
        check_members(room, members)
        member_rows = [ROWS.member_row(member) for member in members]

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
        rows = await self.db.fetch(_ROOM_LIST, max(cap, 0), user_id)
        return [ROWS.listed_room(row) for row in rows]

    async def join_room(
        self, room_id: str, user_id: str, *, joined_at: float, max_rooms: int
    ) -> tuple[RoomRecord, MemberRecord, bool]:
        async def run(conn: Connection) -> tuple[RoomRecord, MemberRecord, bool]:
            # One user's joins take turns on every node: the count of their rooms
            # checked here is still the count when this one commits.
            await conn.execute(_JOIN_LOCK, LOCK_SPACE, user_id)
            found = await conn.fetchrow(
                f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1 FOR KEY SHARE", room_id
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
            added = await conn.execute(
                _INSERT_MEMBER + " ON CONFLICT (room_id, user_id) DO NOTHING",
                *ROWS.member_row(member),
            )
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
        row = ROWS.member_row(member)

        async def run(conn: Connection) -> bool:
            await _require_room(conn, member.room_id)
            status = await conn.execute(
                _INSERT_MEMBER + " ON CONFLICT (room_id, user_id) DO NOTHING", *row
            )
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
        marker = await self.db.fetchval(
            "UPDATE room_members SET read_seq = GREATEST(read_seq,"
            " LEAST($1::bigint, (SELECT last_seq FROM rooms WHERE id = room_members.room_id)))"
            " WHERE room_id = $2 AND user_id = $3 RETURNING read_seq",
            seq,
            room_id,
            user_id,
        )
        if marker is None:
            raise not_a_member(room_id, user_id)
        return int(marker)

    async def unread_counts(
        self, user_id: str, *, cap: int = 1000, room_id: str | None = None
    ) -> dict[str, int]:
        # One bounded range scan of the primary key per room: a backlog costs ``cap`` rows.
        sql = f"SELECT m.room_id, {_UNREAD} FROM room_members m WHERE m.user_id = $2"
        params: tuple[object, ...] = (max(cap, 0), user_id)
        if room_id is not None:
            sql += " AND m.room_id = $3"
            params += (room_id,)
        sql += " ORDER BY m.room_id"
        rows = await self.db.fetch(sql, *params)
        return {row[0]: int(row[1]) for row in rows}

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
            plan = checked.plan(tails, stored)
            if plan.rows:
                await conn.execute(
                    _APPEND,
                    *(list(column) for column in zip(*plan.rows, strict=True)),
                    list(plan.grown),
                    list(plan.grown.values()),
                )
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

    async def purge_history(self, room_id: str) -> int:
        async def run(conn: Connection) -> int:
            # The row lock makes the purge wait for appends in flight, and them for it.
            epoch = await conn.fetchval(
                "UPDATE rooms SET epoch = epoch + 1 WHERE id = $1 RETURNING epoch", room_id
            )
            if epoch is None:
                raise no_room(room_id)
            await conn.execute("DELETE FROM messages WHERE room_id = $1", room_id)
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
