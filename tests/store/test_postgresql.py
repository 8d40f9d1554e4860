"""What is particular to the PostgreSQL adapter: several nodes at once, migrations,
the pool, and a server that is not there."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from homer.config import HomerConfig
from homer.errors import Conflict, HomerError, InvalidInput, SchemaTooNew, StoreError
from homer.store.factory import open_store
from homer.store.migrations import load_migrations
from homer.store.postgresql import DEFAULT_POOL_SIZE, PostgreSQLStore
from homer.store.records import Appended, MessageRecord, NewMessage
from homer.testing.store_conformance import make_member, make_room, new_message
from homer.testing.store_conformance_unread import UnreadConformance

from . import skeleton_upgrade, unread_upgrade
from .conftest import with_query

Nodes = Callable[[int], Awaitable[list[PostgreSQLStore]]]

#: The migrations this adapter ships, read once (not from inside the event loop).
_MIGRATIONS = load_migrations("homer.store.postgresql.migrations")


@pytest.fixture
async def nodes(postgresql_url: str) -> AsyncIterator[Nodes]:
    """Opens stores on one database, each with a pool of its own, as nodes would."""
    opened: list[PostgreSQLStore] = []

    async def start(count: int) -> list[PostgreSQLStore]:
        stores = [PostgreSQLStore(postgresql_url, pool_size=3) for _ in range(count)]
        for store in stores:
            await store.open()
            opened.append(store)
        return stores

    try:
        yield start
    finally:
        for store in opened:
            await store.close()


async def _query(url: str, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def _stored(outcome: Appended | HomerError) -> MessageRecord:
    assert isinstance(outcome, Appended), outcome
    return outcome.message


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (the kernel just handed it out)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- several nodes ----------------------------------------------------------------


async def test_three_nodes_appending_to_one_room_number_it_densely(nodes: Nodes) -> None:
    stores = await nodes(3)
    room, other = make_room(), make_room()
    for created in (room, other):
        await stores[0].create_room(created, [])
    # Some batches hold both rooms, in either order: the rooms are locked in one order.
    batches = [
        [
            new_message(room.id if (n + b) % 3 else other.id, f"u-{node}-{b}", f"{n}")
            for n in range(8)
        ]
        for node in range(3)
        for b in range(6)
    ]
    results = await asyncio.gather(
        *(stores[i % 3].append_messages(batch) for i, batch in enumerate(batches))
    )
    for target in (room, other):
        seqs = [
            _stored(o).seq
            for outcomes in results
            for o in outcomes
            if _stored(o).room_id == target.id
        ]
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), "no gap, no duplicate"
        stored = await stores[1].messages_after(target.id, 0, limit=1000)
        assert [m.seq for m in stored] == sorted(seqs)
        found = await stores[2].room(target.id)
        assert found is not None
        assert found.last_seq == len(seqs)
    for outcomes in results:  # each batch in its own order
        for target in (room, other):
            mine = [_stored(o).seq for o in outcomes if _stored(o).room_id == target.id]
            assert mine == sorted(mine)


async def test_resends_on_three_nodes_at_once_store_one_message(nodes: Nodes) -> None:
    stores = await nodes(3)
    room = make_room()
    await stores[0].create_room(room, [])
    resent = new_message(room.id, "u-ann", "once", client_id="c-1")
    results = await asyncio.gather(
        *(
            stores[i % 3].append_messages([new_message(room.id, f"u-{i}"), resent])
            for i in range(24)
        )
    )
    outcomes = [outcomes[1] for outcomes in results]
    assert sum(isinstance(o, Appended) and not o.duplicate for o in outcomes) == 1
    original = _stored(outcomes[0])
    assert all(_stored(o) == original for o in outcomes), "each resend gets the original"
    stored = await stores[0].messages_after(room.id, 0, limit=100)
    assert [m.seq for m in stored] == list(range(1, 26))
    assert [m for m in stored if m.client_id == "c-1"] == [original]


async def test_one_user_joining_on_three_nodes_keeps_to_max_rooms(nodes: Nodes) -> None:
    stores = await nodes(3)
    rooms = [make_room() for _ in range(9)]
    for room in rooms:
        await stores[0].create_room(room, [])
    results = await asyncio.gather(
        *(
            stores[i % 3].join_room(room.id, "u-ann", joined_at=1.0, max_rooms=4)
            for i, room in enumerate(rooms)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, tuple) and r[2] for r in results) == 4
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, tuple))
    assert await stores[1].count_rooms_of("u-ann") == 4
    # Joining a room twice at once: one membership, and each join says whether it made it.
    again = await asyncio.gather(
        *(stores[i].join_room(rooms[0].id, "u-bob", joined_at=1.0, max_rooms=9) for i in range(3))
    )
    assert sorted(new for _, _, new in again) == [False, False, True]


async def test_unread_counts_agree_on_every_node(nodes: Nodes) -> None:
    """Members join, post, move their markers and leave on three nodes at once; then
    every node gives every member the count of what lies past their marker."""
    stores = await nodes(3)
    room = make_room()
    await stores[0].create_room(room, [make_member(room.id, "u-owner")])
    users = [f"u-{n}" for n in range(12)]

    async def member(n: int, user_id: str) -> None:
        node = stores[n % 3]
        # Posting while the join is under way: one's own messages never count.
        await asyncio.gather(
            node.join_room(room.id, user_id, joined_at=1.0, max_rooms=9),
            *(stores[(n + k) % 3].append_messages([new_message(room.id, user_id)]) for k in (1, 2)),
        )
        for k in range(4):
            await stores[(n + k) % 3].append_messages(
                [new_message(room.id, user_id), new_message(room.id, "u-owner")]
            )
            await stores[(n + k + 1) % 3].set_read(room.id, user_id, 3 * n + 5 * k)
        if n % 4 == 0:
            await node.remove_member(room.id, user_id)
            await node.join_room(room.id, user_id, joined_at=2.0, max_rooms=9)

    await asyncio.gather(*(member(n, user_id) for n, user_id in enumerate(users)))
    kit = UnreadConformance()
    for store in stores:
        await kit._check(store, room.id, "u-owner", *users)


async def test_nodes_starting_together_migrate_once(postgresql_url: str) -> None:
    stores = [PostgreSQLStore(postgresql_url, pool_size=1) for _ in range(4)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        assert [await store.schema_version() for store in stores] == [unread_upgrade.NEWEST] * 4
    finally:
        for store in stores:
            await store.close()
    rows = await _query(postgresql_url, "SELECT version, name FROM schema_migrations")
    assert sorted(tuple(row) for row in rows) == [(m.version, m.name) for m in _MIGRATIONS]


# -- migrations -------------------------------------------------------------------


async def test_migrations_are_recorded_and_reopening_applies_none(postgresql_url: str) -> None:
    for _ in range(2):
        store = PostgreSQLStore(postgresql_url, pool_size=1)
        await store.open()
        assert await store.schema_version() == unread_upgrade.NEWEST
        await store.close()
    rows = await _query(
        postgresql_url, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
    )
    assert [(row[0], row[1]) for row in rows] == [(m.version, m.name) for m in _MIGRATIONS]
    applied = [row[2] for row in rows]
    assert applied == sorted(applied)


async def _migrate_to(conn: asyncpg.Connection, version: int) -> None:
    """The first ``version`` migrations, as an older Homer left the database."""
    migrations = await asyncio.to_thread(load_migrations, "homer.store.postgresql.migrations")
    await conn.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for migration in migrations[:version]:
        await conn.execute(migration.sql)
        await conn.execute(
            "INSERT INTO schema_migrations(version, name) VALUES ($1, $2)",
            migration.version,
            migration.name,
        )


async def test_a_database_from_before_unread_counts_is_upgraded(postgresql_url: str) -> None:
    """Migration 3 works out the kept counts from the history there is."""
    conn = await asyncpg.connect(postgresql_url)
    try:
        async with conn.transaction():
            await _migrate_to(conn, 2)
            await conn.executemany(
                "INSERT INTO rooms VALUES ($1, $2, $3, $4, $5::json, $6, $7, $8, $9, $10)",
                unread_upgrade.ROOMS,
            )
            await conn.executemany(
                "INSERT INTO messages VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json)",
                unread_upgrade.MESSAGES,
            )
            await conn.executemany(
                "INSERT INTO room_members VALUES ($1, $2, $3, $4, $5)", unread_upgrade.MEMBERS
            )
    finally:
        await conn.close()
    await unread_upgrade.check_upgraded(PostgreSQLStore(postgresql_url, pool_size=2))


async def test_names_from_before_skeletons_get_theirs_when_the_store_opens(
    postgresql_url: str,
) -> None:
    """Migration 6 adds the column; the store fills it in at open, oldest first."""
    conn = await asyncpg.connect(postgresql_url)
    try:
        async with conn.transaction():
            await _migrate_to(conn, 5)
            group = skeleton_upgrade.GROUP
            await conn.execute(
                "INSERT INTO groups VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                *group[:3],
                [],  # permissions: text[] here
                *group[4:],
            )
            await conn.executemany(
                "INSERT INTO users VALUES ($1, $2, $3, $4, $5, $6::json, $7, $8, $9, $10, $11)",
                [(*row[:6], [], [], *row[8:]) for row in skeleton_upgrade.USERS],
            )
    finally:
        await conn.close()
    await skeleton_upgrade.check_upgraded(PostgreSQLStore(postgresql_url, pool_size=2))
    rows = await _query(postgresql_url, "SELECT id, name_skeleton FROM users")
    stored = {row[0]: row[1] for row in rows}
    assert stored["u-alice"] == "alice"
    assert stored["u-cyrillic"] == "alice#u-cyrillic"


async def test_a_database_from_a_newer_homer_is_refused(postgresql_url: str) -> None:
    store = PostgreSQLStore(postgresql_url, pool_size=1)
    await store.open()
    await store.close()
    await _query(postgresql_url, "INSERT INTO schema_migrations(version, name) VALUES (999, 'x')")
    newer = PostgreSQLStore(postgresql_url, pool_size=1)
    with pytest.raises(SchemaTooNew, match="999"):
        await newer.open()
    with pytest.raises(StoreError, match="not open"):
        await newer.ping()


# -- transactions and what PostgreSQL cannot hold ----------------------------------


async def test_a_failed_write_rolls_back_everything(postgresql_store: PostgreSQLStore) -> None:
    room = make_room()
    twice = make_member(room.id, "u-ann")
    with pytest.raises(Conflict):
        await postgresql_store.create_room(room, [twice, twice])
    assert await postgresql_store.room(room.id) is None
    assert await postgresql_store.member(room.id, "u-ann") is None


async def test_text_with_a_nul_character_is_invalid_input(
    postgresql_store: PostgreSQLStore,
) -> None:
    """Messages are refused before they reach the server (the conformance suite); any
    other text PostgreSQL cannot hold is ``InvalidInput`` too, not a failed store."""
    with pytest.raises(InvalidInput):
        await postgresql_store.put_session("s\x00", {}, None)
    room = make_room()
    await postgresql_store.create_room(room, [])
    with pytest.raises(InvalidInput):
        await postgresql_store.update_room(room.id, topic="a\x00b")
    assert await postgresql_store.room(room.id) == room


async def test_a_batch_of_several_rooms_missing_and_present(
    postgresql_store: PostgreSQLStore,
) -> None:
    rooms = [make_room() for _ in range(3)]
    for room in rooms:
        await postgresql_store.create_room(room, [])
    batch: list[NewMessage] = [
        new_message(rooms[n % 3].id if n % 4 else "no-such-room", f"u-{n}") for n in range(40)
    ]
    outcomes = await postgresql_store.append_messages(batch)
    for message, outcome in zip(batch, outcomes, strict=True):
        assert isinstance(outcome, HomerError) == (message.room_id == "no-such-room")
    for room in rooms:
        found = await postgresql_store.room(room.id)
        assert found is not None
        assert [m.seq for m in await postgresql_store.messages_after(room.id, 0)] == list(
            range(1, found.last_seq + 1)
        )


# -- the pool and the server ------------------------------------------------------


async def test_pool_size_comes_from_the_url_or_the_default(postgresql_url: str) -> None:
    assert PostgreSQLStore(postgresql_url).pool_size == DEFAULT_POOL_SIZE
    assert PostgreSQLStore(postgresql_url, pool_size=5).pool_size == 5
    name = f"homer_pool_{secrets.token_hex(4)}"
    store = PostgreSQLStore(with_query(postgresql_url, pool_size="2", application_name=name))
    assert store.pool_size == 2
    await store.open()
    try:
        await store.ping()
        rows = await _query(
            postgresql_url,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            name,
        )
        assert rows[0][0] == 2
    finally:
        await store.close()
    for bad in ("0", "many"):
        with pytest.raises(InvalidInput, match="pool_size"):
            PostgreSQLStore(with_query(postgresql_url, pool_size=bad))


async def test_open_store_picks_postgresql_for_its_urls() -> None:
    for scheme in ("postgresql", "postgres"):
        store = open_store(HomerConfig(store=f"{scheme}://homer@127.0.0.1:5432/homer?pool_size=7"))
        assert isinstance(store, PostgreSQLStore)
        assert store.pool_size == 7
        assert store.where == f"{scheme}://127.0.0.1:5432/homer"
    with pytest.raises(InvalidInput, match="postgresql://"):
        open_store(HomerConfig(store="mysql://127.0.0.1/homer"))


async def test_an_unreachable_server_is_a_store_error() -> None:
    port = _closed_port()
    store = PostgreSQLStore(f"postgresql://homer:s3cret@127.0.0.1:{port}/homer", connect_timeout=5)
    started = time.monotonic()
    with pytest.raises(StoreError, match=f"127.0.0.1:{port}/homer") as caught:
        await store.open()
    assert time.monotonic() - started < 5
    assert "s3cret" not in str(caught.value), "the password stays out of messages"
    with pytest.raises(StoreError, match="not open"):
        await store.ping()
    await store.close()


async def test_a_connection_the_server_dropped_is_a_store_error_then_replaced(
    postgresql_url: str,
) -> None:
    name = f"homer_drop_{secrets.token_hex(4)}"
    store = PostgreSQLStore(with_query(postgresql_url, application_name=name), pool_size=1)
    await store.open()
    try:
        killed = await _query(
            postgresql_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            name,
        )
        assert [row[0] for row in killed] == [True]
        failures = 0
        for _ in range(3):
            try:
                await store.ping()
            except StoreError:
                failures += 1
        assert failures <= 1, "one call may meet the dropped connection; the next get a new one"
        await store.ping()
        room = make_room()
        await store.create_room(room, [])
        assert await store.room(room.id) == room
    finally:
        await store.close()
