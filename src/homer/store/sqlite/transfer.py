"""An SQLite database file as the source or the target of a copy between stores,
and the consistent copy of one a backup takes.

Its rows are already in the neutral form (:mod:`homer.store.export`); the one
difference is where a message's searchable text lives: in ``search_docs``.
A target leaves the full-text index to the server, which indexes the rows it
has not indexed yet before its first search.

As a source, one read transaction spans the whole copy: under WAL it sees one
snapshot, whatever a running server writes meanwhile. Every call runs in a
worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from homer.errors import InvalidInput, StoreError
from homer.store.export import TABLES, Table, Tally, fingerprint, room_sums
from homer.store.migrations import load_migrations
from homer.store.sqlite.store import SQLiteStore
from homer.store.transfer import BLOBS, PROGRESS_TABLE, Progress

__all__ = ["SQLiteTables", "online_backup", "schema_version"]

T = TypeVar("T")

_SEARCH = "search"


def schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0])


def known_version() -> int:
    return load_migrations(SQLiteStore.MIGRATIONS)[-1].version


def online_backup(source: Path, target: Path) -> None:
    """A consistent copy of the database at ``source`` (a server may be writing to
    it) into a new file ``target``, with SQLite's online backup API in one step:
    under WAL the reader's snapshot holds while writers go on."""
    if not source.exists():
        raise InvalidInput(f"there is no SQLite database at {source}")
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # password hashes
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot back up {source}: {exc}") from exc
    finally:
        src.close()


