"""The baseline: a minimal chat server on python-socketio 5.x (AsyncServer on aiohttp).

``python bench/baselines/socketio_server.py --secret S [--host H] [--port 0] [--no-uvloop]``
prints ``listening <port>`` once it accepts connections and runs until SIGTERM.

What a small Socket.IO chat does, and no more: ``connect`` checks an HS256 JWT
(PyJWT, what a Socket.IO app would use) passed as the auth payload; ``join``
enters a room; ``send`` numbers the message per room, emits ``msg`` to the room
and returns an ack. Nothing is stored: unlike Homer, an ack here means "handed
to the sockets", not "durable".
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
import uuid
from typing import Any

import jwt
import socketio
from aiohttp import web
from procutil import serve_forever


def build(secret: str) -> tuple[socketio.AsyncServer, web.Application]:
    sio = socketio.AsyncServer(
        async_mode="aiohttp", logger=False, engineio_logger=False, cors_allowed_origins=None
    )
    app = web.Application()
    sio.attach(app)
    names: dict[str, str] = {}
    seqs: dict[str, int] = {}

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = jwt.decode(token or "", secret, algorithms=["HS256"], audience="homer")
        except jwt.PyJWTError as exc:
            raise socketio.exceptions.ConnectionRefusedError(f"bad token: {exc}") from None
        names[sid] = claims.get("name") or claims["sub"]

    @sio.event
    async def disconnect(sid: str, *reason: Any) -> None:
        names.pop(sid, None)

    @sio.event
    async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        room = data["room"]
        await sio.enter_room(sid, room)
        return {"room": room}

    @sio.event
    async def send(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        room = data["room"]
        seq = seqs[room] = seqs.get(room, 0) + 1
        message = {
            "room": room,
            "seq": seq,
            "id": str(uuid.uuid4()),
            "sender": names.get(sid),
            "ts": time.time(),
            "text": data.get("text", ""),
        }
        await sio.emit("msg", message, room=room)
        return {"room": room, "seq": seq, "id": message["id"], "ts": message["ts"]}

    return sio, app


async def serve(host: str, port: int, secret: str) -> None:
    _, app = build(secret)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"listening {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # No graceful goodbye to every socket (aiohttp takes seconds for that with
    # thousands open): stop listening and exit; the kernel closes the rest.
    await site.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    serve_forever(serve(args.host, args.port, args.secret), uvloop=not args.no_uvloop)
    sys.exit(0)


if __name__ == "__main__":
    main()
