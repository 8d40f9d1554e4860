"""The Store for several nodes: one PostgreSQL database shared by all of them.

It behaves as the SQLite adapter does; what differs is that writers on other
nodes run at the same time. A room's row is locked for the length of an
append, so its sequence numbers stay dense and a resend finds the message it
repeats; the other rules are kept by unique indexes and row locks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import msgspec

from homer.errors import Conflict, Forbidden, HomerError, InvalidInput, NotFound
from homer.store.appends import Batch, Key, Tail
from homer.store.postgresql.database import (
    LOCK_SPACE,
    Connection,
    PostgreSQLDatabase,
    Row,
    rowcount,
)
from homer.store.records import (
    Appended,
    AuditEntry,
    AuditEvent,
    GroupRecord,
    JSONMap,
    MemberRecord,
    MessageRecord,
    NewMessage,
    Page,
    Revocations,
    RoomRecord,
    UserRecord,
    name_key,
)
from homer.store.rows import (
    GROUP_COLUMNS,
    MEMBER_COLUMNS,
    MEMBER_WIDTH,
    MESSAGE_COLUMNS,
    ROOM_COLUMNS,
    ROOM_WIDTH,
    USER_COLUMNS,
    Rows,
    qualified,
)

__all__ = ["PostgreSQLStore"]


#: The second key of the advisory lock that makes one user's joins take turns.
_JOIN_LOCK = "SELECT pg_advisory_xact_lock($1, hashtext($2))"


def _marks(count: int, start: int = 1) -> str:
    return ", ".join(f"${n}" for n in range(start, start + count))


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
_INSERT_MEMBER = f"INSERT INTO room_members({MEMBER_COLUMNS}) VALUES ({_marks(5)})"

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

_encode = msgspec.json.encode
#: asyncpg's codecs decode JSON columns and text arrays; JSON goes in encoded.
_ROWS = Rows(load_json=lambda value: value, dump_json=_encode, load_names=list, dump_names=list)


def _room_and_member(row: Row) -> tuple[RoomRecord, MemberRecord]:
    values = tuple(row)
    return _ROWS.room(values[:ROOM_WIDTH]), _ROWS.member(values[ROOM_WIDTH:])


class _Where:
    """``WHERE`` clauses with numbered parameters, built up one at a time."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, template: str, value: Any) -> None:
        """``template`` with ``{}`` where the parameter goes."""
        self.clauses.append(template.format(self.param(value)))

    def __str__(self) -> str:
        return f"WHERE {' AND '.join(self.clauses)}" if self.clauses else ""


async def _require_room(conn: Connection, room_id: str) -> None:
    """Fail unless the room exists, and keep it from being deleted until the commit."""
    if await conn.fetchrow("SELECT 1 FROM rooms WHERE id = $1 FOR KEY SHARE", room_id) is None:
        raise NotFound(f"no room with id {room_id}")


async def _audit(conn: Connection, event: AuditEvent) -> None:
    await conn.execute(
        "INSERT INTO audit(at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        event.at,
        event.actor,
        event.action,
        event.target,
        _encode(event.detail),
    )


async def _conflict_on_name(conn: Connection, table: str, name: str, own_id: str) -> None:
    """Raise a Conflict that names the clash, before the unique index would."""
    found = await conn.fetchval(f"SELECT id FROM {table} WHERE name_key = $1", name_key(name))
    if found is not None and found != own_id:
        kind = "user" if table == "users" else "group"
        raise Conflict(f"a {kind} named {name!r} already exists")


