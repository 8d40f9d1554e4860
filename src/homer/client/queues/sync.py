"""The synchronous API: :class:`QueueFile`, for code without an event loop."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from homer.client.queues import operations as ops
from homer.client.queues.errors import QueueClosed, UnknownReceipt
from homer.client.queues.layout import connect, file_error
from homer.client.queues.values import (
    Delivery,
    Item,
    Overflow,
    QueueInfo,
    Receipt,
    as_bytes,
    check_capacity,
    check_count,
    check_name,
    check_overflow,
    check_receipt,
    check_seconds,
    check_timeout,
    json_bytes,
)
from homer.clock import Clock

__all__ = ["QueueFile"]

T = TypeVar("T")


class QueueFile:
    """Named queues in one SQLite file, each call a transaction of its own.

    ``durable=False`` (the default): a call that returned survives a crash of the
    process, not a power loss. ``durable=True``: it survives a power loss too,
    one fsync per write. ``timeout``: seconds a call waits for another process's
    write to finish. ``clock``: seconds since the epoch, for visibility timeouts.

    Calls may come from several threads; they take turns. Use it as a context
    manager, or call :meth:`close`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: bool = False,
        timeout: float = 10.0,
        clock: Clock = time.time,
    ) -> None:
        self.path = Path(path)
        self.durable = durable
        self.timeout = check_timeout(timeout)
        self._clock = clock
        self._lock = threading.Lock()
        #: Receipts of the items this file took and has not settled: given back at close.
        self._held: set[Receipt] = set()
        try:
            self._conn: sqlite3.Connection | None = connect(
                self.path, durable=durable, timeout=self.timeout, inline=False
            )
        except sqlite3.Error as exc:
            raise file_error(exc, self.path, self.timeout) from exc

    def __enter__(self) -> QueueFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    def close(self) -> None:
        """Give back the items taken and not acknowledged, and close the file.
        Closing twice does nothing."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                if self._held:
                    ops.release_quietly(conn, list(self._held))
                    self._held.clear()
            except sqlite3.Error:
                pass  # they come back when their visibility timeout ends
            finally:
                conn.close()

    def _run(self, operation: ops.Operation[T]) -> T:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise QueueClosed(f"the queue file {self.path} is closed")
            try:
                return operation(conn)
            except sqlite3.Error as exc:
                raise file_error(exc, self.path, self.timeout) from exc

    def create(
        self,
        name: str,
        *,
        capacity: int,
        overflow: Overflow | str = Overflow.REFUSE,
        visibility: float = 30.0,
    ) -> QueueInfo:
        """Create a queue, or find it as it is if it exists with these settings;
        :class:`QueueExists` if it exists with others."""
        name = check_name(name)
        settings = (
            check_capacity(capacity),
            check_overflow(overflow),
            check_seconds(visibility, "visibility"),
        )
        return self._run(lambda conn: ops.create(conn, name, *settings))

    def destroy(self, name: str) -> int:
        """Delete a queue and its items; how many items it held."""
        name = check_name(name)
        return self._run(lambda conn: ops.destroy(conn, name))

    def push(self, name: str, item: bytes | bytearray | memoryview | str) -> int:
        """Append an item (``str`` is stored as UTF-8); its id."""
        name, data = check_name(name), as_bytes(item)
        return self._run(lambda conn: ops.push(conn, name, data))

    def push_json(self, name: str, value: Any) -> int:
        """Append a JSON value (read it back with ``Item.json()``); its id."""
        name, data = check_name(name), json_bytes(value)
        return self._run(lambda conn: ops.push(conn, name, data))

    def pop(self, name: str) -> Item | None:
        """Remove and return the oldest item nobody holds; ``None`` if there is none."""
        name = check_name(name)
        return self._run(lambda conn: ops.pop(conn, name, self._clock()))

    def consume(self, name: str, *, visibility: float | None = None) -> Delivery | None:
        """Take the oldest item nobody holds, hidden from others for ``visibility``
        seconds (the queue's by default) until :meth:`ack` removes it or
        :meth:`release` gives it back; ``None`` if there is none."""
        name = check_name(name)
        seconds = None if visibility is None else check_seconds(visibility, "visibility")
        delivery = self._run(lambda conn: ops.consume(conn, name, self._clock(), seconds))
        if delivery is not None:
            self._held.add(delivery.receipt)
        return delivery

    def ack(self, receipt: Receipt | Delivery) -> None:
        """Remove the item taken; :class:`UnknownReceipt` if the receipt holds nothing."""
        found = check_receipt(receipt)
        self._settle(found, lambda conn: ops.ack(conn, found))

    def release(self, receipt: Receipt | Delivery) -> None:
        """Give the item taken back at once, in its place; :class:`UnknownReceipt`
        if the receipt holds nothing."""
        found = check_receipt(receipt)
        self._settle(found, lambda conn: ops.release(conn, found))

    def _settle(self, receipt: Receipt, operation: ops.Operation[None]) -> None:
        try:
            self._run(operation)
        except UnknownReceipt:
            self._held.discard(receipt)
            raise
        self._held.discard(receipt)

    def peek(self, name: str) -> Item | None:
        """The item :meth:`pop` would return, left in place."""
        name = check_name(name)
        return self._run(lambda conn: ops.peek(conn, name, self._clock()))

    def newest(self, name: str, count: int) -> list[Item]:
        """The last ``count`` items pushed that are still there (taken ones
        included), oldest first, left in place: the tail of a history."""
        name, count = check_name(name), check_count(count)
        return self._run(lambda conn: ops.newest(conn, name, count))

    def length(self, name: str) -> int:
        """How many items the queue holds, the taken ones included."""
        name = check_name(name)
        return self._run(lambda conn: ops.length(conn, name))

    def info(self, name: str) -> QueueInfo:
        """The queue's settings and length."""
        name = check_name(name)
        return self._run(lambda conn: ops.info(conn, name))

    def list_queues(self) -> list[QueueInfo]:
        """Every queue of the file, by name."""
        return self._run(ops.list_queues)
