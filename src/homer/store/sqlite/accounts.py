"""The identity half of the SQLite store: users, groups, the audit log, sessions and
token revocations. :class:`~homer.store.sqlite.store.SQLiteStore` adds rooms and
messages to it."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from homer.confusables import skeleton
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
from homer.store.rows import AUDIT_COLUMNS, GROUP_COLUMNS, USER_COLUMNS, Rows
from homer.store.rules import (
    Named,
    audit_events,
    check_heir,
    check_name_free,
    check_skeleton_free,
    missed_update,
    page,
    unique_skeleton,
    window,
)
from homer.store.sqlite.database import ROWS, SQLiteDatabase

__all__ = ["SQLiteAccounts", "fill_skeletons"]

_INSERT_AUDIT = f"INSERT INTO audit({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?)"


def _audit(conn: sqlite3.Connection, events: AuditEvent | Sequence[AuditEvent]) -> None:
    """Write the events in the transaction of the change they record."""
    for event in audit_events(events):
        conn.execute(_INSERT_AUDIT, ROWS.audit_row(event))


def _check_name_free(conn: sqlite3.Connection, table: Named, name: str, own_id: str) -> None:
    row = conn.execute(f"SELECT id FROM {table} WHERE name_key = ?", (name_key(name),)).fetchone()
    check_name_free(table, name, holder=None if row is None else row[0], own_id=own_id)
    row = conn.execute(
        f"SELECT id FROM {table} WHERE name_skeleton = ?", (skeleton(name),)
    ).fetchone()
    check_skeleton_free(table, name, holder=None if row is None else row[0], own_id=own_id)


def fill_skeletons(conn: sqlite3.Connection) -> int:
    """Give the rows written before skeletons were theirs, oldest first; return how
    many. A row whose skeleton an older row holds keeps a unique one of its own."""
    filled = 0
    for table in ("groups", "users"):
        rows = conn.execute(
            f"SELECT id, name FROM {table} WHERE name_skeleton IS NULL ORDER BY created_at, id"
        ).fetchall()
        for row_id, name in rows:
            own = skeleton(name)
            taken = conn.execute(
                f"SELECT 1 FROM {table} WHERE name_skeleton = ?", (own,)
            ).fetchone()
            conn.execute(
                f"UPDATE {table} SET name_skeleton = ? WHERE id = ?",
                (unique_skeleton(own, row_id, taken=taken is not None), row_id),
            )
            filled += 1
    return filled


class SQLiteAccounts:
    """:class:`~homer.store.ports.AccountStore`, ``GroupStore``, ``AuditLog``,
    ``SessionStore`` and ``TokenStore`` on one SQLite database."""

    db: SQLiteDatabase

    # -- accounts -------------------------------------------------------------

    async def insert_user(self, user: UserRecord, audit: AuditEvent) -> None:
        await self._insert_named("users", USER_COLUMNS, user.name, ROWS.user_row(user), audit)

    async def user_by_id(self, user_id: str) -> UserRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,), inline=True
        )
        return None if row is None else ROWS.user(row)

    async def user_by_name(self, name: str) -> UserRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {USER_COLUMNS} FROM users WHERE name_key = ?", (name_key(name),)
        )
        return None if row is None else ROWS.user(row)

    async def replace_user(
        self, user: UserRecord, audit: AuditEvent | Sequence[AuditEvent]
    ) -> None:
        await self._replace_named("users", USER_COLUMNS, user.name, ROWS.user_row(user), audit)

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
        rows = await self.db.fetch_all(sql, (*params, window(limit)))
        return page(rows, limit, ROWS.user, lambda row: row[-1])

    # -- groups ---------------------------------------------------------------

    async def insert_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        row = ROWS.group_row(group)
        await self._insert_named("groups", GROUP_COLUMNS, group.name, row, audit)

    async def group_by_id(self, group_id: str) -> GroupRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {GROUP_COLUMNS} FROM groups WHERE id = ?", (group_id,)
        )
        return None if row is None else ROWS.group(row)

    async def group_by_name(self, name: str) -> GroupRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {GROUP_COLUMNS} FROM groups WHERE name_key = ?", (name_key(name),)
        )
        return None if row is None else ROWS.group(row)

    async def all_groups(self) -> list[GroupRecord]:
        rows = await self.db.fetch_all(f"SELECT {GROUP_COLUMNS} FROM groups ORDER BY name_key")
        return [ROWS.group(row) for row in rows]

    async def replace_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        row = ROWS.group_row(group)
        await self._replace_named("groups", GROUP_COLUMNS, group.name, row, audit)

    async def delete_group(self, group_id: str, *, heir_id: str, audit: AuditEvent) -> int:
        check_heir(group_id, heir_id)

        def run(conn: sqlite3.Connection) -> int:
            found = conn.execute(
                "SELECT id FROM groups WHERE id IN (?, ?)", (group_id, heir_id)
            ).fetchall()
            check_heir(group_id, heir_id, {row[0] for row in found})
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

    async def record_audit(self, events: Sequence[AuditEvent]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            _audit(conn, events)

        await self.db.write(run)

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
        sql = f"SELECT id, {AUDIT_COLUMNS} FROM audit {where} ORDER BY id DESC LIMIT ?"
        rows = await self.db.fetch_all(sql, (*params, window(limit)))
        return page(rows, limit, ROWS.audit_entry, lambda row: str(row[0]))

    # -- sessions -------------------------------------------------------------

    async def put_session(self, session_id: str, data: JSONMap, expires_at: float | None) -> None:
        payload = msgspec.json.encode(data)
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
        data: JSONMap = msgspec.json.decode(row[0])
        return data

    async def delete_session(self, session_id: str) -> bool:
        return await self.db.write(
            lambda conn: (
                conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0
            )
        )

    async def sessions_under(self, prefix: str, now: float, limit: int) -> dict[str, JSONMap]:
        # A range on the primary key (ids compare as UTF-8 bytes): its index serves it.
        rows = await self.db.fetch_all(
            "SELECT id, data FROM sessions WHERE id >= ? AND id < ?"
            " AND (expires_at IS NULL OR expires_at > ?) ORDER BY id LIMIT ?",
            (prefix, prefix + "\U0010ffff", now, limit),
        )
        return {str(row[0]): msgspec.json.decode(row[1]) for row in rows}

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
            return Rows.revocations(tokens, users)

        return await self.db.read(run)

    async def revocations_of(self, user_id: str, jti: str | None) -> Revocations:
        def run(conn: sqlite3.Connection) -> Revocations:
            tokens = conn.execute(
                "SELECT jti, expires_at FROM revoked_tokens WHERE jti = ?", (jti,)
            ).fetchall()
            users = conn.execute(
                "SELECT user_id, not_before FROM user_token_cutoffs WHERE user_id = ?", (user_id,)
            ).fetchall()
            return Rows.revocations(tokens, users)

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

    async def _insert_named(
        self,
        table: Named,
        columns: str,
        name: str,
        row: tuple[Any, ...],
        event: AuditEvent | Sequence[AuditEvent],
    ) -> None:
        """Insert a user or a group (``row``: its ``columns``), keyed by its name."""
        marks = ", ".join("?" * (len(row) + 2))
        sql = f"INSERT INTO {table}(name_key, name_skeleton, {columns}) VALUES ({marks})"

        def run(conn: sqlite3.Connection) -> None:
            _check_name_free(conn, table, name, row[0])
            conn.execute(sql, (name_key(name), skeleton(name), *row))
            _audit(conn, event)

        await self.db.write(run)

    async def _replace_named(
        self,
        table: Named,
        columns: str,
        name: str,
        row: tuple[Any, ...],
        event: AuditEvent | Sequence[AuditEvent],
    ) -> None:
        """Store a user or a group over the version before its own (the last column).
        Its skeleton changes (and is checked) only when its name does."""
        changed = ", ".join(f"{column}=?" for column in ["name_key", *columns.split(", ")[1:]])
        sql = f"UPDATE {table} SET {changed} WHERE id=? AND version=?"
        row_id, version = row[0], row[-1]
        key = name_key(name)

        def run(conn: sqlite3.Connection) -> None:
            stored = conn.execute(f"SELECT name_key FROM {table} WHERE id = ?", (row_id,))
            current = stored.fetchone()
            if current is not None and current[0] != key:  # a rename
                _check_name_free(conn, table, name, row_id)
                conn.execute(
                    f"UPDATE {table} SET name_skeleton = ? WHERE id = ? AND version = ?",
                    (skeleton(name), row_id, version - 1),
                )
            if conn.execute(sql, (key, *row[1:], row_id, version - 1)).rowcount == 0:
                found = conn.execute(
                    f"SELECT version FROM {table} WHERE id = ?", (row_id,)
                ).fetchone()
                raise missed_update(table, row_id, None if found is None else found[0])
            _audit(conn, event)

        await self.db.write(run)
