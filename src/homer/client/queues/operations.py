"""Every queue operation, as a plain function of an SQLite connection.

Both APIs run these: the synchronous one on its own connection, the asyncio
one on the event loop's connection or in its thread. A function that writes
either is one statement in autocommit mode (SQLite runs such a statement as
``BEGIN IMMEDIATE ... COMMIT``: it takes the write lock first, waiting for it
up to the busy timeout) or takes the lock with ``BEGIN IMMEDIATE`` itself. A
function that fails leaves nothing done, so that a call refused for a lock
can be made again from the start elsewhere.

A write statement with ``RETURNING`` is always read to its end (``fetchall``):
SQLite commits it only then.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from homer.client.queues.errors import (
    QueueExists,
    QueueFull,
    QueueNotFound,
    UnknownReceipt,
)
from homer.client.queues.values import Delivery, Item, Overflow, QueueInfo, Receipt

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], T]

_QUEUE_ID = "(SELECT id FROM queues WHERE name = :name)"
#: The oldest item no consumer holds now.
_HEAD = (
    f"SELECT id FROM items WHERE queue = {_QUEUE_ID} AND id > 0 AND visible_at <= :now"
    " ORDER BY id LIMIT 1"
)
#: A new item, if the queue exists and has room (the trigger counts it).
_PUSH = (
    "INSERT INTO items (queue, id, data)"
    f" SELECT queue, last_id + 1, :data FROM items WHERE queue = {_QUEUE_ID} AND id = 0"
    " AND length < (SELECT capacity FROM queues WHERE name = :name)"
    " RETURNING id"
)
_POP = f"DELETE FROM items WHERE queue = {_QUEUE_ID} AND id = ({_HEAD}) RETURNING id, data"
#: The head taken: hidden for the visibility given, else the queue's.
_CONSUME = (
    "UPDATE items SET attempts = attempts + 1, lease = attempts + 1, visible_at = :now"
    " + coalesce(:visibility, (SELECT visibility FROM queues WHERE name = :name))"
    f" WHERE queue = {_QUEUE_ID} AND id = ({_HEAD}) RETURNING queue, id, data, attempts"
)
_PEEK = f"SELECT id, data FROM items WHERE queue = {_QUEUE_ID} AND id = ({_HEAD})"
_ACK = "DELETE FROM items WHERE queue = ? AND id = ? AND lease = ?"
_RELEASE = "UPDATE items SET visible_at = 0, lease = NULL WHERE queue = ? AND id = ? AND lease = ?"
_INFO = (
    "SELECT name, capacity, overflow, visibility, length FROM queues"
    " JOIN items ON items.queue = queues.id AND items.id = 0"
)


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One transaction holding the write lock from its start; rolled back if the
    block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _queue_id(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT id FROM queues WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise QueueNotFound(f"no queue named {name!r}")
    return int(row[0])


def create(
    conn: sqlite3.Connection, name: str, capacity: int, overflow: Overflow, visibility: float
) -> QueueInfo:
    with _immediate(conn):
        row = conn.execute(_INFO + " WHERE name = ?", (name,)).fetchone()
        if row is None:
            queue_id = conn.execute(
                "INSERT INTO queues (name, capacity, overflow, visibility) VALUES (?, ?, ?, ?)"
                " RETURNING id",
                (name, capacity, overflow.value, visibility),
            ).fetchall()[0][0]
            conn.execute(
                "INSERT INTO items (queue, id, data, length, last_id) VALUES (?, 0, x'', 0, 0)",
                (queue_id,),
            )
            return QueueInfo(name, capacity, overflow, visibility, 0)
    info = _info(row)
    if (info.capacity, info.overflow, info.visibility) != (capacity, overflow, visibility):
        raise QueueExists(
            f"queue {name!r} exists with capacity={info.capacity},"
            f" overflow={info.overflow.value!r}, visibility={info.visibility:g}"
        )
    return info


def destroy(conn: sqlite3.Connection, name: str) -> int:
    with _immediate(conn):
        queue_id = _queue_id(conn, name)
        conn.execute("DELETE FROM queues WHERE id = ?", (queue_id,))
        # The head row first: then the trigger has nothing to count.
        count = conn.execute(
            "DELETE FROM items WHERE queue = ? AND id = 0 RETURNING length", (queue_id,)
        ).fetchall()[0][0]
        conn.execute("DELETE FROM items WHERE queue = ?", (queue_id,))
    return int(count)


def push(conn: sqlite3.Connection, name: str, data: bytes) -> int:
    rows = conn.execute(_PUSH, {"name": name, "data": data}).fetchall()
    if rows:
        return int(rows[0][0])
    # No room, or no such queue: look closer, holding the lock.
    with _immediate(conn):
        queue_id = _queue_id(conn, name)
        capacity, overflow, count = conn.execute(
            "SELECT capacity, overflow, length FROM queues"
            " JOIN items ON items.queue = queues.id AND items.id = 0 WHERE queues.id = ?",
            (queue_id,),
        ).fetchone()
        if count >= capacity:
            if overflow != Overflow.DROP_OLDEST:
                raise QueueFull(f"queue {name!r} holds its capacity of {capacity} items")
            conn.execute(
                "DELETE FROM items WHERE queue = ?1 AND id IN"
                " (SELECT id FROM items WHERE queue = ?1 AND id > 0 ORDER BY id LIMIT ?2)",
                (queue_id, count - capacity + 1),
            )
        rows = conn.execute(_PUSH, {"name": name, "data": data}).fetchall()
    return int(rows[0][0])


def pop(conn: sqlite3.Connection, name: str, now: float) -> Item | None:
    rows = conn.execute(_POP, {"name": name, "now": now}).fetchall()
    if rows:
        return Item(rows[0][0], rows[0][1])
    _queue_id(conn, name)  # empty, or no such queue?
    return None


def put_back(conn: sqlite3.Connection, name: str, item: Item) -> None:
    """Return a popped item to its place, if its queue is still there (what a pop
    whose caller went away undoes)."""
    conn.execute(
        f"INSERT INTO items (queue, id, data) SELECT {_QUEUE_ID}, :id, :data"
        f" WHERE {_QUEUE_ID} IS NOT NULL",
        {"name": name, "id": item.id, "data": item.data},
    )


def consume(
    conn: sqlite3.Connection, name: str, now: float, visibility: float | None
) -> Delivery | None:
    rows = conn.execute(_CONSUME, {"name": name, "now": now, "visibility": visibility}).fetchall()
    if rows:
        queue_id, item_id, data, attempt = rows[0]
        return Delivery(item_id, data, Receipt(name, queue_id, item_id, attempt), attempt)
    _queue_id(conn, name)
    return None


def ack(conn: sqlite3.Connection, receipt: Receipt) -> None:
    done = conn.execute(_ACK, (receipt.queue_id, receipt.item_id, receipt.attempt)).rowcount
    if not done:
        raise UnknownReceipt(_unknown(receipt))


def release(conn: sqlite3.Connection, receipt: Receipt) -> None:
    done = conn.execute(_RELEASE, (receipt.queue_id, receipt.item_id, receipt.attempt)).rowcount
    if not done:
        raise UnknownReceipt(_unknown(receipt))


def release_quietly(conn: sqlite3.Connection, receipts: list[Receipt]) -> None:
    """Give back every item of ``receipts`` still held by them (at close)."""
    with _immediate(conn):
        conn.executemany(_RELEASE, [(r.queue_id, r.item_id, r.attempt) for r in receipts])


def peek(conn: sqlite3.Connection, name: str, now: float) -> Item | None:
    row = conn.execute(_PEEK, {"name": name, "now": now}).fetchone()
    if row is not None:
        return Item(row[0], row[1])
    _queue_id(conn, name)
    return None


def newest(conn: sqlite3.Connection, name: str, count: int) -> list[Item]:
    rows = conn.execute(
        f"SELECT id, data FROM items WHERE queue = {_QUEUE_ID} AND id > 0"
        " ORDER BY id DESC LIMIT :count",
        {"name": name, "count": count},
    ).fetchall()
    if not rows:
        _queue_id(conn, name)
    return [Item(row[0], row[1]) for row in reversed(rows)]


def length(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(
        f"SELECT length FROM items WHERE queue = {_QUEUE_ID} AND id = 0", {"name": name}
    ).fetchone()
    if row is None:
        raise QueueNotFound(f"no queue named {name!r}")
    return int(row[0])


def info(conn: sqlite3.Connection, name: str) -> QueueInfo:
    row = conn.execute(_INFO + " WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise QueueNotFound(f"no queue named {name!r}")
    return _info(row)


def list_queues(conn: sqlite3.Connection) -> list[QueueInfo]:
    return [_info(row) for row in conn.execute(_INFO + " ORDER BY name")]


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy what the WAL holds back into the file, as far as readers allow, without
    waiting for anyone."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _info(row: tuple[str, int, str, float, int]) -> QueueInfo:
    name, capacity, overflow, visibility, count = row
    return QueueInfo(name, capacity, Overflow(overflow), visibility, count)


def _unknown(receipt: Receipt) -> str:
    return (
        f"receipt for item {receipt.item_id} of queue {receipt.queue!r} (attempt"
        f" {receipt.attempt}) holds nothing: acknowledged, released, taken again after"
        " its visibility timeout, dropped, or its queue destroyed"
    )
