"""A compact binary protocol for raw TCP: a codec and a framing of one's own.

    python compact_protocol.py [homer.toml]

Runs a Homer server (raw TCP on ``server.tcp_port``, 7070 when the
configuration sets none) that also speaks:

- the ``varint`` framing: each frame is its length as an unsigned LEB128 varint
  (seven bits a byte, low bits first, the high bit set on every byte but the
  last), then that many bytes;
- the ``compact`` codec: a tag byte, then the fields of the commonest frames
  packed one after the other, and MessagePack for everything else.

A client asks for both with its first line, ``homer/1 compact varint``, and is
then in the same rooms as every other client, over any transport and codec.
docs/topics/framing.md walks through this file.

The codec's frames (a string is its UTF-8 length as a varint, then the UTF-8;
``float`` is 8 bytes, big-endian):

=====  ============  =========================================================
tag    direction     fields
=====  ============  =========================================================
0x00   both ways     a MessagePack map: any request, any envelope
0x01   to server     ``send``: rid (varint), room, cid, text
0x02   to client     a text message: room, seq (varint), id, cid, sender, uid,
                     ts (float), text
0x03   to client     ``reply`` to an integer rid: rid (varint), body (MessagePack)
=====  ============  =========================================================
"""

from __future__ import annotations

import asyncio
import struct
import sys
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from homer import HomerConfig, load_config
from homer.core.app import Homer
from homer.node.logs import configure_logging
from homer.node.runner import serve
from homer.protocol.codecs import DecodeError, MessagePackCodec
from homer.protocol.envelope import Envelope
from homer.protocol.framing import FrameTooLarge

#: The raw TCP port when the configuration names none.
DEFAULT_TCP_PORT = 7070

MSGPACK, SEND, MSG, REPLY = range(4)
_FLOAT = struct.Struct(">d")


def encode_varint(value: int) -> bytes:
    """``value`` (0 or more) as an unsigned LEB128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# -- the framing ----------------------------------------------------------------------------


class VarintFraming:
    """Frames behind a LEB128 varint length. Sans-I/O: bytes in, frames out.

    A frame longer than ``limit`` is refused as soon as its prefix says so, before
    any of its body is read: once the bytes of the prefix so far add up to more
    than the limit (later bytes only add), or once the prefix is longer than the
    limit's own encoding (only a wasteful encoding of a small length could be).
    So it never holds more than a prefix and the part of a frame that fits.
    """

    name: ClassVar[str] = "varint"
    binary: ClassVar[bool] = True

    __slots__ = ("_longest_prefix", "_pending", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._longest_prefix = len(encode_varint(limit))
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The frames completed by ``data``; raises ``FrameTooLarge``."""
        pending = self._pending
        pending += data
        frames: list[bytes] = []
        start = 0
        while (found := self._length(start)) is not None:
            size, body = found
            if len(pending) - body < size:
                break
            frames.append(bytes(pending[body : body + size]))
            start = body + size
        if start:
            del pending[:start]
        return frames

    def _length(self, start: int) -> tuple[int, int] | None:
        """The length of the frame at ``start`` and where its body begins, or ``None``
        while its prefix is not all in."""
        pending = self._pending
        size = 0
        for i in range(self._longest_prefix):
            if start + i == len(pending):
                return None
            byte = pending[start + i]
            size |= (byte & 0x7F) << (7 * i)
            if size > self.limit:
                raise self._refused(f"a frame of {size} bytes or more is longer than {self.limit}")
            if byte < 0x80:
                return size, start + i + 1
        raise self._refused(f"a length prefix longer than {self._longest_prefix} bytes")

    def _refused(self, reason: str) -> FrameTooLarge:
        del self._pending[:]  # the stream cannot be trusted past this point
        return FrameTooLarge(reason)

    @staticmethod
    def frame(payload: bytes) -> bytes:
        return encode_varint(len(payload)) + payload


# -- the codec ------------------------------------------------------------------------------