class PostgreSQLStore:
    """Implements :class:`homer.store.ports.Store` on one PostgreSQL database.

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

    # -- accounts -------------------------------------------------------------

    async def insert_user(self, user: UserRecord, audit: AuditEvent) -> None:
        async def run(conn: Connection) -> None:
            await _conflict_on_name(conn, "users", user.name, user.id)
            await conn.execute(
                f"INSERT INTO users(name_key, {USER_COLUMNS}) VALUES ({_marks(11)})",
                name_key(user.name),
                *_ROWS.user_row(user),
            )
            await _audit(conn, audit)

        await self.db.write(run)

    async def user_by_id(self, user_id: str) -> UserRecord | None:
        row = await self.db.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
        return None if row is None else _ROWS.user(row)

    async def user_by_name(self, name: str) -> UserRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users WHERE name_key = $1", name_key(name)
        )
        return None if row is None else _ROWS.user(row)

    async def replace_user(self, user: UserRecord, audit: AuditEvent) -> None:
        async def run(conn: Connection) -> None:
            await _conflict_on_name(conn, "users", user.name, user.id)
            status = await conn.execute(
                "UPDATE users SET name_key=$1, name=$2, password_hash=$3, group_id=$4,"
                " attributes=$5, grants=$6, denies=$7, created_at=$8, updated_at=$9, version=$10"
                " WHERE id=$11 AND version=$12",
                name_key(user.name),
                *_ROWS.user_row(user)[1:],
                user.id,
                user.version - 1,
            )
            if rowcount(status) == 0:
                await self._explain_missed_update(conn, "users", user.id)
            await _audit(conn, audit)

        await self.db.write(run)

    async def delete_user(self, user_id: str, audit: AuditEvent) -> bool:
        async def run(conn: Connection) -> bool:
            deleted = rowcount(await conn.execute("DELETE FROM users WHERE id = $1", user_id)) > 0
            if deleted:
                await _audit(conn, audit)
            return deleted

        return await self.db.write(run)

    async def list_users(
        self,
        *,
        search: str | None = None,
        group_id: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[UserRecord]:
        where = _Where()
        if search:
            where.add("strpos(name_key, {}) > 0", name_key(search))
        if group_id is not None:
            where.add("group_id = {}", group_id)
        if after is not None:
            where.add("name_key > {}", after)
        limit = max(limit, 0)
        sql = (
            f"SELECT {USER_COLUMNS}, name_key FROM users {where}"
            f" ORDER BY name_key LIMIT {where.param(limit + 1)}"
        )
        rows = await self.db.fetch(sql, *where.params)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page([_ROWS.user(row) for row in rows], rows[-1][-1] if more else None)

    # -- groups ---------------------------------------------------------------

    async def insert_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        async def run(conn: Connection) -> None:
            await _conflict_on_name(conn, "groups", group.name, group.id)
            await conn.execute(
                f"INSERT INTO groups(name_key, {GROUP_COLUMNS}) VALUES ({_marks(8)})",
                name_key(group.name),
                *_ROWS.group_row(group),
            )
            await _audit(conn, audit)

        await self.db.write(run)

    async def group_by_id(self, group_id: str) -> GroupRecord | None:
        row = await self.db.fetchrow(f"SELECT {GROUP_COLUMNS} FROM groups WHERE id = $1", group_id)
        return None if row is None else _ROWS.group(row)

    async def group_by_name(self, name: str) -> GroupRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {GROUP_COLUMNS} FROM groups WHERE name_key = $1", name_key(name)
        )
        return None if row is None else _ROWS.group(row)

    async def all_groups(self) -> list[GroupRecord]:
        rows = await self.db.fetch(f"SELECT {GROUP_COLUMNS} FROM groups ORDER BY name_key")
        return [_ROWS.group(row) for row in rows]

    async def replace_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        async def run(conn: Connection) -> None:
            await _conflict_on_name(conn, "groups", group.name, group.id)
            status = await conn.execute(
                "UPDATE groups SET name_key=$1, name=$2, permissions=$3, parent_id=$4,"
                " created_at=$5, updated_at=$6, version=$7 WHERE id=$8 AND version=$9",
                name_key(group.name),
                *_ROWS.group_row(group)[1:],
                group.id,
                group.version - 1,
            )
            if rowcount(status) == 0:
                await self._explain_missed_update(conn, "groups", group.id)
            await _audit(conn, audit)

        await self.db.write(run)

    async def delete_group(self, group_id: str, *, heir_id: str, audit: AuditEvent) -> int:
        if heir_id == group_id:
            raise Conflict("a group cannot be its own heir")

        async def run(conn: Connection) -> int:
            # Both rows locked, in id order: no user joins the doomed group meanwhile
            # and the heir cannot go away.
            locked = await conn.fetch(
                "SELECT id FROM groups WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
                [group_id, heir_id],
            )
            found = {row[0] for row in locked}
            for wanted in (group_id, heir_id):
                if wanted not in found:
                    raise NotFound(f"no group with id {wanted}")
            moved = rowcount(
                await conn.execute(
                    "UPDATE users SET group_id = $1, version = version + 1 WHERE group_id = $2",
                    heir_id,
                    group_id,
                )
            )
            # Child groups inherit from the deleted group's own parent (or from nothing):
            # never from the heir, which may be one of those very children.
            await conn.execute(
                "UPDATE groups SET version = version + 1, parent_id ="
                " (SELECT parent_id FROM groups WHERE id = $1) WHERE parent_id = $1",
                group_id,
            )
            await conn.execute("DELETE FROM groups WHERE id = $1", group_id)
            await _audit(conn, audit)
            return moved

        return await self.db.write(run)

    async def count_members(self, group_id: str) -> int:
        count = await self.db.fetchval("SELECT COUNT(*) FROM users WHERE group_id = $1", group_id)
        return int(count)

    # -- audit ----------------------------------------------------------------

    async def audit_entries(
        self,
        *,
        before: int | None = None,
        limit: int = 50,
        actor: str | None = None,
        target: str | None = None,
    ) -> Page[AuditEntry]:
        where = _Where()
        for template, value in (
            ("id < {}", before),
            ("actor = {}", actor),
            ("target = {}", target),
        ):
            if value is not None:
                where.add(template, value)
        limit = max(limit, 0)
        sql = (
            f"SELECT id, actor, action, target, at, detail FROM audit {where}"
            f" ORDER BY id DESC LIMIT {where.param(limit + 1)}"
        )
        rows = await self.db.fetch(sql, *where.params)
        more = len(rows) > limit
        entries = [
            AuditEntry(id=r[0], actor=r[1], action=r[2], target=r[3], at=r[4], detail=r[5])
            for r in rows[:limit]
        ]
        return Page(entries, str(entries[-1].id) if more else None)

    # -- sessions -------------------------------------------------------------

    async def put_session(self, session_id: str, data: JSONMap, expires_at: float | None) -> None:
        await self.db.execute(
            "INSERT INTO sessions(id, data, expires_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data,"
            " expires_at = EXCLUDED.expires_at",
            session_id,
            _encode(data),
            expires_at,
        )

    async def get_session(self, session_id: str, now: float) -> JSONMap | None:
        data: JSONMap | None = await self.db.fetchval(
            "SELECT data FROM sessions WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)",
            session_id,
            now,
        )
        return data

    async def delete_session(self, session_id: str) -> bool:
        return await self.db.execute("DELETE FROM sessions WHERE id = $1", session_id) > 0

    async def purge_sessions(self, now: float) -> int:
        return await self.db.execute(
            "DELETE FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= $1", now
        )

    # -- token revocation -----------------------------------------------------

    async def revoke_token(self, jti: str, expires_at: float | None, audit: AuditEvent) -> None:
        async def run(conn: Connection) -> None:
            await conn.execute(
                "INSERT INTO revoked_tokens(jti, expires_at) VALUES ($1, $2)"
                " ON CONFLICT (jti) DO NOTHING",
                jti,
                expires_at,
            )
            await _audit(conn, audit)

        await self.db.write(run)

    async def revoke_user_tokens(self, user_id: str, not_before: float, audit: AuditEvent) -> None:
        async def run(conn: Connection) -> None:
            await conn.execute(
                "INSERT INTO user_token_cutoffs(user_id, not_before) VALUES ($1, $2)"
                " ON CONFLICT (user_id) DO UPDATE SET"
                " not_before = GREATEST(user_token_cutoffs.not_before, EXCLUDED.not_before)",
                user_id,
                not_before,
            )
            await _audit(conn, audit)

        await self.db.write(run)

    async def revocations(self, now: float) -> Revocations:
        async def run(conn: Connection) -> Revocations:
            tokens = await conn.fetch(
                "SELECT jti, expires_at FROM revoked_tokens"
                " WHERE expires_at IS NULL OR expires_at > $1",
                now,
            )
            users = await conn.fetch("SELECT user_id, not_before FROM user_token_cutoffs")
            return Revocations(
                {row[0]: row[1] for row in tokens}, {row[0]: row[1] for row in users}
            )

        return await self.db.read(run)

    async def revocations_of(self, user_id: str, jti: str | None) -> Revocations:
        async def run(conn: Connection) -> Revocations:
            tokens = await conn.fetch(
                "SELECT jti, expires_at FROM revoked_tokens WHERE jti = $1", jti
            )
            users = await conn.fetch(
                "SELECT user_id, not_before FROM user_token_cutoffs WHERE user_id = $1", user_id
            )
            return Revocations(
                {row[0]: row[1] for row in tokens}, {row[0]: row[1] for row in users}
            )

        return await self.db.read(run)

    async def purge_revocations(self, now: float) -> int:
        return await self.db.execute(
            "DELETE FROM revoked_tokens WHERE expires_at IS NOT NULL AND expires_at <= $1", now
        )

    # -- rooms ----------------------------------------------------------------

    async def create_room(self, room: RoomRecord, members: Sequence[MemberRecord]) -> None:
        strays = sorted({m.room_id for m in members if m.room_id != room.id})
        if strays:
            raise InvalidInput(f"members of room {room.id} name other rooms: {', '.join(strays)}")
        member_rows = [_ROWS.member_row(member) for member in members]

        async def run(conn: Connection) -> None:
            if await conn.fetchrow("SELECT 1 FROM rooms WHERE id = $1", room.id) is not None:
                raise Conflict(f"a room with id {room.id} already exists")
            if (
                room.dm_key is not None
                and await conn.fetchrow("SELECT 1 FROM rooms WHERE dm_key = $1", room.dm_key)
                is not None
            ):
                raise Conflict(f"a direct-message room for {room.dm_key!r} already exists")
            await conn.execute(
                f"INSERT INTO rooms({ROOM_COLUMNS}) VALUES ({_marks(10)})", *_ROWS.room_row(room)
            )
            if member_rows:
                await conn.executemany(_INSERT_MEMBER, member_rows)

        await self.db.write(run)

    async def room(self, room_id: str) -> RoomRecord | None:
        row = await self.db.fetchrow(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1", room_id)
        return None if row is None else _ROWS.room(row)

    async def room_by_dm_key(self, dm_key: str) -> RoomRecord | None:
        row = await self.db.fetchrow(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE dm_key = $1", dm_key)
        return None if row is None else _ROWS.room(row)

    async def update_room(
        self,
        room_id: str,
        *,
        name: str | None = None,
        topic: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> RoomRecord:
        changes = _Where()
        for column, value in (("name", name), ("topic", topic)):
            if value is not None:
                changes.add(f"{column} = {{}}", value)
        if meta is not None:
            changes.add("meta = {}", _encode(meta))
        if changes.clauses:
            sql = (
                f"UPDATE rooms SET {', '.join(changes.clauses)}"
                f" WHERE id = {changes.param(room_id)} RETURNING {ROOM_COLUMNS}"
            )
            row = await self.db.fetchrow(sql, *changes.params)
        else:
            row = await self.db.fetchrow(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1", room_id)
        if row is None:
            raise NotFound(f"no room with id {room_id}")
        return _ROWS.room(row)

    async def delete_room(self, room_id: str) -> bool:
        # Members, bans, invitations and messages go with it (ON DELETE CASCADE).
        return await self.db.execute("DELETE FROM rooms WHERE id = $1", room_id) > 0

    async def list_rooms(
        self, *, kinds: Sequence[str], after: str | None = None, limit: int = 50
    ) -> Page[RoomRecord]:
        if not kinds:
            return Page([])
        where = _Where()
        where.add("kind = ANY({}::text[])", list(kinds))
        if after is not None:
            where.add("id > {}", after)
        limit = max(limit, 0)
        sql = f"SELECT {ROOM_COLUMNS} FROM rooms {where} ORDER BY id LIMIT {where.param(limit + 1)}"
        rows = await self.db.fetch(sql, *where.params)
        more = len(rows) > limit
        rooms = [_ROWS.room(row) for row in rows[:limit]]
        return Page(rooms, rooms[-1].id if more else None)

    async def rooms_of(self, user_id: str) -> list[tuple[RoomRecord, MemberRecord]]:
        rows = await self.db.fetch(_ROOMS_OF, user_id)
        return [_room_and_member(row) for row in rows]

    async def room_list(
        self, user_id: str, *, cap: int = 1000
    ) -> list[tuple[RoomRecord, MemberRecord, int]]:
        rows = await self.db.fetch(_ROOM_LIST, max(cap, 0), user_id)
        end = ROOM_WIDTH + MEMBER_WIDTH
        return [(*_room_and_member(tuple(row)[:end]), int(row[end])) for row in rows]

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
            if found is None:
                raise NotFound(f"no room {room_id!r}")
            room = _ROWS.room(found)
            existing = await self._member(conn, room_id, user_id)
            if existing is not None:
                return room, existing, False
            if room.kind == "dm":
                raise Forbidden("a direct conversation has exactly its two users")
            flags = await conn.fetchrow(
                "SELECT EXISTS(SELECT 1 FROM room_bans WHERE room_id = $1 AND user_id = $2),"
                " EXISTS(SELECT 1 FROM room_invites WHERE room_id = $1 AND user_id = $2),"
                " (SELECT COUNT(*) FROM room_members WHERE user_id = $2)",
                room_id,
                user_id,
            )
            assert flags is not None
            banned, invited, count = flags
            if banned:
                raise Forbidden(f"you are banned from {room_id!r}")
            if room.kind == "private" and not invited:
                raise Forbidden(f"{room_id!r} is private: it takes an invitation")
            if count >= max_rooms:
                raise Conflict(f"a user may be in at most {max_rooms} rooms")
            member = MemberRecord(room_id, user_id, "member", joined_at)
            added = await conn.execute(
                _INSERT_MEMBER + " ON CONFLICT (room_id, user_id) DO NOTHING",
                *_ROWS.member_row(member),
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
        row = _ROWS.member_row(member)

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
        where = _Where()
        where.add("room_id = {}", room_id)
        if after is not None:
            where.add("user_id > {}", after)
        limit = max(limit, 0)
        sql = (
            f"SELECT {MEMBER_COLUMNS} FROM room_members {where}"
            f" ORDER BY user_id LIMIT {where.param(limit + 1)}"
        )
        rows = await self.db.fetch(sql, *where.params)
        more = len(rows) > limit
        members = [_ROWS.member(row) for row in rows[:limit]]
        return Page(members, members[-1].user_id if more else None)

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
            raise NotFound(f"{user_id} is not a member of room {room_id}")
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
        checked = Batch(batch)
        room_ids = checked.room_ids

        async def run(conn: Connection) -> list[Appended | HomerError]:
            locked = await conn.fetch(_LOCK_ROOMS, room_ids)
            tails = {row[0]: Tail(row[1], row[2]) for row in locked}
            # A statement of its own, after the locks: its snapshot holds every message
            # committed by the appends this one waited for, so a resend is recognised.
            keys = checked.keys(tails)
            stored: dict[Key, MessageRecord] = {}
            if keys:
                found = await conn.fetch(
                    _STORED_MESSAGES, *(list(column) for column in zip(*keys, strict=True))
                )
                for row in found:
                    record = _ROWS.message(row)
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
        return [_ROWS.message(row) for row in rows]

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
        return [_ROWS.message(row) for row in reversed(rows)]

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
        return [_ROWS.message(row) for row in (reversed(rows) if newest else rows)]

    async def purge_history(self, room_id: str) -> int:
        async def run(conn: Connection) -> int:
            # The row lock makes the purge wait for appends in flight, and them for it.
            epoch = await conn.fetchval(
                "UPDATE rooms SET epoch = epoch + 1 WHERE id = $1 RETURNING epoch", room_id
            )
            if epoch is None:
                raise NotFound(f"no room with id {room_id}")
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
        return None if row is None else _ROWS.member(row)

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

    @staticmethod
    async def _explain_missed_update(conn: Connection, table: str, row_id: str) -> None:
        version = await conn.fetchval(f"SELECT version FROM {table} WHERE id = $1", row_id)
        kind = "user" if table == "users" else "group"
        if version is None:
            raise NotFound(f"no {kind} with id {row_id}")
        raise Conflict(f"the {kind} was changed concurrently (now at version {version})")
