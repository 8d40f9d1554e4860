"""The embedded default Store: one SQLite file in the data directory, WAL mode."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from homer.errors import Conflict, Forbidden, HomerError, InvalidInput, NotFound, StoreError
from homer.store.appends import Batch, Key, Tail
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
from homer.store.sqlite.database import SQLiteDatabase, Synchronous

__all__ = ["SQLiteStore"]


_ROOMS_OF = (
    f"SELECT {qualified('r', ROOM_COLUMNS)}, {qualified('m', MEMBER_COLUMNS)}"
    " FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ? ORDER BY m.room_id"
)
#: The same, with each room's unread count (bounded by a cap) in the last column.
_ROOM_LIST = (
    f"SELECT {qualified('r', ROOM_COLUMNS)}, {qualified('m', MEMBER_COLUMNS)},"
    " (SELECT COUNT(*) FROM (SELECT 1 FROM messages g WHERE g.room_id = m.room_id"
    "  AND g.seq > m.read_seq AND g.kind = 'msg' AND g.sender_id != m.user_id LIMIT ?))"
    " FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ? ORDER BY m.room_id"
)
_INSERT_MESSAGE = f"INSERT INTO messages({MESSAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)"
#: Skips a message stored before (same room, sender and client id) instead of failing.
_INSERT_NEW_MESSAGE = _INSERT_MESSAGE + " ON CONFLICT(room_id, sender_id, client_id) DO NOTHING"
#: Each room's last_seq and the ts of its last message (what the next must not precede).
_TAILS = (
    "SELECT id, last_seq, (SELECT m.ts FROM messages m WHERE m.room_id = rooms.id"
    " ORDER BY m.seq DESC LIMIT 1) FROM rooms WHERE id IN ({marks})"
)
_STORED_MESSAGE = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND sender_id = ? AND client_id = ?"
)

_encode = msgspec.json.encode
_decode = msgspec.json.decode
#: JSON columns and name sets are JSON text here.
_ROWS = Rows(load_json=_decode, dump_json=_encode, load_names=_decode, dump_names=_encode)


def _require_room(conn: sqlite3.Connection, room_id: str) -> None:
    if conn.execute("SELECT 1 FROM rooms WHERE id = ?", (room_id,)).fetchone() is None:
        raise NotFound(f"no room with id {room_id}")


def _audit(conn: sqlite3.Connection, event: AuditEvent) -> None:
    conn.execute(
        "INSERT INTO audit(at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        (event.at, event.actor, event.action, event.target, _encode(event.detail)),
    )


def _conflict_on_name(conn: sqlite3.Connection, table: str, name: str, own_id: str) -> None:
    """Raise a Conflict that names the clash, before SQLite's own constraint would."""
    row = conn.execute(f"SELECT id FROM {table} WHERE name_key = ?", (name_key(name),)).fetchone()
    if row is not None and row[0] != own_id:
        kind = "user" if table == "users" else "group"
        raise Conflict(f"a {kind} named {name!r} already exists")


