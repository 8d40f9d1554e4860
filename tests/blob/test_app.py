"""The node opens its blob storage with itself and closes it with itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from homer.blob.filesystem import FileBlob
from homer.blob.s3 import S3Blob
from homer.config import HomerConfig
from homer.core.app import Homer
from homer.errors import BlobError
from homer.identity.passwords import Argon2Params
from homer.testing.blob_conformance import read_all, stream
from tests.blob.conftest import s3_url


async def test_a_node_keeps_files_in_its_data_directory_by_default(tmp_path: Path) -> None:
    app = Homer(HomerConfig(data_dir=str(tmp_path / "data")), password_params=Argon2Params.cheap())
    assert isinstance(app.blob, FileBlob)
    assert app.blob.root == tmp_path / "data" / "files"
    await app.start()
    try:
        info = await app.blob.put(stream(b"hello"), content_type="text/plain", limit=10)
        assert await read_all(app.blob, info.key) == b"hello"
    finally:
        await app.stop()


async def test_a_node_on_s3_opens_the_bucket_when_it_starts(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    config = HomerConfig(data_dir=str(tmp_path / "data"), blob=s3_url(s3_endpoint, bucket))
    app = Homer(config, password_params=Argon2Params.cheap())
    assert isinstance(app.blob, S3Blob)
    await app.start()
    try:
        info = await app.blob.put(stream(b"shared"), content_type="text/plain", limit=10)
        assert await read_all(app.blob, info.key) == b"shared"
    finally:
        await app.stop()


async def test_a_node_whose_bucket_is_missing_does_not_start(
    tmp_path: Path, s3_endpoint: str
) -> None:
    config = HomerConfig(data_dir=str(tmp_path / "data"), blob=s3_url(s3_endpoint, "missing"))
    app = Homer(config, password_params=Argon2Params.cheap())
    with pytest.raises(BlobError, match="missing"):
        await app.start()
