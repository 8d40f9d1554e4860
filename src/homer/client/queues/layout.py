"""The queue file: its tables, and opening a connection to it.

``queues`` names each queue and holds its settings, which never change.
``items`` holds every queue's items in order, by ``(queue, id)``, and before
them, as id 0, the queue's *head row*: its ``length`` and ``last_id``, kept by
triggers, so every way an item comes or goes (push, pop, ack, drop) keeps them
right. The head row sits beside the oldest items, on the same page while the
queue is short, so a push or a pop writes one page, not two (decision 0017).

``last_id`` only grows, so an item id is never given twice in a queue, and
queue ids are never reused either (``AUTOINCREMENT``): a receipt can never
match an item it was not given for.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from homer.client.queues.errors import QueueFileError

__all__ = ["connect", "file_error", "is_busy"]

#: Marks a queue file (``PRAGMA application_id``): "HmQu".
APPLICATION_ID = 0x486D5175
#: The layout below (``PRAGMA user_version``).
VERSION = 1

TABLES = (
    """CREATE TABLE queues (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        capacity INTEGER NOT NULL,
        overflow TEXT NOT NULL,
        visibility REAL NOT NULL
    )""",
    # Items (id > 0): visible_at, a taken item is hidden until then (0: never
    # taken, or released); lease, the attempt that holds it now (NULL: nobody).
    # Head rows (id 0): length and last_id, NULL in items.
    """CREATE TABLE items (
        queue INTEGER NOT NULL,
        id INTEGER NOT NULL,
        data BLOB NOT NULL,
        visible_at REAL NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease INTEGER,
        length INTEGER,
        last_id INTEGER,
        PRIMARY KEY (queue, id)
    ) WITHOUT ROWID""",
    """CREATE TRIGGER item_in AFTER INSERT ON items WHEN NEW.id > 0 BEGIN
        UPDATE items SET length = length + 1, last_id = max(last_id, NEW.id)
        WHERE queue = NEW.queue AND id = 0;
    END""",
    """CREATE TRIGGER item_out AFTER DELETE ON items WHEN OLD.id > 0 BEGIN
        UPDATE items SET length = length - 1 WHERE queue = OLD.queue AND id = 0;
    END""",
)


def connect(path: Path, *, durable: bool, timeout: float, inline: bool) -> sqlite3.Connection:
    """A connection in WAL mode, the file made a queue file if it is new.

    ``timeout``: how long a statement waits for another connection's lock.
    ``inline``: for calls on the event loop: once the file is ready, its
    statements fail at once with ``SQLITE_BUSY`` rather than wait, and its
    commits never copy the WAL back into the file (a checkpoint can fsync).
    """
    if not path.exists():
        # The queues hold someone's messages: owner-only, as SQLite's -wal and
        # -shm files will be too (they take the database file's permissions).
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    conn = sqlite3.connect(
        path,
        timeout=timeout,
        isolation_level=None,  # autocommit; transactions are explicit
        check_same_thread=False,  # used by one thread at a time, not always the same
    )
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":  # e.g. a file system without shared memory
            raise QueueFileError(f"{path} cannot be used in WAL mode (it stays in {mode!r})")
        conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        _prepare(conn, path)
        if inline:
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute("PRAGMA busy_timeout=0")
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Check the file is a queue file of a layout this code knows; lay it out if new."""
    if _layout(conn, path):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not _layout(conn, path):  # another process may have laid it out meanwhile
            for statement in TABLES:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _layout(conn: sqlite3.Connection, path: Path) -> bool:
    """Whether the file is laid out already; raises if it is not a queue file."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if application_id == APPLICATION_ID:
        if version > VERSION:
            raise QueueFileError(
                f"{path} is a queue file of layout {version}, newer than this Homer's"
                f" ({VERSION}): open it with a newer Homer"
            )
        return True
    tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    if application_id != 0 or tables:
        raise QueueFileError(f"{path} is an SQLite file, but not a queue file")
    return False


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused because another connection holds a lock."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


def file_error(exc: sqlite3.Error, path: Path, timeout: float) -> QueueFileError:
    """What to raise for an error SQLite gave on the file at ``path``."""
    if is_busy(exc):
        return QueueFileError(
            f"{path} stayed locked by another connection for more than {timeout:g} s"
        )
    return QueueFileError(f"the queue file {path} failed: {exc}")
