"""The HTTP routes of shared files: upload (``POST /api/files``) and download
(``GET /api/files/{file}`` and its ``/thumbnail``).

Both are REST routes: the token, the rate limit and ``room.post`` (for an
upload) are checked by the request pipeline before a byte of the body is read.
Bodies are streams in both directions: an upload goes to the Blob port chunk by
chunk as it arrives (never through aiohttp's ``client_max_size`` buffer), and a
download is written from the Blob port chunk by chunk, with one byte range if
asked for. The rules (types, sizes, who may read) are the file service's
(:mod:`homer.messaging.files`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import msgspec
from aiohttp import BodyPartReader, MultipartReader, StreamReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import content_disposition_filename, parse_content_disposition
from msgspec import UNSET, Meta, UnsetType

from homer.blob.ports import CHUNK_SIZE
from homer.errors import HomerError, InvalidInput
from homer.messaging.files import Download
from homer.protocol.ranges import (
    ByteRange,
    Unsatisfiable,
    content_range,
    parse_range,
    unsatisfied_range,
)
from homer.transports.routes import Route, RouteCall

__all__ = [
    "FILE_ROUTES",
    "MULTIPART_SLACK",
    "UPLOAD_PATH",
    "FileInfo",
    "UploadQuery",
    "content_disposition",
]

log = logging.getLogger("homer.http")

T = TypeVar("T")

#: What a multipart body may hold besides the file's bytes (boundaries, the part's
#: headers, small fields before it): a ``Content-Length`` larger than the size limit
#: by more than this is refused before the body is read.
MULTIPART_SLACK = 16 * 1024
#: Where files are uploaded.
UPLOAD_PATH = "/api/files"
#: Content types a browser may show in the page (``inline``); any other is offered
#: as a download (``attachment``), SVG and HTML included: they can run scripts.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class FileInfo(msgspec.Struct, forbid_unknown_fields=True):
    """A shared file, as a message shows it."""

    id: str
    name: str
    content_type: str
    size: Annotated[int, Meta(description="In bytes.")]
    thumbnail: Annotated[bool, Meta(description="Whether `/thumbnail` serves a smaller image.")]
    width: Annotated[int, Meta(description="Images: in pixels.")] | UnsetType = UNSET
    height: Annotated[int, Meta(description="Images: in pixels.")] | UnsetType = UNSET


class UploadQuery(msgspec.Struct, forbid_unknown_fields=True):
    name: (
        Annotated[
            str,
            Meta(
                description="The file's name, for a raw body (else `Content-Disposition`'s"
                " filename, else `file`).",
                max_length=255,
            ),
        ]
        | UnsetType
    ) = UNSET


# -- upload ------------------------------------------------------------------------------


async def upload_file(call: RouteCall) -> Any:
    """Upload a file: `multipart/form-data` with one file part (its filename and
    content type are the file's), or the file's bytes as the body (`Content-Type` is
    its type; its name from `?name=` or a `Content-Disposition` header). The answer
    describes the file, ready to be posted in a message; until then only the
    uploader may read it."""
    request = call.request
    query: UploadQuery = call.query
    app = call.app
    idle = app.config.limits.handshake_timeout
    length = request.content_length
    if not request.body_exists:
        raise InvalidInput("the request has no body: send the file (or a form holding it)")
    if _media(request.headers.get(hdrs.CONTENT_TYPE)) == "multipart/form-data":
        # The file is at least the body less what else a multipart body holds.
        app.files.check_size(None if length is None else length - MULTIPART_SLACK)
        reader, part = await _file_part(request)
        name = part.filename or _given(query.name) or "file"
        content_type = part.headers.get(hdrs.CONTENT_TYPE) or "application/octet-stream"
        chunks = _part_chunks(reader, part, idle)
    else:
        app.files.check_size(length)
        name = _given(query.name) or _disposition_name(request) or "file"
        content_type = request.headers.get(hdrs.CONTENT_TYPE) or "application/octet-stream"
        chunks = _body_chunks(request.content, idle)
    return await app.files.upload(call.user, chunks, name=name, content_type=content_type)


def _media(value: str | None) -> str:
    return (value or "").partition(";")[0].strip().lower()


def _given(value: str | UnsetType) -> str | None:
    return None if value is UNSET else value


def _disposition_name(request: web.Request) -> str | None:
    header = request.headers.get(hdrs.CONTENT_DISPOSITION)
    if not header:
        return None
    _, params = parse_content_disposition(header)
    return content_disposition_filename(params, "filename")


async def _file_part(request: web.Request) -> tuple[MultipartReader, BodyPartReader]:
    """The first part with a filename (form fields before it are skipped)."""
    try:
        reader = await request.multipart()
    except ValueError as exc:  # no boundary
        raise InvalidInput(f"a malformed multipart body: {exc}") from None
    while True:
        try:
            part = await reader.next()
        except (ValueError, HttpProcessingError) as exc:  # a bad boundary, bad part headers
            raise InvalidInput(f"a malformed multipart body: {exc}") from None
        if part is None:
            raise InvalidInput("the multipart body holds no file part (one with a filename)")
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("a nested multipart body is not a file")
        if part.filename is not None:
            return reader, part
        await part.release()


async def _part_chunks(
    reader: MultipartReader, part: BodyPartReader, idle: float
) -> AsyncIterator[bytes]:
    """The file part's bytes; :class:`InvalidInput` (and nothing kept) when the body
    ends before the part's closing boundary (the file would be cut short), or when a
    part after it is malformed (the body is read to its end, as a whole)."""
    while True:
        try:
            chunk = await _within(idle, part.read_chunk(CHUNK_SIZE))
        except ValueError as exc:
            raise InvalidInput(f"a malformed multipart body: {exc}") from None
        if chunk:
            yield chunk
        elif part.at_eof():
            break
        else:
            raise InvalidInput("the multipart body ended before the end of its file part")
    try:
        while (after := await _within(idle, reader.next())) is not None:
            await _within(idle, after.release())
    except (ValueError, HttpProcessingError) as exc:
        raise InvalidInput(f"a malformed multipart body: {exc}") from None


async def _body_chunks(stream: StreamReader, idle: float) -> AsyncIterator[bytes]:
    """The body as aiohttp received it, one buffer at a time (``readany`` would join
    what is buffered: a copy of every byte, for nothing)."""
    while True:
        chunk, end_of_http_chunk = await _within(idle, stream.readchunk())
        if chunk:
            yield chunk
        elif not end_of_http_chunk:
            return


async def _within(idle: float, read: Awaitable[T]) -> T:
    """One read of the body, which must come within ``idle`` seconds (a body sent a
    byte a minute would hold a handler and a socket forever)."""
    try:
        async with asyncio.timeout(idle):
            return await read
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text=f"the request body stalled for {idle:g} s", headers={"Connection": "close"}
        ) from None


# -- download ----------------------------------------------------------------------------


async def download_file(call: RouteCall) -> Any:
    """The file's bytes, to its uploader and to the members of a room it was posted
    in (anyone else: 404). One byte range may be asked for (`Range: bytes=...`): 206
    with `Content-Range`, or 416 when it selects nothing; a malformed `Range` is
    ignored. Images are shown `inline`, anything else is an `attachment`."""
    download = await call.app.files.download(call.user, call.path("file"))
    return await _serve(call, download)


async def download_thumbnail(call: RouteCall) -> Any:
    """A smaller picture of an image (PNG, or JPEG for a JPEG), as the file itself is
    served; 404 for a file without one."""
    download = await call.app.files.download(call.user, call.path("file"), thumbnail=True)
    return await _serve(call, download)


async def _serve(call: RouteCall, download: Download) -> web.StreamResponse:
    request = call.request
    etag = f'"{download.key}"'  # a blob never changes: its key names its bytes
    headers = {
        hdrs.CONTENT_DISPOSITION: content_disposition(download.name, download.content_type),
        hdrs.ETAG: etag,
        hdrs.ACCEPT_RANGES: "bytes",
        hdrs.CACHE_CONTROL: "private",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if _etags(request.headers.get(hdrs.IF_NONE_MATCH)) & {etag, "*"}:
        return web.Response(status=304, headers=headers)
    try:
        selected = parse_range(request.headers.get(hdrs.RANGE), download.size)
    except Unsatisfiable:
        headers[hdrs.CONTENT_RANGE] = unsatisfied_range(download.size)
        return web.Response(status=416, headers=headers)
    if selected is not None and request.headers.get(hdrs.IF_RANGE, etag) != etag:
        selected = None  # the client's copy is another: the whole file, anew
    whole = ByteRange(0, download.size)
    if selected is not None:
        headers[hdrs.CONTENT_RANGE] = content_range(selected, download.size)
    span = selected or whole
    response = web.StreamResponse(status=200 if selected is None else 206, headers=headers)
    response.content_type = download.content_type
    response.content_length = span.length
    async with call.app.files.read(download, start=span.start, end=span.end) as chunks:
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        try:
            async for chunk in chunks:
                await response.write(chunk)
        except HomerError as exc:
            # Too late for an error answer: the status went out. Cut the connection,
            # so the client sees a body shorter than its Content-Length, not a whole one.
            log.warning("a download failed while it was sent: %s", exc.message)
            if request.transport is not None:
                request.transport.close()
            return response
    await response.write_eof()
    return response


def _etags(header: str | None) -> set[str]:
    """The entity tags an ``If-None-Match`` names, weak ones as strong (RFC 9110 compares
    them weakly there)."""
    return {tag.strip().removeprefix("W/") for tag in (header or "").split(",") if tag.strip()}


def content_disposition(name: str, content_type: str) -> str:
    """``inline`` or ``attachment``, with the name as RFC 6266 gives it: an ASCII
    fallback, and the exact name in UTF-8 (``filename*``)."""
    kind = "inline" if content_type in INLINE_TYPES else "attachment"
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\%' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


_JSON = "application/json"
_BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}
_ANY_BODY = {"*/*": _BINARY}
_IMAGE_BODY = {"image/png": _BINARY, "image/jpeg": _BINARY}

#: Every route of shared files.
FILE_ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path=UPLOAD_PATH,
        handler=upload_file,
        summary="Upload a file",
        tag="files",
        answer=FileInfo,
        status=201,
        query=UploadQuery,
        max_body=lambda app: app.config.files.max_size + MULTIPART_SLACK,
        upload={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": _BINARY},
                "required": ["file"],
                # Other fields are skipped, but a name must fit in a part's header.
                "propertyNames": {"pattern": "^[^\\x00-\\x1f\\x7f]*$"},
            },
            "*/*": {**_BINARY, "minLength": 1},
        },
        permission="room.post",
        errors=(400, 403, 408, 413),
    ),
    Route(
        method="GET",
        path="/api/files/{file}",
        handler=download_file,
        summary="Download a file",
        tag="files",
        status=200,
        answers={200: _ANY_BODY, 206: _ANY_BODY, 304: {}, 416: {}},
        errors=(404,),
    ),
    Route(
        method="GET",
        path="/api/files/{file}/thumbnail",
        handler=download_thumbnail,
        summary="Download an image's thumbnail",
        tag="files",
        status=200,
        answers={
            200: {"image/png": _BINARY, "image/jpeg": _BINARY},
            206: _ANY_BODY,
            304: {},
            416: {},
        },
        errors=(404,),
    ),
)
