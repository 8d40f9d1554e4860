"""The Python client SDK.

::

    async with HomerClient("http://127.0.0.1:8080", name="alice", password="...") as chat:
        await chat.join("lobby")
        ack = await chat.send("lobby", "hello")
        async for event in chat:
            if event.op == "msg":
                print(event.sender, event.body["text"])

The client reconnects by itself after a drop and resumes every room from the
last sequence number it saw, so its event stream has no gap and no
duplicate; sends that were not acknowledged are sent again with the same
client id, which the server turns into the original ack.

Given several nodes' URLs (``HomerClient(["http://a:8080", "http://b:8080"])``)
it connects to the first that answers and, when that node goes away, moves on
to the next and resumes there.

**Transports.** The URL's scheme picks one, ``transport=`` names it outright:

- ``ws://host:port`` / ``wss://``, or ``http://host:port`` / ``https://``: the
  WebSocket at ``/ws``;
- ``tcp://host:port`` / ``tcps://`` (TLS): raw TCP on the server's TCP port,
  ``framing="lines"`` (JSON only) or ``"length"`` (the default for MessagePack);
- ``http(s)://host:port`` with ``transport="sse"``: Server-Sent Events for the
  events, each request a ``POST /api/ops/{op}``; resumes with ``Last-Event-ID``;
- ``http(s)://host:port`` with ``transport="longpoll"``: a long-poll queue for
  the events, requests as with SSE; resumes by registering with a ``cursor``.

**Presence.** The server sends several members' status changes of one room
together, as one ``presences`` event; the client hands each of them on as the
``presence`` event it stands for (``sender``, ``uid``, ``body["status"]``), so
an application sees one shape whatever the server coalesced.

``codec="msgpack"`` speaks MessagePack instead of JSON (WebSocket subprotocol
``homer.msgpack``, the TCP greeting, or the requests' ``Content-Type`` over
SSE and long-poll, whose events stay JSON); the events are the same.
:mod:`homer.client.links` holds the links, one per transport, and their interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import ssl
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from homer.client.errors import ClientError, ConnectionLost
from homer.client.links import (
    CODECS,
    ClientCodec,
    ClientHello,
    FramingName,
    Link,
    ServerAddress,
    TransportName,
    WebSocketLink,
    check_framing,
    http_session,
    make_link,
    server_address,
)
from homer.client.local_state import LocalState, default_state_root, state_directory
from homer.client.offline import Keeper
from homer.client.presences import presence_changes
from homer.errors import HomerError
from homer.protocol.envelope import Envelope

__all__ = [
    "ClientCodec",
    "ClientError",
    "ConnectionLost",
    "FramingName",
    "HomerClient",
    "Position",
    "TransportName",
    "presence_changes",
]

log = logging.getLogger("homer.client")

#: Seconds a new connection has to say hello and hear the welcome.
OPEN_TIMEOUT = 30.0


@dataclass(slots=True)
class Position:
    """Where the client is in a room: the epoch of its history and the last seq seen."""

    epoch: int
    seq: int


@dataclass(slots=True)
class _PendingSend:
    params: dict[str, Any]
    future: asyncio.Future[dict[str, Any]] = field(repr=False)


class HomerClient:
    """A session with a Homer node over any transport (see the module's docstring).

    ``url`` is one node's URL or several (failover, in order). Keyword options:
    ``token``, or ``name`` and ``password`` to log in with (and again after the
    token ends); ``reconnect`` and ``max_backoff`` (seconds); ``client_name``
    for the server's logs; ``codec`` (``"json"`` or ``"msgpack"``);
    ``transport`` (``"websocket"``, ``"tcp"``, ``"sse"``, ``"longpoll"``; by
    default the URL's scheme decides); ``framing`` for raw TCP (``"lines"`` or
    ``"length"``; by default lines for JSON, length otherwise); ``ssl_context``
    for ``https``, ``wss`` and ``tcps``; ``http_url``, where the HTTP API is
    when the URLs are ``tcp://`` (for :meth:`login`, :meth:`register`,
    :meth:`http`). ``state_dir``: keep unread messages, a history cache and an
    outbox on disk so that the client works offline (:mod:`homer.client.offline`):
    a directory, or ``True`` for the user's data directory; the state goes in a
    directory of its own per server and account (``name``, or ``account`` when
    the client has only a token).
    """

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        token: str | None = None,
        name: str | None = None,
        password: str | None = None,
        reconnect: bool = True,
        max_backoff: float = 5.0,
        client_name: str = "homer-python",
        codec: ClientCodec = "json",
        ssl_context: ssl.SSLContext | None = None,
        transport: TransportName | None = None,
        framing: FramingName | None = None,
        http_url: str | None = None,
        state_dir: str | os.PathLike[str] | bool | None = None,
        account: str | None = None,
    ) -> None:
        if codec not in CODECS:
            raise ValueError(f"unknown codec {codec!r}: choose one of {', '.join(CODECS.names)}")
        #: The codec of requests and answers (and of events, but over SSE and
        #: long-poll, whose events are JSON).
        self.codec = codec
        #: Every node this client may use, with its transport; it moves to the
        #: next when one fails.
        self.addresses: list[ServerAddress] = [
            server_address(one, transport=transport)
            for one in ([url] if isinstance(url, str) else url)
        ]
        if not self.addresses:
            raise ValueError("give at least one URL")
        #: Raw TCP's framing (``None``: the codec's default).
        self.framing = framing
        if any(a.transport == "tcp" for a in self.addresses):
            check_framing(codec, framing)  # now, rather than at each connection
        self.http_url = http_url.rstrip("/") if http_url else None
        self._node = 0
        self.token = token
        self._credentials = (name, password) if name and password else None
        self.reconnect = reconnect
        self.max_backoff = max_backoff
        self.client_name = client_name
        self.positions: dict[str, Position] = {}
        self.welcome: dict[str, Any] = {}
        self.events: asyncio.Queue[Envelope] = asyncio.Queue()
        self._http: aiohttp.ClientSession | None = None
        #: For ``https://``, ``wss://`` and ``tcps://`` URLs: the TLS settings, e.g. a
        #: private CA (``ssl.create_default_context(cafile=...)``); the system's by default.
        self.ssl_context = ssl_context
        self._link: Link | None = None
        self._rids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._sends: dict[str, _PendingSend] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self._connected = asyncio.Event()
        #: Rooms with a gap being read from history: their live messages wait here.
        self._filling: dict[str, list[Envelope]] = {}
        self.reconnects = 0
        #: How many gaps in sequence numbers were seen and filled from history.
        self.gaps = 0
        #: What is kept on disk, with ``state_dir`` (else ``None``: all in memory).
        self.keeper: Keeper | None = None
        if state_dir is not None and state_dir is not False:
            who = account or name
            if not who:
                raise ValueError("state_dir= keeps state per account: give name= or account=")
            root = default_state_root() if state_dir is True else Path(state_dir)
            self.keeper = Keeper(self, LocalState(state_directory(root, self.urls[0], who)))

    def _session(self) -> aiohttp.ClientSession:
        # A fresh connection per request: the WebSocket then never rides on a
        # connection that carried HTTP before (the server's lean path).
        return http_session(self.ssl_context, keepalive=False)

    @property
    def urls(self) -> list[str]:
        """Every node's URL: ``http(s)://`` for the transports over HTTP (the
        WebSocket included), ``tcp(s)://`` for raw TCP."""
        return [a.url for a in self.addresses]

    @property
    def base_url(self) -> str:
        """The node in use now."""
        return self.addresses[self._node].url

    @property
    def ws_url(self) -> str:
        return self.base_url + "/ws"

    @property
    def user_id(self) -> str | None:
        """The user's id, from the last welcome (``None`` before one)."""
        user = self.welcome.get("user")
        return user.get("id") if isinstance(user, dict) else None

    @property
    def transport(self) -> Link | None:
        """The connection in use now, a :class:`~homer.client.links.Link` (``None``
        between connections). Its ``name`` says which transport it is; ``abort()``
        cuts it as a network failure would, and the client reconnects and resumes."""
        return self._link

    @property
    def _ws(self) -> aiohttp.ClientWebSocketResponse | None:
        link = self._link
        return link.ws if isinstance(link, WebSocketLink) else None

    def _next_node(self) -> None:
        self._node = (self._node + 1) % len(self.addresses)

    def _http_base(self) -> str:
        if self.http_url is not None:
            return self.http_url
        base = self.base_url
        if not base.startswith("http"):
            raise ClientError(
                "invalid", f"{base} has no HTTP API: give http_url= for login and HTTP requests"
            )
        return base

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> HomerClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> dict[str, Any]:
        """Log in if needed, connect, say hello; returns the welcome."""
        if self._http is None:
            self._http = self._session()
        await self._open_state()
        for attempt in range(len(self.addresses)):  # the first node that answers
            try:
                if self.token is None:
                    await self.login()
                await self._open()
                break
            except (aiohttp.ClientError, OSError, ConnectionLost) as exc:
                if attempt == len(self.addresses) - 1:
                    raise
                log.debug("node %s failed: %s", self.base_url, exc)
                self._next_node()
        self._reader = asyncio.get_running_loop().create_task(self._read_forever())
        return self.welcome

    async def start(self) -> dict[str, Any]:
        """:meth:`connect`, or with a state directory, start offline when no node
        answers (the cached history and the outbox work) and keep trying to
        connect; the welcome, or ``{}`` while offline."""
        if self.keeper is None:
            return await self.connect()
        try:
            return await self.connect()
        except (aiohttp.ClientError, OSError, ConnectionLost) as exc:
            log.debug("starting offline: %s", exc)
            self.keeper.set_status("offline")
            self._reader = asyncio.get_running_loop().create_task(self._read_forever())
            return {}

    async def _open_state(self) -> None:
        if self.keeper is not None:
            for room, (epoch, seq) in (await self.keeper.open()).items():
                self.positions.setdefault(room, Position(epoch, seq))

    async def close(self) -> None:
        self._closed = True
        link = self._link
        if link is not None:
            await link.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_waiting(ConnectionLost("client closed"))
        self._fail_sends(ConnectionLost("client closed"))
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self.keeper is not None:
            await self.keeper.close()

    async def login(self) -> str:
        if self._credentials is None:
            raise ClientError("unauthenticated", "give a token, or a name and a password")
        name, password = self._credentials
        data = await self.http("POST", "/api/login", {"name": name, "password": password})
        self.token = str(data["token"])
        return self.token

    async def register(self, name: str, password: str, **attributes: Any) -> dict[str, Any]:
        return await self.http(
            "POST", "/api/register", {"name": name, "password": password, **attributes}
        )

    async def http(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One request to the HTTP API (``body`` as JSON), with the client's token
        as ``Authorization: Bearer`` when it has one; the answer's JSON, or
        :class:`ClientError`."""
        if self._http is None:
            self._http = self._session()
        url = self._http_base() + path
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        async with self._http.request(method, url, json=body, headers=headers) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                raise ClientError(data.get("code", "internal"), data.get("message", ""), data)
            result: dict[str, Any] = data
            return result

    async def _open(self) -> None:
        if self._http is None:
            self._http = self._session()
        link = make_link(
            self.addresses[self._node],
            self._receive,
            codec=self.codec,
            framing=self.framing,
            ssl_context=self.ssl_context,
            http=self._http,
        )
        hello = ClientHello(
            token=self.token or "",
            client=self.client_name,
            resume={room: (p.epoch, p.seq) for room, p in self.positions.items()},
        )
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                welcome = await link.open(hello)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await link.close()
            if isinstance(exc, TimeoutError):
                raise ConnectionLost(f"no welcome from {self.base_url} in time") from exc
            raise
        self._link = link
        self.welcome = welcome
        for room in welcome.get("rooms", []):
            position = self.positions.get(room["id"])
            if position is None or position.epoch != room["epoch"]:
                self.positions[room["id"]] = Position(room["epoch"], room["last_seq"])
        self._connected.set()
        if self.keeper is not None:
            self.keeper.welcomed(welcome)
            self.keeper.set_status("online")
        # Sends the server never acknowledged go again, with the same client id.
        for cid, pending in list(self._sends.items()):
            try:
                await link.send("send", f"s:{cid}", pending.params)
            except ConnectionLost:
                break  # lost again: the next connection sends them

    # -- requests -------------------------------------------------------------------

    async def request(self, op: str, **params: Any) -> Any:
        """Send one request and wait for its reply (raises :class:`ClientError`)."""
        await self._connected.wait()
        rid = next(self._rids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        try:
            await self._send_frame(op, params, rid=rid)
            result = await future
        finally:
            self._waiting.pop(rid, None)
        if op == "refresh" and isinstance(result, dict) and isinstance(result.get("token"), str):
            self.token = result["token"]  # the next connection says hello with it
        return result

    async def _send_frame(self, op: str, params: dict[str, Any], *, rid: Any) -> None:
        link = self._link
        if link is None:
            raise ConnectionLost("not connected")
        await link.send(op, rid, params)

    async def send(
        self,
        room: str,
        text: str,
        data: Any = None,
        *,
        cid: str | None = None,
        reply_to: int | None = None,
        thread: int | None = None,
        files: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Send a message; returns the ack once it is durable. ``reply_to`` and
        ``thread`` are seqs of the room, ``files`` ids of uploaded files.

        Survives reconnects (the send goes again with the same client id) and rate
        limits (it waits as long as the server says, then tries again).
        """
        params = _send_params(room, text, data, cid)
        for name, value in (("reply_to", reply_to), ("thread", thread)):
            if value is not None:
                params[name] = value
        if files:
            params["files"] = list(files)
        if self.keeper is not None:
            result: dict[str, Any] = await self.keeper.send(params, wait=True)
            return result
        cid = params["cid"]
        try:
            while True:
                future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                self._sends[cid] = _PendingSend(params, future)
                await self._connected.wait()
                with contextlib.suppress(ConnectionLost):  # resent after the reconnect
                    await self._send_frame("send", params, rid=f"s:{cid}")
                try:
                    return await future
                except ClientError as exc:
                    if exc.wire_code != "rate_limited":
                        raise
                    await asyncio.sleep(float(exc.body.get("retry_after", 0.1)))
        finally:
            self._sends.pop(cid, None)

    async def post(self, room: str, text: str, data: Any = None, *, cid: str | None = None) -> str:
        """Put a message in the outbox and return its cid at once (it needs a
        ``state_dir``): sent when the client is online, in order; its echo arrives
        as a ``msg`` event, a refusal as a ``send_failed`` event."""
        if self.keeper is None:
            raise ClientError("invalid", "post keeps messages on disk: give the client a state_dir")
        return str(await self.keeper.send(_send_params(room, text, data, cid), wait=False))

    async def read_room(self, room: str) -> list[Envelope]:
        """Mark the room read up to the last message received, moving the server's
        read marker; with a ``state_dir``, the room's unread messages kept on disk
        (oldest first), which are then forgotten."""
        if self.keeper is not None:
            return await self.keeper.read_room(room)
        position = self.positions.get(room)
        if position is not None and position.seq:
            await self.read(room, position.seq)
        return []

    async def unread_counts(self) -> dict[str, int]:
        """Room -> unread messages: kept on disk with a ``state_dir``, else the
        last welcome's counts."""
        if self.keeper is not None:
            return await self.keeper.state.unread_counts()
        rooms = self.welcome.get("rooms", [])
        return {r["id"]: r["unread"] for r in rooms if r.get("unread")}

    async def cached(self, room: str, limit: int = 50) -> list[Envelope]:
        """The room's latest messages kept on disk (``state_dir``), oldest first."""
        if self.keeper is None:
            return []
        state = self.keeper.state
        return await state.cached(room, limit, me=self.user_id or state.user_id)

    async def create(self, room: str | None = None, kind: str = "public", **extra: Any) -> Any:
        params = {"kind": kind, **extra}
        if room is not None:
            params["room"] = room
        return await self._tracked(await self.request("create", **params))

    async def join(self, room: str) -> Any:
        return await self._tracked(await self.request("join", room=room))

    async def dm(self, user: str) -> Any:
        return await self._tracked(await self.request("dm", user=user))

    async def leave(self, room: str) -> Any:
        result = await self.request("leave", room=room)
        self.positions.pop(room, None)
        return result

    async def history(self, room: str, **query: Any) -> list[Envelope]:
        result = await self.request("history", room=room, **query)
        return [msgspec.convert(m, Envelope) for m in result["messages"]]

    async def read(self, room: str, seq: int) -> Any:
        return await self.request("read", room=room, seq=seq)

    # -- changing messages, threads, search (docs/protocol.md) --------------------------

    async def edit(
        self, room: str, seq: int, text: str, data: Any = None, *, cid: str | None = None
    ) -> Any:
        """Replace a message's content; a ``cid`` makes a resend harmless."""
        return await self.request(
            "edit", room=room, seq=seq, text=text, **_given(data=data, cid=cid)
        )

    async def redact(
        self, room: str, seq: int, reason: str | None = None, *, cid: str | None = None
    ) -> Any:
        return await self.request("redact", room=room, seq=seq, **_given(reason=reason, cid=cid))

    async def react(self, room: str, seq: int, key: str) -> Any:
        return await self.request("react", room=room, seq=seq, key=key)

    async def unreact(self, room: str, seq: int, key: str) -> Any:
        return await self.request("unreact", room=room, seq=seq, key=key)

    async def thread(self, room: str, root: int, **query: Any) -> dict[str, Any]:
        """A thread's root and replies: ``root`` and ``messages`` as envelopes."""
        result: dict[str, Any] = await self.request("history", room=room, thread=root, **query)
        result["root"] = msgspec.convert(result["root"], Envelope)
        result["messages"] = [msgspec.convert(m, Envelope) for m in result["messages"]]
        return result

    async def search(self, query: str, **filters: Any) -> list[dict[str, Any]]:
        """Matches in one's rooms, best first: ``message`` (an envelope) and
        ``highlights`` (``[start, end)`` offsets in its text)."""
        result = await self.request("search", query=query, **filters)
        return [
            {"message": msgspec.convert(r["message"], Envelope), "highlights": r["highlights"]}
            for r in result["results"]
        ]

    async def _tracked(self, info: dict[str, Any]) -> dict[str, Any]:
        self.positions.setdefault(info["id"], Position(info["epoch"], info["last_seq"]))
        return info

    # -- events ---------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Envelope]:
        while True:
            yield await self.events.get()

    async def next_event(
        self,
        op: str | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> Envelope:
        """The next event (of ``op``, skipping others), or ``TimeoutError``."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if op is None or event.op == op:
                    return event

    def _receive(self, envelope: Envelope) -> None:
        # Looked up per envelope: a test may wrap ``_dispatch`` on a live client.
        self._dispatch(envelope)

    def _dispatch(self, envelope: Envelope) -> None:
        rid = envelope.rid
        if rid is not None and envelope.op in ("reply", "error"):
            self._answer(rid, envelope)
            return
        room = envelope.room
        if envelope.op == "msg" and room is not None and envelope.seq is not None:
            waiting = self._filling.get(room)
            if waiting is not None:
                waiting.append(envelope)
                return
            position = self.positions.get(room)
            if position is not None:
                if envelope.seq <= position.seq:
                    return  # seen already (a resume overlapping live traffic)
                if envelope.seq > position.seq + 1:
                    # A gap: never deliver past it. Read the missing messages from
                    # history; this one and those after it wait meanwhile.
                    self._fill_gap(room, position, envelope)
                    return
                position.seq = envelope.seq
        elif envelope.op == "resumed" and room is not None:
            body = envelope.body or {}
            if not body.get("recovered") and "epoch" in body:
                self.positions[room] = Position(body["epoch"], body.get("last_seq", 0))
        elif envelope.op == "purged" and room is not None:
            body = envelope.body or {}
            self.positions[room] = Position(body["epoch"], body["last_seq"])
        elif envelope.op == "joined" and room is not None:
            body = envelope.body or {}
            self.positions.setdefault(room, Position(body.get("epoch", 1), body.get("last_seq", 0)))
        elif envelope.op == "left" and room is not None:
            self.positions.pop(room, None)
        elif envelope.op == "presences" and room is not None:
            for change in presence_changes(envelope):
                self._hand_on(change)
            return
        self._hand_on(envelope)

    def _hand_on(self, envelope: Envelope) -> None:
        """To the application, kept on disk first when there is a state directory."""
        if self.keeper is not None:
            self.keeper.incoming(envelope)
        else:
            self.events.put_nowait(envelope)

    def _fill_gap(self, room: str, position: Position, first: Envelope) -> None:
        """The server sends each message once per connection, so a gap is not asked
        for again with ``resume`` (it answers with what the connection was not sent):
        it is read with ``history``."""
        self._filling[room] = [first]
        self.gaps += 1
        task = asyncio.get_running_loop().create_task(self._read_gap(room, position))
        task.add_done_callback(lambda done: self._gap_read(room, done))

    async def _read_gap(self, room: str, position: Position) -> None:
        waiting = self._filling[room]
        while waiting and position.seq + 1 < (waiting[0].seq or 0):
            limit = min((waiting[0].seq or 0) - position.seq - 1, 500)
            answer = await self.request("history", room=room, after=position.seq, limit=limit)
            found = [msgspec.convert(m, Envelope) for m in answer["messages"]]
            for envelope in found:
                if envelope.seq is not None and envelope.seq == position.seq + 1:
                    position.seq = envelope.seq
                    self._hand_on(envelope)
            if not answer["more"] or not found:
                break
        if waiting and position.seq + 1 < (waiting[0].seq or 0):
            position.seq = (waiting[0].seq or 0) - 1  # history no longer has them: purged

    def _gap_read(self, room: str, done: asyncio.Task[None]) -> None:
        waiting = self._filling.pop(room, [])
        if done.cancelled() or done.exception() is not None:
            return  # the connection went: its hello resumes from the position
        for envelope in waiting:
            self._dispatch(envelope)

    def _answer(self, rid: Any, envelope: Envelope) -> None:
        body = envelope.body
        if isinstance(rid, str) and rid.startswith("s:"):
            pending = self._sends.get(rid[2:])
            future: asyncio.Future[Any] | None = pending.future if pending else None
        else:
            future = self._waiting.get(rid)
        if future is None or future.done():
            return
        if envelope.op == "error":
            body = body or {}
            future.set_exception(
                ClientError(body.get("code", "internal"), body.get("message", ""), body)
            )
        else:
            future.set_result(body)

    async def _read_forever(self) -> None:
        backoff = 0.1
        while not self._closed:
            link = self._link
            lost = link is not None
            if link is not None:
                await link.run()
                self._connected.clear()
                self._link = None
                with contextlib.suppress(Exception):
                    await link.close()
            self._connected.clear()
            self._filling.clear()  # the reconnect's hello resumes every room
            self._fail_waiting(ConnectionLost("connection lost"))
            if self.keeper is not None and not self._closed:
                # Reconnecting just after a drop; offline once an attempt has failed.
                self.keeper.set_status("reconnecting" if lost and self.reconnect else "offline")
            if self._closed or not self.reconnect:
                self._give_up(ConnectionLost("connection lost"))
                return
            while not self._closed:
                await asyncio.sleep(backoff * (0.5 + random.random()))
                try:
                    await self._open()
                except (aiohttp.ClientError, OSError, ConnectionLost) as exc:
                    log.debug("reconnect to %s failed: %s", self.base_url, exc)
                    if self.keeper is not None:
                        self.keeper.set_status("offline")
                    self._next_node()
                    backoff = min(self.max_backoff, backoff * 2)
                    continue
                except ClientError as exc:
                    if exc.wire_code in ("unauthenticated", "invalid_token", "token_revoked"):
                        if self._credentials is None:
                            self._give_up(exc, exc.body)
                            return
                        self.token = None
                        with contextlib.suppress(HomerError, aiohttp.ClientError, OSError):
                            await self.login()
                    backoff = min(self.max_backoff, backoff * 2)
                    continue
                self.reconnects += 1
                backoff = 0.1
                self.events.put_nowait(Envelope(op="reconnected"))
                break

    def _give_up(self, error: HomerError, body: Any = None) -> None:
        """No more reconnecting: the sends waiting fail, the state says offline, and
        the application hears ``disconnected``."""
        self._fail_sends(error)
        if self.keeper is not None:
            self.keeper.set_status("offline")
        self.events.put_nowait(Envelope(op="disconnected", body=body))

    def _fail_sends(self, error: HomerError) -> None:
        for pending in self._sends.values():
            if not pending.future.done():
                pending.future.set_exception(error)

    def _fail_waiting(self, error: HomerError) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)
        self._waiting.clear()


def _given(**params: Any) -> dict[str, Any]:
    """The parameters that are not ``None``."""
    return {name: value for name, value in params.items() if value is not None}


def _send_params(room: str, text: str, data: Any, cid: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"room": room, "cid": cid or uuid.uuid4().hex, "text": text}
    if data is not None:
        params["data"] = data
    return params
