"""Pick the Blob adapter a configuration names.

The S3 adapter is imported only when a configuration asks for it: it needs
aiobotocore, an optional dependency (the ``s3`` extra).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from homer.blob.filesystem import FileBlob
from homer.blob.ports import Blob
from homer.config import HomerConfig
from homer.errors import InvalidInput
from homer.extras import optional_dependency

__all__ = ["FILES_DIR", "blob_from_url", "open_blob"]

#: The embedded default's directory inside the data directory.
FILES_DIR = "files"

_YES = {"1": True, "true": True, "yes": True, "on": True}
_NO = {"0": False, "false": False, "no": False, "off": False}


def open_blob(config: HomerConfig) -> Blob:
    """The adapter for ``config.blob`` (not opened yet); see :func:`blob_from_url`."""
    return blob_from_url(config.blob, data_dir=config.data_path)


def blob_from_url(url: str, *, data_dir: Path) -> Blob:
    """The adapter ``url`` names (not opened yet):

    - ``file``: ``files/`` in ``data_dir`` (the embedded default);
    - ``file:///absolute/dir`` or ``file://relative/dir`` (relative to the
      current directory, as for ``sqlite://``); ``?fsync=false`` skips the
      fsync of each file (a stored file then survives a crash of the process,
      not a power loss);
    - ``s3://[KEY:SECRET@]bucket[/prefix][?endpoint=URL&region=NAME&part_size=N]``:
      a bucket of an S3-compatible service, which several nodes share (see
      :mod:`homer.blob.s3`).
    """
    if url == "file" or url.startswith("file://"):
        parts = urlsplit(url)
        location = url.removeprefix("file://").removeprefix("file").partition("?")[0]
        query = {name: values[-1].lower() for name, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"fsync"}
        if unknown:
            raise InvalidInput(f"unknown file storage parameters: {', '.join(sorted(unknown))}")
        fsync = query.get("fsync", "true")
        if fsync not in _YES and fsync not in _NO:
            raise InvalidInput(f"fsync in a file storage URL is true or false, not {fsync!r}")
        root = Path(location) if location else data_dir / FILES_DIR
        return FileBlob(root, fsync=_YES.get(fsync, False))
    if url.startswith("s3://"):
        with optional_dependency("file storage on S3", extra="s3"):
            from homer.blob.s3 import S3Blob
        return S3Blob.from_url(url)
    # Only the scheme is repeated: the rest of a URL may hold a secret.
    scheme = url.partition(":")[0][:20]
    raise InvalidInput(
        f"unknown file storage {scheme!r}: use 'file', 'file:///path/to/directory'"
        " or 's3://bucket/prefix?endpoint=...'"
    )
