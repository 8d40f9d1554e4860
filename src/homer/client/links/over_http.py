"""The links over HTTP: Server-Sent Events and long-poll.

The events come on the stream (JSON) or the queue (in the codec); each
request is a ``POST /api/ops/{op}`` naming the stream's or queue's session in
the ``Homer-Session`` header, in the codec asked for, and its answer is
handed on as if it had come down the stream, carrying the request's id.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
import msgspec

from homer.client.errors import ClientError, ConnectionLost
from homer.client.links.base import (
    CODECS,
    JSON_CODEC,
    MAX_INCOMING,
    ClientCodec,
    ClientHello,
    OnEnvelope,
    decode_envelope,
    encode_request,
    error_body,
    find_codec,
    http_document,
    http_session,
    log,
    refusal,
    silence_limit,
)
from homer.protocol.codecs import DecodeError, media_type
from homer.protocol.envelope import Envelope, RequestId
from homer.protocol.framing import FrameTooLarge
from homer.protocol.headers import SESSION_HEADER
from homer.protocol.sse import EventStreamParser, ServerSentEvent

__all__ = ["LongPollLink", "SSELink"]

#: What the server says when the stream or queue named in that header is gone.
_SESSION_GONE = {"session": "gone"}
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60.0, sock_connect=10.0)
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10.0)


class _OverHTTP(abc.ABC):
    """What SSE and long-poll share: requests as ``POST /api/ops/{op}`` on a
    keep-alive HTTP session, bound to the stream or queue by its session id."""

    name: ClassVar[str]

    def __init__(
        self,
        url: str,
        on_envelope: OnEnvelope,
        *,
        codec: ClientCodec = "json",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.codec = find_codec(codec)
        self._on_envelope = on_envelope
        self._ssl = ssl_context
        self._http: aiohttp.ClientSession | None = None
        self._token = ""
        self._agent = "homer-python"
        #: The server's id of the stream or queue, sent with every request.
        self.session: str | None = None
        self._closed = False

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = http_session(self._ssl, keepalive=True)
        return self._http

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "User-Agent": self._agent, **extra}

    def _start(self, hello: ClientHello) -> None:
        self._token, self._agent = hello.token, hello.client

    @abc.abstractmethod
    def abort(self) -> None: ...

    async def send(self, op: str, rid: RequestId, params: Mapping[str, Any]) -> None:
        if self._closed or self.session is None:
            raise ConnectionLost("not connected")
        media = media_type(self.codec)
        headers = self._headers(
            **{"Content-Type": media, "Accept": media, SESSION_HEADER: self.session}
        )
        try:
            async with self._client().post(
                f"{self.url}/api/ops/{quote(op, safe='')}",
                data=encode_request(self.codec, params),
                headers=headers,
                timeout=_REQUEST_TIMEOUT,
            ) as response:
                raw = await response.read()
                status, document = response.status, http_document(raw, response.content_type)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            # The node is out of reach, and so the stream is too: start over.
            self.abort()
            raise ConnectionLost(f"{op} over HTTP failed: {exc!r}") from exc
        envelope = self._envelope(status, raw, document)
        body = envelope.body if isinstance(envelope.body, dict) else {}
        if envelope.op == "error" and body.get("fields") == _SESSION_GONE:
            self.abort()  # the server dropped the stream or queue before we heard
            raise ConnectionLost(str(body.get("message")))
        if op == "refresh" and envelope.op == "reply" and isinstance(body.get("token"), str):
            self._token = body["token"]
        self._on_envelope(msgspec.structs.replace(envelope, rid=rid))

    @staticmethod
    def _envelope(status: int, raw: bytes, document: Any) -> Envelope:
        if isinstance(document, dict) and isinstance(document.get("op"), str):
            with contextlib.suppress(msgspec.ValidationError):
                return msgspec.convert(document, Envelope)
        if status < 400:
            return Envelope(op="reply", body=document)
        return Envelope(op="error", body=error_body(status, raw, document))

    async def _close_http(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


class SSELink(_OverHTTP):
    """``GET /api/events`` for the events; requests over ``POST /api/ops``.

    A reconnection sends the client's positions as ``Last-Event-ID``. The stream
    carries JSON; ``codec`` is that of the requests and their answers.
    """

    name: ClassVar[str] = "sse"

    def __init__(
        self,
        url: str,
        on_envelope: OnEnvelope,
        *,
        codec: ClientCodec = "json",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(url, on_envelope, codec=codec, ssl_context=ssl_context)
        self._parser = EventStreamParser(limit=MAX_INCOMING)
        self._response: aiohttp.ClientResponse | None = None
        #: What came after ``ready`` in the same read, for :meth:`run`.
        self._backlog: list[ServerSentEvent] = []
        self._silence = silence_limit({})
        #: The server's ``close`` event (``{"code", "reason"}``), when it sent one.
        self.close_reason: dict[str, Any] | None = None

    @property
    def cursor(self) -> str | None:
        """The id of the last event received: the stream's position in every room."""
        return self._parser.last_event_id or None

    async def open(self, hello: ClientHello) -> dict[str, Any]:
        self._start(hello)
        headers = self._headers(Accept="text/event-stream")
        if hello.resume:
            headers["Last-Event-ID"] = hello.cursor()
        response = self._response = await self._client().get(
            self.url + "/api/events", headers=headers, timeout=_STREAM_TIMEOUT
        )
        if response.status != 200:
            raise await refusal(response)
        welcome: dict[str, Any] | None = None
        while welcome is None:
            chunk = await response.content.readany()
            if not chunk:
                raise ConnectionLost("the event stream ended before it was ready")
            for event in self._parser.feed(chunk):
                if welcome is not None:
                    self._backlog.append(event)
                elif event.event == "ready":
                    envelope = decode_envelope(JSON_CODEC, event.data)
                    welcome = envelope.body if envelope and isinstance(envelope.body, dict) else {}
                elif not self._handle(event):
                    raise ConnectionLost(f"the event stream closed: {self.close_reason}")
        self.session = str(welcome.get("session", ""))
        self._silence = silence_limit(welcome)
        return welcome

    def _handle(self, event: ServerSentEvent) -> bool:
        """Hand one event on; ``False`` once the server said it closes."""
        if event.event == "close":
            with contextlib.suppress(DecodeError):
                reason = JSON_CODEC.decode(event.data.encode())
                self.close_reason = reason if isinstance(reason, dict) else {}
            log.debug("%s closed the event stream: %s", self.url, self.close_reason)
            return False
        envelope = decode_envelope(JSON_CODEC, event.data)
        if envelope is not None:
            self._on_envelope(envelope)
        return True

    async def run(self) -> None:
        response = self._response
        if response is None or self._closed:
            return
        backlog, self._backlog = self._backlog, []
        for event in backlog:
            if not self._handle(event):
                return
        while True:
            try:
                async with asyncio.timeout(self._silence):
                    chunk = await response.content.readany()
                events = self._parser.feed(chunk) if chunk else None
            except (aiohttp.ClientError, OSError, TimeoutError, FrameTooLarge) as exc:
                log.debug("event stream from %s failed: %r", self.url, exc)
                return
            if events is None:
                return
            for event in events:
                if not self._handle(event):
                    return

    def abort(self) -> None:
        response = self._response
        connection = response.connection if response is not None else None
        transport = connection.transport if connection is not None else None
        if transport is not None:
            transport.abort()
        elif response is not None:
            response.close()

    async def close(self) -> None:
        self._closed = True
        if self._response is not None:
            self._response.close()
        await self._close_http()


