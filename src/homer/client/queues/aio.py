"""The asyncio API: :class:`AsyncQueueFile`.

Where its SQLite calls run (decision 0017): in fast mode, a call runs right on
the event loop, on a connection of its own that never waits for a lock, when
that cannot stall the loop: the commit does not fsync, no call handed to the
thread is unfinished (calls keep their order), and no other connection holds
the write lock. Everything else runs in one thread with a second connection
that waits for locks up to the timeout: durable mode (an fsync per commit),
a lock held by another process, large items, creating and destroying queues,
and the checkpoints that copy the WAL back into the file. An operation here is
a few tens of microseconds; a trip to a thread and back costs as much again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from homer.client.queues import operations as ops
from homer.client.queues.errors import QueueClosed, QueueError, UnknownReceipt
from homer.client.queues.layout import connect, file_error, is_busy
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

__all__ = ["AsyncQueueFile"]

T = TypeVar("T")

#: Items above this many bytes are written in the thread: copying them takes a while.
INLINE_BYTES = 64 * 1024
#: Calls on the loop between two checkpoints (the loop's connection makes none itself).
CHECKPOINT_EVERY = 1000
#: Calls on the loop in a row after which the caller lets other tasks run: a call
#: on the loop returns without suspending.
YIELD_EVERY = 64


class AsyncQueueFile:
    """Named queues in one SQLite file, for asyncio code; the same calls as
    :class:`~homer.client.queues.QueueFile`, awaited.

    ``durable=False`` (the default): a call that returned survives a crash of the
    process, not a power loss. ``durable=True``: it survives a power loss too,
    one fsync per write. ``timeout``: seconds a call waits for another process's
    write to finish. ``clock``: seconds since the epoch, for visibility timeouts.

    ``async with AsyncQueueFile(path) as queues:`` opens and closes it; so do
    :meth:`open` and :meth:`close`. Any number of tasks may call it at once.

    A call cancelled while it waits for the thread may still happen (a push,
    an ack); a cancelled ``pop`` or ``consume`` puts its item back.
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
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._closing_task: asyncio.Task[None] | None = None
        self._conn: sqlite3.Connection | None = None  # the thread's
        self._inline: sqlite3.Connection | None = None  # the loop's (fast mode only)
        #: Calls handed to the thread, oldest first, until seen finished.
        self._in_thread: deque[Future[Any]] = deque()
        self._inline_calls = 0
        self._in_a_row = 0
        self._thread = 0  # the thread's id, once it runs
        self._checkpoint: Future[None] | None = None
        #: Receipts of the items this file took and has not settled: given back at close.
        self._held: set[Receipt] = set()

    async def __aenter__(self) -> AsyncQueueFile:
        await self.open()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._executor is None or self._closing

    async def open(self) -> AsyncQueueFile:
        """Open the file (create it if needed). Opening an open file does nothing."""
        if self._executor is not None:
            if self._closing:
                raise QueueClosed(f"the queue file {self.path} is closing")
            return self
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="homer-queues")
        self._executor = executor  # calls made meanwhile wait in the thread behind this
        connecting = executor.submit(self._connect)
        self._in_thread.append(connecting)
        try:
            await asyncio.wrap_future(connecting)
        except BaseException:
            self._executor = None
            executor.submit(self._disconnect)
            executor.shutdown(wait=False)
            raise
        return self

    def _connect(self) -> None:
        self._thread = threading.get_ident()
        try:
            self._conn = connect(
                self.path, durable=self.durable, timeout=self.timeout, inline=False
            )
            if not self.durable:
                self._inline = connect(self.path, durable=False, timeout=self.timeout, inline=True)
        except sqlite3.Error as exc:
            raise file_error(exc, self.path, self.timeout) from exc

    async def close(self) -> None:
        """Give back the items taken and not acknowledged, and close the file, once
        the calls under way are done. Closing twice does nothing; a close that is
        cancelled still ends."""
        if self._executor is None:
            return
        if self._closing_task is None:
            self._closing = True
            self._closing_task = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._closing_task)

    async def _close(self) -> None:
        executor = self._executor
        assert executor is not None
        try:
            # Calls in the thread end first, and what a cancelled call undoes after them.
            while not self._thread_idle():
                await asyncio.wait({asyncio.wrap_future(self._in_thread[0])})
            await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
        finally:
            self._executor = None
            self._closing = False
            self._closing_task = None
            executor.shutdown(wait=False)  # nothing is queued: the thread ends by itself

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        inline, self._inline = self._inline, None
        try:
            if conn is not None and self._held:
                with contextlib.suppress(sqlite3.Error):  # back at their timeout then
                    ops.release_quietly(conn, list(self._held))
                self._held.clear()
        finally:
            for each in (conn, inline):
                if each is not None:
                    each.close()

    # -- where calls run ---------------------------------------------------------

    async def _call(
        self,
        operation: ops.Operation[T],
        *,
        inline: bool = True,
        undo: Callable[[T], ops.Operation[None] | None] | None = None,
    ) -> T:
        """``operation`` on the loop's connection if it may run there now, else in
        the thread; ``undo(result)`` is what puts things back if the caller is
        cancelled while the thread runs it."""
        if inline and self._inline is not None:
            self._in_a_row += 1
            if self._in_a_row >= YIELD_EVERY:  # let other tasks run now and then
                self._in_a_row = 0
                await asyncio.sleep(0)
        if self._executor is None or self._closing:
            raise QueueClosed(f"the queue file {self.path} is closed")
        if self._checkpoint is not None and self._checkpoint.done():
            # The WAL starts again from its beginning only after a moment when it was
            # wholly copied back, which never comes while the loop keeps writing: the
            # second step copies what was written during the first, ordered like a
            # call, so that calls wait behind it this once.
            self._checkpoint = None
            self._submit(_checkpoint_quietly)
        if inline and self._inline is not None and self._thread_idle():
            try:
                return self._run_inline(operation, self._inline)
            except _Busy:
                pass  # another connection is writing: wait for it in the thread
        future = self._submit(operation)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()  # if it has not started, it never will
            if undo is not None and not future.cancelled():
                future.add_done_callback(lambda done: self._undo(done, undo))
            raise

    def _run_inline(self, operation: ops.Operation[T], conn: sqlite3.Connection) -> T:
        try:
            result = operation(conn)
        except sqlite3.Error as exc:
            if is_busy(exc):
                raise _Busy from exc
            raise file_error(exc, self.path, self.timeout) from exc
        self._inline_calls += 1
        if self._inline_calls >= CHECKPOINT_EVERY:
            self._start_checkpoint()
        return result

    def _submit(self, operation: ops.Operation[T]) -> Future[T]:
        assert self._executor is not None
        future = self._executor.submit(self._in_thread_run, operation)
        self._in_thread.append(future)
        return future

    def _in_thread_run(self, operation: ops.Operation[T]) -> T:
        conn = self._conn
        if conn is None:
            raise QueueClosed(f"the queue file {self.path} is closed")
        try:
            return operation(conn)
        except sqlite3.Error as exc:
            raise file_error(exc, self.path, self.timeout) from exc

    def _thread_idle(self) -> bool:
        """Whether the thread has finished every call handed to it (one thread, first
        in first out: enough to look at the oldest)."""
        calls = self._in_thread
        while calls and calls[0].done():
            calls.popleft()
        return not calls

    def _undo(self, done: Future[T], undo: Callable[[T], ops.Operation[None] | None]) -> None:
        """The caller went away while the thread ran its call: put back what it took,
        before the thread runs anything else (this runs in the thread as the call
        ends, or on the loop if it had ended already)."""
        if done.cancelled() or done.exception() is not None:
            return
        operation = undo(done.result())
        if operation is None:
            return
        if threading.get_ident() == self._thread:
            with contextlib.suppress(QueueError):
                self._in_thread_run(operation)
        else:
            self._submit(operation)  # close() waits for it

    def _start_checkpoint(self) -> None:
        """The first of a checkpoint's two steps (see :meth:`_call`): a passive one,
        in the thread, beside the calls on the loop (it takes no lock)."""
        if self._executor is None or self._checkpoint is not None:
            return
        self._inline_calls = 0
        self._checkpoint = self._executor.submit(self._in_thread_run, _checkpoint_quietly)

    # -- the calls ----------------------------------------------------------------

    async def create(
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
        return await self._call(lambda conn: ops.create(conn, name, *settings), inline=False)

    async def destroy(self, name: str) -> int:
        """Delete a queue and its items; how many items it held."""
        name = check_name(name)
        return await self._call(lambda conn: ops.destroy(conn, name), inline=False)

    async def push(self, name: str, item: bytes | bytearray | memoryview | str) -> int:
        """Append an item (``str`` is stored as UTF-8); its id."""
        name, data = check_name(name), as_bytes(item)
        return await self._push(name, data)

    async def push_json(self, name: str, value: Any) -> int:
        """Append a JSON value (read it back with ``Item.json()``); its id."""
        name, data = check_name(name), json_bytes(value)
        return await self._push(name, data)

    async def _push(self, name: str, data: bytes) -> int:
        return await self._call(
            lambda conn: ops.push(conn, name, data), inline=len(data) <= INLINE_BYTES
        )

    async def pop(self, name: str) -> Item | None:
        """Remove and return the oldest item nobody holds; ``None`` if there is none."""
        name = check_name(name)

        def put_back(item: Item | None) -> ops.Operation[None] | None:
            return None if item is None else lambda conn: ops.put_back(conn, name, item)

        return await self._call(lambda conn: ops.pop(conn, name, self._clock()), undo=put_back)

    async def consume(self, name: str, *, visibility: float | None = None) -> Delivery | None:
        """Take the oldest item nobody holds, hidden from others for ``visibility``
        seconds (the queue's by default) until :meth:`ack` removes it or
        :meth:`release` gives it back; ``None`` if there is none."""
        name = check_name(name)
        seconds = None if visibility is None else check_seconds(visibility, "visibility")

        def give_back(taken: Delivery | None) -> ops.Operation[None] | None:
            return None if taken is None else lambda conn: _release_quietly(conn, taken.receipt)

        delivery = await self._call(
            lambda conn: ops.consume(conn, name, self._clock(), seconds), undo=give_back
        )
        if delivery is not None:
            self._held.add(delivery.receipt)
        return delivery

    async def ack(self, receipt: Receipt | Delivery) -> None:
        """Remove the item taken; :class:`UnknownReceipt` if the receipt holds nothing."""
        found = check_receipt(receipt)
        await self._settle(found, lambda conn: ops.ack(conn, found))

    async def release(self, receipt: Receipt | Delivery) -> None:
        """Give the item taken back at once, in its place; :class:`UnknownReceipt`
        if the receipt holds nothing."""
        found = check_receipt(receipt)
        await self._settle(found, lambda conn: ops.release(conn, found))

    async def _settle(self, receipt: Receipt, operation: ops.Operation[None]) -> None:
        try:
            await self._call(operation)
        except UnknownReceipt:
            self._held.discard(receipt)
            raise
        self._held.discard(receipt)

    async def peek(self, name: str) -> Item | None:
        """The item :meth:`pop` would return, left in place."""
        name = check_name(name)
        return await self._call(lambda conn: ops.peek(conn, name, self._clock()))

    async def newest(self, name: str, count: int) -> list[Item]:
        """The last ``count`` items pushed that are still there (taken ones
        included), oldest first, left in place: the tail of a history."""
        name, count = check_name(name), check_count(count)
        return await self._call(lambda conn: ops.newest(conn, name, count))

    async def length(self, name: str) -> int:
        """How many items the queue holds, the taken ones included."""
        name = check_name(name)
        return await self._call(lambda conn: ops.length(conn, name))

    async def info(self, name: str) -> QueueInfo:
        """The queue's settings and length."""
        name = check_name(name)
        return await self._call(lambda conn: ops.info(conn, name))

    async def list_queues(self) -> list[QueueInfo]:
        """Every queue of the file, by name."""
        return await self._call(ops.list_queues, inline=False)


class _Busy(Exception):
    """Another connection holds a lock (a call on the loop does not wait)."""


def _checkpoint_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # readers in the way: next time
        ops.checkpoint(conn)


def _release_quietly(conn: sqlite3.Connection, receipt: Receipt) -> None:
    with contextlib.suppress(QueueError):
        ops.release(conn, receipt)
