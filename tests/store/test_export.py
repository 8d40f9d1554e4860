"""The pure parts of backups and copies: the table list, the sums, the comparison."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from homer.store.export import TABLES, Tally, compare, room_checksum, room_sums
from homer.store.postgresql import PostgreSQLStore
from homer.store.sqlite import SQLiteStore
from homer.store.transfer import parents_first


def test_every_table_is_listed_once_after_the_tables_it_refers_to() -> None:
    names = [t.name for t in TABLES]
    assert len(names) == len(set(names))
    for child, parent in [
        ("users", "groups"),
        ("room_members", "rooms"),
        ("messages", "rooms"),
        ("file_rooms", "files"),
        ("file_rooms", "rooms"),
    ]:
        assert names.index(parent) < names.index(child)
    for table in TABLES:
        assert set(table.key) <= set(table.names), table.name


def test_a_room_sum_is_the_same_for_text_and_bytes_and_differs_for_any_change() -> None:
    rows = [(1, "m1", "u1", "msg", 1.5, '{"text":"hi"}'), (2, "m2", "u1", "msg", 2.25, "{}")]
    as_bytes = [(*r[:5], str(r[5]).encode()) for r in rows]
    first = room_checksum(1, 2, rows)
    assert room_checksum(1, 2, as_bytes) == first
    assert first.messages == 2
    assert room_checksum(2, 2, rows) != first, "the epoch counts"
    assert room_checksum(1, 2, rows[:1]) != first
    changed = [rows[0], (2, "m2", "u1", "msg", 2.25, '{"text":""}')]
    assert room_checksum(1, 2, changed).sha256 != first.sha256


def test_room_sums_include_rooms_without_messages() -> None:
    sums = room_sums([("a", 1, 1), ("b", 3, 0)], [("a", 1, "m1", "u1", "msg", 1.0, "{}")])
    assert sums["a"] == room_checksum(1, 1, [(1, "m1", "u1", "msg", 1.0, "{}")])
    assert sums["b"] == room_checksum(3, 0, [])


def test_compare_names_each_difference() -> None:
    left = Tally(counts={"messages": 2, "users": 1}, rooms=room_sums([("a", 1, 0)], []))
    right = Tally(counts={"messages": 1, "users": 1}, rooms=room_sums([("a", 2, 0)], []))
    assert compare(left, left) == []
    problems = compare(left, right)
    assert problems[0] == "messages: 2 rows in the source, 1 in the target"
    assert problems[1].startswith("room 'a': epoch 1, last seq 0, 0 messages")


def test_groups_are_written_parents_first() -> None:
    groups = next(t for t in TABLES if t.name == "groups")
    width = len(groups.names)

    def group(group_id: str, parent: str | None) -> tuple[object, ...]:
        row: list[object] = [None] * width
        row[groups.names.index("id")] = group_id
        row[groups.names.index("parent_id")] = parent
        return tuple(row)

    rows = [group("a", "c"), group("b", None), group("c", "b"), group("d", "a")]
    ordered = [r[0] for r in parents_first(groups, rows)]
    assert ordered == ["b", "c", "a", "d"]


#: Tables of the SQLite adapter that are not data of their own: its bookkeeping,
#: and the search rows a copy derives from ``messages.search``.
SQLITE_ONLY = {"schema_migrations", "search_docs", "search_state", "sqlite_sequence"}


async def test_the_table_list_is_the_sqlite_schema(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "homer.db")
    await store.open()
    await store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "homer.db")) as conn:
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name not in SQLITE_ONLY and not name.startswith("search_text")
        ]
        columns = {
            name: [row[1] for row in conn.execute(f"PRAGMA table_info({name})")] for name in tables
        }
    listed = {t.name: [n for n in t.names if n != "search"] for t in TABLES}
    assert {k: sorted(v) for k, v in columns.items()} == {k: sorted(v) for k, v in listed.items()}


async def test_the_table_list_is_the_postgresql_schema(postgresql_store: PostgreSQLStore) -> None:
    rows = await postgresql_store.db.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'"
    )
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    listed = {t.name: sorted(t.names) for t in TABLES}
    assert {k: sorted(v) for k, v in columns.items()} == listed
