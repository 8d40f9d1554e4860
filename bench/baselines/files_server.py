"""The servers of the ``files`` benchmark: Homer's file routes, or a plain aiohttp
file handler, each in a process of its own on 127.0.0.1.

``python bench/baselines/files_server.py {homer,plain} --dir D [--fsync]``
prints one JSON line ``{"url": ..., "token": ...}`` once it accepts requests and
runs until SIGTERM.

- ``homer``: a Homer node (``start_server``, uvloop) with its data directory and
  file storage in ``D``, ``files.max_size`` raised to 1 GiB, and a token for a
  user ``bench``; ``--fsync`` keeps the file adapter's fsync of each file (the
  default of ``homer serve``), else ``?fsync=false`` as the plain handler does
  not sync either.
- ``plain``: what an aiohttp application would write without Homer:
  ``POST /files`` streams the body into a file of ``D`` (the aiohttp
  documentation's loop, ``f.write`` of each chunk) and answers its id;
  ``GET /files/{id}`` is ``web.FileResponse`` (sendfile). No token, no checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import uuid
from pathlib import Path

from aiohttp import web
from procutil import serve_forever

CHUNK = 64 * 1024


def plain_app(root: Path) -> web.Application:
    async def upload(request: web.Request) -> web.Response:
        name = uuid.uuid4().hex
        size = 0
        with (root / name).open("wb") as file:
            async for chunk in request.content.iter_chunked(CHUNK):
                size += len(chunk)
                file.write(chunk)
        return web.json_response({"id": name, "size": size}, status=201)

    async def download(request: web.Request) -> web.FileResponse:
        return web.FileResponse(root / request.match_info["id"])

    app = web.Application(client_max_size=1024**3)
    app.router.add_post("/files", upload)
    app.router.add_get("/files/{id}", download)
    return app


async def serve_plain(root: Path) -> None:
    runner = web.AppRunner(plain_app(root), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(json.dumps({"url": f"http://127.0.0.1:{port}", "token": ""}), flush=True)
    await _until_stopped()
    await runner.cleanup()


async def serve_homer(root: Path, fsync: bool) -> None:
    from homer.config import HomerConfig
    from homer.core.app import Homer
    from homer.identity.passwords import Argon2Params
    from homer.node.runner import start_server
    from homer.testing.server import issue_token, replace_config

    blob = f"file://{root / 'files'}" + ("" if fsync else "?fsync=false")
    config = replace_config(
        HomerConfig(data_dir=str(root), blob=blob),
        files={"max_size": 1024**3},
        server={"log_level": "warning"},
    )
    app = Homer(config, password_params=Argon2Params.cheap())
    running = await start_server(app, host="127.0.0.1", port=0)
    token = await issue_token(app, "bench")
    print(json.dumps({"url": running.url, "token": token}), flush=True)
    await _until_stopped()
    await running.stop()


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("system", choices=["homer", "plain"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--fsync", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.system == "plain":
        serve_forever(serve_plain(args.dir))
    else:
        serve_forever(serve_homer(args.dir, args.fsync))
    sys.exit(0)


if __name__ == "__main__":
    main()
