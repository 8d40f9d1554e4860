"""The Blob port: where the bytes of shared files live.

The S3 adapter, :class:`homer.blob.s3.S3Blob`, is imported from its module: it
needs the ``s3`` extra.
"""

from homer.blob.filesystem import FileBlob
from homer.blob.ports import Blob, BlobInfo

__all__ = ["Blob", "BlobInfo", "FileBlob"]