class SQLiteStore:
    """Implements :class:`homer.store.ports.Store` on one SQLite database file."""

    #: The package holding this adapter's numbered migrations.
    MIGRATIONS: ClassVar[str] = "homer.store.sqlite.migrations"

    def __init__(
        self, path: Path, *, synchronous: Synchronous = "NORMAL", busy_timeout: float = 10.0
    ) -> None:
        self.db = SQLiteDatabase(path, synchronous=synchronous, busy_timeout=busy_timeout)

    @property
    def path(self) -> Path:
        return self.db.path

    async def open(self) -> None:
        try:
            await self.db.open(self.MIGRATIONS)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the SQLite store at {self.db.path}: {exc}") from exc

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self.db.fetch_one("SELECT 1")

    async def schema_version(self) -> int:
        return await self.db.read(SQLiteDatabase.current_version)

    # -- accounts -------------------------------------------------------------

    async def insert_user(self, user: UserRecord, audit: AuditEvent) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _conflict_on_name(conn, "users", user.name, user.id)
            conn.execute(
                f"INSERT INTO users(name_key, {USER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (name_key(user.name), *_ROWS.user_row(user)),
            )
            _audit(conn, audit)

        await self.db.write(run)

    async def user_by_id(self, user_id: str) -> UserRecord | None:
        row = await self.db.fetch_one(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return None if row is None else _ROWS.user(row)

    async def user_by_name(self, name: str) -> UserRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {USER_COLUMNS} FROM users WHERE name_key = ?", (name_key(name),)
        )
        return None if row is None else _ROWS.user(row)

    async def replace_user(self, user: UserRecord, audit: AuditEvent) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _conflict_on_name(conn, "users", user.name, user.id)
            cursor = conn.execute(
                "UPDATE users SET name_key=?, name=?, password_hash=?, group_id=?, attributes=?,"
                " grants=?, denies=?, created_at=?, updated_at=?, version=?"
                " WHERE id=? AND version=?",
                (
                    name_key(user.name),
                    *_ROWS.user_row(user)[1:],
                    user.id,
                    user.version - 1,
                ),
            )
            if cursor.rowcount == 0:
                self._explain_missed_update(conn, "users", user.id)
            _audit(conn, audit)

        await self.db.write(run)

    async def delete_user(self, user_id: str, audit: AuditEvent) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            deleted = conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0
            if deleted:
                _audit(conn, audit)
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
        clauses: list[str] = []
        params: list[Any] = []
        if search:
            clauses.append("instr(name_key, ?) > 0")
            params.append(name_key(search))
        if group_id is not None:
            clauses.append("group_id = ?")
            params.append(group_id)
        if after is not None:
            clauses.append("name_key > ?")
            params.append(after)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {USER_COLUMNS}, name_key FROM users {where} ORDER BY name_key LIMIT ?"
        rows = await self.db.fetch_all(sql, (*params, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page([_ROWS.user(row) for row in rows], rows[-1][-1] if more else None)

    # -- groups ---------------------------------------------------------------

    async def insert_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _conflict_on_name(conn, "groups", group.name, group.id)
            conn.execute(
                f"INSERT INTO groups(name_key, {GROUP_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                (name_key(group.name), *_ROWS.group_row(group)),
            )
            _audit(conn, audit)

        await self.db.write(run)

    async def group_by_id(self, group_id: str) -> GroupRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {GROUP_COLUMNS} FROM groups WHERE id = ?", (group_id,)
        )
        return None if row is None else _ROWS.group(row)

    async def group_by_name(self, name: str) -> GroupRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {GROUP_COLUMNS} FROM groups WHERE name_key = ?", (name_key(name),)
        )
        return None if row is None else _ROWS.group(row)

    async def all_groups(self) -> list[GroupRecord]:
        rows = await self.db.fetch_all(f"SELECT {GROUP_COLUMNS} FROM groups ORDER BY name_key")
        return [_ROWS.group(row) for row in rows]

    async def replace_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _conflict_on_name(conn, "groups", group.name, group.id)
            cursor = conn.execute(
                "UPDATE groups SET name_key=?, name=?, permissions=?, parent_id=?, created_at=?,"
                " updated_at=?, version=? WHERE id=? AND version=?",
                (
                    name_key(group.name),
                    *_ROWS.group_row(group)[1:],
                    group.id,
                    group.version - 1,
                ),
            )
            if cursor.rowcount == 0:
                self._explain_missed_update(conn, "groups", group.id)
            _audit(conn, audit)

        await self.db.write(run)

    async def delete_group(self, group_id: str, *, heir_id: str, audit: AuditEvent) -> int:
        if heir_id == group_id:
            raise Conflict("a group cannot be its own heir")

        def run(conn: sqlite3.Connection) -> int:
            for wanted in (group_id, heir_id):
                if conn.execute("SELECT 1 FROM groups WHERE id = ?", (wanted,)).fetchone() is None:
                    raise NotFound(f"no group with id {wanted}")
            moved = conn.execute(
                "UPDATE users SET group_id = ?, version = version + 1 WHERE group_id = ?",
                (heir_id, group_id),
            ).rowcount
            # Child groups inherit from the deleted group's own parent (or from nothing):
            # never from the heir, which may be one of those very children.
            conn.execute(
                "UPDATE groups SET version = version + 1, parent_id ="
                " (SELECT parent_id FROM groups WHERE id = ?) WHERE parent_id = ?",
                (group_id, group_id),
            )
            conn.execute("DELETE FROM groups WHERE id = ?", (group_id,))
            _audit(conn, audit)
            return moved

        return await self.db.write(run)

    async def count_members(self, group_id: str) -> int:
        row = await self.db.fetch_one("SELECT COUNT(*) FROM users WHERE group_id = ?", (group_id,))
        return int(row[0])

    # -- audit ----------------------------------------------------------------

    async def audit_entries(
        self,
        *,
        before: int | None = None,
        limit: int = 50,
        actor: str | None = None,
        target: str | None = None,
    ) -> Page[AuditEntry]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("id <", before), ("actor =", actor), ("target =", target)):
            if value is not None:
                clauses.append(f"{column} ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT id, actor, action, target, at, detail FROM audit {where}"
            " ORDER BY id DESC LIMIT ?"
        )
        rows = await self.db.fetch_all(sql, (*params, limit + 1))
        more = len(rows) > limit
        entries = [
            AuditEntry(id=r[0], actor=r[1], action=r[2], target=r[3], at=r[4], detail=_decode(r[5]))
            for r in rows[:limit]
        ]
        return Page(entries, str(entries[-1].id) if more else None)

    # -- sessions -------------------------------------------------------------

    async def put_session(self, session_id: str, data: JSONMap, expires_at: float | None) -> None:
        payload = _encode(data)
        await self.db.write(
            lambda conn: conn.execute(
                "INSERT INTO sessions(id, data, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET data = excluded.data,"
                " expires_at = excluded.expires_at",
                (session_id, payload, expires_at),
            )
        )

    async def get_session(self, session_id: str, now: float) -> JSONMap | None:
        row = await self.db.fetch_one(
            "SELECT data FROM sessions WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)",
            (session_id, now),
        )
        if row is None:
            return None
        data: JSONMap = _decode(row[0])
        return data

    async def delete_session(self, session_id: str) -> bool:
        return await self.db.write(
            lambda conn: (
                conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0
            )
        )

    async def purge_sessions(self, now: float) -> int:
        return await self.db.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM sessions WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
                ).rowcount
            )
        )

    # -- token revocation -----------------------------------------------------

    async def revoke_token(self, jti: str, expires_at: float | None, audit: AuditEvent) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO revoked_tokens(jti, expires_at) VALUES (?, ?)"
                " ON CONFLICT(jti) DO NOTHING",
                (jti, expires_at),
            )
            _audit(conn, audit)

        await self.db.write(run)

    async def revoke_user_tokens(self, user_id: str, not_before: float, audit: AuditEvent) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO user_token_cutoffs(user_id, not_before) VALUES (?, ?)"
                " ON CONFLICT(user_id) DO UPDATE SET"
                " not_before = MAX(not_before, excluded.not_before)",
                (user_id, not_before),
            )
            _audit(conn, audit)

        await self.db.write(run)

    async def revocations(self, now: float) -> Revocations:
        def run(conn: sqlite3.Connection) -> Revocations:
            tokens = conn.execute(
                "SELECT jti, expires_at FROM revoked_tokens"
                " WHERE expires_at IS NULL OR expires_at > ?",
                (now,),
            ).fetchall()
            users = conn.execute("SELECT user_id, not_before FROM user_token_cutoffs").fetchall()
            return Revocations(dict(tokens), dict(users))

        return await self.db.read(run)

    async def revocations_of(self, user_id: str, jti: str | None) -> Revocations:
        def run(conn: sqlite3.Connection) -> Revocations:
            tokens = conn.execute(
                "SELECT jti, expires_at FROM revoked_tokens WHERE jti = ?", (jti,)
            ).fetchall()
            users = conn.execute(
                "SELECT user_id, not_before FROM user_token_cutoffs WHERE user_id = ?", (user_id,)
            ).fetchall()
            return Revocations(dict(tokens), dict(users))

        return await self.db.read(run)

    async def purge_revocations(self, now: float) -> int:
        return await self.db.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM revoked_tokens WHERE expires_at IS NOT NULL AND expires_at <= ?",
                    (now,),
                ).rowcount
            )
        )

    # -- rooms ----------------------------------------------------------------

    async def create_room(self, room: RoomRecord, members: Sequence[MemberRecord]) -> None:
        strays = sorted({m.room_id for m in members if m.room_id != room.id})
        if strays:
            raise InvalidInput(f"members of room {room.id} name other rooms: {', '.join(strays)}")
        member_rows = [_ROWS.member_row(member) for member in members]

        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM rooms WHERE id = ?", (room.id,)).fetchone():
                raise Conflict(f"a room with id {room.id} already exists")
            if (
                room.dm_key is not None
                and conn.execute("SELECT 1 FROM rooms WHERE dm_key = ?", (room.dm_key,)).fetchone()
            ):
                raise Conflict(f"a direct-message room for {room.dm_key!r} already exists")
            conn.execute(
                f"INSERT INTO rooms({ROOM_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                _ROWS.room_row(room),
            )
            conn.executemany(
                f"INSERT INTO room_members({MEMBER_COLUMNS}) VALUES (?,?,?,?,?)", member_rows
            )

        await self.db.write(run)

    async def room(self, room_id: str) -> RoomRecord | None:
        row = await self.db.fetch_one(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?", (room_id,))
        return None if row is None else _ROWS.room(row)

    async def room_by_dm_key(self, dm_key: str) -> RoomRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {ROOM_COLUMNS} FROM rooms WHERE dm_key = ?", (dm_key,)
        )
        return None if row is None else _ROWS.room(row)

    async def update_room(
        self,
        room_id: str,
        *,
        name: str | None = None,
        topic: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> RoomRecord:
        changes: list[str] = []
        params: list[Any] = []
        for column, value in (("name", name), ("topic", topic)):
            if value is not None:
                changes.append(f"{column} = ?")
                params.append(value)
        if meta is not None:
            changes.append("meta = ?")
            params.append(_encode(meta))

        def run(conn: sqlite3.Connection) -> RoomRecord:
            if changes:
                conn.execute(
                    f"UPDATE rooms SET {', '.join(changes)} WHERE id = ?", (*params, room_id)
                )
            row = conn.execute(
                f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?", (room_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no room with id {room_id}")
            return _ROWS.room(row)

        return await self.db.write(run)

    async def delete_room(self, room_id: str) -> bool:
        # Members, bans, invitations and messages go with it (ON DELETE CASCADE).
        return await self.db.write(
            lambda conn: conn.execute("DELETE FROM rooms WHERE id = ?", (room_id,)).rowcount > 0
        )

    async def list_rooms(
        self, *, kinds: Sequence[str], after: str | None = None, limit: int = 50
    ) -> Page[RoomRecord]:
        if not kinds:
            return Page([])
        params: list[Any] = list(kinds)
        where = f"kind IN ({', '.join('?' * len(kinds))})"
        if after is not None:
            where += " AND id > ?"
            params.append(after)
        sql = f"SELECT {ROOM_COLUMNS} FROM rooms WHERE {where} ORDER BY id LIMIT ?"
        limit = max(limit, 0)
        rows = await self.db.fetch_all(sql, (*params, limit + 1))
        more = len(rows) > limit
        rooms = [_ROWS.room(row) for row in rows[:limit]]
        return Page(rooms, rooms[-1].id if more else None)

    async def rooms_of(self, user_id: str) -> list[tuple[RoomRecord, MemberRecord]]:
        rows = await self.db.fetch_all(_ROOMS_OF, (user_id,))
        return [(_ROWS.room(row[:ROOM_WIDTH]), _ROWS.member(row[ROOM_WIDTH:])) for row in rows]

    async def room_list(
        self, user_id: str, *, cap: int = 1000
    ) -> list[tuple[RoomRecord, MemberRecord, int]]:
        rows = await self.db.fetch_all(_ROOM_LIST, (max(cap, 0), user_id))
        end = ROOM_WIDTH + MEMBER_WIDTH
        return [
            (_ROWS.room(row[:ROOM_WIDTH]), _ROWS.member(row[ROOM_WIDTH:end]), int(row[end]))
            for row in rows
        ]

    async def join_room(
        self, room_id: str, user_id: str, *, joined_at: float, max_rooms: int
    ) -> tuple[RoomRecord, MemberRecord, bool]:
        def run(conn: sqlite3.Connection) -> tuple[RoomRecord, MemberRecord, bool]:
            found = conn.execute(
                f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?", (room_id,)
            ).fetchone()
            if found is None:
                raise NotFound(f"no room {room_id!r}")
            room = _ROWS.room(found)
            existing = conn.execute(
                f"SELECT {MEMBER_COLUMNS} FROM room_members WHERE room_id = ? AND user_id = ?",
                (room_id, user_id),
            ).fetchone()
            if existing is not None:
                return room, _ROWS.member(existing), False
            if room.kind == "dm":
                raise Forbidden("a direct conversation has exactly its two users")
            flags = conn.execute(
                "SELECT EXISTS(SELECT 1 FROM room_bans WHERE room_id = ?1 AND user_id = ?2),"
                " EXISTS(SELECT 1 FROM room_invites WHERE room_id = ?1 AND user_id = ?2),"
                " (SELECT COUNT(*) FROM room_members WHERE user_id = ?2)",
                (room_id, user_id),
            ).fetchone()
            banned, invited, count = flags
            if banned:
                raise Forbidden(f"you are banned from {room_id!r}")
            if room.kind == "private" and not invited:
                raise Forbidden(f"{room_id!r} is private: it takes an invitation")
            if count >= max_rooms:
                raise Conflict(f"a user may be in at most {max_rooms} rooms")
            member = MemberRecord(room_id, user_id, "member", joined_at)
            conn.execute(
                f"INSERT INTO room_members({MEMBER_COLUMNS}) VALUES (?,?,?,?,?)",
                _ROWS.member_row(member),
            )
            if invited:
                conn.execute(
                    "DELETE FROM room_invites WHERE room_id = ? AND user_id = ?",
                    (room_id, user_id),
                )
            return room, member, True

        return await self.db.write(run)

    async def add_member(self, member: MemberRecord) -> bool:
        row = _ROWS.member_row(member)

        def run(conn: sqlite3.Connection) -> bool:
            _require_room(conn, member.room_id)
            return (
                conn.execute(
                    f"INSERT INTO room_members({MEMBER_COLUMNS}) VALUES (?,?,?,?,?)"
                    " ON CONFLICT(room_id, user_id) DO NOTHING",
                    row,
                ).rowcount
                > 0
            )

        return await self.db.write(run)

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        return await self.db.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM room_members WHERE room_id = ? AND user_id = ?", (room_id, user_id)
                ).rowcount
                > 0
            )
        )

    async def member(self, room_id: str, user_id: str) -> MemberRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {MEMBER_COLUMNS} FROM room_members WHERE room_id = ? AND user_id = ?",
            (room_id, user_id),
        )
        return None if row is None else _ROWS.member(row)

    async def members(
        self, room_id: str, *, after: str | None = None, limit: int = 100
    ) -> Page[MemberRecord]:
        limit = max(limit, 0)
        sql = f"SELECT {MEMBER_COLUMNS} FROM room_members WHERE room_id = ?"
        params: tuple[Any, ...] = (room_id, limit + 1)
        if after is not None:
            sql += " AND user_id > ?"
            params = (room_id, after, limit + 1)
        sql += " ORDER BY user_id LIMIT ?"
        rows = await self.db.fetch_all(sql, params)
        more = len(rows) > limit
        members = [_ROWS.member(row) for row in rows[:limit]]
        return Page(members, members[-1].user_id if more else None)

    async def count_rooms_of(self, user_id: str) -> int:
        row = await self.db.fetch_one(
            "SELECT COUNT(*) FROM room_members WHERE user_id = ?", (user_id,)
        )
        return int(row[0])

    async def set_ban(self, room_id: str, user_id: str, banned: bool) -> None:
        await self._set_flag("room_bans", room_id, user_id, banned)

    async def is_banned(self, room_id: str, user_id: str) -> bool:
        return await self._has_flag("room_bans", room_id, user_id)

    async def set_invite(self, room_id: str, user_id: str, invited: bool) -> None:
        await self._set_flag("room_invites", room_id, user_id, invited)

    async def is_invited(self, room_id: str, user_id: str) -> bool:
        return await self._has_flag("room_invites", room_id, user_id)

    async def set_read(self, room_id: str, user_id: str, seq: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "UPDATE room_members SET read_seq = MAX(read_seq,"
                " MIN(?, (SELECT last_seq FROM rooms WHERE id = room_members.room_id)))"
                " WHERE room_id = ? AND user_id = ? RETURNING read_seq",
                (seq, room_id, user_id),
            ).fetchall()
            if not rows:
                raise NotFound(f"{user_id} is not a member of room {room_id}")
            return int(rows[0][0])

        return await self.db.write(run)

    async def unread_counts(
        self, user_id: str, *, cap: int = 1000, room_id: str | None = None
    ) -> dict[str, int]:
        # One bounded range scan of the primary key per room: a backlog costs ``cap`` rows.
        sql = (
            "SELECT m.room_id, (SELECT COUNT(*) FROM ("
            "  SELECT 1 FROM messages g WHERE g.room_id = m.room_id AND g.seq > m.read_seq"
            "  AND g.kind = 'msg' AND g.sender_id != m.user_id LIMIT ?))"
            " FROM room_members m WHERE m.user_id = ?"
        )
        params: tuple[object, ...] = (max(cap, 0), user_id)
        if room_id is not None:
            sql += " AND m.room_id = ?"
            params += (room_id,)
        sql += " ORDER BY m.room_id"
        rows = await self.db.fetch_all(sql, params)
        return dict(rows)

    # -- messages -------------------------------------------------------------

    async def append_messages(self, batch: Sequence[NewMessage]) -> list[Appended | HomerError]:
        if not batch:
            return []
        checked = Batch(batch)
        room_ids = checked.room_ids
        # Every room's tail in one query, not one per room of the batch.
        tails_sql = _TAILS.format(marks=",".join("?" * len(room_ids)))

        def run(conn: sqlite3.Connection) -> list[Appended | HomerError]:
            found = conn.execute(tails_sql, room_ids).fetchall()
            tails = {room: Tail(seq, ts) for room, seq, ts in found}
            # Resends of stored messages are rare: number the batch without looking each
            # message up, insert it all at once and see whether every row went in.
            plan = checked.plan(tails, {})
            if not plan.rows:
                return plan.outcomes
            conn.execute("SAVEPOINT append")
            if conn.executemany(_INSERT_NEW_MESSAGE, plan.rows).rowcount != len(plan.rows):
                # One was stored before: undo, look each up, and number the batch again.
                conn.execute("ROLLBACK TO append")
                stored: dict[Key, MessageRecord] = {}
                for key in checked.keys(tails):
                    row = conn.execute(_STORED_MESSAGE, key).fetchone()
                    if row is not None:
                        stored[key] = _ROWS.message(row)
                plan = checked.plan(tails, stored)
                conn.executemany(_INSERT_MESSAGE, plan.rows)
            conn.execute("RELEASE append")
            conn.executemany(
                "UPDATE rooms SET last_seq = ? WHERE id = ?",
                [(seq, room_id) for room_id, seq in plan.grown.items()],
            )
            return plan.outcomes

        return await self.db.write(run)

    async def messages_after(
        self, room_id: str, after_seq: int, *, limit: int = 100
    ) -> list[MessageRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (room_id, after_seq, max(limit, 0)),
        )
        return [_ROWS.message(row) for row in rows]

    async def messages_before(
        self, room_id: str, before_seq: int | None, *, limit: int = 50
    ) -> list[MessageRecord]:
        if before_seq is None:
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ?"
            params: tuple[Any, ...] = (room_id, max(limit, 0))
        else:
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq < ?"
            params = (room_id, before_seq, max(limit, 0))
        sql += " ORDER BY seq DESC LIMIT ?"
        rows = await self.db.fetch_all(sql, params)
        return [_ROWS.message(row) for row in reversed(rows)]

    async def messages_between(
        self, room_id: str, since: float, until: float, *, limit: int = 100, newest: bool = False
    ) -> list[MessageRecord]:
        order = "ts DESC, seq DESC" if newest else "ts, seq"
        rows = await self.db.fetch_all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND ts >= ? AND ts < ?"
            f" ORDER BY {order} LIMIT ?",
            (room_id, since, until, max(limit, 0)),
        )
        return [_ROWS.message(row) for row in (reversed(rows) if newest else rows)]

    async def purge_history(self, room_id: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "UPDATE rooms SET epoch = epoch + 1 WHERE id = ? RETURNING epoch", (room_id,)
            ).fetchall()
            if not rows:
                raise NotFound(f"no room with id {room_id}")
            conn.execute("DELETE FROM messages WHERE room_id = ?", (room_id,))
            return int(rows[0][0])

        return await self.db.write(run)

    # -- helpers --------------------------------------------------------------

    async def _set_flag(self, table: str, room_id: str, user_id: str, on: bool) -> None:
        """Add or remove a (room, user) row of ``room_bans`` or ``room_invites``."""

        def run(conn: sqlite3.Connection) -> None:
            if on:
                _require_room(conn, room_id)
                conn.execute(
                    f"INSERT INTO {table}(room_id, user_id) VALUES (?, ?)"
                    " ON CONFLICT(room_id, user_id) DO NOTHING",
                    (room_id, user_id),
                )
            else:
                conn.execute(
                    f"DELETE FROM {table} WHERE room_id = ? AND user_id = ?", (room_id, user_id)
                )

        await self.db.write(run)

    async def _has_flag(self, table: str, room_id: str, user_id: str) -> bool:
        row = await self.db.fetch_one(
            f"SELECT 1 FROM {table} WHERE room_id = ? AND user_id = ?", (room_id, user_id)
        )
        return row is not None

    @staticmethod
    def _explain_missed_update(conn: sqlite3.Connection, table: str, row_id: str) -> None:
        row = conn.execute(f"SELECT version FROM {table} WHERE id = ?", (row_id,)).fetchone()
        kind = "user" if table == "users" else "group"
        if row is None:
            raise NotFound(f"no {kind} with id {row_id}")
        raise Conflict(f"the {kind} was changed concurrently (now at version {row[0]})")
