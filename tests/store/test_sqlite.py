"""What is particular to the SQLite adapter: the file, WAL, migrations, the thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from homer.errors import Conflict, InvalidInput, SchemaTooNew, StoreError
from homer.store.migrations import load_migrations
from homer.store.records import Appended, AuditEvent
from homer.store.search import Query
from homer.store.sqlite import SQLiteStore
from homer.store.sqlite.database import _statements
from homer.testing.store_conformance import (
    make_group,
    make_member,
    make_room,
    make_user,
    new_message,
)

from . import skeleton_upgrade, unread_upgrade

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
    assert rows == [(m.version, m.name) for m in known]
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
    ticked = threading.Event()

    def slow(conn: sqlite3.Connection) -> None:
        # Finishes only once the loop has turned three times: on the loop's own
        # thread it would wait in vain.
        seen.append(threading.get_ident())
        assert ticked.wait(10), "the loop did not run while the database worked"

    async def ticker() -> None:
        for _ in range(3):
            await asyncio.sleep(0.01)
        ticked.set()

    task = asyncio.create_task(ticker())
    await store.db.write(slow)
    await task
    await store.close()
    assert seen
    assert seen[0] != loop_thread


async def test_an_append_runs_inline_only_when_the_thread_is_idle(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "h.db")
    await store.open()
    room = make_room()
    await store.create_room(room, [])
    where: list[int] = []
    for conn in (store.db._conn, store.db._inline_conn):
        assert conn is not None
        conn.set_trace_callback(
            lambda sql: where.append(threading.get_ident()) if sql.startswith("INSERT") else None
        )
    await store.append_messages([new_message(room.id)])
    assert set(where) == {threading.get_ident()}, "nothing else was running: stored right here"
    where.clear()
    await store.join_room(room.id, "u-joiner", joined_at=1.0, max_rooms=10)
    assert set(where) == {threading.get_ident()}, "a join too"

    where.clear()
    started = threading.Event()

    def slow(conn: sqlite3.Connection) -> None:
        started.set()
        time.sleep(0.2)

    busy = asyncio.create_task(store.db.read(slow))
    await asyncio.to_thread(started.wait)
    appended = await store.append_messages([new_message(room.id)])
    await busy
    assert isinstance(appended[0], Appended)
    assert where, "stored"
    assert where[0] != threading.get_ident(), "queued behind the thread's work"
    await store.close()


async def test_an_append_waits_off_the_loop_for_another_process_writing(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = SQLiteStore(path)
    await store.open()
    room = make_room()
    await store.create_room(room, [])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    append = asyncio.create_task(store.append_messages([new_message(room.id)]))
    await asyncio.sleep(0.3)
    assert not append.done(), "it waits for the lock"
    other.execute("COMMIT")
    other.close()
    (appended,) = await asyncio.wait_for(append, 10)
    task.cancel()
    await store.close()
    assert isinstance(appended, Appended)
    assert appended.message.seq == 1
    assert ticks >= 5, "the loop kept running while the append waited"


async def test_the_reads_of_a_new_connection_run_inline(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "h.db")
    await store.open()
    room = make_room()
    await store.create_room(room, [])
    await store.join_room(room.id, "u-reader", joined_at=1.0, max_rooms=10)
    where: list[int] = []
    for conn in (store.db._conn, store.db._inline_conn):
        assert conn is not None
        conn.set_trace_callback(
            lambda sql: where.append(threading.get_ident()) if sql.startswith("SELECT") else None
        )
    assert [r.id for r, _ in await store.rooms_of("u-reader")] == [room.id]
    assert [r.id for r, _, _ in await store.room_list("u-reader")] == [room.id]
    assert await store.user_by_id("u-nobody") is None
    assert where == [threading.get_ident()] * 3
    await store.close()


async def test_an_inline_read_that_finds_the_file_busy_goes_to_the_thread(
    tmp_path: Path,
) -> None:
    """A reader under WAL is refused only in rare moments (another connection
    recovering the WAL, or holding the file in ``locking_mode=EXCLUSIVE``): then the
    read is made in the thread, which may wait, never on the loop; other errors
    are errors."""
    store = SQLiteStore(tmp_path / "h.db")
    await store.open()
    room = make_room()
    await store.create_room(room, [])
    await store.join_room(room.id, "u-reader", joined_at=1.0, max_rooms=10)
    inline = store.db._inline_conn
    assert inline is not None

    class Refusing:
        """The loop's connection, answering as SQLite does while the file is taken."""

        def __init__(self, code: int) -> None:
            self.code = code

        def execute(self, *args: object) -> sqlite3.Cursor:
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = self.code
            raise error

    store.db._inline_conn = Refusing(sqlite3.SQLITE_BUSY_RECOVERY)  # type: ignore[assignment]
    assert [r.id for r, _, _ in await store.room_list("u-reader")] == [room.id]
    store.db._inline_conn = Refusing(sqlite3.SQLITE_IOERR)  # type: ignore[assignment]
    with pytest.raises(StoreError, match="database is locked"):
        await store.room_list("u-reader")
    store.db._inline_conn = inline
    await store.close()


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


