"""The embedded default Blob adapter: files in a directory (``<data_dir>/files``).

Layout, under the root::

    tmp/<key>.part        a write in progress (owner-only, removed if it fails)
    3f/a0/3fa0...c1       a stored blob, two levels of directories from its key

A blob's file starts with a small header (four bytes of length, then JSON with
its content type and creation time) and then its bytes, so that one
``os.replace`` of one file publishes the blob whole: there is no second file to
fall out of step with. The file is written in full, flushed and (by default)
fsynced under ``tmp/``, then renamed into place, and its directory fsynced: a
reader sees the whole blob or nothing, and a crash leaves at most a file in
``tmp/``, which :meth:`FileBlob.open` removes once it is an hour old.

Every file operation runs in a worker thread, never on the event loop. Files are
created ``0600`` and directories ``0700``: only the server's user reads them.
The directory belongs to one node; several nodes share files through S3.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

import msgspec

from homer.blob.ports import (
    CHUNK_SIZE,
    BlobInfo,
    check_content_type,
    is_key,
    new_key,
    resolve_range,
    within_limit,
)
from homer.clock import Clock, system_clock
from homer.errors import BlobError, NotFound

__all__ = ["FileBlob"]

_T = TypeVar("_T")

#: The header's length prefix: four bytes, big-endian.
_PREFIX = struct.Struct(">I")
#: Longest header a reader accepts (a content type is at most 255 characters).
_MAX_HEADER = 4096
#: A temp file older than this, found by ``open``, was left by a crash.
STALE_AFTER = 3600.0
#: Bytes written or read in one call of a worker thread: each call costs a hand-off
#: to the thread and back, which at 64 KiB was half the time of a large download
#: (the ``files`` benchmark). A reader still gets chunks of at most ``CHUNK_SIZE``.
IO_BLOCK = 1024 * 1024


class _Header(msgspec.Struct, frozen=True):
    content_type: str
    created: float


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Header).decode


class FileBlob:
    """Blobs as files under ``root``. ``fsync`` (the default) makes a stored blob
    survive a power loss, as ``sqlite_synchronous = "FULL"`` does for messages;
    without it a blob survives a crash of the process only."""

    def __init__(self, root: Path, *, fsync: bool = True, clock: Clock = system_clock) -> None:
        self.root = root
        self.fsync = fsync
        self._clock = clock
        self._tmp = root / "tmp"

    # -- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        """Clean up after a crash; the directories are made by the first write."""
        await _off_loop(self._prepare)

    async def close(self) -> None:
        """Nothing stays open between calls."""

    def _prepare(self) -> None:
        """Remove what a crash left in ``tmp/``; create nothing (the directories
        appear with the first file)."""
        cutoff = time.time() - STALE_AFTER
        for leftover in self._tmp.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    # -- the port ------------------------------------------------------------------

    def path_of(self, key: str) -> Path:
        """Where ``key``'s blob is (or would be) stored."""
        return self.root / key[:2] / key[2:4] / key

    async def put(self, chunks: AsyncIterable[bytes], *, content_type: str, limit: int) -> BlobInfo:
        check_content_type(content_type)
        key = new_key()
        created = self._clock()
        temp = self._tmp / f"{key}.part"
        header = _encode(_Header(content_type=content_type, created=created))
        target = self.path_of(key)
        size = 0
        file: BinaryIO | None = None
        try:
            file = await _off_loop(
                self._create, temp, _PREFIX.pack(len(header)) + header, undo=_close
            )
            # Chunks are written as they came, a list of them at a time: block
            # boundaries do not matter in a file, so nothing is joined or cut.
            pending: list[bytes] = []
            held = 0
            async for chunk in within_limit(chunks, limit):
                pending.append(chunk)
                held += len(chunk)
                if held >= IO_BLOCK:
                    await _off_loop(file.writelines, pending)
                    size += held
                    pending, held = [], 0
            size += held
            await _off_loop(self._publish, file, pending, temp, target)
        except BaseException:
            # Every thread of this write is over (see _off_loop). The target too: a
            # blob renamed into place whose directory could not be synced is not
            # returned, so nobody would ever delete it. Shielded: a second
            # cancellation cannot stop the clean-up half-way.
            with contextlib.suppress(OSError):  # the first failure is the one to report
                await asyncio.shield(asyncio.to_thread(_discard, file, temp, target))
            raise
        return BlobInfo(key=key, size=size, content_type=content_type, created=created)

    @contextlib.asynccontextmanager
    async def read(
        self, key: str, *, start: int = 0, end: int | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        file, offset, stop = await _off_loop(
            self._open_range, key, start, end, undo=lambda opened: opened[0].close()
        )
        try:
            yield _chunks(file, stop - offset)
        finally:
            await asyncio.shield(asyncio.to_thread(file.close))

    async def stat(self, key: str) -> BlobInfo:
        return await _off_loop(self._stat, key)

    async def delete(self, key: str) -> None:
        if is_key(key):
            await _off_loop(_unlink, self.path_of(key))

    # -- in a worker thread ----------------------------------------------------------

    def _create(self, temp: Path, header: bytes) -> BinaryIO:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._tmp.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        file = os.fdopen(fd, "wb")
        try:
            file.write(header)
        except BaseException:
            _discard(file, temp)
            raise
        return file

    def _publish(self, file: BinaryIO, tail: list[bytes], temp: Path, target: Path) -> None:
        file.writelines(tail)
        file.flush()
        if self.fsync:
            os.fsync(file.fileno())
        file.close()
        for directory in (target.parent.parent, target.parent):
            directory.mkdir(mode=0o700, exist_ok=True)
        os.replace(temp, target)
        if self.fsync:
            _fsync_directory(target.parent)

    def _open_header(self, key: str) -> tuple[BinaryIO, _Header, int, int]:
        """The blob's open file, its header, where its bytes start, and its size."""
        if not is_key(key):
            raise NotFound(f"no file {key!r}")
        try:
            file = self.path_of(key).open("rb")
        except FileNotFoundError:
            raise NotFound(f"no file {key!r}") from None
        try:
            (length,) = _PREFIX.unpack(file.read(_PREFIX.size))
            if length > _MAX_HEADER:
                raise BlobError(f"file {key!r} is damaged: its header is {length} bytes")
            header = _decode(file.read(length))
            body = _PREFIX.size + length
            return file, header, body, os.fstat(file.fileno()).st_size - body
        except (struct.error, msgspec.DecodeError) as exc:
            file.close()
            raise BlobError(f"file {key!r} is damaged: {exc}") from exc
        except BaseException:
            file.close()
            raise

    def _stat(self, key: str) -> BlobInfo:
        file, header, _, size = self._open_header(key)
        file.close()
        return BlobInfo(
            key=key, size=size, content_type=header.content_type, created=header.created
        )

    def _open_range(self, key: str, start: int, end: int | None) -> tuple[BinaryIO, int, int]:
        file, _, body, size = self._open_header(key)
        try:
            first, stop = resolve_range(size, start, end)
            file.seek(body + first)
        except BaseException:
            file.close()
            raise
        return file, first, stop


async def _chunks(file: BinaryIO, remaining: int) -> AsyncIterator[bytes]:
    while remaining > 0:
        block = await _off_loop(file.read, min(IO_BLOCK, remaining))
        if not block:
            raise BlobError("a stored file ended early: it changed while it was read")
        remaining -= len(block)
        if len(block) <= CHUNK_SIZE:
            yield block
            continue
        view = memoryview(block)
        for start in range(0, len(block), CHUNK_SIZE):
            yield bytes(view[start : start + CHUNK_SIZE])


async def _off_loop(
    function: Callable[..., _T], *args: object, undo: Callable[[_T], object] | None = None
) -> _T:
    """``function(*args)`` in a worker thread; a failing disk is a :class:`BlobError`.

    A cancelled caller still waits for the thread to finish (a thread cannot be
    stopped), so that what it was doing is over before the caller cleans up; what
    it returned then goes to ``undo`` (a file to close) before the cancellation
    goes on."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            result = await work
            if undo is not None:
                undo(result)
        raise
    except OSError as exc:
        raise BlobError(f"file storage failed: {exc}") from exc


def _close(file: BinaryIO) -> None:
    file.close()


def _discard(file: BinaryIO | None, *paths: Path) -> None:
    if file is not None:
        file.close()
    for path in paths:
        _unlink(path)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