class _Reader:
    """Reads a compact frame front to back; anything malformed is a ``DecodeError``."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 1  # past the tag

    def varint(self) -> int:
        value = 0
        for shift in range(0, 64, 7):
            if self.pos == len(self.data):
                raise DecodeError("the frame ends inside a varint")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
        raise DecodeError("a varint longer than 64 bits")

    def text(self) -> str:
        size = self.varint()
        end = self.pos + size
        if end > len(self.data):
            raise DecodeError("the frame ends inside a string")
        try:
            value = self.data[self.pos : end].decode()
        except UnicodeDecodeError:
            raise DecodeError("a string is not UTF-8") from None
        self.pos = end
        return value

    def number(self) -> float:
        end = self.pos + _FLOAT.size
        if end > len(self.data):
            raise DecodeError("the frame ends inside a number")
        value: float = _FLOAT.unpack_from(self.data, self.pos)[0]
        self.pos = end
        return value

    def rest(self) -> bytes:
        return self.data[self.pos :]

    def done(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError(f"{len(self.data) - self.pos} bytes after the last field")


def _text(value: str) -> bytes:
    data = value.encode()
    return encode_varint(len(data)) + data


#: The fields a reply leaves unset: a compact reply carries only its rid and body.
_NOT_IN_REPLIES = ("room", "seq", "id", "cid", "sender", "uid", "ts", "kind")


class CompactCodec:
    """The commonest frames packed by hand, MessagePack for the rest.

    What a client sends decodes to the same request as in JSON, and anything that
    is not one of the packed frames is held to what JSON can say, as in the
    built-in MessagePack codec (which this one uses for those).
    """

    name: ClassVar[str] = "compact"
    text: ClassVar[bool] = False

    __slots__ = ()

    _msgpack = MessagePackCodec()

    def encode(self, envelope: Envelope) -> bytes:
        body = envelope.body
        if (
            envelope.op == "msg"
            and envelope.kind == "msg"
            and envelope.rid is None
            and type(body) is dict
            and len(body) == 1
            and type(body.get("text")) is str
            and envelope.room is not None
            and envelope.seq is not None
            and envelope.id is not None
            and envelope.cid is not None
            and envelope.sender is not None
            and envelope.uid is not None
            and envelope.ts is not None
        ):
            return b"".join(
                [
                    bytes((MSG,)),
                    _text(envelope.room),
                    encode_varint(envelope.seq),
                    _text(envelope.id),
                    _text(envelope.cid),
                    _text(envelope.sender),
                    _text(envelope.uid),
                    _FLOAT.pack(envelope.ts),
                    _text(body["text"]),
                ]
            )
        rid = envelope.rid
        if (
            envelope.op == "reply"
            and type(rid) is int
            and rid >= 0
            and all(getattr(envelope, field) is None for field in _NOT_IN_REPLIES)
        ):
            try:
                return bytes((REPLY,)) + encode_varint(rid) + msgspec.msgpack.encode(body)
            except OverflowError:  # an integer past 64 bits: the fallback copes
                pass
        return bytes((MSGPACK,)) + self._msgpack.encode(envelope)

    def decode(self, data: bytes) -> Any:
        if not data:
            raise DecodeError("an empty frame")
        tag = data[0]
        if tag == MSGPACK:
            return self._msgpack.decode(data[1:])
        if tag == SEND:
            reader = _Reader(data)
            request = {
                "op": "send",
                "rid": reader.varint(),
                "room": reader.text(),
                "cid": reader.text(),
                "text": reader.text(),
            }
            reader.done()
            return request
        raise DecodeError(f"unknown tag {tag:#04x}")


# -- what a client does with it -------------------------------------------------------------


def encode_request(request: dict[str, Any]) -> bytes:
    """A request as a client sends it: ``send`` with an integer rid packed, the rest
    in MessagePack."""
    rid = request.get("rid")
    if (
        request.keys() == {"op", "rid", "room", "cid", "text"}
        and request["op"] == "send"
        and type(rid) is int
        and rid >= 0
        and all(type(request[field]) is str for field in ("room", "cid", "text"))
    ):
        return b"".join(
            [
                bytes((SEND,)),
                encode_varint(rid),
                _text(request["room"]),
                _text(request["cid"]),
                _text(request["text"]),
            ]
        )
    return bytes((MSGPACK,)) + msgspec.msgpack.encode(request)


def decode_event(data: bytes) -> dict[str, Any]:
    """An envelope as a client reads it: a map of the fields the server set."""
    if not data:
        raise DecodeError("an empty frame")
    tag = data[0]
    if tag == MSGPACK:
        event: dict[str, Any] = msgspec.msgpack.decode(data[1:])
        return event
    reader = _Reader(data)
    if tag == REPLY:
        rid = reader.varint()
        return {"op": "reply", "rid": rid, "body": msgspec.msgpack.decode(reader.rest())}
    if tag == MSG:
        room, seq, id_, cid = reader.text(), reader.varint(), reader.text(), reader.text()
        sender, uid, ts, text = reader.text(), reader.text(), reader.number(), reader.text()
        reader.done()
        return {
            "op": "msg",
            "room": room,
            "seq": seq,
            "id": id_,
            "cid": cid,
            "sender": sender,
            "uid": uid,
            "ts": ts,
            "kind": "msg",
            "body": {"text": text},
        }
    raise DecodeError(f"unknown tag {tag:#04x}")


# -- the server -----------------------------------------------------------------------------


def build_app(config: HomerConfig, **options: Any) -> Homer:
    """Homer with the codec and the framing; ``options`` go to ``Homer``."""
    app = Homer(config, **options)
    app.add_codec(CompactCodec())  # over WebSocket too, as subprotocol homer.compact
    app.add_framing(VarintFraming)
    return app


def main() -> None:
    config = load_config(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    if config.server.tcp_port is None:
        server = msgspec.structs.replace(config.server, tcp_port=DEFAULT_TCP_PORT)
        config = msgspec.structs.replace(config, server=server)
    configure_logging(config.server.log_format, config.server.log_level)
    asyncio.run(serve(build_app(config)))  # until SIGINT or SIGTERM


if __name__ == "__main__":
    main()