async def test_an_identity_database_is_upgraded_in_place(tmp_path: Path) -> None:
    """A file written before messaging existed gains its tables and keeps its data."""
    path = tmp_path / "h.db"
    (identity, *_) = await asyncio.to_thread(load_migrations, "homer.store.sqlite.migrations")
    group = make_group()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
        )
        for statement in _statements(identity.sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations(version, name) VALUES (1, 'identity')")
        conn.execute(
            "INSERT INTO groups VALUES (?, ?, ?, '[]', NULL, 1.0, 1.0, 1)",
            (group.id, group.name, group.name),
        )
    conn.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        assert await store.schema_version() == unread_upgrade.NEWEST
        found = await store.group_by_id(group.id)
        assert found is not None
        assert found.name == group.name
        room = make_room()
        await store.create_room(room, [make_member(room.id, "u-ann")])
        assert await store.room(room.id) == room
    finally:
        await store.close()


def _migrated_to(path: Path, version: int) -> None:
    """A database file with the first ``version`` migrations applied, as an older
    Homer left it."""
    migrations = load_migrations("homer.store.sqlite.migrations")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
        )
        for migration in migrations[:version]:
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations(version, name) VALUES (?, ?)",
                (migration.version, migration.name),
            )
    conn.close()


async def test_a_database_from_before_unread_counts_is_upgraded(tmp_path: Path) -> None:
    """Migration 3 works out the kept counts from the history there is."""
    path = tmp_path / "h.db"
    await asyncio.to_thread(_migrated_to, path, 2)
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO rooms VALUES (?,?,?,?,?,?,?,?,?,?)", unread_upgrade.ROOMS)
        conn.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?)", unread_upgrade.MESSAGES)
        conn.executemany("INSERT INTO room_members VALUES (?,?,?,?,?)", unread_upgrade.MEMBERS)
    conn.close()
    await unread_upgrade.check_upgraded(SQLiteStore(path))
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "unread_ranks" not in tables, "the migration's working table is gone"


async def test_a_body_that_is_not_json_fails_alone(store: SQLiteStore) -> None:
    room = make_room()
    await store.create_room(room, [])
    outcomes = await store.append_messages(
        [new_message(room.id), new_message(room.id, body={"x": object()}), new_message(room.id)]
    )
    assert isinstance(outcomes[1], InvalidInput)
    assert [o.message.seq for o in outcomes if isinstance(o, Appended)] == [1, 2]


async def _traced(store: SQLiteStore, call: Awaitable[Any]) -> list[str]:
    """The statements ``call`` runs, with their parameters filled in (on the database
    thread's connection or on the event loop's, for an append run inline)."""
    statements: list[str] = []
    inline = store.db._inline_conn
    await store.db.read(lambda conn: conn.set_trace_callback(statements.append))
    if inline is not None:
        inline.set_trace_callback(statements.append)
    try:
        await call
    finally:
        await store.db.read(lambda conn: conn.set_trace_callback(None))
        if inline is not None:
            inline.set_trace_callback(None)
    return statements


async def _plans(store: SQLiteStore, call: Awaitable[Any]) -> list[str]:
    """The query plans of the SELECTs ``call`` runs, one line per plan step."""
    selects = [s for s in await _traced(store, call) if s.lstrip().upper().startswith("SELECT")]
    assert selects, "the call ran no query"
    return await store.db.read(
        lambda conn: [
            row[3] for sql in selects for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")
        ]
    )


async def test_a_batch_is_one_transaction(store: SQLiteStore) -> None:
    rooms = [make_room() for _ in range(3)]
    for room in rooms:
        await store.create_room(room, [])
    first = new_message(rooms[0].id)
    await store.append_messages([first])
    batch = [new_message(rooms[n % 3].id, f"u-{n}") for n in range(50)]
    for call in (
        store.append_messages(batch),
        store.append_messages([*batch[:10], first, new_message(rooms[1].id)]),  # duplicates
    ):
        statements = await _traced(store, call)
        assert statements.count("BEGIN IMMEDIATE") == 1
        assert statements.count("COMMIT") == 1


