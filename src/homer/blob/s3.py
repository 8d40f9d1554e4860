"""The S3 Blob adapter: blobs as objects in a bucket of any S3-compatible service,
for several nodes that share files (or a data directory kept small).

Configured by one URL::

    s3://[ACCESS_KEY:SECRET@]bucket[/prefix][?endpoint=URL&region=NAME&part_size=BYTES]

- ``bucket`` must exist; ``prefix`` (optional) is put before every key, so that
  one bucket can serve several deployments.
- ``endpoint``: the service's URL for anything but AWS (MinIO, Ceph, Garage,
  ...); with it, requests name the bucket in the path, not the host name.
- ``region``: the bucket's region (else the AWS configuration's, else
  ``us-east-1``).
- Credentials: in the URL (percent-encoded), else the standard AWS sources
  (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``,
  ``AWS_PROFILE`` and ``~/.aws``, an instance or task role).
- ``part_size``: a stream larger than this is sent as a multipart upload, part
  by part (default 8 MiB, at least 5 MiB: S3's smallest part). It is also the
  most memory one write holds.

A blob becomes visible only when its ``PutObject`` or
``CompleteMultipartUpload`` succeeds, which S3 makes atomic; a write that fails,
goes over its limit or is cancelled aborts its multipart upload, and deletes the
object if it fails while the last request is in flight (that request may have
succeeded). (A process killed mid-upload cannot abort it, nor can a
cancellation that lands while S3 creates the upload: give the bucket a
lifecycle rule that aborts incomplete multipart uploads after a day.) The
content type is the object's ``Content-Type``; the creation time travels in
``x-amz-meta-created``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from homer.blob.ports import (
    CHUNK_SIZE,
    BlobInfo,
    blocks,
    check_content_type,
    is_key,
    new_key,
    resolve_range,
)
from homer.clock import Clock, system_clock
from homer.errors import BlobError, InvalidInput, NotFound

__all__ = ["MIN_PART_SIZE", "S3Blob", "S3Location", "parse_s3_url"]

#: S3 refuses a multipart part smaller than this, except the last.
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024

#: The error codes S3 answers for a key or bucket that is not there.
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True, kw_only=True)
class S3Location:
    """What an ``s3://`` URL says."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    part_size: int = DEFAULT_PART_SIZE

    def __repr__(self) -> str:  # the secret never reaches a log
        return (
            f"S3Location(bucket={self.bucket!r}, prefix={self.prefix!r}, "
            f"endpoint={self.endpoint!r}, region={self.region!r})"
        )


def parse_s3_url(url: str) -> S3Location:
    """Read an ``s3://`` URL (see the module's documentation); :class:`InvalidInput`
    names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.hostname:
        raise InvalidInput(f"not an S3 URL: use s3://bucket/prefix, not {_redacted(url)!r}")
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    unknown = set(query) - {"endpoint", "region", "part_size"}
    if unknown:
        raise InvalidInput(f"unknown S3 URL parameters: {', '.join(sorted(unknown))}")
    try:
        part_size = int(query.get("part_size", DEFAULT_PART_SIZE))
    except ValueError:
        raise InvalidInput("part_size in an S3 URL is a number of bytes") from None
    if part_size < MIN_PART_SIZE:
        raise InvalidInput(f"part_size in an S3 URL is at least {MIN_PART_SIZE} bytes")
    if (parts.username is None) != (parts.password is None):
        raise InvalidInput("credentials in an S3 URL are ACCESS_KEY:SECRET, both or neither")
    prefix = parts.path.strip("/")
    return S3Location(
        bucket=parts.hostname,
        prefix=f"{prefix}/" if prefix else "",
        endpoint=query.get("endpoint"),
        region=query.get("region"),
        access_key=unquote(parts.username) if parts.username is not None else None,
        secret_key=unquote(parts.password) if parts.password is not None else None,
        part_size=part_size,
    )


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=f"{parts.username}:***@{parts.hostname}").geturl()


@contextlib.contextmanager
def _s3_errors(what: str, key: str | None = None) -> Iterator[None]:
    """Translate what the S3 client raises into Homer's errors, at the boundary;
    with ``key``, a missing object is :class:`NotFound`."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if key is not None and str(error.get("Code")) in _MISSING:
            raise NotFound(f"no file {key!r}") from None
        raise BlobError(f"S3 could not {what}: {error.get('Code')} {error.get('Message')}") from exc
    except (TimeoutError, BotoCoreError, aiohttp.ClientError, OSError) as exc:
        raise BlobError(f"S3 could not {what}: {exc}") from exc


