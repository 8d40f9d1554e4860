"""Local persistent queues (homer.client.queues) on real SQLite files: what each
call does, every bad input, several tasks, threads and processes on one file,
and a process killed in the middle of its pushes."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from homer.client.queues import (
    AsyncQueueFile,
    Delivery,
    InvalidArgument,
    InvalidItem,
    Item,
    Overflow,
    QueueClosed,
    QueueError,
    QueueExists,
    QueueFile,
    QueueFileError,
    QueueFull,
    QueueInfo,
    QueueNotFound,
    Receipt,
    UnknownReceipt,
)
from homer.client.queues import aio as aio_module
from homer.clock import ManualClock
from homer.errors import Conflict, HomerError, InvalidInput, NotFound

from .queue_worker import item as worker_item

WORKER = Path(__file__).with_name("queue_worker.py")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queues.db"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def queues(path: Path, clock: ManualClock) -> AsyncIterator[AsyncQueueFile]:
    async with AsyncQueueFile(path, clock=clock) as opened:
        yield opened


@pytest.fixture
def sync_queues(path: Path, clock: ManualClock) -> Iterator[QueueFile]:
    with QueueFile(path, clock=clock) as opened:
        yield opened


async def contents(queues: AsyncQueueFile, name: str) -> list[bytes]:
    """Every item of a queue, oldest first, taken and given back: nothing changes."""
    taken: list[Delivery] = []
    while (delivery := await queues.consume(name)) is not None:
        taken.append(delivery)
    for delivery in taken:
        await queues.release(delivery)
    return [d.data for d in taken]


def worker(*args: str, stdin: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )


# -- what each call does -------------------------------------------------------------


async def test_items_come_out_in_the_order_they_went_in(queues: AsyncQueueFile) -> None:
    await queues.create("q", capacity=10)
    ids = [
        await queues.push("q", b"bytes"),
        await queues.push("q", bytearray(b"array")),
        await queues.push("q", memoryview(b"view")),
        await queues.push("q", "text é"),
        await queues.push_json("q", {"a": [1, 2.5, None, True], "b": "é"}),
    ]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    assert await queues.length("q") == 5
    assert await queues.peek("q") == Item(ids[0], b"bytes")
    popped = [await queues.pop("q") for _ in range(5)]
    assert [p.id for p in popped if p] == ids
    assert [p.data for p in popped[:3] if p] == [b"bytes", b"array", b"view"]
    assert popped[3] is not None
    assert popped[3].text == "text é"
    assert popped[4] is not None
    assert popped[4].json() == {"a": [1, 2.5, None, True], "b": "é"}
    assert await queues.pop("q") is None
    assert await queues.peek("q") is None
    assert await queues.length("q") == 0


async def test_newest_reads_the_tail_and_leaves_it(queues: AsyncQueueFile) -> None:
    await queues.create("q", capacity=3, overflow="drop_oldest")
    assert await queues.newest("q", 2) == []
    ids = [await queues.push("q", f"m{i}") for i in range(5)]  # m0 and m1 dropped
    taken = await queues.consume("q")
    assert taken is not None
    assert taken.text == "m2"
    assert [i.text for i in await queues.newest("q", 2)] == ["m3", "m4"]
    assert [i.id for i in await queues.newest("q", 10)] == ids[2:], "taken ones too, oldest first"
    assert await queues.newest("q", 0) == []
    assert await queues.length("q") == 3
    with pytest.raises(InvalidArgument):
        await queues.newest("q", -1)


async def test_ids_are_never_given_twice_in_a_queue(queues: AsyncQueueFile) -> None:
    await queues.create("q", capacity=10)
    first = await queues.push("q", b"a")
    await queues.pop("q")  # empty again
    assert await queues.push("q", b"b") > first


async def test_a_consumed_item_is_hidden_until_acked(queues: AsyncQueueFile) -> None:
    await queues.create("q", capacity=10)
    await queues.push("q", b"one")
    await queues.push("q", b"two")
    taken = await queues.consume("q")
    assert taken is not None
    assert taken.data == b"one"
    assert taken.attempt == 1
    assert taken.receipt == Receipt("q", taken.receipt.queue_id, taken.id, 1)
    assert (await queues.peek("q")) == Item(taken.id + 1, b"two")  # skips the taken one
    assert await queues.length("q") == 2  # taken, not gone
    other = await queues.consume("q")
    assert other is not None
    assert other.data == b"two"
    assert await queues.consume("q") is None
    await queues.ack(taken)
    await queues.ack(other.receipt)  # the receipt or the delivery
    assert await queues.length("q") == 0


async def test_a_released_item_comes_back_at_once_in_its_place(queues: AsyncQueueFile) -> None:
    await queues.create("q", capacity=10)
    await queues.push("q", b"one")
    await queues.push("q", b"two")
    taken = await queues.consume("q")
    assert taken is not None
    await queues.release(taken)
    again = await queues.consume("q")
    assert again is not None
    assert again.data == b"one"
    assert again.attempt == 2
    with pytest.raises(UnknownReceipt):
        await queues.ack(taken)  # released: that taking holds nothing
    await queues.ack(again)


async def test_an_item_not_acked_in_time_comes_back(
    queues: AsyncQueueFile, clock: ManualClock
) -> None:
    await queues.create("q", capacity=10, visibility=30)
    await queues.push("q", b"one")
    taken = await queues.consume("q")
    assert taken is not None
    clock.advance(29)
    assert await queues.consume("q") is None
    clock.advance(2)
    again = await queues.consume("q")
    assert again is not None
    assert again.id == taken.id
    assert again.attempt == 2
    with pytest.raises(UnknownReceipt):
        await queues.ack(taken)  # handed to someone else since
    await queues.ack(again)
    assert await queues.length("q") == 0


async def test_a_late_ack_still_counts_while_nobody_took_the_item_again(
    queues: AsyncQueueFile, clock: ManualClock
) -> None:
    await queues.create("q", capacity=10, visibility=5)
    await queues.push("q", b"one")
    taken = await queues.consume("q")
    assert taken is not None
    clock.advance(60)
    await queues.ack(taken)
    assert await queues.length("q") == 0


async def test_visibility_can_be_chosen_per_consume(
    queues: AsyncQueueFile, clock: ManualClock
) -> None:
    await queues.create("q", capacity=10, visibility=30)
    await queues.push("q", b"one")
    assert await queues.consume("q", visibility=1) is not None
    clock.advance(1.5)
    again = await queues.consume("q", visibility=100)
    assert again is not None
    assert again.attempt == 2
    clock.advance(99)
    assert await queues.consume("q") is None


async def test_drop_oldest_makes_room_and_refuse_refuses(queues: AsyncQueueFile) -> None:
    await queues.create("drop", capacity=3, overflow="drop_oldest")
    await queues.create("refuse", capacity=3, overflow=Overflow.REFUSE)
    for index in range(5):
        await queues.push("drop", f"{index}")
    assert await contents(queues, "drop") == [b"2", b"3", b"4"]
    for index in range(3):
        await queues.push("refuse", f"{index}")
    with pytest.raises(QueueFull) as refused:
        await queues.push("refuse", b"3")
    assert isinstance(refused.value, Conflict)
    assert refused.value.code == "conflict"
    assert await contents(queues, "refuse") == [b"0", b"1", b"2"]  # nothing lost
    await queues.pop("refuse")
    await queues.push("refuse", b"3")  # room again
    assert await contents(queues, "refuse") == [b"1", b"2", b"3"]


async def test_dropping_a_taken_item_voids_its_receipt(queues: AsyncQueueFile) -> None:
    await queues.create("q", capacity=2, overflow="drop_oldest")
    await queues.push("q", b"a")
    await queues.push("q", b"b")
    taken = await queues.consume("q")
    assert taken is not None
    assert taken.data == b"a"
    await queues.push("q", b"c")  # drops a, taken or not
    with pytest.raises(UnknownReceipt):
        await queues.ack(taken)
    assert await contents(queues, "q") == [b"b", b"c"]


async def test_create_again_with_the_same_settings_finds_the_queue(
    queues: AsyncQueueFile,
) -> None:
    created = await queues.create("q", capacity=5, overflow="drop_oldest", visibility=7)
    assert created == QueueInfo("q", 5, Overflow.DROP_OLDEST, 7.0, 0)
    await queues.push("q", b"kept")
    again = await queues.create("q", capacity=5, overflow="drop_oldest", visibility=7)
    assert again == QueueInfo("q", 5, Overflow.DROP_OLDEST, 7.0, 1)


async def test_queues_are_listed_and_destroyed(queues: AsyncQueueFile) -> None:
    await queues.create("b", capacity=2)
    await queues.create("a", capacity=9, overflow="drop_oldest", visibility=1.5)
    await queues.push("b", b"x")
    await queues.push("b", b"y")
    assert await queues.list_queues() == [
        QueueInfo("a", 9, Overflow.DROP_OLDEST, 1.5, 0),
        QueueInfo("b", 2, Overflow.REFUSE, 30.0, 2),
    ]
    assert await queues.info("b") == QueueInfo("b", 2, Overflow.REFUSE, 30.0, 2)
    taken = await queues.consume("b")
    assert taken is not None
    assert await queues.destroy("b") == 2
    assert [q.name for q in await queues.list_queues()] == ["a"]
    with pytest.raises(QueueNotFound):
        await queues.length("b")
    # A new queue of the same name starts empty; the old receipt holds nothing in it.
    await queues.create("b", capacity=2)
    await queues.push("b", b"new")
    with pytest.raises(UnknownReceipt):
        await queues.ack(taken)
    assert await contents(queues, "b") == [b"new"]


async def test_queues_of_one_file_are_independent(queues: AsyncQueueFile) -> None:
    await queues.create("a", capacity=2)
    await queues.create("b", capacity=2)
    await queues.push("a", b"a1")
    await queues.push("b", b"b1")
    await queues.push("a", b"a2")
    assert await contents(queues, "a") == [b"a1", b"a2"]
    assert await contents(queues, "b") == [b"b1"]
    with pytest.raises(QueueFull):
        await queues.push("a", b"a3")
    await queues.push("b", b"b2")


async def test_large_items_go_through_whole(queues: AsyncQueueFile) -> None:
    await queues.create("q", capacity=3)
    big = os.urandom(aio_module.INLINE_BYTES * 3 + 7)  # written in the thread
    await queues.push("q", big)
    await queues.push("q", b"small")
    assert (await queues.pop("q")) == Item(1, big)
    assert (await queues.pop("q")) == Item(2, b"small")


async def test_what_was_pushed_is_there_after_reopening(path: Path) -> None:
    for durable in (False, True):
        async with AsyncQueueFile(path, durable=durable) as queues:
            await queues.create("q", capacity=10)
            await queues.push("q", f"durable={durable}")
    async with AsyncQueueFile(path) as again:
        assert [await again.pop("q"), await again.pop("q"), await again.pop("q")] == [
            Item(1, b"durable=False"),
            Item(2, b"durable=True"),
            None,
        ]


async def test_closing_gives_back_what_was_taken_and_not_acked(
    path: Path, clock: ManualClock
) -> None:
    async with AsyncQueueFile(path, clock=clock) as queues:
        await queues.create("q", capacity=10)
        for data in (b"acked", b"held", b"released"):
            await queues.push("q", data)
        acked, held, released = [await queues.consume("q") for _ in range(3)]
        assert acked
        assert held
        assert released
        await queues.ack(acked)
        await queues.release(released)
    async with AsyncQueueFile(path, clock=clock) as queues:  # same time: no timeout
        back = [await queues.consume("q"), await queues.consume("q")]
        assert [(d.data, d.attempt) for d in back if d] == [(b"held", 2), (b"released", 2)]
        with pytest.raises(UnknownReceipt):
            await queues.ack(held)


async def test_closing_waits_for_the_calls_in_the_thread(path: Path) -> None:
    queues = AsyncQueueFile(path, durable=True)  # every call in the thread
    await queues.open()
    await queues.create("q", capacity=10)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the push waits for this lock
        pushing = asyncio.create_task(queues.push("q", b"under way"))
        await asyncio.sleep(0)
        closing = asyncio.create_task(queues.close())
        await asyncio.sleep(0.05)
        assert not closing.done()  # the push is not done: it cannot be
        closing.cancel()  # the caller gives up; the close goes on
        other.execute("COMMIT")
    finally:
        other.close()
    assert await pushing == 1
    with pytest.raises(asyncio.CancelledError):
        await closing
    await queues.close()  # once the first one has ended: nothing to do
    assert queues.closed
    async with AsyncQueueFile(path) as again:
        assert await again.pop("q") == Item(1, b"under way")


def test_the_sync_api_does_the_same(sync_queues: QueueFile, clock: ManualClock) -> None:
    queues = sync_queues
    assert queues.create("q", capacity=2, visibility=10) == QueueInfo(
        "q", 2, Overflow.REFUSE, 10.0, 0
    )
    assert queues.push("q", b"a") == 1
    assert queues.push_json("q", [1, "two"]) == 2
    with pytest.raises(QueueFull):
        queues.push("q", b"c")
    assert queues.peek("q") == Item(1, b"a")
    taken = queues.consume("q")
    assert taken is not None
    assert taken.data == b"a"
    clock.advance(11)
    again = queues.consume("q")
    assert again is not None
    assert again.id == 1
    assert again.attempt == 2
    with pytest.raises(UnknownReceipt):
        queues.ack(taken)
    queues.release(again)
    popped = queues.pop("q")
    assert popped == Item(1, b"a")
    last = queues.consume("q")
    assert last is not None
    assert last.json() == [1, "two"]
    queues.ack(last)
    assert queues.length("q") == 0
    assert queues.info("q").length == 0
    assert [q.name for q in queues.list_queues()] == ["q"]
    assert queues.destroy("q") == 0
    assert queues.list_queues() == []


def test_the_sync_api_takes_turns_between_threads(sync_queues: QueueFile) -> None:
    sync_queues.create("q", capacity=10_000)
    errors: list[BaseException] = []

    def push(tag: int) -> None:
        try:
            for index in range(200):
                sync_queues.push("q", f"{tag}-{index}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(tag,)) for tag in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    found = [item.text for item in iter(lambda: sync_queues.pop("q"), None)]
    assert sorted(found) == sorted(f"{t}-{i}" for t in range(4) for i in range(200))
    for tag in range(4):  # each thread's items in the order it pushed them
        mine = [int(text.split("-")[1]) for text in found if text.startswith(f"{tag}-")]
        assert mine == list(range(200))


def test_the_file_is_for_its_owner_only(path: Path) -> None:
    with QueueFile(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- several at once -----------------------------------------------------------------


@pytest.mark.parametrize("durable", [False, True], ids=["fast", "durable"])
async def test_many_tasks_at_once_lose_nothing_and_deliver_once(path: Path, durable: bool) -> None:
    producers, per_producer, consumers = 4, 60 if durable else 250, 3
    delivered: list[Delivery] = []
    async with AsyncQueueFile(path, durable=durable) as queues:
        await queues.create("q", capacity=100_000)
        done = asyncio.Event()

        async def produce(tag: int) -> None:
            for index in range(per_producer):
                await queues.push("q", f"{tag}-{index}")
                await asyncio.sleep(0)

        async def consume() -> None:
            while True:
                taken = await queues.consume("q")
                if taken is None:
                    if done.is_set():
                        return
                    await asyncio.sleep(0.001)
                    continue
                delivered.append(taken)
                await asyncio.sleep(0)
                await queues.ack(taken)

        workers = [asyncio.create_task(consume()) for _ in range(consumers)]
        await asyncio.gather(*(produce(tag) for tag in range(producers)))
        done.set()
        await asyncio.gather(*workers)
        assert await queues.length("q") == 0
    expected = [f"{t}-{i}" for t in range(producers) for i in range(per_producer)]
    assert sorted(d.text for d in delivered) == sorted(expected)  # each once
    assert all(d.attempt == 1 for d in delivered)  # nobody was handed an item twice
    # Each producer's items are in the queue's order as it pushed them. (The order
    # in which consumers see their items is not the queue's: a consumer whose call
    # went to the thread may wake up after one whose next call ran on the loop.)
    in_order = sorted(delivered, key=lambda d: d.id)
    for tag in range(producers):
        mine = [int(d.text.split("-")[1]) for d in in_order if d.text.startswith(f"{tag}-")]
        assert mine == list(range(per_producer))


async def test_two_handles_never_hold_the_same_item(path: Path, clock: ManualClock) -> None:
    async with (
        AsyncQueueFile(path, clock=clock) as one,
        AsyncQueueFile(path, clock=clock) as two,
    ):
        await one.create("q", capacity=10, visibility=10)
        await one.push("q", b"only")
        taken = await one.consume("q")
        assert taken is not None
        assert await two.consume("q") is None
        clock.advance(11)  # its consumer is too slow: the item goes to the other
        again = await two.consume("q")
        assert again is not None
        assert again.attempt == 2
        with pytest.raises(UnknownReceipt):
            await one.ack(taken)
        await two.ack(again)
        assert await one.length("q") == 0


async def test_a_call_waits_for_a_lock_another_connection_holds(path: Path) -> None:
    async with AsyncQueueFile(path) as queues:
        await queues.create("q", capacity=10)
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # as another process writing would
            pushing = asyncio.create_task(queues.push("q", b"waited"))
            await asyncio.sleep(0.05)
            assert not pushing.done()  # it cannot have written: the lock is taken
            other.execute("COMMIT")
            assert await pushing == 1
        finally:
            other.close()
        assert await contents(queues, "q") == [b"waited"]


@pytest.mark.parametrize("call", ["pop", "consume"])
async def test_a_cancelled_take_puts_the_item_back(path: Path, call: str) -> None:
    started = threading.Event()

    def clock() -> float:  # read as the call starts in the thread
        started.set()
        return 1_700_000_000.0

    async with AsyncQueueFile(path, durable=True, clock=clock) as queues:  # all in the thread
        await queues.create("q", capacity=10)
        pushed = await queues.push("q", b"precious")
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # the take waits for this lock, in the thread
            started.clear()
            taking = asyncio.create_task(getattr(queues, call)("q"))
            assert await asyncio.to_thread(started.wait, 30)
            taking.cancel()
            other.execute("COMMIT")  # the take goes through now, for nobody
        finally:
            other.close()
        with pytest.raises(asyncio.CancelledError):
            await taking
        back = await queues.consume("q")
    assert back is not None
    assert back.id == pushed
    assert back.data == b"precious"
    assert back.attempt == (1 if call == "pop" else 2)


async def test_the_wal_is_copied_back_as_calls_run_on_the_loop(path: Path) -> None:
    async with AsyncQueueFile(path) as queues:
        await queues.create("q", capacity=10)
        wal = Path(f"{path}-wal")
        for _ in range(3 * aio_module.CHECKPOINT_EVERY):
            await queues.push("q", b"x" * 100)
            await queues.pop("q")
        await queues.length("q")  # what is in the thread is done before this
        # Without checkpoints: a page or two per call, 6,000 calls, over 24 MB.
        size = (await asyncio.to_thread(wal.stat)).st_size
        assert size < 2 * aio_module.CHECKPOINT_EVERY * 2 * 4096


def test_two_processes_lose_nothing_and_deliver_once(path: Path) -> None:
    with QueueFile(path) as queues:
        queues.create("q", capacity=100_000)
    count = 300
    with (
        worker("work", str(path), "q", "a", str(count), stdin=True) as one,
        worker("work", str(path), "q", "b", str(count), stdin=True) as two,
    ):
        try:
            for process in (one, two):
                assert process.stdout is not None
                assert process.stdout.readline() == "ready\n"
            for process in (one, two):  # both start together
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            outputs = [process.communicate(timeout=60)[0] for process in (one, two)]
        finally:
            for process in (one, two):
                process.kill()
    assert [one.returncode, two.returncode] == [0, 0]
    acked = [json.loads(output.splitlines()[-1]) for output in outputs]
    with QueueFile(path) as queues:  # what a worker left when it found the queue empty
        rest = [item.text for item in iter(lambda: queues.pop("q"), None)]
    everything = acked[0] + acked[1] + rest
    assert sorted(everything) == sorted(f"{t}-{i}" for t in "ab" for i in range(count))
    assert acked[0]
    assert acked[1]


@pytest.mark.parametrize("durable", [False, True], ids=["fast", "durable"])
def test_a_killed_pusher_loses_nothing_it_reported_done(path: Path, durable: bool) -> None:
    with QueueFile(path) as queues:
        queues.create("q", capacity=1_000_000)
    reported = -1
    with worker("push", str(path), "q", "durable" if durable else "fast") as process:
        try:
            assert process.stdout is not None
            while reported < 150:
                line = process.stdout.readline()
                assert line, "the pusher ended by itself"
                reported = int(line)
        finally:
            os.kill(process.pid, signal.SIGKILL)  # in the middle of a push, most likely
    assert process.returncode == -signal.SIGKILL
    with QueueFile(path) as queues:
        stored = list(iter(lambda: queues.pop("q"), None))
    assert len(stored) > reported  # every push it reported, maybe one more
    for index, item in enumerate(stored):  # whole, in order, each once
        assert item == Item(index + 1, worker_item(index))


def test_an_item_whose_consumer_died_comes_back_after_its_timeout(path: Path) -> None:
    with QueueFile(path) as queues:
        queues.create("q", capacity=10, visibility=30)
        queues.push("q", b"unfinished")
    with worker("take", str(path), "q") as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "1\n"
        finally:
            os.kill(process.pid, signal.SIGKILL)
    real_now = ManualClock(time.time())
    with QueueFile(path, clock=real_now) as queues:
        assert queues.consume("q") is None  # still hidden: its consumer might be alive
        real_now.advance(31)
        back = queues.consume("q")
        assert back is not None
        assert back.data == b"unfinished"
        assert back.attempt == 2


# -- bad input: a clear error, and nothing lost --------------------------------------


async def test_an_unknown_queue_is_named_in_the_error(queues: AsyncQueueFile) -> None:
    calls: list[Any] = [
        queues.push("nope", b"x"),
        queues.push_json("nope", 1),
        queues.pop("nope"),
        queues.consume("nope"),
        queues.peek("nope"),
        queues.newest("nope", 1),
        queues.length("nope"),
        queues.info("nope"),
        queues.destroy("nope"),
    ]
    for call in calls:
        with pytest.raises(QueueNotFound, match="'nope'") as raised:
            await call
        assert isinstance(raised.value, NotFound)
        assert raised.value.code == "not_found"
    assert await queues.list_queues() == []


def test_an_unknown_queue_in_the_sync_api(sync_queues: QueueFile) -> None:
    for call in (
        lambda: sync_queues.push("nope", b"x"),
        lambda: sync_queues.pop("nope"),
        lambda: sync_queues.consume("nope"),
        lambda: sync_queues.peek("nope"),
        lambda: sync_queues.newest("nope", 1),
        lambda: sync_queues.length("nope"),
        lambda: sync_queues.destroy("nope"),
    ):
        with pytest.raises(QueueNotFound):
            call()


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": -5}, "capacity"),
        ({"capacity": 2.0}, "capacity"),
        ({"capacity": True}, "capacity"),
        ({"capacity": 2, "overflow": "drop_newest"}, "overflow"),
        ({"capacity": 2, "visibility": 0}, "visibility"),
        ({"capacity": 2, "visibility": math.nan}, "visibility"),
        ({"capacity": 2, "visibility": "30"}, "visibility"),
    ],
)
async def test_bad_settings_are_refused(
    queues: AsyncQueueFile, settings: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidArgument, match=match) as raised:
        await queues.create("q", **settings)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, InvalidInput)
    assert raised.value.code == "invalid"
    assert await queues.list_queues() == []


@pytest.mark.parametrize(
    "settings",
    [{"capacity": 0}, {"capacity": 1, "overflow": "?"}, {"capacity": 1, "visibility": -1}],
)
def test_bad_settings_are_refused_by_the_sync_api(
    sync_queues: QueueFile, settings: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgument):
        sync_queues.create("q", **settings)
    assert sync_queues.list_queues() == []


@pytest.mark.parametrize("name", ["", None, 3, b"q"])
async def test_a_bad_queue_name_is_refused(queues: AsyncQueueFile, name: Any) -> None:
    with pytest.raises(InvalidArgument, match="name"):
        await queues.create(name, capacity=1)
    with pytest.raises(InvalidArgument, match="name"):
        await queues.push(name, b"x")


async def test_a_queue_with_other_settings_is_not_created_again(queues: AsyncQueueFile) -> None:
    await queues.create("q", capacity=5)
    await queues.push("q", b"kept")
    for other in (
        {"capacity": 6},
        {"capacity": 5, "overflow": "drop_oldest"},
        {"capacity": 5, "visibility": 31},
    ):
        with pytest.raises(QueueExists, match="capacity=5") as raised:
            await queues.create("q", **other)
        assert isinstance(raised.value, Conflict)
    assert await queues.info("q") == QueueInfo("q", 5, Overflow.REFUSE, 30.0, 1)
    assert await contents(queues, "q") == [b"kept"]


@pytest.mark.parametrize("item", [None, 3, 2.5, ["list"], {"a": 1}, "\udc80"])
async def test_an_item_of_the_wrong_type_is_refused(queues: AsyncQueueFile, item: Any) -> None:
    await queues.create("q", capacity=5)
    await queues.push("q", b"kept")
    with pytest.raises(InvalidItem) as raised:
        await queues.push("q", item)
    assert isinstance(raised.value, TypeError)
    assert raised.value.code == "invalid"
    assert await contents(queues, "q") == [b"kept"]


@pytest.mark.parametrize("value", [{1, 2}, math.nan, object(), b"bytes", {"a": math.inf}])
async def test_a_value_json_cannot_hold_is_refused(queues: AsyncQueueFile, value: Any) -> None:
    await queues.create("q", capacity=5)
    with pytest.raises(InvalidItem, match="JSON"):
        await queues.push_json("q", value)
    assert await queues.length("q") == 0


async def test_receipts_that_hold_nothing_are_refused(queues: AsyncQueueFile) -> None:
    await queues.create("q", capacity=5)
    await queues.push("q", b"kept")
    taken = await queues.consume("q")
    assert taken is not None
    made_up = Receipt("q", taken.receipt.queue_id, taken.id + 1, 1)
    for receipt in (made_up, Receipt("q", taken.receipt.queue_id, taken.id, 2)):
        for call in (queues.ack, queues.release):
            with pytest.raises(UnknownReceipt) as raised:
                await call(receipt)
            assert isinstance(raised.value, NotFound)
    with pytest.raises(InvalidArgument, match="Receipt"):
        await queues.ack("a receipt")  # type: ignore[arg-type]
    assert await queues.length("q") == 1  # still held by the real receipt
    await queues.ack(taken)
    with pytest.raises(UnknownReceipt, match="acknowledged"):
        await queues.ack(taken)  # twice
    with pytest.raises(UnknownReceipt):
        await queues.release(taken)


async def test_a_closed_file_says_so(path: Path) -> None:
    queues = AsyncQueueFile(path)
    with pytest.raises(QueueClosed):
        await queues.length("q")  # not open yet
    async with queues:
        await queues.create("q", capacity=5)
        await queues.push("q", b"kept")
    assert queues.closed
    for call in (
        queues.push("q", b"lost?"),
        queues.pop("q"),
        queues.length("q"),
        queues.create("r", capacity=1),
    ):
        with pytest.raises(QueueClosed) as raised:
            await call
        assert raised.value.code == "unavailable"
    await queues.close()  # again: nothing
    async with AsyncQueueFile(path) as again:
        assert await contents(again, "q") == [b"kept"]


def test_a_closed_sync_file_says_so(path: Path) -> None:
    queues = QueueFile(path)
    queues.create("q", capacity=5)
    queues.push("q", b"kept")
    queues.close()
    queues.close()  # again: nothing
    assert queues.closed
    with pytest.raises(QueueClosed):
        queues.push("q", b"lost?")
    with QueueFile(path) as again:
        assert again.pop("q") == Item(1, b"kept")


@pytest.fixture
def not_queue_files(tmp_path: Path) -> list[tuple[Path, str]]:
    """Files that are not queue files, each with what its error says."""
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE mine (x)")
    conn.close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not SQLite at all" * 100)
    newer = tmp_path / "newer.db"
    QueueFile(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version=99")
    conn.close()
    return [(other, "not a queue file"), (garbage, "failed"), (newer, "newer")]


def test_a_file_that_is_not_a_queue_file_is_refused(
    not_queue_files: list[tuple[Path, str]],
) -> None:
    for bad, match in not_queue_files:
        with pytest.raises(QueueFileError, match=match):
            QueueFile(bad)
    other = not_queue_files[0][0]
    conn = sqlite3.connect(other)
    try:  # untouched
        assert conn.execute("SELECT name FROM sqlite_schema").fetchall() == [("mine",)]
    finally:
        conn.close()


async def test_a_file_that_is_not_a_queue_file_is_refused_by_the_asyncio_api(
    not_queue_files: list[tuple[Path, str]],
) -> None:
    for bad, match in not_queue_files:
        queues = AsyncQueueFile(bad)
        with pytest.raises(QueueFileError, match=match):
            await queues.open()
        assert queues.closed


def test_a_lock_held_past_the_timeout_is_an_error(path: Path) -> None:
    with QueueFile(path, timeout=0) as queues:
        queues.create("q", capacity=5)
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(QueueFileError, match="locked"):
                queues.push("q", b"x")
            other.execute("ROLLBACK")
        finally:
            other.close()
        queues.push("q", b"x")
        assert queues.length("q") == 1


@pytest.mark.parametrize("timeout", [-1, math.inf, "10"])
def test_a_bad_timeout_is_refused(path: Path, timeout: Any) -> None:
    with pytest.raises(InvalidArgument, match="timeout"):
        QueueFile(path, timeout=timeout)
    with pytest.raises(InvalidArgument, match="timeout"):
        AsyncQueueFile(path, timeout=timeout)


def test_every_error_is_a_queue_error_and_a_homer_error() -> None:
    for error in (
        QueueNotFound,
        QueueExists,
        QueueFull,
        UnknownReceipt,
        InvalidItem,
        InvalidArgument,
        QueueClosed,
        QueueFileError,
    ):
        assert issubclass(error, QueueError)
        assert issubclass(error, HomerError)