async def test_history_queries_use_the_primary_key_and_indexes(store: SQLiteStore) -> None:
    rooms = [make_room() for _ in range(3)]
    for room in rooms:
        await store.create_room(room, [make_member(room.id, "u-ann")])
    for start in range(0, 3000, 300):
        await store.append_messages(
            [
                new_message(rooms[n % 3].id, f"u-{n % 7}", ts=1000.0 + n)
                for n in range(start, start + 300)
            ]
        )
    await store.append_messages([new_message(rooms[0].id, client_id="resent")])
    room_id = rooms[1].id
    for call, expected in (
        (store.messages_before(room_id, None), "messages USING PRIMARY KEY (room_id=?)"),
        (store.messages_before(room_id, 500), "messages USING PRIMARY KEY (room_id=? AND seq<?)"),
        (store.messages_after(room_id, 500), "messages USING PRIMARY KEY (room_id=? AND seq>?)"),
        (
            store.messages_between(room_id, 1500.0, 1600.0),
            "messages USING INDEX messages_ts (room_id=? AND ts>? AND ts<?)",
        ),
        (
            store.messages_between(room_id, 0.0, 1600.0, newest=True),
            "messages USING INDEX messages_ts (room_id=? AND ts>? AND ts<?)",
        ),
        (store.unread_counts("u-ann"), "m USING INDEX room_members_user (user_id=?)"),
        # A read marker moved part of the way counts the span it passes, no more.
        (
            store.set_read(room_id, "u-ann", 300),
            "messages USING PRIMARY KEY (room_id=? AND seq>? AND seq<?)",
        ),
        # A new member's own messages, found by the index on client ids.
        (
            store.join_room(room_id, "u-3", joined_at=1.0, max_rooms=9),
            "messages USING INDEX messages_client (room_id=? AND sender_id=?)",
        ),
        (
            store.append_messages([new_message(rooms[0].id, client_id="resent")]),
            "messages USING INDEX messages_client (room_id=? AND sender_id=? AND client_id=?)",
        ),
        (store.rooms_of("u-ann"), "m USING INDEX room_members_user (user_id=?)"),
        (
            store.members(room_id, after="u-a"),
            "room_members USING PRIMARY KEY (room_id=? AND user_id>?)",
        ),
    ):
        plan = await _plans(store, call)
        assert any(step == f"SEARCH {expected}" for step in plan), plan
        scans = [s for s in plan if s.startswith("SCAN") and "subquery" not in s]
        assert scans in ([], ["SCAN CONSTANT ROW"]), plan  # (a SELECT of values, no table)
        assert not any("TEMP B-TREE" in step for step in plan), plan


async def test_finished_calls_are_not_kept(store: SQLiteStore) -> None:
    for _ in range(50):
        await store.schema_version()
    assert not store.db._in_thread, "only what is still running is remembered"


async def test_a_full_sync_store_never_writes_on_the_loop(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "h.db", synchronous="FULL")
    await store.open()
    room = make_room()
    await store.create_room(room, [])
    where: list[int] = []
    assert store.db._conn is not None
    assert store.db._inline_conn is None, "FULL fsyncs each commit: no inline writes"
    store.db._conn.set_trace_callback(
        lambda sql: where.append(threading.get_ident()) if sql.startswith("INSERT") else None
    )
    await store.append_messages([new_message(room.id)])
    await store.close()
    assert where
    assert where[0] != threading.get_ident()


async def test_search_rows_are_indexed_in_batches_before_a_search_and_at_open(
    tmp_path: Path,
) -> None:
    """An append writes the searchable row; FTS5 indexes rows a few hundred at a
    time, before every search and when the store opens (after a crash too)."""
    path = tmp_path / "h.db"
    store = SQLiteStore(path)
    await store.open()
    room = make_room()
    await store.create_room(room, [make_member(room.id, "u-ann")])
    await store.append_messages([new_message(room.id, text=f"word{n} common") for n in range(5)])

    def state() -> tuple[int, int]:
        with sqlite3.connect(path) as conn:
            (indexed,) = conn.execute("SELECT indexed FROM search_state").fetchone()
            (last,) = conn.execute("SELECT MAX(id) FROM search_docs").fetchone()
        return indexed, last

    indexed, last = await asyncio.to_thread(state)
    assert indexed < last, "five rows wait for a batch"
    await store.close()  # as a crash would leave them
    store = SQLiteStore(path)
    await store.open()
    assert await asyncio.to_thread(state) == (last, last), "indexed at open"
    await store.append_messages([new_message(room.id, text="fresh words")])
    (hit,) = await store.search("u-ann", Query.parse("fresh"))
    assert hit.message.body["text"] == "fresh words", "indexed before the search"
    assert len(await store.search("u-ann", Query.parse("common"))) == 5
    await store.close()


async def test_names_from_before_skeletons_get_theirs_when_the_store_opens(
    tmp_path: Path,
) -> None:
    """Migration 6 adds the column; the store fills it in at open, oldest first."""
    path = tmp_path / "h.db"
    await asyncio.to_thread(_migrated_to, path, 5)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO groups VALUES (?,?,?,?,?,?,?,?)", skeleton_upgrade.GROUP)
        conn.executemany("INSERT INTO users VALUES (?,?,?,?,?,?,?,?,?,?,?)", skeleton_upgrade.USERS)
    conn.close()
    await skeleton_upgrade.check_upgraded(SQLiteStore(path))
    with sqlite3.connect(path) as conn:
        stored = dict(conn.execute("SELECT id, name_skeleton FROM users").fetchall())
        group = conn.execute("SELECT name_skeleton FROM groups").fetchone()[0]
    conn.close()
    assert stored["u-alice"] == "alice"
    assert stored["u-cyrillic"] == "alice#u-cyrillic"
    assert group == "users"
