from __future__ import annotations

from pathlib import Path

import pytest

from homer.blob.factory import blob_from_url, open_blob
from homer.blob.filesystem import FileBlob
from homer.blob.s3 import S3Blob
from homer.config import load_config
from homer.errors import InvalidInput


def test_the_default_is_files_in_the_data_directory(tmp_path: Path) -> None:
    config = load_config(environ={"HOMER_DATA_DIR": str(tmp_path)})
    blob = open_blob(config)
    assert isinstance(blob, FileBlob)
    assert blob.root == tmp_path / "files"
    assert blob.fsync


def test_the_setting_comes_from_the_environment(tmp_path: Path) -> None:
    config = load_config(environ={"HOMER_BLOB": f"file://{tmp_path}/elsewhere?fsync=false"})
    blob = open_blob(config)
    assert isinstance(blob, FileBlob)
    assert blob.root == tmp_path / "elsewhere"
    assert not blob.fsync


def test_a_relative_directory_is_relative_to_the_current_one(tmp_path: Path) -> None:
    blob = blob_from_url("file://some/dir", data_dir=tmp_path)
    assert isinstance(blob, FileBlob)
    assert blob.root == Path("some/dir")


def test_an_s3_url_names_the_s3_adapter(tmp_path: Path) -> None:
    blob = blob_from_url("s3://bucket/prefix?region=eu-west-3", data_dir=tmp_path)
    assert isinstance(blob, S3Blob)
    assert (blob.location.bucket, blob.location.prefix) == ("bucket", "prefix/")


@pytest.mark.parametrize(
    "url", ["files", "ftp://host/x", "file?colour=blue", "file?fsync=maybe", "S3://b"]
)
def test_anything_else_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(InvalidInput):
        blob_from_url(url, data_dir=tmp_path)


def test_a_refusal_does_not_repeat_a_secret(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        blob_from_url("gs://key:topsecret@bucket", data_dir=tmp_path)
    assert "topsecret" not in str(caught.value)