class SQLiteTables:
    """One connection to ``path``, as a copy's source (``writable=False``) or target."""

    def __init__(self, path: Path, *, writable: bool) -> None:
        self.path = path
        self.where = str(path)
        self.writable = writable
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self.writable:
            store = SQLiteStore(self.path)  # creates and migrates it
            await store.open()
            await store.close()
        elif not self.path.exists():
            raise InvalidInput(f"there is no SQLite database at {self.path}")
        self._conn = await self._run(self._connect)

    def _connect(self) -> sqlite3.Connection:
        if self.writable:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        else:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=30000")
        version, known = schema_version(conn), known_version()
        if not self.writable and version != known:
            conn.close()
            raise InvalidInput(
                f"{self.path} has schema version {version}, this Homer {known}:"
                " run homer migrate on it first"
            )
        if not self.writable:
            conn.execute("BEGIN")  # one snapshot for the whole copy
            conn.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchall()
        return conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.to_thread(conn.close)

    async def _run(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store at {self.path} failed: {exc}") from exc

    async def _use(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError(f"the SQLite store at {self.path} is not open")
        return await self._run(lambda: fn(conn))

    # -- as a source ---------------------------------------------------------------

    async def fingerprint(self) -> str:
        return await self._use(
            lambda c: fingerprint(c.execute("SELECT id, created_at FROM groups ORDER BY id"))
        )

    async def schema_version(self) -> int:
        return await self._use(schema_version)

    async def count(self, table: Table) -> int:
        return await self._use(
            lambda c: int(c.execute(f"SELECT COUNT(*) FROM {table.name}").fetchone()[0])
        )

    async def read(self, table: Table, after: Sequence[Any] | None, limit: int) -> list[Any]:
        columns = ", ".join("d.text" if name == _SEARCH else f"t.{name}" for name in table.names)
        keys = ", ".join(f"t.{k}" for k in table.key)
        sql = f"SELECT {columns} FROM {table.name} t"
        if table.name == "messages":
            sql += " LEFT JOIN search_docs d ON d.room_id = t.room_id AND d.seq = t.seq"
        params: list[Any] = []
        if after is not None:
            sql += f" WHERE ({keys}) > ({', '.join('?' for _ in table.key)})"
            params += after
        sql += f" ORDER BY {keys}"
        if table.parent is None:
            sql += " LIMIT ?"
            params.append(limit)
        return await self._use(lambda c: c.execute(sql, params).fetchall())

    async def tally(self) -> Tally:
        return await self._use(_tally)

    # -- as a target ---------------------------------------------------------------

    async def progress(self) -> tuple[str, dict[str, Progress]] | None:
        def read(conn: sqlite3.Connection) -> tuple[str, dict[str, Progress]] | None:
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                (PROGRESS_TABLE,),
            ).fetchone()
            if not exists:
                return None
            rows = dict(conn.execute(f"SELECT name, value FROM {PROGRESS_TABLE}").fetchall())
            source = rows.pop("", "")
            return source, {k: msgspec.json.decode(v, type=Progress) for k, v in rows.items()}

        return await self._use(read)

    async def is_empty(self) -> bool:
        def empty(conn: sqlite3.Connection) -> bool:
            return not any(
                conn.execute(f"SELECT 1 FROM {t.name} LIMIT 1").fetchone() for t in TABLES
            )

        return await self._use(empty)

    async def begin(self, fingerprint: str) -> None:
        def create(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                f"CREATE TABLE {PROGRESS_TABLE} (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            conn.execute(f"INSERT INTO {PROGRESS_TABLE} VALUES ('', ?)", (fingerprint,))
            conn.execute("COMMIT")

        await self._use(create)

    async def write(self, table: Table, rows: Sequence[Any], progress: Progress) -> None:
        names = [n for n in table.names if n != _SEARCH]
        insert = (
            f"INSERT INTO {table.name}({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
        )
        width = len(names)
        search = table.names.index(_SEARCH) if _SEARCH in table.names else None
        state = msgspec.json.encode(progress).decode()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(insert, (row[:width] for row in rows))
                if search is not None:
                    conn.executemany(
                        "INSERT INTO search_docs(room_id, seq, sender_id, ts, text)"
                        " VALUES (?, ?, ?, ?, ?)",
                        ((r[0], r[1], r[3], r[6], r[search]) for r in rows if r[search]),
                    )
                conn.execute(
                    f"INSERT OR REPLACE INTO {PROGRESS_TABLE} VALUES (?, ?)", (table.name, state)
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._use(write)

    async def forget_progress(self) -> None:
        def drop(conn: sqlite3.Connection) -> None:
            conn.execute(f"DROP TABLE IF EXISTS {PROGRESS_TABLE}")

        await self._use(drop)

    async def file_keys(self, after: str | None, limit: int) -> list[Any]:
        sql = "SELECT id, blob_key, thumbnail_key FROM files"
        params: list[Any] = [] if after is None else [after]
        if after is not None:
            sql += " WHERE id > ?"
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return await self._use(lambda c: c.execute(sql, params).fetchall())

    async def rekey_file(
        self, file_id: str, blob_key: str, thumbnail_key: str | None, progress: Progress
    ) -> None:
        state = msgspec.json.encode(progress).decode()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "UPDATE files SET blob_key = ?, thumbnail_key = ? WHERE id = ?",
                    (blob_key, thumbnail_key, file_id),
                )
                conn.execute(
                    f"INSERT OR REPLACE INTO {PROGRESS_TABLE} VALUES (?, ?)", (BLOBS, state)
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._use(write)

    async def seal(self) -> None:
        """Leave one self-contained file: the log moved in, no ``-wal`` beside it."""

        def seal(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            conn.execute("PRAGMA journal_mode=DELETE").fetchall()

        await self._use(seal)

    async def finish(self) -> None:
        """SQLite moves an AUTOINCREMENT counter past every id written: nothing to do."""


def _tally(conn: sqlite3.Connection) -> Tally:
    counts = {
        t.name: int(conn.execute(f"SELECT COUNT(*) FROM {t.name}").fetchone()[0]) for t in TABLES
    }
    rooms = conn.execute("SELECT id, epoch, last_seq FROM rooms")
    messages = conn.execute(
        "SELECT room_id, seq, id, sender_id, kind, ts, body FROM messages ORDER BY room_id, seq"
    )
    return Tally(counts=counts, rooms=room_sums(rooms, messages))
