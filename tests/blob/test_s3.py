"""The S3 adapter against a real S3-compatible server: the conformance suite,
then what only S3 does (multipart uploads, their abort, the URL)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from homer.blob.ports import Blob
from homer.blob.s3 import MIN_PART_SIZE, S3Blob, parse_s3_url
from homer.errors import BlobError, BlobTooLarge, InvalidInput
from homer.testing.blob_conformance import BlobConformance, Failing, read_all, stream
from tests.blob.conftest import s3_url


async def everything_in(client: Any, bucket: str) -> set[str]:
    """Every object, and every multipart upload not completed nor aborted."""
    objects = await client.list_objects_v2(Bucket=bucket)
    uploads = await client.list_multipart_uploads(Bucket=bucket)
    return {item["Key"] for item in objects.get("Contents", [])} | {
        f"upload:{item['Key']}" for item in uploads.get("Uploads", [])
    }


class TestS3Blob(BlobConformance):
    @pytest.fixture
    async def blob(self, s3_endpoint: str, bucket: str, s3_client: Any) -> AsyncIterator[S3Blob]:
        self.client, self.bucket = s3_client, bucket
        adapter = S3Blob.from_url(s3_url(s3_endpoint, bucket))
        await adapter.open()
        yield adapter
        await adapter.close()

    async def contents(self, blob: Blob) -> set[str]:
        return await everything_in(self.client, self.bucket)


@pytest.fixture
async def blob(s3_endpoint: str, bucket: str) -> AsyncIterator[S3Blob]:
    adapter = S3Blob.from_url(s3_url(s3_endpoint, bucket, part_size=MIN_PART_SIZE))
    await adapter.open()
    yield adapter
    await adapter.close()


def in_pieces(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    return stream(*(data[i : i + size] for i in range(0, len(data), size)))


async def test_a_stream_larger_than_a_part_is_a_multipart_upload(
    blob: S3Blob, s3_client: Any, bucket: str
) -> None:
    data = os.urandom(2 * MIN_PART_SIZE + 12345)
    info = await blob.put(in_pieces(data), content_type="video/mp4", limit=len(data))
    head = await s3_client.head_object(Bucket=bucket, Key=blob.object_key(info.key))
    # A multipart object's ETag says how many parts it was made of.
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentType"] == "video/mp4"
    assert await read_all(blob, info.key) == data
    assert (
        await read_all(blob, info.key, MIN_PART_SIZE - 2, MIN_PART_SIZE + 2)
        == (data[MIN_PART_SIZE - 2 : MIN_PART_SIZE + 2])
    )
    assert await everything_in(s3_client, bucket) == {blob.object_key(info.key)}


async def test_a_stream_within_a_part_is_one_put(blob: S3Blob, s3_client: Any, bucket: str) -> None:
    data = os.urandom(MIN_PART_SIZE)
    info = await blob.put(in_pieces(data), content_type="a/b", limit=len(data))
    head = await s3_client.head_object(Bucket=bucket, Key=blob.object_key(info.key))
    assert "-" not in head["ETag"]


async def test_a_multipart_upload_that_fails_is_aborted(
    blob: S3Blob, s3_client: Any, bucket: str
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        async for piece in in_pieces(os.urandom(MIN_PART_SIZE + 1)):
            yield piece
        raise Failing("the client went away")

    with pytest.raises(Failing):
        await blob.put(broken(), content_type="a/b", limit=10 * MIN_PART_SIZE)
    assert (await s3_client.list_multipart_uploads(Bucket=bucket)).get("Uploads", []) == []
    assert await everything_in(s3_client, bucket) == set()


async def test_a_multipart_upload_over_the_limit_is_aborted(
    blob: S3Blob, s3_client: Any, bucket: str
) -> None:
    # Over the limit one chunk after the first part went out (chunks of 256 KiB).
    limit = MIN_PART_SIZE + 300 * 1024
    with pytest.raises(BlobTooLarge):
        await blob.put(in_pieces(os.urandom(2 * MIN_PART_SIZE)), content_type="a/b", limit=limit)
    assert await everything_in(s3_client, bucket) == set()


async def test_a_cancelled_multipart_upload_is_aborted(
    blob: S3Blob, s3_client: Any, bucket: str
) -> None:
    first_part_sent = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        async for piece in in_pieces(os.urandom(MIN_PART_SIZE + 1)):
            yield piece
        first_part_sent.set()
        await asyncio.Event().wait()
        yield b"never"

    task = asyncio.create_task(blob.put(stalled(), content_type="a/b", limit=10 * MIN_PART_SIZE))
    await first_part_sent.wait()
    # The first part went out before the next chunk was asked for: an upload exists.
    assert any(name.startswith("upload:") for name in await everything_in(s3_client, bucket))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await everything_in(s3_client, bucket) == set()


async def test_the_prefix_keeps_deployments_apart(s3_endpoint: str, bucket: str) -> None:
    one = S3Blob.from_url(s3_url(s3_endpoint, bucket, prefix="one"))
    two = S3Blob.from_url(s3_url(s3_endpoint, bucket, prefix="two/deeper"))
    await one.open()
    await two.open()
    try:
        info = await one.put(stream(b"mine"), content_type="a/b", limit=10)
        assert one.object_key(info.key) == f"one/{info.key}"
        assert two.object_key(info.key) == f"two/deeper/{info.key}"
        assert await read_all(one, info.key) == b"mine"
        with pytest.raises(Exception, match="no file"):
            await two.stat(info.key)
    finally:
        await one.close()
        await two.close()


async def test_a_missing_bucket_is_a_clear_error_at_open(s3_endpoint: str) -> None:
    adapter = S3Blob.from_url(s3_url(s3_endpoint, "no-such-bucket-here"))
    with pytest.raises(BlobError, match="no-such-bucket-here"):
        await adapter.open()


async def test_an_unreachable_service_is_a_blob_error(bucket: str) -> None:
    adapter = S3Blob.from_url(s3_url("http://127.0.0.1:9", bucket))
    with pytest.raises(BlobError):
        await adapter.open()


def test_the_url_says_everything() -> None:
    where = parse_s3_url(
        "s3://AKIA:se%2Fcret@photos/homer/prod?endpoint=http://127.0.0.1:9000"
        "&region=eu-west-3&part_size=10485760"
    )
    assert (where.bucket, where.prefix, where.endpoint, where.region) == (
        "photos",
        "homer/prod/",
        "http://127.0.0.1:9000",
        "eu-west-3",
    )
    assert (where.access_key, where.secret_key, where.part_size) == ("AKIA", "se/cret", 10485760)
    assert "se/cret" not in repr(where)
    bare = parse_s3_url("s3://photos")
    assert (bare.prefix, bare.endpoint, bare.access_key, bare.secret_key) == ("", None, None, None)


@pytest.mark.parametrize(
    "url",
    [
        "s3:///no-bucket",
        "http://bucket/prefix",
        "s3://bucket?part_size=1000",
        "s3://bucket?part_size=many",
        "s3://bucket?colour=blue",
        "s3://onlykey@bucket",
    ],
)
def test_a_bad_url_is_refused_with_a_reason(url: str) -> None:
    with pytest.raises(InvalidInput):
        parse_s3_url(url)


def test_a_secret_in_a_bad_url_is_not_repeated() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_s3_url("http://key:topsecret@bucket")
    assert "topsecret" not in str(caught.value)


@pytest.mark.parametrize("last_request", ["put_object", "complete_multipart_upload"])
async def test_a_last_request_whose_answer_is_lost_leaves_nothing(
    blob: S3Blob, s3_client: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, last_request: str
) -> None:
    """The request succeeded but its answer never came (a timeout): the object
    exists, its key is never returned, so the adapter deletes it."""
    real = getattr(blob._client, last_request)

    async def answer_lost(**request: Any) -> None:
        await real(**request)
        raise TimeoutError("the answer was lost")

    monkeypatch.setattr(blob._client, last_request, answer_lost)
    size = MIN_PART_SIZE + 1 if last_request == "complete_multipart_upload" else 1000
    with pytest.raises(BlobError, match="answer was lost"):
        await blob.put(in_pieces(os.urandom(size)), content_type="a/b", limit=size)
    assert await everything_in(s3_client, bucket) == set()
