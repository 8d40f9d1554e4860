"""The operations of shared files, registered with ``app.on`` like any
application's. Uploads and downloads are HTTP routes (their bodies are streams);
what a file is can be asked over every transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from homer.core.app import Context, Homer

__all__ = ["FileOnly", "register"]


class FileOnly(msgspec.Struct, forbid_unknown_fields=True):
    id: str


def register(app: Homer) -> None:
    """Register the operations of shared files on ``app``."""

    @app.on("file")
    async def file(ctx: Context, params: FileOnly) -> dict[str, Any]:
        return await app.files.describe(ctx.user, params.id)
