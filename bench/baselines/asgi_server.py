"""Homer in an ASGI host: ``homer.asgi_app`` mounted in Starlette, served by uvicorn.

``python bench/baselines/asgi_server.py --data-dir D [--host H] [--port 0] [--mount /chat]``
prints ``listening <port>`` once it accepts connections and runs until SIGTERM.

What examples/asgi_app.py does, without the shop: ``Mount(MOUNT, app=chat)``
with ``chat.lifespan`` as the host's lifespan, so Homer's WebSocket is at
``<mount>/ws``. The configuration is ``homer serve``'s (``HOMER_*`` from the
environment, the data directory from ``--data-dir``), and so is the event loop:
uvloop. uvicorn runs with its defaults otherwise (its ``auto`` WebSocket and
HTTP implementations, pings every 20 s), as a host that ran
``pip install uvicorn`` would.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import uvicorn
from procutil import serve_forever
from starlette.applications import Starlette
from starlette.routing import Mount

from homer import asgi_app, load_config
from homer.core.app import Homer


def build(data_dir: str, mount: str) -> Starlette:
    homer = Homer(load_config(overrides={"data_dir": data_dir}))
    chat = asgi_app(homer)
    return Starlette(routes=[Mount(mount, app=chat)], lifespan=chat.lifespan)


async def serve(host: str, port: int, data_dir: str, mount: str) -> None:
    config = uvicorn.Config(
        build(data_dir, mount),
        host=host,
        port=port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        backlog=4096,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    # uvicorn stops on SIGTERM by itself (its own signal handlers): Homer's lifespan
    # then finishes its writes and closes the store.
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    print(f"listening {bound}", flush=True)
    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--mount", default="/chat")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    serve_forever(serve(args.host, args.port, args.data_dir, args.mount))
    sys.exit(0)


if __name__ == "__main__":
    main()