class _PolledEvent(msgspec.Struct):
    id: int
    event: Envelope
    cursor: str = ""


class _PollAnswer(msgspec.Struct):
    events: list[_PolledEvent] = msgspec.field(default_factory=list)
    last_event_id: int = 0
    cursor: str = ""
    heartbeat: bool = False
    replaced: bool = False


class LongPollLink(_OverHTTP):
    """A queue at ``/api/queues``, polled in a loop; requests over ``POST /api/ops``.

    A reconnection registers a new queue with the client's positions as its
    ``cursor``; the old queue is deleted when the connection closes. ``codec``
    is that of the queue's answers (asked for with ``Accept``), of the requests
    and of their answers.
    """

    name: ClassVar[str] = "longpoll"
    #: Seconds a poll waits for events before the server answers with none.
    poll_wait: ClassVar[float] = 20.0
    #: Seconds a poll may take past that before it counts as lost.
    poll_grace: ClassVar[float] = 10.0

    def __init__(
        self,
        url: str,
        on_envelope: OnEnvelope,
        *,
        codec: ClientCodec = "json",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(url, on_envelope, codec=codec, ssl_context=ssl_context)
        #: The queue's id, once registered.
        self.queue: str | None = None
        self._after = 0
        self._stopped = False
        self._gone = False
        self._deadline: asyncio.Timeout | None = None

    async def open(self, hello: ClientHello) -> dict[str, Any]:
        self._start(hello)
        asked = {"cursor": hello.cursor()} if hello.resume else {}
        async with self._client().post(
            self.url + "/api/queues",
            data=encode_request(JSON_CODEC, asked),
            headers=self._headers(
                **{"Content-Type": JSON_CODEC.media_type, "Accept": media_type(self.codec)}
            ),
            timeout=_REQUEST_TIMEOUT,
        ) as response:
            if response.status >= 300:
                raise await refusal(response)
            registration = http_document(await response.read(), response.content_type)
        if not isinstance(registration, dict) or not isinstance(registration.get("queue"), str):
            raise ClientError("internal", f"{self.url} answered the registration with no queue")
        self.queue = registration["queue"]
        self.session = str(registration.get("session", ""))
        self._after = int(registration.get("last_event_id", 0))
        return registration

    async def run(self) -> None:
        if self.queue is None:
            return
        url = f"{self.url}/api/queues/{quote(self.queue, safe='')}/events"
        wait = str(self.poll_wait)
        while not self._stopped:
            try:
                async with asyncio.timeout(self.poll_wait + self.poll_grace) as deadline:
                    self._deadline = deadline
                    async with self._client().get(
                        url,
                        params={"after": str(self._after), "timeout": wait},
                        headers=self._headers(),
                        timeout=_STREAM_TIMEOUT,
                    ) as response:
                        status, raw = response.status, await response.read()
                        codec = CODECS.for_content_type(response.content_type) or JSON_CODEC
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.debug("poll of %s failed: %r", self.url, exc)
                return
            finally:
                self._deadline = None
            if status != 200:
                # 404: the queue was dropped (too slow, idle, token ended); 401: the
                # token ended. Either way: a new connection, resuming from the positions.
                self._gone = status == 404
                log.debug("poll of %s answered %s: %r", self.url, status, raw[:200])
                return
            try:
                batch = msgspec.convert(codec.decode(raw), _PollAnswer)
            except (DecodeError, msgspec.ValidationError) as exc:
                log.warning("skipping a poll answer that is not a batch: %s", exc)
                return
            for polled in batch.events:
                self._on_envelope(polled.event)
                self._after = polled.id  # acknowledged by the next poll

    def abort(self) -> None:
        self._stopped = True
        deadline = self._deadline
        if deadline is not None:
            with contextlib.suppress(RuntimeError):  # it is expiring already
                deadline.reschedule(asyncio.get_running_loop().time())

    async def close(self) -> None:
        if self._closed:
            return
        self.abort()
        self._closed = True
        if self.queue is not None and not self._gone and self._http is not None:
            # Free the queue (it counts as a connection) rather than wait for it to idle out.
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with self._http.delete(
                    f"{self.url}/api/queues/{quote(self.queue, safe='')}",
                    headers=self._headers(),
                    timeout=aiohttp.ClientTimeout(total=2.0),
                ):
                    pass
        await self._close_http()
