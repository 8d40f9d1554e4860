"""The Blob port: where the bytes of shared files live.

A blob is an immutable run of bytes with a content type, stored under a key the
adapter makes. The store keeps what a file *means* (its name, its room, who sent
it); the blob keeps only its bytes. Five calls, all async:

``put(chunks, content_type=..., limit=...) -> BlobInfo``
    Store the bytes an async iterable yields under a new key, and return what
    was stored. The bytes are consumed chunk by chunk, never gathered whole in
    memory (the S3 adapter holds at most one multipart part). As soon as more
    than ``limit`` bytes have arrived it stops reading and raises
    :class:`homer.errors.BlobTooLarge`.
``read(key, start=0, end=None)``
    An async context manager that yields the bytes ``start <= i < end`` (half
    open, as in slicing; ``end=None`` is the end of the blob; an ``end`` past
    the end is cut to it) as an async iterator of chunks. Unknown key:
    :class:`homer.errors.NotFound` on entering. A range must select at least one
    byte, except the whole of an empty blob: otherwise
    :class:`homer.errors.BadRange`, which carries the blob's size. An HTTP range
    ``bytes=a-b`` is ``start=a, end=b + 1``. Leaving the block releases the file
    or the connection, whether or not everything was read.
``stat(key) -> BlobInfo``
    Size, content type and creation time; :class:`homer.errors.NotFound` for an
    unknown key.
``delete(key)``
    Remove the blob; deleting an unknown or already deleted key does nothing.
``open()`` / ``close()``
    Before the first call and after the last; ``close`` twice is harmless.

What every adapter guarantees (:mod:`homer.testing.blob_conformance` checks it):

- **Atomic**: a blob appears whole or not at all. Neither a reader nor ``stat``
  ever sees a half-written blob; a key is returned only once its bytes
  are durable as the adapter is configured.
- **Nothing left behind**: a write that fails, is refused over its limit, or is
  cancelled leaves no blob and no partial object (the filesystem adapter's temp
  file is removed, the S3 adapter's multipart upload aborted).
- **Opaque keys**: a key is made by the adapter (random, URL-safe, at most 64
  characters of ``[0-9a-z]``), never chosen by a user, and never a path. A key
  that could not have been made by the adapter is simply not found.
- **Immutable**: a key's bytes never change; a new version is a new key.
- Failures of the medium (a full disk, an unreachable S3 service) raise
  :class:`homer.errors.BlobError`: no exception of the medium's own crosses
  the port.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from homer.errors import BadRange, BlobTooLarge, InvalidInput

__all__ = [
    "CHUNK_SIZE",
    "Blob",
    "BlobInfo",
    "blocks",
    "check_content_type",
    "is_key",
    "new_key",
    "resolve_range",
    "within_limit",
]

#: How many bytes a reader yields at most in one chunk.
CHUNK_SIZE = 64 * 1024

#: What a key made by an adapter looks like; anything else is not found.
_KEY = re.compile(r"[0-9a-z]{16,64}")
#: A media type as HTTP carries it: printable ASCII, no line breaks.
_CONTENT_TYPE = re.compile(r"[\x20-\x7e]{1,255}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobInfo:
    key: str
    #: In bytes.
    size: int
    content_type: str
    #: When the blob was stored, in seconds since the epoch.
    created: float


class Blob(Protocol):
    async def open(self) -> None:
        """Get ready (create the directory, connect); before any other call."""

    async def close(self) -> None:
        """Release what :meth:`open` took; calling it twice is harmless."""

    async def put(self, chunks: AsyncIterable[bytes], *, content_type: str, limit: int) -> BlobInfo:
        """Store what ``chunks`` yields under a new key, all or nothing.

        Raises :class:`homer.errors.BlobTooLarge` as soon as more than ``limit``
        bytes arrived, :class:`homer.errors.InvalidInput` for a content type that
        is not printable ASCII (1 to 255 characters), and
        :class:`homer.errors.BlobError` when the medium fails. An exception raised
        by ``chunks`` itself is raised unchanged. In every case, and on
        cancellation, nothing is left behind."""

    def read(
        self, key: str, *, start: int = 0, end: int | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """The bytes ``start`` to ``end`` (exclusive) of ``key``, in chunks of at
        most :data:`CHUNK_SIZE`; see the module's documentation for the errors."""

    async def stat(self, key: str) -> BlobInfo:
        """What :meth:`put` returned for ``key``; :class:`homer.errors.NotFound`
        for an unknown key."""

    async def delete(self, key: str) -> None:
        """Remove ``key``'s blob; an unknown key is no error."""


def new_key() -> str:
    """A fresh key: 128 random bits in lower-case hex."""
    return secrets.token_hex(16)


def is_key(key: str) -> bool:
    """Whether ``key`` could have been made by an adapter (else it is not found)."""
    return _KEY.fullmatch(key) is not None


async def within_limit(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[bytes]:
    """``chunks`` as they come, until more than ``limit`` bytes have arrived: then
    :class:`BlobTooLarge`, before the chunk that passed the limit is handed on. Every
    adapter refuses at the same point."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise BlobTooLarge(f"a file over the limit of {limit} bytes", limit)
        yield chunk


async def blocks(
    chunks: AsyncIterable[bytes], *, size: int, limit: int
) -> AsyncIterator[tuple[bytes, bool]]:
    """A stream to store as ``(block, last)``: blocks of exactly ``size`` bytes,
    then the last with the rest (from none to ``size`` bytes). A block is handed
    on only once more bytes follow it, so a stream of exactly one block is one
    block marked last. Raises :class:`BlobTooLarge` as :func:`within_limit` does."""
    # The chunks are joined once a block's worth is held: each byte is copied about
    # twice on its way, whatever the size of the blocks (a growing buffer cut from
    # the front copies the rest of it at every cut).
    pending: list[bytes] = []
    held = 0
    async for chunk in within_limit(chunks, limit):
        pending.append(chunk)
        held += len(chunk)
        if held <= size:
            continue
        joined = b"".join(pending)
        start = 0
        while held - start > size:
            yield joined[start : start + size], False
            start += size
        rest = joined[start:]
        pending, held = [rest], len(rest)
    yield b"".join(pending), True


def check_content_type(content_type: str) -> None:
    """Raise :class:`InvalidInput` for a content type no adapter keeps."""
    if _CONTENT_TYPE.fullmatch(content_type) is None:
        raise InvalidInput("a content type is 1 to 255 printable ASCII characters")


def resolve_range(size: int, start: int, end: int | None) -> tuple[int, int]:
    """The half-open range ``start``, ``end`` of a blob of ``size`` bytes, with
    ``end`` cut to ``size``; :class:`BadRange` if it selects nothing (except the
    whole of an empty blob)."""
    if start == 0 and end is None:
        return 0, size
    stop = size if end is None else min(end, size)
    if start < 0 or start >= size or stop <= start:
        shown = "" if end is None else end
        raise BadRange(f"range {start}-{shown} is outside a blob of {size} bytes", size)
    return start, stop
