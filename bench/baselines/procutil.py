"""What every baseline server script does before it serves: lift the open-file
limit (thousands of connections) and run on uvloop unless told not to."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Coroutine
from typing import Any


def serve_forever(coro: Coroutine[Any, Any, None], *, uvloop: bool = True) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not uvloop:
        asyncio.run(coro)
        return
    import uvloop as fast_loop

    fast_loop.run(coro)
