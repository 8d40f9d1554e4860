"""Files shared in messages: upload, attach to a message, describe, download, forget.

A file's bytes go to the Blob port as they arrive, never gathered whole (but for
an image, which Pillow must read: at most ``files.max_size`` of it); what the file
is goes to the store. Who may read a file is decided by the store in one query
(:meth:`~homer.store.ports.FileStore.readable_file`): its uploader, from the upload
on, and the current members of every room it was posted in (decision 0020). To
anyone else a file does not exist: ``not_found``, never ``forbidden``, so ids
cannot be probed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from homer.blob.ports import Blob, check_content_type
from homer.clock import Clock, system_clock
from homer.config import FilesConfig
from homer.errors import (
    BlobTooLarge,
    Forbidden,
    InvalidInput,
    NotAuthorized,
    NotFound,
    UnsupportedMediaType,
)
from homer.identity.accounts import User
from homer.identity.permissions import Authorizer
from homer.messaging.ids import message_id
from homer.messaging.images import IMAGE_FORMATS, ImageFacts, inspect_image
from homer.store.ports import Store
from homer.store.records import FileRecord

__all__ = [
    "MAX_FILES_PER_MESSAGE",
    "Download",
    "FileService",
    "clean_name",
    "describe_file",
    "media_type",
    "type_allowed",
]

#: Most files one message may carry.
MAX_FILES_PER_MESSAGE = 10
#: Longest file name kept, in characters.
MAX_NAME = 255


@dataclass(frozen=True, slots=True, kw_only=True)
class Download:
    """What one download serves: a file's bytes, or its thumbnail's."""

    key: str
    name: str
    content_type: str
    size: int


def media_type(content_type: str) -> str:
    """The ``type/subtype`` of a ``Content-Type`` value, lower case, parameters
    dropped; :class:`InvalidInput` for anything else."""
    check_content_type(content_type)
    essence = content_type.partition(";")[0].strip().lower()
    kind, slash, subtype = essence.partition("/")
    if not slash or not kind or not subtype or "*" in essence or " " in essence:
        raise InvalidInput(f"{content_type!r} is not a content type (type/subtype)")
    return essence


def type_allowed(media: str, patterns: Sequence[str]) -> bool:
    """Whether ``media`` matches one of ``patterns``: exactly, ``type/*`` or ``*/*``."""
    kind = media.partition("/")[0]
    for pattern in patterns:
        pattern = pattern.strip().lower()
        if pattern in (media, "*/*", f"{kind}/*"):
            return True
    return False


def clean_name(name: str) -> str:
    """A file name fit to show and to put in a header: its last path segment (a
    browser may send a whole path), without control characters, at most
    :data:`MAX_NAME` characters; ``file`` when nothing is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in base if ch.isprintable()).strip()
    return kept[:MAX_NAME] or "file"


def describe_file(file: FileRecord) -> dict[str, Any]:
    """A file as a message body and the ``file`` operation show it."""
    description: dict[str, Any] = {
        "id": file.id,
        "name": file.name,
        "content_type": file.content_type,
        "size": file.size,
    }
    if file.width is not None and file.height is not None:
        description["width"] = file.width
        description["height"] = file.height
    description["thumbnail"] = file.thumbnail_key is not None
    return description


