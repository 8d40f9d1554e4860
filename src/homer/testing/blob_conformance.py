"""One conformance suite for every Blob adapter.

Subclass :class:`BlobConformance` in a test module and provide a ``blob``
fixture: an opened adapter on empty storage of its own, closed when the test
ends::

    class TestMyBlob(BlobConformance):
        @pytest.fixture
        async def blob(self, tmp_path):
            adapter = MyBlob(tmp_path)
            await adapter.open()
            yield adapter
            await adapter.close()

The filesystem adapter and the S3 adapter run these same tests.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable

import pytest

from homer.blob.ports import CHUNK_SIZE, Blob, is_key
from homer.errors import BadRange, BlobTooLarge, HomerError, InvalidInput, NotFound

__all__ = ["BlobConformance", "Failing", "read_all", "stream"]

#: A limit no test reaches.
NO_LIMIT = 1 << 40


async def stream(*chunks: bytes) -> AsyncIterator[bytes]:
    """An upload made of ``chunks``, yielded one by one with a turn of the loop
    between them, as a network upload would."""
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk


def pieces(data: bytes, size: int) -> Iterable[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


class Failing(Exception):
    """What an upload that breaks half-way raises (a client went away)."""


async def read_all(blob: Blob, key: str, start: int = 0, end: int | None = None) -> bytes:
    async with blob.read(key, start=start, end=end) as chunks:
        received = [chunk async for chunk in chunks]
    assert all(0 < len(chunk) <= CHUNK_SIZE for chunk in received)
    return b"".join(received)


class BlobConformance:
    """What every Blob adapter must do. Needs a ``blob`` fixture."""

    #: Bytes in a "few megabytes" round trip.
    large = 3 * 1024 * 1024 + 17

    async def contents(self, blob: Blob) -> set[str]:
        """Everything the adapter's storage holds, seen from outside the adapter,
        including what is not a blob (yet): temp files, multipart uploads. Each
        adapter's test class says how to list it."""
        raise NotImplementedError("a BlobConformance subclass lists its storage")

    async def gone(self, blob: Blob, key: str) -> None:
        """``key`` is not found by any call."""
        with pytest.raises(NotFound):
            await blob.stat(key)
        with pytest.raises(NotFound):
            await read_all(blob, key)

    # -- round trips ---------------------------------------------------------------

    @pytest.mark.parametrize(
        "size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * CHUNK_SIZE + 3]
    )
    async def test_round_trip_keeps_every_byte(self, blob: Blob, size: int) -> None:
        data = os.urandom(size)
        info = await blob.put(stream(*pieces(data, 1000)), content_type="a/b", limit=size)
        assert info.size == size
        assert is_key(info.key)
        assert await read_all(blob, info.key) == data
        stat = await blob.stat(info.key)
        assert (stat.key, stat.size, stat.content_type) == (info.key, size, "a/b")
        assert stat.created == pytest.approx(info.created)

    async def test_a_few_megabytes_in_uneven_chunks(self, blob: Blob) -> None:
        data = os.urandom(self.large)
        info = await blob.put(stream(*pieces(data, 100_003)), content_type="x/y", limit=NO_LIMIT)
        assert info.size == self.large
        assert await read_all(blob, info.key) == data

    async def test_empty_chunks_are_harmless(self, blob: Blob) -> None:
        info = await blob.put(stream(b"", b"ab", b"", b"c"), content_type="t/t", limit=3)
        assert await read_all(blob, info.key) == b"abc"

    async def test_every_put_makes_a_new_key(self, blob: Blob) -> None:
        first = await blob.put(stream(b"same"), content_type="t/t", limit=10)
        second = await blob.put(stream(b"same"), content_type="t/t", limit=10)
        assert first.key != second.key

    async def test_content_type_is_kept(self, blob: Blob) -> None:
        kind = 'text/plain; charset="utf-8"'
        info = await blob.put(stream(b"hi"), content_type=kind, limit=10)
        assert info.content_type == kind
        assert (await blob.stat(info.key)).content_type == kind

    @pytest.mark.parametrize("kind", ["", "text/plain\r\nX-Evil: 1", "é/è", "a" * 256])
    async def test_a_content_type_that_cannot_be_kept_is_refused(
        self, blob: Blob, kind: str
    ) -> None:
        with pytest.raises(InvalidInput):
            await blob.put(stream(b"hi"), content_type=kind, limit=10)

    # -- ranges --------------------------------------------------------------------

    @pytest.fixture
    async def stored(self, blob: Blob) -> tuple[str, bytes]:
        data = os.urandom(3 * CHUNK_SIZE + 11)
        info = await blob.put(stream(*pieces(data, 4096)), content_type="a/b", limit=NO_LIMIT)
        return info.key, data

    @pytest.mark.parametrize(
        ("start", "end"),
        [
            (0, 1),  # the first byte
            (3 * CHUNK_SIZE + 10, None),  # the last byte, open-ended
            (3 * CHUNK_SIZE + 10, 3 * CHUNK_SIZE + 11),  # the last byte, closed
            (1000, 2 * CHUNK_SIZE + 5),  # the middle, across chunks
            (CHUNK_SIZE, None),  # open-ended
            (5, 10**12),  # an end past the end is cut to it
            (0, None),  # everything
        ],
    )
    async def test_a_range_reads_that_slice(
        self, blob: Blob, stored: tuple[str, bytes], start: int, end: int | None
    ) -> None:
        key, data = stored
        assert await read_all(blob, key, start, end) == data[start:end]

    @pytest.mark.parametrize(
        ("start", "end"),
        [(3 * CHUNK_SIZE + 11, None), (10**9, None), (10, 10), (10, 5), (-1, None), (-5, 3)],
    )
    async def test_a_range_outside_is_refused_with_the_size(
        self, blob: Blob, stored: tuple[str, bytes], start: int, end: int | None
    ) -> None:
        key, data = stored
        with pytest.raises(BadRange) as caught:
            await read_all(blob, key, start, end)
        assert caught.value.size == len(data)

    async def test_an_empty_blob_reads_whole_but_has_no_range(self, blob: Blob) -> None:
        info = await blob.put(stream(), content_type="a/b", limit=0)
        assert await read_all(blob, info.key) == b""
        with pytest.raises(BadRange):
            await read_all(blob, info.key, 0, 1)

    async def test_leaving_a_read_early_is_clean(
        self, blob: Blob, stored: tuple[str, bytes]
    ) -> None:
        key, data = stored
        async with blob.read(key) as chunks:
            first = await anext(chunks)
        assert data.startswith(first)
        await blob.delete(key)
        await self.gone(blob, key)

    # -- the limit, failures and cancellation ----------------------------------------

    async def test_exactly_the_limit_is_accepted(self, blob: Blob) -> None:
        info = await blob.put(stream(b"12345", b"67890"), content_type="a/b", limit=10)
        assert info.size == 10

    async def test_the_limit_is_refused_mid_stream_leaving_nothing(self, blob: Blob) -> None:
        sent: list[int] = []
        before = await self.contents(blob)

        async def endless() -> AsyncIterator[bytes]:
            while True:
                sent.append(CHUNK_SIZE)
                await asyncio.sleep(0)
                yield b"x" * CHUNK_SIZE

        with pytest.raises(BlobTooLarge) as caught:
            await blob.put(endless(), content_type="a/b", limit=2 * CHUNK_SIZE + 1)
        assert caught.value.code == "too_large"
        assert caught.value.limit == 2 * CHUNK_SIZE + 1
        # It stopped reading at the first chunk over the limit, not at the end.
        assert len(sent) == 3
        assert await self.contents(blob) == before

    async def test_a_failing_upload_leaves_nothing(self, blob: Blob) -> None:
        before = await self.contents(blob)

        async def broken() -> AsyncIterator[bytes]:
            yield os.urandom(CHUNK_SIZE * 2)
            raise Failing("the client went away")

        with pytest.raises(Failing):
            await blob.put(broken(), content_type="a/b", limit=NO_LIMIT)
        assert await self.contents(blob) == before

    async def test_what_is_stored_is_listed(self, blob: Blob) -> None:
        before = await self.contents(blob)
        info = await blob.put(stream(b"x"), content_type="a/b", limit=1)
        assert len(await self.contents(blob) - before) == 1
        await blob.delete(info.key)
        assert await self.contents(blob) == before

    async def test_a_cancelled_write_leaves_nothing(self, blob: Blob) -> None:
        before = await self.contents(blob)
        halfway = asyncio.Event()

        async def stalled() -> AsyncIterator[bytes]:
            yield os.urandom(CHUNK_SIZE * 2)
            halfway.set()
            await asyncio.Event().wait()  # the client stops sending
            yield b"never"

        task = asyncio.create_task(blob.put(stalled(), content_type="a/b", limit=NO_LIMIT))
        await halfway.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await self.contents(blob) == before

    # -- concurrency, delete, unknown keys ---------------------------------------------

    async def test_concurrent_writes_keep_their_own_bytes(self, blob: Blob) -> None:
        datas = [os.urandom(CHUNK_SIZE + n * 997) for n in range(8)]
        infos = await asyncio.gather(
            *(
                blob.put(stream(*pieces(d, 3000)), content_type=f"t/{n}", limit=NO_LIMIT)
                for n, d in enumerate(datas)
            )
        )
        assert len({info.key for info in infos}) == len(datas)
        for n, (info, data) in enumerate(zip(infos, datas, strict=True)):
            assert await read_all(blob, info.key) == data
            assert (await blob.stat(info.key)).content_type == f"t/{n}"

    async def test_delete_removes_and_is_idempotent(self, blob: Blob) -> None:
        info = await blob.put(stream(b"bye"), content_type="a/b", limit=10)
        other = await blob.put(stream(b"stay"), content_type="a/b", limit=10)
        await blob.delete(info.key)
        await self.gone(blob, info.key)
        await blob.delete(info.key)
        assert await read_all(blob, other.key) == b"stay"

    @pytest.mark.parametrize(
        "key", ["0" * 32, "../../etc/passwd", "", "ABC", "a/b", "f" * 65, "x" * 32 + "\x00"]
    )
    async def test_an_unknown_or_impossible_key_is_not_found(self, blob: Blob, key: str) -> None:
        await self.gone(blob, key)
        await blob.delete(key)  # no error

    async def test_errors_are_homer_errors(self, blob: Blob) -> None:
        with pytest.raises(HomerError):
            await blob.stat("0" * 32)

    async def test_created_is_when_it_was_stored(self, blob: Blob) -> None:
        before = time.time()
        info = await blob.put(stream(b"x"), content_type="a/b", limit=1)
        after = time.time()
        # A second either way: an S3 service keeps its own clock.
        assert before - 1 <= info.created <= after + 1
        assert (await blob.stat(info.key)).created == pytest.approx(info.created)

    async def test_uploads_come_from_any_async_iterable(self, blob: Blob) -> None:
        class Upload(AsyncIterable[bytes]):
            def __aiter__(self) -> AsyncIterator[bytes]:
                return stream(b"one", b"two")

        info = await blob.put(Upload(), content_type="a/b", limit=6)
        assert await read_all(blob, info.key) == b"onetwo"
