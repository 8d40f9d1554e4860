"""An SQLite connection that does not hold up the event loop.

One connection lives in one dedicated thread; every call is a plain function
of the connection, run in that thread. A write is a whole function run inside
``BEGIN IMMEDIATE ... COMMIT``, so a caller can batch many statements (group
commit) into one transaction and one fsync.

One exception, for the path every chat message takes: a write marked
``inline`` runs on the caller's thread, on a second connection that never
waits for a lock, when the database thread is idle, the commit does not fsync
(``NORMAL``) and no other process holds the write lock. Handing it to the
thread would cost more than running it (decision 0016). The reads a new
connection makes (its account, its rooms) may run inline too: reads never
wait for a writer under WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from homer.errors import Conflict, HomerError, SchemaTooNew, StoreError
from homer.store.migrations import Migration, load_migrations
from homer.store.rows import Rows

__all__ = ["ROWS", "SQLiteDatabase", "Synchronous"]

T = TypeVar("T")

#: ``NORMAL``: with WAL, a committed write survives a crash of the process but
#: the last transactions may be lost on power failure. ``FULL``: it survives a
#: power failure too, at the cost of an fsync per commit.
Synchronous = Literal["NORMAL", "FULL"]

_encode = msgspec.json.encode
_decode = msgspec.json.decode
#: JSON columns and name sets are JSON text here.
ROWS = Rows(load_json=_decode, dump_json=_encode, load_names=_decode, dump_names=_encode)


class _WriteLockTaken(Exception):
    """Another connection holds the lock an inline call needs (it does not wait)."""


class SQLiteDatabase:
    __slots__ = (
        "_checkpointer",
        "_conn",
        "_executor",
        "_in_thread",
        "_inline_conn",
        "busy_timeout",
        "path",
        "synchronous",
    )

    #: Seconds between background checkpoints (they move the WAL into the database
    #: file off the writer's path, so no commit pays for one).
    CHECKPOINT_EVERY = 1.0

    def __init__(
        self, path: Path, *, synchronous: Synchronous = "NORMAL", busy_timeout: float = 10.0
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        #: The event loop's own connection, for inline writes: its busy timeout is 0,
        #: so a lock another process holds sends the write to the thread at once.
        self._inline_conn: sqlite3.Connection | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        #: Calls handed to the database thread, oldest first, until seen finished:
        #: while one is not, the connection is the thread's and nothing runs inline.
        self._in_thread: deque[Future[Any]] = deque()

    async def open(self, migrations_package: str) -> None:
        """Connect in the database thread and apply the package's pending migrations."""
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="homer-sqlite")
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._connect)
            await self._call(lambda conn: self._migrate(conn, load_migrations(migrations_package)))
            if self.synchronous == "NORMAL":
                self._inline_conn = await loop.run_in_executor(
                    self._executor, lambda: self._open_connection(busy_timeout=0.0)
                )
        except BaseException:
            await self.close()
            raise
        self._checkpointer = loop.create_task(self._checkpoint_forever())

    async def close(self) -> None:
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checkpointer
        executor, self._executor = self._executor, None
        if executor is None:
            return
        conn, self._conn = self._conn, None
        inline, self._inline_conn = self._inline_conn, None
        loop = asyncio.get_running_loop()
        for each in (conn, inline):
            if each is not None:
                await loop.run_in_executor(executor, each.close)
        executor.shutdown(wait=False)  # nothing is queued any more; the thread ends by itself

    async def _checkpoint_forever(self) -> None:
        """Passive checkpoints from a connection and a thread of their own."""
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="homer-sqlite-wal")
        try:
            conn = await loop.run_in_executor(executor, self._open_checkpoint_connection)
        except sqlite3.Error:
            executor.shutdown(wait=False)
            return  # the writer's automatic checkpoints still run
        try:
            while True:
                await asyncio.sleep(self.CHECKPOINT_EVERY)
                with contextlib.suppress(sqlite3.Error):  # busy now: next time
                    await loop.run_in_executor(executor, _checkpoint, conn)
        finally:
            await asyncio.shield(loop.run_in_executor(executor, conn.close))
            executor.shutdown(wait=False)

    def _open_checkpoint_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        return conn

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in the database thread, outside any explicit transaction."""
        return await self._call(fn)

    async def fetch_one(
        self, sql: str, params: Sequence[object] = (), *, inline: bool = False
    ) -> Any:
        """The first row of one query, or ``None``; ``inline`` as for :meth:`fetch_all`."""
        return await self._query(lambda conn: conn.execute(sql, params).fetchone(), inline)

    async def fetch_all(
        self, sql: str, params: Sequence[object] = (), *, inline: bool = False
    ) -> list[Any]:
        """Every row of one query.

        ``inline``: a few indexed rows that every connection reads as it starts (its
        account, its rooms): run it here, on the loop's connection, unless that would
        wait for a lock; else in the database thread.
        """
        return await self._query(lambda conn: conn.execute(sql, params).fetchall(), inline)

    async def _query(self, fn: Callable[[sqlite3.Connection], T], inline: bool) -> T:
        conn = self._inline_conn
        if inline and conn is not None:
            try:
                return self._guarded(lambda c: self._inline_read(c, fn), conn)
            except _WriteLockTaken:
                pass  # a checkpoint resetting the WAL: wait for it in the thread
        return await self._call(fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T], *, inline: bool = False) -> T:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction; roll back if it raises.

        ``inline``: ``fn`` is short and touches the pages the last writes touched
        (appending messages): run it right here when that cannot wait on the disk
        or on another process, else in the database thread like any other call.
        """
        if inline and self._inline_conn is not None and self._thread_idle():
            try:
                return self._guarded(lambda conn: self._inline(conn, fn), self._inline_conn)
            except _WriteLockTaken:
                pass  # another process is writing: wait for it in the thread
        return await self._call(lambda conn: self._in_transaction(conn, fn))

    def _inline(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in a transaction on the loop's connection if the write lock is free
        right now, without waiting."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _WriteLockTaken from exc
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    @staticmethod
    def _inline_read(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in autocommit on the loop's connection; ``SQLITE_BUSY`` (rare for a
        reader under WAL) is not waited for."""
        try:
            return fn(conn)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
                raise _WriteLockTaken from exc
            raise

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        executor = self._executor
        if executor is None:
            raise StoreError(f"the SQLite store at {self.path} is not open")
        submitted = executor.submit(self._guarded, fn)
        self._in_thread.append(submitted)
        try:
            return await asyncio.wrap_future(submitted)
        finally:
            self._thread_idle()  # forget what has finished

    def _thread_idle(self) -> bool:
        """Whether the database thread has finished every call handed to it (one
        thread, first in first out: a call cancelled before it ran counts as done)."""
        calls = self._in_thread
        while calls and calls[0].done():
            calls.popleft()
        return not calls

    def _guarded(
        self, fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection | None = None
    ) -> T:
        """``fn`` on ``conn`` (the thread's connection by default), SQLite's errors
        translated."""
        conn = conn or self._conn
        if conn is None:
            raise StoreError(f"the SQLite store at {self.path} is not open")
        try:
            return fn(conn)
        except HomerError:
            raise
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"conflicts with stored data: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store failed: {exc}") from exc

    @staticmethod
    def _in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # its files are 0600
        # It holds password hashes: owner-only. SQLite gives the -wal and -shm
        # files the database file's permissions.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        self._conn = self._open_connection(busy_timeout=self.busy_timeout)

    def _open_connection(self, *, busy_timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=busy_timeout,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # each is used by one thread at a time
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        # Checkpoints run in the background (see _checkpoint_forever); the writer's own
        # only past ~80 MB of WAL, as a safety net.
        conn.execute("PRAGMA wal_autocheckpoint=20000")
        # Savepoint journals and sorts stay in memory, not in temporary files.
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        return conn

    def _migrate(self, conn: sqlite3.Connection, migrations: list[Migration]) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
        )
        current = self.current_version(conn)
        known = migrations[-1].version if migrations else 0
        if current > known:
            raise SchemaTooNew(
                f"{self.path} has schema version {current}, this Homer knows up to {known}:"
                " upgrade Homer instead of opening it with an older one"
            )
        for migration in migrations:
            if migration.version <= current:
                continue

            def apply(c: sqlite3.Connection, m: Migration = migration) -> None:
                # Re-check under the write lock: another process may have migrated meanwhile.
                if self.current_version(c) >= m.version:
                    return
                for statement in _statements(m.sql):
                    c.execute(statement)
                c.execute(
                    "INSERT INTO schema_migrations(version, name) VALUES (?, ?)",
                    (m.version, m.name),
                )

            self._in_transaction(conn, apply)

    @staticmethod
    def current_version(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        return int(row[0])


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit on its own)."""
    statements: list[str] = []
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending)
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in pending.splitlines()
    ):
        raise RuntimeError(f"incomplete statement at the end of a migration: {pending!r}")
    return statements
