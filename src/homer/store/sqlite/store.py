"""The embedded default Store: one SQLite file in the data directory, WAL mode."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from homer.errors import Conflict, NotFound, StoreError
from homer.store.records import (
    AuditEntry,
    AuditEvent,
    GroupRecord,
    JSONMap,
    Page,
    Revocations,
    UserRecord,
    name_key,
)
from homer.store.sqlite.database import SQLiteDatabase, Synchronous

__all__ = ["SQLiteStore"]

_USER_COLUMNS = (
    "id, name, password_hash, group_id, attributes, grants, denies, created_at, updated_at, version"
)
_GROUP_COLUMNS = "id, name, permissions, parent_id, created_at, updated_at, version"

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _names(values: Iterable[str]) -> bytes:
    return _encode(sorted(values))


def _user(row: tuple[Any, ...]) -> UserRecord:
    return UserRecord(
        id=row[0],
        name=row[1],
        password_hash=row[2],
        group_id=row[3],
        attributes=_decode(row[4]),
        grants=frozenset(_decode(row[5])),
        denies=frozenset(_decode(row[6])),
        created_at=row[7],
        updated_at=row[8],
        version=row[9],
    )


def _group(row: tuple[Any, ...]) -> GroupRecord:
    return GroupRecord(
        id=row[0],
        name=row[1],
        permissions=frozenset(_decode(row[2])),
        parent_id=row[3],
        created_at=row[4],
        updated_at=row[5],
        version=row[6],
    )


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

    def __init__(
        self, path: Path, *, synchronous: Synchronous = "NORMAL", busy_timeout: float = 10.0
    ) -> None:
        self.db = SQLiteDatabase(path, synchronous=synchronous, busy_timeout=busy_timeout)

    @property
    def path(self) -> Path:
        return self.db.path

    async def open(self) -> None:
        try:
            await self.db.open("homer.store.sqlite.migrations")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the SQLite store at {self.db.path}: {exc}") from exc

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self.db.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def schema_version(self) -> int:
        return await self.db.read(SQLiteDatabase.current_version)

    # -- accounts -------------------------------------------------------------

    async def insert_user(self, user: UserRecord, audit: AuditEvent) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _conflict_on_name(conn, "users", user.name, user.id)
            conn.execute(
                f"INSERT INTO users(name_key, {_USER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (name_key(user.name), *self._user_row(user)),
            )
            _audit(conn, audit)

        await self.db.write(run)

    async def user_by_id(self, user_id: str) -> UserRecord | None:
        row = await self.db.read(
            lambda conn: conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        )
        return None if row is None else _user(row)

    async def user_by_name(self, name: str) -> UserRecord | None:
        row = await self.db.read(
            lambda conn: conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE name_key = ?", (name_key(name),)
            ).fetchone()
        )
        return None if row is None else _user(row)

    async def replace_user(self, user: UserRecord, audit: AuditEvent) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _conflict_on_name(conn, "users", user.name, user.id)
            cursor = conn.execute(
                "UPDATE users SET name_key=?, name=?, password_hash=?, group_id=?, attributes=?,"
                " grants=?, denies=?, created_at=?, updated_at=?, version=?"
                " WHERE id=? AND version=?",
                (
                    name_key(user.name),
                    *self._user_row(user)[1:],
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
        sql = f"SELECT {_USER_COLUMNS}, name_key FROM users {where} ORDER BY name_key LIMIT ?"
        rows = await self.db.read(lambda conn: conn.execute(sql, (*params, limit + 1)).fetchall())
        more = len(rows) > limit
        rows = rows[:limit]
        return Page([_user(row) for row in rows], rows[-1][-1] if more else None)

    # -- groups ---------------------------------------------------------------

    async def insert_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _conflict_on_name(conn, "groups", group.name, group.id)
            conn.execute(
                f"INSERT INTO groups(name_key, {_GROUP_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                (name_key(group.name), *self._group_row(group)),
            )
            _audit(conn, audit)

        await self.db.write(run)

    async def group_by_id(self, group_id: str) -> GroupRecord | None:
        row = await self.db.read(
            lambda conn: conn.execute(
                f"SELECT {_GROUP_COLUMNS} FROM groups WHERE id = ?", (group_id,)
            ).fetchone()
        )
        return None if row is None else _group(row)

    async def group_by_name(self, name: str) -> GroupRecord | None:
        row = await self.db.read(
            lambda conn: conn.execute(
                f"SELECT {_GROUP_COLUMNS} FROM groups WHERE name_key = ?", (name_key(name),)
            ).fetchone()
        )
        return None if row is None else _group(row)

    async def all_groups(self) -> list[GroupRecord]:
        rows = await self.db.read(
            lambda conn: conn.execute(
                f"SELECT {_GROUP_COLUMNS} FROM groups ORDER BY name_key"
            ).fetchall()
        )
        return [_group(row) for row in rows]

    async def replace_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _conflict_on_name(conn, "groups", group.name, group.id)
            cursor = conn.execute(
                "UPDATE groups SET name_key=?, name=?, permissions=?, parent_id=?, created_at=?,"
                " updated_at=?, version=? WHERE id=? AND version=?",
                (
                    name_key(group.name),
                    *self._group_row(group)[1:],
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
            conn.execute(
                "UPDATE groups SET parent_id = ?, version = version + 1 WHERE parent_id = ?",
                (heir_id, group_id),
            )
            conn.execute("DELETE FROM groups WHERE id = ?", (group_id,))
            _audit(conn, audit)
            return moved

        return await self.db.write(run)

    async def count_members(self, group_id: str) -> int:
        row = await self.db.read(
            lambda conn: conn.execute(
                "SELECT COUNT(*) FROM users WHERE group_id = ?", (group_id,)
            ).fetchone()
        )
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
        rows = await self.db.read(lambda conn: conn.execute(sql, (*params, limit + 1)).fetchall())
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
        row = await self.db.read(
            lambda conn: conn.execute(
                "SELECT data FROM sessions WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)",
                (session_id, now),
            ).fetchone()
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

    async def purge_revocations(self, now: float) -> int:
        return await self.db.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM revoked_tokens WHERE expires_at IS NOT NULL AND expires_at <= ?",
                    (now,),
                ).rowcount
            )
        )

    # -- helpers --------------------------------------------------------------

    @staticmethod
    def _user_row(user: UserRecord) -> tuple[Any, ...]:
        return (
            user.id,
            user.name,
            user.password_hash,
            user.group_id,
            _encode(user.attributes),
            _names(user.grants),
            _names(user.denies),
            user.created_at,
            user.updated_at,
            user.version,
        )

    @staticmethod
    def _group_row(group: GroupRecord) -> tuple[Any, ...]:
        return (
            group.id,
            group.name,
            _names(group.permissions),
            group.parent_id,
            group.created_at,
            group.updated_at,
            group.version,
        )

    @staticmethod
    def _explain_missed_update(conn: sqlite3.Connection, table: str, row_id: str) -> None:
        row = conn.execute(f"SELECT version FROM {table} WHERE id = ?", (row_id,)).fetchone()
        kind = "user" if table == "users" else "group"
        if row is None:
            raise NotFound(f"no {kind} with id {row_id}")
        raise Conflict(f"the {kind} was changed concurrently (now at version {row[0]})")
