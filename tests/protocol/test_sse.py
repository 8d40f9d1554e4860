"""Server-Sent Events, sans-I/O: the parser reads streams as a browser does, the
renderer writes what the server sends, and each reads back what the other writes."""

from __future__ import annotations

import re
from random import Random
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from homer.protocol.codecs import JSONCodec
from homer.protocol.envelope import Envelope
from homer.protocol.framing import FrameTooLarge
from homer.protocol.sse import (
    EventStreamParser,
    ServerSentEvent,
    render_comment,
    render_event,
    render_id,
)
from tests.protocol.test_fuzz import (
    _ENVELOPES,
    CUTS,
    EDITS,
    HYPOTHESIS,
    NOISE,
    Edits,
    cut,
    fuzz,
    random_bytes,
    random_cuts,
    random_edits,
    random_envelope,
    random_text,
    spoil,
)


def parse(*pieces: bytes, limit: int = 1 << 20) -> list[ServerSentEvent]:
    parser = EventStreamParser(limit=limit)
    return [event for piece in pieces for event in parser.feed(piece)]


def bytewise(stream: bytes) -> list[ServerSentEvent]:
    return parse(*(stream[i : i + 1] for i in range(len(stream))))


# -- parsing ------------------------------------------------------------------------------


def test_fields_make_events_and_comments_are_skipped() -> None:
    stream = (
        b'id: lobby~1~3\nevent: ready\ndata: {"op":"ready"}\n\n'
        b": ping\n\n"
        b"event: msg\ndata: line one\ndata: line two\n\n"
        b"data:no space\n\n"
        b"id: lobby~1~4\ndata:  two spaces, one kept\n\n"
        b"data\n\n"
        b"unknown: field\nevent: x\n\n"  # no data: no event
        b"data: the last\n"  # no blank line: never dispatched
    )
    expected = [
        ServerSentEvent(data='{"op":"ready"}', event="ready", id="lobby~1~3"),
        ServerSentEvent(data="line one\nline two", event="msg", id="lobby~1~3"),
        ServerSentEvent(data="no space", id="lobby~1~3"),
        ServerSentEvent(data=" two spaces, one kept", id="lobby~1~4"),
        ServerSentEvent(data="", id="lobby~1~4"),
    ]
    assert parse(stream) == expected
    assert bytewise(stream) == expected


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_lines_end_with_lf_crlf_or_cr(end: bytes) -> None:
    stream = end.join([b"event: a", b"data: 1", b"data: 2", b"", b"data: 3", b"", b""])
    expected = [ServerSentEvent(data="1\n2", event="a"), ServerSentEvent(data="3")]
    assert parse(stream) == expected
    assert bytewise(stream) == expected


def test_a_crlf_cut_between_its_bytes_ends_one_line() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\r") == [ServerSentEvent(data="a")]
    # An LF after a CR that ended a line long ago is a line of its own: a blank one.
    assert parser.feed(b"data: b\r") == []
    assert parser.feed(b"") == []
    assert parser.feed(b"\n\n") == [ServerSentEvent(data="b")]


def test_one_byte_order_mark_at_the_start_is_skipped() -> None:
    bom = b"\xef\xbb\xbf"
    assert parse(bom + b"data: x\n\n") == [ServerSentEvent(data="x")]
    assert bytewise(bom + b"data: x\n\n") == [ServerSentEvent(data="x")]
    assert parse(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == [ServerSentEvent(data="x")]
    # A second one makes the first field's name "\ufeffdata": not a field we know.
    assert parse(bom + bom + b"data: x\n\ndata: y\n\n") == [ServerSentEvent(data="y")]
    # Anywhere else it is data.
    assert parse(b"data: \xef\xbb\xbfx\n\n") == [ServerSentEvent(data="\ufeffx")]
    # Bytes that only begin like one are a line of their own.
    assert parse(b"\xef\xbb\ndata: y\n\n") == [ServerSentEvent(data="y")]


def test_the_last_event_id_holds_until_changed_and_counts_once_its_event_ends() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"id: 1\ndata: a\n\ndata: b\n\n") == [
        ServerSentEvent(data="a", id="1"),
        ServerSentEvent(data="b", id="1"),
    ]
    assert parser.last_event_id == "1"
    # An id whose event is cut short was not received.
    assert parser.feed(b"id: 2\ndata: c") == []
    assert parser.last_event_id == "1"
    # An id alone, with no data, moves it all the same.
    assert parser.feed(b"\n\nid: 3\n\n") == [ServerSentEvent(data="c", id="2")]
    assert parser.last_event_id == "3"
    # One holding NUL is ignored; an empty one clears it.
    assert parser.feed(b"id: 4\x005\ndata: d\n\nid\ndata: e\n\n") == [
        ServerSentEvent(data="d", id="3"),
        ServerSentEvent(data="e", id=""),
    ]
    assert parser.last_event_id == ""