async def _kept(chunks: AsyncIterable[bytes], into: bytearray) -> AsyncIterator[bytes]:
    """``chunks`` passed on, and kept in ``into`` as they pass."""
    async for chunk in chunks:
        into += chunk
        yield chunk


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class FileService:
    """The rules of shared files, over the store (what a file is, who may read it)
    and the Blob port (its bytes)."""

    def __init__(
        self,
        store: Store,
        blob: Blob,
        authorizer: Authorizer,
        config: FilesConfig,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.blob = blob
        self.authorizer = authorizer
        self.config = config
        self.clock = clock

    async def upload(
        self,
        user: User,
        chunks: AsyncIterable[bytes],
        *,
        name: str,
        content_type: str,
        size: int | None = None,
    ) -> dict[str, Any]:
        """Store what ``chunks`` yields as a new file of ``user``'s and describe it.

        ``size`` is what the client announced, if it did: past ``files.max_size``
        the upload is refused before a byte is read. Refused: a type not in
        ``files.types`` (``unsupported_media_type``), an image whose bytes are not its
        type (``invalid``), more
        bytes than ``files.max_size`` or more pixels than ``files.max_pixels``
        (``too_large``), a user without ``room.post``. Nothing is kept of a refused
        or failed upload."""
        if not self.authorizer.can(user, "room.post"):
            raise NotAuthorized("room.post", user.name)
        self.check_size(size)
        media = media_type(content_type)
        if not type_allowed(media, self.config.types):
            raise UnsupportedMediaType(f"files of type {media} are not accepted here")
        limit = self.config.max_size
        image = bytearray() if media in IMAGE_FORMATS else None
        stream = chunks if image is None else _kept(chunks, image)
        info = await self.blob.put(stream, content_type=media, limit=limit)
        keys = [info.key]
        try:
            facts = None if image is None else await self._inspect(bytes(image), media)
            thumbnail_key = thumbnail_type = None
            if facts is not None and facts.thumbnail is not None:
                thumbnail_type = facts.thumbnail_type or "image/png"
                thumb = await self.blob.put(
                    _once(facts.thumbnail), content_type=thumbnail_type, limit=len(facts.thumbnail)
                )
                thumbnail_key = thumb.key
                keys.append(thumb.key)
            record = FileRecord(
                id=message_id(),
                uploader_id=user.id,
                name=clean_name(name),
                content_type=media,
                size=info.size,
                blob_key=info.key,
                created_at=self.clock(),
                width=None if facts is None else facts.width,
                height=None if facts is None else facts.height,
                thumbnail_key=thumbnail_key,
                thumbnail_type=thumbnail_type,
            )
            await self.store.insert_file(record)
        except BaseException:
            for key in keys:
                await self.blob.delete(key)
            raise
        return describe_file(record)

    def check_size(self, size: int | None) -> None:
        """Refuse a file announced to hold ``size`` bytes (or at least that many) when
        that is over ``files.max_size``: before a byte of it is read."""
        limit = self.config.max_size
        if size is not None and size > limit:
            raise BlobTooLarge(f"a file of {size} bytes is over the limit of {limit}", limit)

    async def _inspect(self, data: bytes, media: str) -> ImageFacts:
        """Pillow's checks and thumbnail, in a worker thread: they decode the image."""
        return await asyncio.to_thread(
            inspect_image,
            data,
            media,
            max_pixels=self.config.max_pixels,
            edge=self.config.thumbnail,
        )

    async def attach(
        self, user: User, file_ids: Sequence[str], room_id: str
    ) -> list[dict[str, Any]]:
        """Record ``file_ids`` as posted by ``user`` in ``room_id`` and describe each,
        for the message that carries them. Each must be ``user``'s own upload or one
        they may read already (a file forwarded from another room); ``user`` must be
        a member of the room. At most :data:`MAX_FILES_PER_MESSAGE` files."""
        if len(file_ids) > MAX_FILES_PER_MESSAGE:
            raise InvalidInput(f"a message carries at most {MAX_FILES_PER_MESSAGE} files")
        ids = list(dict.fromkeys(file_ids))
        if not ids:
            return []
        if await self.store.member(room_id, user.id) is None:
            raise Forbidden(f"you are not in room {room_id!r}")
        found = {file.id: file for file in await self.store.files(ids)}
        for file_id in ids:
            file = found.get(file_id)
            if file is None or (
                file.uploader_id != user.id
                and await self.store.readable_file(file_id, user.id) is None
            ):
                raise NotFound(f"no file {file_id!r}")
        await self.store.attach_files(room_id, ids)
        return [describe_file(found[file_id]) for file_id in ids]

    async def forget(self, file_ids: Sequence[str]) -> None:
        """Delete the files and their bytes (a redaction); unknown ids are no error.
        The blobs go first: if the Blob port fails, the records stay for a retry."""
        ids = list(dict.fromkeys(file_ids))
        if not ids:
            return
        for file in await self.store.files(ids):
            for key in file.blob_keys:
                await self.blob.delete(key)
        await self.store.delete_files(ids)

    async def describe(self, user: User, file_id: str) -> dict[str, Any]:
        """The file as a message shows it, to whoever may read it."""
        return describe_file(await self._readable(user, file_id))

    async def download(self, user: User, file_id: str, *, thumbnail: bool = False) -> Download:
        """What to serve of the file (or of its thumbnail), to whoever may read it."""
        file = await self._readable(user, file_id)
        if not thumbnail:
            return Download(
                key=file.blob_key, name=file.name, content_type=file.content_type, size=file.size
            )
        if file.thumbnail_key is None:
            raise NotFound(f"file {file_id!r} has no thumbnail")
        info = await self.blob.stat(file.thumbnail_key)
        return Download(
            key=info.key,
            name=f"thumbnail-{file.name}",
            content_type=file.thumbnail_type or info.content_type,
            size=info.size,
        )

    def read(
        self, download: Download, *, start: int = 0, end: int | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """The bytes ``start`` to ``end`` (exclusive) of what ``download`` names, in
        chunks (see :meth:`homer.blob.ports.Blob.read`)."""
        return self.blob.read(download.key, start=start, end=end)

    async def _readable(self, user: User, file_id: str) -> FileRecord:
        file = await self.store.readable_file(file_id, user.id)
        if file is None:
            raise NotFound(f"no file {file_id!r}")
        return file
