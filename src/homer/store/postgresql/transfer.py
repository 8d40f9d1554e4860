"""A PostgreSQL database as the source or the target of a copy between stores.

Rows leave and arrive in the neutral form of :mod:`homer.store.export`: JSON
columns as their stored text (``json`` keeps it as written, so a message body
reads back byte for byte), ``text[]`` as JSON arrays. A target takes each
batch with ``COPY`` in one transaction beside its progress row, and at the
end sets the identity counters past the copied ids.

As a source, one ``REPEATABLE READ`` transaction spans the whole copy: every
table is read from one snapshot, whatever the nodes write meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec

from homer.errors import InvalidInput, StoreError
from homer.store.export import TABLES, Column, RoomSums, Table, Tally, fingerprint
from homer.store.migrations import load_migrations
from homer.store.postgresql.database import split_url
from homer.store.postgresql.store import PostgreSQLStore
from homer.store.transfer import BLOBS, PROGRESS_TABLE, Progress

__all__ = ["PostgreSQLTables"]

_TALLY_BATCH = 20000


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


async def _prepare(conn: Any) -> None:
    """JSON goes in as the text it is (bytes), and comes out as text."""
    await conn.set_type_codec(
        "json", schema="pg_catalog", encoder=_bytes, decoder=bytes.decode, format="binary"
    )


def _select(column: Column) -> str:
    if column.kind == "json":
        return f"{column.name}::text"
    if column.kind == "names":
        return f"to_json({column.name})::text"
    return column.name


def _to_target(columns: Sequence[Column], row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(
        msgspec.json.decode(value, type=list[str])
        if column.kind == "names" and value is not None
        else value
        for column, value in zip(columns, row, strict=True)
    )


class PostgreSQLTables:
    """One connection to the database ``url`` names, as a copy's source or target."""

    def __init__(self, url: str, *, writable: bool) -> None:
        self.url = url
        self.writable = writable
        self._dsn, _, self.where = split_url(url)
        self._conn: Any = None
        self._snapshot: Any = None

    async def open(self) -> None:
        if self.writable:
            store = PostgreSQLStore(self.url, pool_size=1)  # migrates it
            await store.open()
            await store.close()
        try:
            self._conn = await asyncpg.connect(self._dsn, timeout=10)
            await _prepare(self._conn)
            version = await self.schema_version()
            known = load_migrations(PostgreSQLStore.MIGRATIONS)[-1].version
            if version != known:
                raise InvalidInput(
                    f"the PostgreSQL store at {self.where} has schema version {version},"
                    f" this Homer {known}: run homer migrate on it first"
                )
            if not self.writable:
                self._snapshot = self._conn.transaction(isolation="repeatable_read", readonly=True)
                await self._snapshot.start()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self.close()
            raise StoreError(f"cannot open the PostgreSQL store at {self.where}: {exc}") from exc
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    @property
    def conn(self) -> Any:
        if self._conn is None:
            raise StoreError(f"the PostgreSQL store at {self.where} is not open")
        return self._conn

    async def schema_version(self) -> int:
        exists = await self.conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not exists:
            return 0
        return int(
            await self.conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        )

    # -- as a source ---------------------------------------------------------------

    async def fingerprint(self) -> str:
        return fingerprint(await self.conn.fetch("SELECT id, created_at FROM groups ORDER BY id"))

    async def count(self, table: Table) -> int:
        return int(await self.conn.fetchval(f"SELECT count(*) FROM {table.name}"))

    async def read(self, table: Table, after: Sequence[Any] | None, limit: int) -> list[Any]:
        columns = ", ".join(_select(c) for c in table.columns)
        keys = ", ".join(table.key)
        sql = f"SELECT {columns} FROM {table.name}"
        params: list[Any] = []
        if after is not None:
            marks = ", ".join(f"${n}" for n in range(1, len(table.key) + 1))
            sql += f" WHERE ({keys}) > ({marks})"
            params += after
        sql += f" ORDER BY {keys}"
        if table.parent is None:
            sql += f" LIMIT ${len(params) + 1}"
            params.append(limit)
        return [tuple(row) for row in await self.conn.fetch(sql, *params)]

    async def tally(self) -> Tally:
        conn = self.conn
        async with conn.transaction(isolation=None if self._snapshot else "repeatable_read"):
            counts = {t.name: await self.count(t) for t in TABLES}
            summer = RoomSums(await conn.fetch("SELECT id, epoch, last_seq FROM rooms"))
            cursor = conn.cursor(
                "SELECT room_id, seq, id, sender_id, kind, ts, body::text FROM messages"
                " ORDER BY room_id, seq",
                prefetch=_TALLY_BATCH,
            )
            batch: list[Any] = []
            async for row in cursor:
                batch.append(row)
                if len(batch) >= _TALLY_BATCH:
                    summer.add(batch)
                    batch = []
            summer.add(batch)
        return Tally(counts=counts, rooms=summer.result())

    # -- as a target ---------------------------------------------------------------

    async def progress(self) -> tuple[str, dict[str, Progress]] | None:
        if not await self.conn.fetchval(f"SELECT to_regclass('{PROGRESS_TABLE}') IS NOT NULL"):
            return None
        rows = {
            r[0]: r[1] for r in await self.conn.fetch(f"SELECT name, value FROM {PROGRESS_TABLE}")
        }
        source = rows.pop("", "")
        return source, {k: msgspec.json.decode(v, type=Progress) for k, v in rows.items()}

    async def is_empty(self) -> bool:
        for table in TABLES:
            if await self.conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table.name})"):
                return False
        return True

    async def begin(self, fingerprint: str) -> None:
        async with self.conn.transaction():
            await self.conn.execute(
                f'CREATE TABLE {PROGRESS_TABLE} (name text COLLATE "C" PRIMARY KEY,'
                " value text NOT NULL)"
            )
            await self.conn.execute(f"INSERT INTO {PROGRESS_TABLE} VALUES ('', $1)", fingerprint)

    async def write(self, table: Table, rows: Sequence[Any], progress: Progress) -> None:
        converting = any(c.kind == "names" for c in table.columns)
        records = [_to_target(table.columns, row) for row in rows] if converting else rows
        state = msgspec.json.encode(progress).decode()
        async with self.conn.transaction():
            if records:
                await self.conn.copy_records_to_table(
                    table.name, records=records, columns=list(table.names)
                )
            await self.conn.execute(
                f"INSERT INTO {PROGRESS_TABLE} VALUES ($1, $2)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                table.name,
                state,
            )

    async def file_keys(self, after: str | None, limit: int) -> list[Any]:
        if after is None:
            rows = await self.conn.fetch(
                "SELECT id, blob_key, thumbnail_key FROM files ORDER BY id LIMIT $1", limit
            )
        else:
            rows = await self.conn.fetch(
                "SELECT id, blob_key, thumbnail_key FROM files WHERE id > $1 ORDER BY id LIMIT $2",
                after,
                limit,
            )
        return [tuple(row) for row in rows]

    async def rekey_file(
        self, file_id: str, blob_key: str, thumbnail_key: str | None, progress: Progress
    ) -> None:
        state = msgspec.json.encode(progress).decode()
        async with self.conn.transaction():
            await self.conn.execute(
                "UPDATE files SET blob_key = $1, thumbnail_key = $2 WHERE id = $3",
                blob_key,
                thumbnail_key,
                file_id,
            )
            await self.conn.execute(
                f"INSERT INTO {PROGRESS_TABLE} VALUES ($1, $2)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                BLOBS,
                state,
            )

    async def forget_progress(self) -> None:
        await self.conn.execute(f"DROP TABLE IF EXISTS {PROGRESS_TABLE}")

    async def finish(self) -> None:
        for table in TABLES:
            if table.identity is None:
                continue
            await self.conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{table.identity}'),"
                f" COALESCE(MAX({table.identity}), 0) + 1, false) FROM {table.name}"
            )