def test_retry_takes_ascii_digits_only() -> None:
    parser = EventStreamParser()
    assert parser.retry is None
    assert parser.feed(b"retry: 2500\ndata: a\n\n") == [ServerSentEvent(data="a", retry=2500)]
    for ignored in (b"retry: 1.5", b"retry: -1", b"retry: 1e3", b"retry:", b"retry: \xd9\xa1"):
        parser.feed(ignored + b"\n\n")
        assert parser.retry == 2500
    parser.feed(b"retry: " + b"0" * 5000 + b"7\n")  # set at once, no blank line needed
    assert parser.retry == 7
    parser.feed(b"retry: " + b"9" * 19 + b"\n")  # past any sensible time: ignored
    assert parser.retry == 7


def test_bytes_that_are_not_utf8_read_as_replacement_characters() -> None:
    assert parse(b"event: \xff\ndata: a\xc3\n\n") == [
        ServerSentEvent(data="a\ufffd", event="\ufffd")
    ]
    # A character cut between reads is whole.
    assert bytewise("data: é 😀\n\n".encode()) == [ServerSentEvent(data="é 😀")]


def test_a_line_or_data_past_the_limit_is_refused_as_soon_as_it_is() -> None:
    parser = EventStreamParser(limit=8)
    assert parser.feed(b"data: ab") == []  # eight bytes, not one more yet
    with pytest.raises(FrameTooLarge):
        parser.feed(b"c")
    with pytest.raises(FrameTooLarge):
        EventStreamParser(limit=8).feed(b"data: abc\n")
    # Each line fits, the data they make does not.
    assert parse(b"data:12345\ndata:6789\n\n", limit=10) == [ServerSentEvent(data="12345\n6789")]
    with pytest.raises(FrameTooLarge):
        parse(b"data:12345\ndata:67890\n", limit=10)
    # Comments and other fields never pile up.
    assert parse(b": 12345678\n" * 100 + b"id:12345\n" * 100, limit=10) == []


# -- rendering ----------------------------------------------------------------------------


def test_events_render_as_the_server_writes_them() -> None:
    data = JSONCodec().encode(Envelope(op="msg", room="lobby", seq=42, body={"text": "a\nb"}))
    shared = b'event: msg\ndata: {"op":"msg","room":"lobby","seq":42,"body":{"text":"a\\nb"}}\n\n'
    assert render_event(data, event="msg") == shared
    assert render_event(data, event="msg", id="lobby~1~42") == b"id: lobby~1~42\n" + shared
    assert render_id("lobby~1~42") + shared == render_event(data, event="msg", id="lobby~1~42")
    closing = msgspec.json.encode({"code": 4001, "reason": "token expired"})
    assert render_event(closing, event="close") == (
        b'event: close\ndata: {"code":4001,"reason":"token expired"}\n\n'
    )
    assert render_comment("ping") == b": ping\n\n"
    assert render_comment() == b":\n\n"
    assert render_event(b"x", retry=3000) == b"retry: 3000\ndata: x\n\n"
    assert render_event(b"a\r\nb\rc\n") == b"data: a\ndata: b\ndata: c\ndata: \n\n"


