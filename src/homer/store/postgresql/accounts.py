"""The identity half of the PostgreSQL store: users, groups, the audit log, sessions
and token revocations. :class:`~homer.store.postgresql.store.PostgreSQLStore` adds
rooms and messages to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from homer.confusables import skeleton
from homer.store.postgresql.database import (
    ROWS,
    Connection,
    PostgreSQLDatabase,
    Where,
    marks,
    rowcount,
)
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

__all__ = ["PostgreSQLAccounts", "fill_skeletons"]

_INSERT_AUDIT = f"INSERT INTO audit({AUDIT_COLUMNS}) VALUES ({marks(5)})"


async def _audit(conn: Connection, events: AuditEvent | Sequence[AuditEvent]) -> None:
    """Write the events in the transaction of the change they record."""
    for event in audit_events(events):
        await conn.execute(_INSERT_AUDIT, *ROWS.audit_row(event))


async def _check_name_free(conn: Connection, table: Named, name: str, own_id: str) -> None:
    holder = await conn.fetchval(f"SELECT id FROM {table} WHERE name_key = $1", name_key(name))
    check_name_free(table, name, holder=holder, own_id=own_id)
    holder = await conn.fetchval(f"SELECT id FROM {table} WHERE name_skeleton = $1", skeleton(name))
    check_skeleton_free(table, name, holder=holder, own_id=own_id)


async def fill_skeletons(conn: Connection) -> int:
    """Give the rows written before skeletons were theirs, oldest first; return how
    many. A row whose skeleton an older row holds keeps a unique one of its own.
    Several nodes may open at once: the tables are locked while it fills them."""
    filled = 0
    for table in ("groups", "users"):
        if await conn.fetchval(f"SELECT 1 FROM {table} WHERE name_skeleton IS NULL LIMIT 1"):
            await conn.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        rows = await conn.fetch(
            f"SELECT id, name FROM {table} WHERE name_skeleton IS NULL ORDER BY created_at, id"
        )
        for row_id, name in rows:
            own = skeleton(name)
            taken = await conn.fetchval(f"SELECT 1 FROM {table} WHERE name_skeleton = $1", own)
            await conn.execute(
                f"UPDATE {table} SET name_skeleton = $1 WHERE id = $2",
                unique_skeleton(own, row_id, taken=taken is not None),
                row_id,
            )
            filled += 1
    return filled


class PostgreSQLAccounts:
    """:class:`~homer.store.ports.AccountStore`, ``GroupStore``, ``AuditLog``,
    ``SessionStore`` and ``TokenStore`` on one PostgreSQL database."""

    db: PostgreSQLDatabase

    # -- accounts -------------------------------------------------------------

    async def insert_user(self, user: UserRecord, audit: AuditEvent) -> None:
        await self._insert_named("users", USER_COLUMNS, user.name, ROWS.user_row(user), audit)

    async def user_by_id(self, user_id: str) -> UserRecord | None:
        row = await self.db.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
        return None if row is None else ROWS.user(row)

    async def user_by_name(self, name: str) -> UserRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users WHERE name_key = $1", name_key(name)
        )
        return None if row is None else ROWS.user(row)

    async def replace_user(
        self, user: UserRecord, audit: AuditEvent | Sequence[AuditEvent]
    ) -> None:
        await self._replace_named("users", USER_COLUMNS, user.name, ROWS.user_row(user), audit)

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
        where = Where()
        if search:
            where.add("strpos(name_key, {}) > 0", name_key(search))
        if group_id is not None:
            where.add("group_id = {}", group_id)
        if after is not None:
            where.add("name_key > {}", after)
        sql = (
            f"SELECT {USER_COLUMNS}, name_key FROM users {where}"
            f" ORDER BY name_key LIMIT {where.param(window(limit))}"
        )
        rows = await self.db.fetch(sql, *where.params)
        return page(rows, limit, ROWS.user, lambda row: row[-1])

    # -- groups ---------------------------------------------------------------

    async def insert_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        row = ROWS.group_row(group)
        await self._insert_named("groups", GROUP_COLUMNS, group.name, row, audit)

    async def group_by_id(self, group_id: str) -> GroupRecord | None:
        row = await self.db.fetchrow(f"SELECT {GROUP_COLUMNS} FROM groups WHERE id = $1", group_id)
        return None if row is None else ROWS.group(row)

    async def group_by_name(self, name: str) -> GroupRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {GROUP_COLUMNS} FROM groups WHERE name_key = $1", name_key(name)
        )
        return None if row is None else ROWS.group(row)

    async def all_groups(self) -> list[GroupRecord]:
        rows = await self.db.fetch(f"SELECT {GROUP_COLUMNS} FROM groups ORDER BY name_key")
        return [ROWS.group(row) for row in rows]

    async def replace_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        row = ROWS.group_row(group)
        await self._replace_named("groups", GROUP_COLUMNS, group.name, row, audit)

    async def delete_group(self, group_id: str, *, heir_id: str, audit: AuditEvent) -> int:
        check_heir(group_id, heir_id)

        async def run(conn: Connection) -> int:
            # Both rows locked, in id order: no user joins the doomed group meanwhile
            # and the heir cannot go away.
            locked = await conn.fetch(
                "SELECT id FROM groups WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
                [group_id, heir_id],
            )
            check_heir(group_id, heir_id, {row[0] for row in locked})
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

    async def record_audit(self, events: Sequence[AuditEvent]) -> None:
        async def run(conn: Connection) -> None:
            await _audit(conn, events)

        await self.db.write(run)

    async def audit_entries(
        self,
        *,
        before: int | None = None,
        limit: int = 50,
        actor: str | None = None,
        target: str | None = None,
    ) -> Page[AuditEntry]:
        where = Where()
        for template, value in (
            ("id < {}", before),
            ("actor = {}", actor),
            ("target = {}", target),
        ):
            if value is not None:
                where.add(template, value)
        sql = (
            f"SELECT id, {AUDIT_COLUMNS} FROM audit {where}"
            f" ORDER BY id DESC LIMIT {where.param(window(limit))}"
        )
        rows = await self.db.fetch(sql, *where.params)
        return page(rows, limit, ROWS.audit_entry, lambda row: str(row[0]))

    # -- sessions -------------------------------------------------------------

    async def put_session(self, session_id: str, data: JSONMap, expires_at: float | None) -> None:
        await self.db.execute(
            "INSERT INTO sessions(id, data, expires_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data,"
            " expires_at = EXCLUDED.expires_at",
            session_id,
            msgspec.json.encode(data),
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

    async def sessions_under(self, prefix: str, now: float, limit: int) -> dict[str, JSONMap]:
        rows = await self.db.fetch(
            "SELECT id, data FROM sessions WHERE starts_with(id, $1)"
            ' AND (expires_at IS NULL OR expires_at > $2) ORDER BY id COLLATE "C" LIMIT $3',
            prefix,
            now,
            limit,
        )
        return {str(row[0]): row[1] for row in rows}

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
            return Rows.revocations(tokens, users)

        return await self.db.read(run)

    async def revocations_of(self, user_id: str, jti: str | None) -> Revocations:
        async def run(conn: Connection) -> Revocations:
            tokens = await conn.fetch(
                "SELECT jti, expires_at FROM revoked_tokens WHERE jti = $1", jti
            )
            users = await conn.fetch(
                "SELECT user_id, not_before FROM user_token_cutoffs WHERE user_id = $1", user_id
            )
            return Rows.revocations(tokens, users)

        return await self.db.read(run)

    async def purge_revocations(self, now: float) -> int:
        return await self.db.execute(
            "DELETE FROM revoked_tokens WHERE expires_at IS NOT NULL AND expires_at <= $1", now
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
        sql = (
            f"INSERT INTO {table}(name_key, name_skeleton, {columns})"
            f" VALUES ({marks(len(row) + 2)})"
        )

        async def run(conn: Connection) -> None:
            await _check_name_free(conn, table, name, row[0])
            await conn.execute(sql, name_key(name), skeleton(name), *row)
            await _audit(conn, event)

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
        names = ["name_key", *columns.split(", ")[1:]]
        changed = ", ".join(f"{column}=${n}" for n, column in enumerate(names, 1))
        sql = (
            f"UPDATE {table} SET {changed} WHERE id=${len(names) + 1} AND version=${len(names) + 2}"
        )
        row_id, version = row[0], row[-1]
        key = name_key(name)

        async def run(conn: Connection) -> None:
            current = await conn.fetchval(f"SELECT name_key FROM {table} WHERE id = $1", row_id)
            if current is not None and current != key:  # a rename: its skeleton changes
                await _check_name_free(conn, table, name, row_id)
                await conn.execute(
                    f"UPDATE {table} SET name_skeleton = $1 WHERE id = $2 AND version = $3",
                    skeleton(name),
                    row_id,
                    version - 1,
                )
            status = await conn.execute(sql, key, *row[1:], row_id, version - 1)
            if rowcount(status) == 0:
                found = await conn.fetchval(f"SELECT version FROM {table} WHERE id = $1", row_id)
                raise missed_update(table, row_id, found)
            await _audit(conn, event)

        await self.db.write(run)
