"""Codecs turn envelopes into bytes and frames into requests.

A codec is a small class with a ``name``, ``encode`` and ``decode``; the
application registers codecs by name (:class:`CodecRegistry`) and each
connection negotiates one. JSON is the default; MessagePack is built in too.
Whatever the codec, a request decodes to a map with an ``op`` and the server
sends the same :class:`~homer.protocol.envelope.Envelope` fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, Concatenate, ParamSpec, Protocol, TypeVar, cast

import msgspec

from homer.protocol.envelope import Envelope, RequestId, request_id

__all__ = [
    "Codec",
    "CodecRegistry",
    "DecodeError",
    "JSONCodec",
    "MessagePackCodec",
    "media_type",
]

F = TypeVar("F")
P = ParamSpec("P")

#: What a codec may be called: it becomes part of a WebSocket subprotocol name
#: (``homer.<name>``), which must be an HTTP token.
CODEC_NAME = re.compile(r"[a-z0-9][a-z0-9._+-]{0,63}")


class DecodeError(Exception):
    """The bytes are not a valid document in this codec.

    ``rid`` is the request's id when the frame decoded far enough to read one (a
    MessagePack map whose ``rid`` is fine but another field holds what JSON
    cannot), so the error answers that request.
    """

    def __init__(self, message: str, *, rid: RequestId | None = None) -> None:
        super().__init__(message)
        self.rid = rid


class Codec(Protocol):
    name: ClassVar[str]
    #: Whether frames are text (WebSocket text frames) or binary.
    text: ClassVar[bool]
    # Optional: ``media_type``, its HTTP Content-Type (:func:`media_type`).

    def encode(self, envelope: Envelope) -> bytes: ...

    def decode(self, data: bytes) -> Any:
        """The decoded document, or :class:`DecodeError`."""


def _malformed(format_name: str, exc: Exception) -> str:
    """What a decoder's failure says to the client.

    msgspec before 0.19 raised :class:`UnicodeDecodeError` for a string that is
    not UTF-8; later versions raise ``DecodeError("... Invalid UTF-8 ...")``.
    Both read the same on the wire.
    """
    if isinstance(exc, UnicodeDecodeError):
        return f"malformed {format_name}: a string is not UTF-8 ({exc.reason})"
    if "utf-8" in str(exc).lower():
        return f"malformed {format_name}: a string is not UTF-8"
    return f"malformed {format_name}: {exc}"


class JSONCodec:
    name: ClassVar[str] = "json"
    text: ClassVar[bool] = True
    media_type: ClassVar[str] = "application/json"

    __slots__ = ()

    _encoder = msgspec.json.Encoder()
    _decoder = msgspec.json.Decoder()

    def encode(self, envelope: Envelope) -> bytes:
        return self._encoder.encode(envelope)

    def decode(self, data: bytes) -> Any:
        try:
            return self._decoder.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise DecodeError(_malformed("JSON", exc)) from None
        except RecursionError:
            raise DecodeError("malformed JSON: nested too deeply") from None


class MessagePackCodec:
    """MessagePack in binary frames: the same fields as JSON, smaller and quicker to parse.

    A request may hold only what JSON can (maps with string keys, arrays, strings,
    finite numbers, booleans, nil): what a MessagePack client sends then reads the
    same to a JSON client and in history. Binary strings, extension types
    (timestamps included), other map keys and NaN are refused.

    JSON clients may store integers MessagePack cannot hold (past 64 bits): those
    are sent as the nearest float, as a JavaScript client reading the JSON gets them.
    """

    name: ClassVar[str] = "msgpack"
    text: ClassVar[bool] = False
    media_type: ClassVar[str] = "application/msgpack"
    #: Other names the format goes by in Content-Type and Accept headers.
    media_aliases: ClassVar[tuple[str, ...]] = ("application/x-msgpack", "application/vnd.msgpack")

    __slots__ = ()

    _encoder = msgspec.msgpack.Encoder()
    _decoder = msgspec.msgpack.Decoder()

    def encode(self, envelope: Envelope) -> bytes:
        try:
            return self._encoder.encode(envelope)
        except OverflowError:
            return self._encoder.encode(_wide_ints_as_floats(msgspec.to_builtins(envelope)))

    def decode(self, data: bytes) -> Any:
        try:
            document = self._decoder.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise DecodeError(_malformed("MessagePack", exc)) from None
        except RecursionError:
            raise DecodeError("malformed MessagePack: nested too deeply") from None
        try:
            _check_json_model(document)
        except DecodeError as exc:
            raise DecodeError(str(exc), rid=request_id(document)) from None
        return document


#: Content-Types that name no format: the body is read as JSON.
_UNNAMED = frozenset({""})


def media_type(codec: Codec) -> str:
    """The codec's HTTP media type: its ``media_type`` attribute, else
    ``application/vnd.homer.<name>``."""
    declared = getattr(codec, "media_type", None)
    return declared if isinstance(declared, str) else f"application/vnd.homer.{codec.name}"


def _media_types(codec: Codec) -> list[str]:
    aliases = getattr(codec, "media_aliases", ())
    return [media_type(codec), f"application/vnd.homer.{codec.name}", *aliases]


def _check_json_model(document: Any) -> None:
    """Raise :class:`DecodeError` unless ``document`` holds only what JSON can."""
    pending = [document]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str:
                    raise DecodeError(
                        f"map keys must be strings, not {_describe(key)} (as in JSON)"
                    )
                pending.append(item)
        elif kind is list:
            pending.extend(value)
        elif kind is float:
            if not math.isfinite(value):
                raise DecodeError("numbers must be finite (as in JSON), not NaN or infinity")
        elif value is not None and kind not in (str, int, bool):
            raise DecodeError(f"{_describe(value)} is not allowed: requests hold what JSON can")


def _wide_ints_as_floats(value: Any) -> Any:
    """``value`` with every integer outside MessagePack's range made a float."""
    if type(value) is int and not -(2**63) <= value < 2**64:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if type(value) is dict:
        return {key: _wide_ints_as_floats(item) for key, item in value.items()}
    if type(value) is list:
        return [_wide_ints_as_floats(item) for item in value]
    return value


