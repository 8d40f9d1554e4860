"""Framings for stream transports: any way the bytes are cut, the same frames
come out; oversized frames are refused early; arbitrary bytes never crash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homer.protocol.framing import (
    FrameTooLarge,
    GreetingError,
    LengthPrefixedFraming,
    LineFraming,
    parse_greeting,
)

documents = st.lists(st.binary(min_size=0, max_size=300), max_size=20)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points})
    return [data[a:b] for a, b in zip([0, *marks], [*marks, len(data)], strict=True)]


@settings(max_examples=1_000, deadline=None)
@given(documents, st.lists(st.integers(min_value=0), max_size=10))
def test_length_prefixed_frames_survive_any_cut(frames: list[bytes], points: list[int]) -> None:
    wire = b"".join(LengthPrefixedFraming.frame(f) for f in frames)
    framing = LengthPrefixedFraming(limit=1_000)
    got = [frame for piece in cut(wire, points) for frame in framing.feed(piece)]
    assert got == frames


@settings(max_examples=1_000, deadline=None)
@given(
    st.lists(st.binary(max_size=200).filter(lambda b: b"\n" not in b and b.strip()), max_size=20),
    st.lists(st.integers(min_value=0), max_size=10),
)
def test_lines_survive_any_cut(lines: list[bytes], points: list[int]) -> None:
    lines = [line.rstrip(b"\r") for line in lines if line.rstrip(b"\r").strip()]
    wire = b"".join(LineFraming.frame(line) for line in lines)
    framing = LineFraming(limit=1_000)
    got = [frame for piece in cut(wire, points) for frame in framing.feed(piece)]
    assert got == lines


@settings(max_examples=10_000, deadline=None)
@given(st.lists(st.binary(max_size=700), max_size=6))
def test_arbitrary_bytes_give_frames_or_frame_too_large(chunks: list[bytes]) -> None:
    for framing in (LineFraming(limit=512), LengthPrefixedFraming(limit=512)):
        for chunk in chunks:
            try:
                frames = framing.feed(chunk)
            except FrameTooLarge:
                break
            assert all(len(frame) <= 512 for frame in frames)


def test_an_oversized_length_is_refused_from_its_prefix_alone() -> None:
    framing = LengthPrefixedFraming(limit=100)
    with pytest.raises(FrameTooLarge):
        framing.feed(b"\x00\x00\x01\x00")  # 256 bytes announced, none sent


def test_a_line_that_never_ends_is_refused_once_past_the_limit() -> None:
    framing = LineFraming(limit=100)
    assert framing.feed(b"x" * 100) == []
    with pytest.raises(FrameTooLarge):
        framing.feed(b"x")


def test_greetings() -> None:
    greeting = parse_greeting(b"homer/1 msgpack length")
    assert greeting is not None
    assert (greeting.codec, greeting.framing) == ("msgpack", "length")
    assert parse_greeting(b'{"op": "hello"}') is None, "a first request, in JSON lines"
    for bad in (b"homer/2 json lines", b"homer/1 json", b"homer/1 JSON lines", b"homer/1 a b"):
        with pytest.raises(GreetingError):
            parse_greeting(bad)
