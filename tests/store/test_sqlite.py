"""What is particular to the SQLite adapter: the file, WAL, migrations, the thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from homer.errors import Conflict, SchemaTooNew, StoreError
from homer.store.migrations import load_migrations
from homer.store.records import AuditEvent
from homer.store.sqlite import SQLiteStore
from homer.testing.store_conformance import make_group, make_user

EVENT = AuditEvent(actor="t", action="a", target="x", at=0.0)


async def test_migrations_are_recorded_and_reopening_applies_none(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    known = await asyncio.to_thread(load_migrations, "homer.store.sqlite.migrations")
    for _ in range(2):
        store = SQLiteStore(path)
        await store.open()
        assert await store.schema_version() == len(known)
        await store.close()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert rows == [(1, "identity")]
    assert mode == "wal"


async def test_a_database_from_a_newer_homer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations(version, name) VALUES (999, 'future')")
    with pytest.raises(SchemaTooNew, match="999"):
        await SQLiteStore(path).open()


async def test_an_unusable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError):
        await SQLiteStore(blocker / "h.db").open()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(StoreError):
        await SQLiteStore(garbage).open()


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "h.db")
    with pytest.raises(StoreError, match="not open"):
        await store.ping()
    await store.open()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.user_by_name("x")


async def test_two_stores_on_one_file_keep_names_unique(tmp_path: Path) -> None:
    """Two processes (here: two connections) creating one name: one wins."""
    path = tmp_path / "h.db"
    first, second = SQLiteStore(path), SQLiteStore(path)
    await first.open()
    await second.open()
    group = make_group()
    await first.insert_group(group, EVENT)
    results = await asyncio.gather(
        first.insert_user(make_user("same", group.id), EVENT),
        second.insert_user(make_user("SAME", group.id), EVENT),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "NoneType"]
    assert all(isinstance(r, Conflict) for r in results if r is not None)
    await first.close()
    await second.close()


async def test_database_work_runs_off_the_event_loop(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "h.db")
    await store.open()
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def slow(conn: sqlite3.Connection) -> None:
        seen.append(threading.get_ident())
        time.sleep(0.2)

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await store.db.write(slow)
    task.cancel()
    await store.close()
    assert seen
    assert seen[0] != loop_thread
    assert ticks >= 10, "the loop kept running while the database worked"


async def test_a_failed_write_rolls_back_everything(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "h.db")
    await store.open()
    group = make_group()
    await store.insert_group(group, EVENT)

    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE groups SET name = 'changed' WHERE id = ?", (group.id,))
        raise sqlite3.OperationalError("disk on fire")

    with pytest.raises(StoreError, match="disk on fire"):
        await store.db.write(half_done)
    found = await store.group_by_id(group.id)
    assert found is not None
    assert found.name == group.name
    await store.close()