def _describe(value: object) -> str:
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, msgspec.msgpack.Ext):
        return f"extension type {value.code}"
    if isinstance(value, tuple):
        return "an array"
    return f"a value of type {type(value).__name__}"


class CodecRegistry:
    """The codecs a server speaks, by name, in the order they were added.

    Each transport wraps a codec in its framing (for WebSocket, a frame of the
    right type); :meth:`wire_format` builds that wrapper once per codec and
    framing and hands the same one to every connection, so that a fanned-out
    event is rendered once per format and not once per recipient.
    """

    __slots__ = ("_codecs", "_formats")

    def __init__(self, codecs: Iterable[Codec] = ()) -> None:
        self._codecs: dict[str, Codec] = {}
        self._formats: dict[tuple[Any, ...], object] = {}
        for codec in codecs:
            self.add(codec)

    def add(self, codec: Codec) -> None:
        """Register ``codec`` under its name, replacing any codec of that name.

        Connections already open keep the codec they negotiated.
        """
        name = getattr(codec, "name", None)
        if not isinstance(name, str) or not CODEC_NAME.fullmatch(name):
            raise ValueError(
                f"a codec's name is 1-64 of a-z, 0-9, '.', '_', '+', '-', "
                f"starting with a letter or digit; got {name!r}"
            )
        if not isinstance(getattr(codec, "text", None), bool):
            raise TypeError(f"codec {name!r}: 'text' must be True or False")
        if not callable(getattr(codec, "encode", None)) or not callable(
            getattr(codec, "decode", None)
        ):
            raise TypeError(f"codec {name!r} needs encode() and decode() methods")
        self._codecs[name] = codec
        for key in [key for key in self._formats if key[0] == name]:
            del self._formats[key]

    def get(self, name: str) -> Codec | None:
        return self._codecs.get(name)

    @property
    def names(self) -> list[str]:
        """Every registered name, in the order the codecs were first added."""
        return list(self._codecs)

    def wire_format(
        self,
        name: str,
        framing: Callable[Concatenate[Codec, P], F],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> F:
        """``framing(codec, *args, **kwargs)`` for the codec called ``name``: built once
        per codec, framing and (hashable) arguments, then shared.

        Raises ``KeyError`` for a name that is not registered.
        """
        key = (name, framing, *args, *kwargs.items())
        found = self._formats.get(key)
        if found is None:
            found = self._formats[key] = framing(self._codecs[name], *args, **kwargs)
        return cast(F, found)

    def for_content_type(self, header: str | None) -> Codec | None:
        """The codec a ``Content-Type`` names (JSON for an empty one); ``None`` for any
        other type, a form's or ``application/octet-stream`` included."""
        wanted = (header or "").partition(";")[0].strip().lower()
        if wanted in _UNNAMED:
            return self._codecs.get(JSONCodec.name)
        for codec in self._codecs.values():
            if wanted in _media_types(codec):
                return codec
        return None

    def for_accept(self, header: str | None) -> Codec | None:
        """The codec an ``Accept`` header prefers (highest ``q``, then its order);
        JSON for none, ``*/*`` or ``application/*``; ``None`` when nothing fits."""
        if not header or not header.strip():
            return self._codecs.get(JSONCodec.name)
        ranked: list[tuple[float, int, str]] = []
        for index, item in enumerate(header.split(",")[:32]):
            kind, *params = (part.strip() for part in item.split(";"))
            quality = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            if kind and quality > 0:
                ranked.append((-quality, index, kind.lower()))
        for _, _, kind in sorted(ranked):
            if kind in ("*/*", "application/*"):
                return self._codecs.get(JSONCodec.name)
            for codec in self._codecs.values():
                if kind in _media_types(codec):
                    return codec
        return None

    def __contains__(self, name: object) -> bool:
        return name in self._codecs

    def __iter__(self) -> Iterator[Codec]:
        return iter(self._codecs.values())

    def __len__(self) -> int:
        return len(self._codecs)
