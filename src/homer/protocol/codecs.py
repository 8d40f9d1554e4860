"""Codecs turn envelopes into bytes and frames into requests.

A codec is a small class with a ``name``, ``encode`` and ``decode``; the
application registers codecs by name and each connection negotiates one.
JSON is the default.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import msgspec

from homer.protocol.envelope import Envelope

__all__ = ["Codec", "DecodeError", "JSONCodec"]


class DecodeError(Exception):
    """The bytes are not a valid document in this codec."""


class Codec(Protocol):
    name: ClassVar[str]
    #: Whether frames are text (WebSocket text frames) or binary.
    text: ClassVar[bool]

    def encode(self, envelope: Envelope) -> bytes: ...

    def decode(self, data: bytes) -> Any:
        """The decoded document, or :class:`DecodeError`."""


class JSONCodec:
    name: ClassVar[str] = "json"
    text: ClassVar[bool] = True

    __slots__ = ()

    _encoder = msgspec.json.Encoder()
    _decoder = msgspec.json.Decoder()

    def encode(self, envelope: Envelope) -> bytes:
        return self._encoder.encode(envelope)

    def decode(self, data: bytes) -> Any:
        try:
            return self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"malformed JSON: {exc}") from None