@HYPOTHESIS
@given(
    envelope=_ENVELOPES, cursor=st.text(st.characters(codec="utf-8", exclude_characters="\r\n\0"))
)
def test_the_bytes_are_the_server_formats_for_any_envelope(envelope: Envelope, cursor: str) -> None:
    """The server writes ``b"event: %s\\ndata: %s\\n\\n" % (op, json)``, the stream's
    ``id:`` line before it when the event moves a position."""
    if "\n" in envelope.op or "\r" in envelope.op:
        with pytest.raises(ValueError, match="no line break"):
            render_event(b"{}", event=envelope.op)
        return
    data = JSONCodec().encode(envelope)
    server = b"event: %s\ndata: %s\n\n" % (envelope.op.encode(), data)
    assert render_event(data, event=envelope.op) == server
    assert (
        render_event(data, event=envelope.op, id=cursor) == b"id: %s\n" % cursor.encode() + server
    )
    assert parse(server) == [ServerSentEvent(data=data.decode(), event=envelope.op or "message")]


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda: render_event(b"x", event="a\nb"), "no line break"),
        (lambda: render_event(b"x", event="a\rb"), "no line break"),
        (lambda: render_event(b"x", id="1\n2"), "no line break"),
        (lambda: render_event(b"x", id="1\x002"), "no NUL"),
        (lambda: render_event(b"x", retry=-1), "milliseconds"),
        (lambda: render_id("\r"), "no line break"),
        (lambda: render_comment("a\nb"), "no line break"),
    ],
)
def test_what_cannot_be_written_raises_value_error(call: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        call()


# -- what the renderer writes, the parser reads back; anything else parses or is refused --

#: An event to render: data, and ``event``, ``id``, ``retry`` or ``None``; and
#: whether a comment goes before it.
Sent = tuple[str, str | None, str | None, int | None, bool]

_NO_BREAK = st.characters(codec="utf-8", exclude_characters="\r\n")
_SENT = st.tuples(
    st.text(max_size=40) | st.text(st.sampled_from("ab \r\n:é"), max_size=20),
    st.none() | st.text(_NO_BREAK, max_size=10),
    st.none() | st.text(st.characters(codec="utf-8", exclude_characters="\r\n\0"), max_size=10),
    st.none() | st.integers(0, 10**18 - 1),
    st.booleans(),
)


def render_all(sent: list[Sent]) -> bytes:
    return b"".join(
        (render_comment(data[:5].replace("\r", "").replace("\n", "")) if comment else b"")
        + render_event(data.encode(), event=event, id=id_, retry=retry)
        for data, event, id_, retry, comment in sent
    )


def expected_events(sent: list[Sent]) -> list[ServerSentEvent]:
    events: list[ServerSentEvent] = []
    last_id, last_retry = "", None
    for data, event, id_, retry, _ in sent:
        last_id = last_id if id_ is None else id_
        last_retry = last_retry if retry is None else retry
        events.append(
            ServerSentEvent(
                data=re.sub(r"\r\n|\r|\n", "\n", data),
                event=event or "message",
                id=last_id,
                retry=last_retry,
            )
        )
    return events


def feed_all(
    limit: int, pieces: list[bytes]
) -> tuple[list[ServerSentEvent], bool, str, int | None]:
    """The events, whether the parser refused the stream, and its last id and retry.
    After each piece, it holds no more than its limit."""
    parser = EventStreamParser(limit=limit)
    events: list[ServerSentEvent] = []
    for piece in pieces:
        try:
            events += parser.feed(piece)
        except FrameTooLarge:
            return events, True, "", None
        finally:
            assert len(parser._line) <= limit
            assert parser._size <= limit + 1
    for event in events:
        assert len(event.data) <= limit
        assert "\r" not in event.data
    return events, False, parser.last_event_id, parser.retry


#: What may open a stream, and the ways its lines may end.
BOMS = [b"", b"\xef\xbb\xbf"]
LINE_ENDS = [b"\n", b"\r\n", b"\r"]


def check_sse(
    sent: list[Sent],
    bom: bytes,
    end: bytes,
    limit: int,
    cuts: list[int],
    edits: Edits,
    noise: bytes,
) -> None:
    # The renderer ends lines with LF and puts no other CR or LF in them.
    wire = bom + render_all(sent).replace(b"\n", end)
    events, refused, last_id, retry = feed_all(1 << 20, cut(wire, cuts))
    assert not refused
    assert events == expected_events(sent)
    if sent:
        assert (last_id, retry) == (events[-1].id, events[-1].retry)
    # Spoilt or random: the same events, or a refusal, however the bytes are cut.
    for data in (spoil(wire, edits), noise, wire):
        whole = feed_all(limit, [data])
        pieces = feed_all(limit, cut(data, cuts))
        assert whole[1] == pieces[1]
        if not whole[1]:
            assert whole == pieces


def random_sent(rng: Random) -> Sent:
    def text(most: int) -> str:
        return random_text(rng, most).replace("\r", "").replace("\n", "")

    data = random_text(rng, 40) if rng.random() < 0.5 else random_bytes(rng, 20).decode("latin-1")
    return (
        data,
        rng.choice([None, text(10)]),
        rng.choice([None, text(10).replace("\0", "")]),
        rng.choice([None, rng.randrange(10**18)]),
        rng.random() < 0.3,
    )


def test_streams_read_back_or_raise_frame_too_large() -> None:
    fuzz(
        check_sse,
        {
            "sent": st.lists(_SENT, max_size=5),
            "bom": st.sampled_from(BOMS),
            "end": st.sampled_from(LINE_ENDS),
            "limit": st.integers(0, 48),
            "cuts": CUTS,
            "edits": EDITS,
            "noise": NOISE,
        },
        lambda rng: {
            "sent": [random_sent(rng) for _ in range(rng.randrange(6))],
            "bom": rng.choice(BOMS),
            "end": rng.choice(LINE_ENDS),
            "limit": rng.randrange(49),
            "cuts": random_cuts(rng),
            "edits": random_edits(rng),
            "noise": random_bytes(rng),
        },
        "sse",
    )


def test_the_servers_events_read_back_as_envelopes() -> None:
    rng = Random("sse envelopes")
    codec = JSONCodec()
    envelopes = [random_envelope(rng) for _ in range(200)]
    wire = b"".join(
        render_event(codec.encode(envelope), event="ev", id=str(i))
        for i, envelope in enumerate(envelopes)
    )
    events = parse(*cut(wire, random_cuts(rng)))
    assert [msgspec.convert(codec.decode(e.data.encode()), Envelope) for e in events] == envelopes
    assert [e.id for e in events] == [str(i) for i in range(200)]
