"""Group commit: many senders' messages stored in one transaction.

Sends arriving while a batch is being written wait for the next one, so the
store sees a few large transactions instead of many small ones. Each sender
gets its own outcome once its batch is durable; new messages are published
in sequence order before the acks go out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from homer.errors import HomerError, StoreError
from homer.store.ports import MessageStore
from homer.store.records import Appended, NewMessage

__all__ = ["MessageWriter"]

Published = Callable[[list[Appended]], Awaitable[None]]


class MessageWriter:
    def __init__(
        self,
        store: MessageStore,
        on_committed: Published,
        *,
        max_batch: int = 512,
        observe: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.store = store
        self._observe = observe
        self.max_batch = max_batch
        self._on_committed = on_committed
        self._pending: list[tuple[NewMessage, asyncio.Future[Appended]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.batches = 0

    def append(self, message: NewMessage) -> asyncio.Future[Appended]:
        """Queue ``message``; the future resolves once it is durable (or duplicate)."""
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._pending.append((message, future))
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())
        return future

    async def drain(self) -> None:
        """Wait until everything queued so far is written (for a clean shutdown)."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                started = time.perf_counter()
                try:
                    outcomes = await self.store.append_messages([m for m, _ in batch])
                except HomerError as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except Exception as exc:  # a bug in an adapter must not lose the acks
                    error = StoreError(f"storing messages failed: {exc!r}")
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                self.batches += 1
                self._observe(time.perf_counter() - started)
                fresh = [o for o in outcomes if isinstance(o, Appended) and not o.duplicate]
                if fresh:
                    await self._on_committed(fresh)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, Appended):
                        future.set_result(outcome)
                    else:
                        future.set_exception(outcome)
        finally:
            self._flushing = None