class S3Blob:
    """Blobs as objects under ``location.prefix`` in ``location.bucket``."""

    def __init__(self, location: S3Location, *, clock: Clock = system_clock) -> None:
        self.location = location
        self._clock = clock
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    @classmethod
    def from_url(cls, url: str) -> S3Blob:
        return cls(parse_s3_url(url))

    # -- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        """Make the client and check that the bucket answers."""
        where = self.location
        config = AioConfig(
            s3={"addressing_style": "path" if where.endpoint else "auto"},
            retries={"max_attempts": 3, "mode": "standard"},
        )
        stack = contextlib.AsyncExitStack()
        session = get_session()
        with _s3_errors("connect"):
            self._client = await stack.enter_async_context(
                session.create_client(
                    "s3",
                    region_name=where.region,  # None: the AWS configuration's, else us-east-1
                    endpoint_url=where.endpoint,
                    aws_access_key_id=where.access_key,
                    aws_secret_access_key=where.secret_key,
                    config=config,
                )
            )
        self._stack = stack
        try:
            with _s3_errors(f"reach bucket {where.bucket!r}"):
                await self._client.head_bucket(Bucket=where.bucket)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    # -- the port ------------------------------------------------------------------

    def object_key(self, key: str) -> str:
        """The name of ``key``'s object in the bucket."""
        return f"{self.location.prefix}{key}"

    async def put(self, chunks: AsyncIterable[bytes], *, content_type: str, limit: int) -> BlobInfo:
        check_content_type(content_type)
        client, bucket, part_size = self._client, self.location.bucket, self.location.part_size
        key = new_key()
        name = self.object_key(key)
        created = self._clock()
        head: dict[str, Any] = {
            "Bucket": bucket,
            "Key": name,
            "ContentType": content_type,
            "Metadata": {"created": repr(created)},
        }
        size = 0
        upload: _Multipart | None = None
        finishing = False
        try:
            # A stream of exactly one part is one put; anything longer is multipart.
            async for block, last in blocks(chunks, size=part_size, limit=limit):
                size += len(block)
                if not last:
                    if upload is None:
                        upload = await _Multipart.start(client, head)
                    await upload.send(block)
                    continue
                if upload is not None and block:
                    await upload.send(block)
                finishing = True
                if upload is None:
                    with _s3_errors("store a file"):
                        await client.put_object(Body=block, **head)
                else:
                    await upload.complete()
        except BaseException:
            # Shielded: a second cancellation must not leave anything behind.
            if upload is not None:
                await asyncio.shield(upload.abort())
            if finishing:
                # The last request may have succeeded before its answer was lost (a
                # cancellation, a timeout): the key is never returned, so remove it.
                await asyncio.shield(self._forget(name))
            raise
        return BlobInfo(key=key, size=size, content_type=content_type, created=created)

    @contextlib.asynccontextmanager
    async def read(
        self, key: str, *, start: int = 0, end: int | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        info = await self.stat(key)
        first, stop = resolve_range(info.size, start, end)
        if stop == first:  # the whole of an empty blob: nothing to fetch
            yield _nothing()
            return
        with _s3_errors(f"read file {key!r}", key):
            answer = await self._client.get_object(
                Bucket=self.location.bucket,
                Key=self.object_key(key),
                Range=f"bytes={first}-{stop - 1}",
            )
        body = answer["Body"]
        try:
            yield _body_chunks(body, stop - first)
        finally:
            body.close()

    async def stat(self, key: str) -> BlobInfo:
        if not is_key(key):
            raise NotFound(f"no file {key!r}")
        with _s3_errors(f"look up file {key!r}", key):
            answer = await self._client.head_object(
                Bucket=self.location.bucket, Key=self.object_key(key)
            )
        created = answer.get("Metadata", {}).get("created")
        return BlobInfo(
            key=key,
            size=int(answer["ContentLength"]),
            content_type=str(answer.get("ContentType", "application/octet-stream")),
            created=float(created) if created else answer["LastModified"].timestamp(),
        )

    async def _forget(self, name: str) -> None:
        """Best effort: remove an object that may exist."""
        with contextlib.suppress(ClientError, BotoCoreError, aiohttp.ClientError, OSError):
            await self._client.delete_object(Bucket=self.location.bucket, Key=name)

    async def delete(self, key: str) -> None:
        if not is_key(key):
            return
        with _s3_errors(f"delete file {key!r}"):
            await self._client.delete_object(Bucket=self.location.bucket, Key=self.object_key(key))


class _Multipart:
    """One multipart upload in progress: its parts so far, and how to end it."""

    def __init__(self, client: Any, head: dict[str, Any], upload_id: str) -> None:
        self._client = client
        self._where = {"Bucket": head["Bucket"], "Key": head["Key"], "UploadId": upload_id}
        self._parts: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, client: Any, head: dict[str, Any]) -> _Multipart:
        with _s3_errors("start a multipart upload"):
            answer = await client.create_multipart_upload(**head)
        return cls(client, head, answer["UploadId"])

    async def send(self, part: bytes) -> None:
        number = len(self._parts) + 1
        with _s3_errors(f"upload part {number}"):
            answer = await self._client.upload_part(Body=part, PartNumber=number, **self._where)
        self._parts.append({"ETag": answer["ETag"], "PartNumber": number})

    async def complete(self) -> None:
        with _s3_errors("complete a multipart upload"):
            await self._client.complete_multipart_upload(
                MultipartUpload={"Parts": self._parts}, **self._where
            )

    async def abort(self) -> None:
        """Best effort: a failure here leaves the upload to the bucket's lifecycle rule."""
        with contextlib.suppress(ClientError, BotoCoreError, aiohttp.ClientError, OSError):
            await self._client.abort_multipart_upload(**self._where)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield


async def _body_chunks(body: Any, remaining: int) -> AsyncIterator[bytes]:
    while remaining > 0:
        with _s3_errors("read a file"):
            chunk = await body.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            raise BlobError("S3 ended a file early")
        remaining -= len(chunk)
        yield chunk
