"""HTTP byte ranges read without a network: one range served, anything else ignored,
a range that selects nothing unsatisfiable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homer.protocol.ranges import (
    ByteRange,
    Unsatisfiable,
    content_range,
    parse_range,
    unsatisfied_range,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", ByteRange(0, 10)),
        ("bytes=5-5", ByteRange(5, 6)),
        ("bytes=90-", ByteRange(90, 100)),
        ("bytes=90-1000", ByteRange(90, 100)),
        ("bytes=-10", ByteRange(90, 100)),
        ("bytes=-1000", ByteRange(0, 100)),
        (" bytes=0-0 ", ByteRange(0, 1)),
        # Ignored: the whole is sent.
        ("bytes=9-2", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=-", None),
        ("bytes=a-b", None),
        ("bytes=1-2-3", None),
        ("bytes=\u0661-\u0662", None),  # digits of another script are not digits here
        ("", None),
    ],
)
def test_a_range_is_read_against_the_size(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=-0", 100),
        ("bytes=0-", 0),
        ("bytes=-5", 0),
    ],
)
def test_a_range_that_selects_nothing_is_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


def test_content_ranges() -> None:
    assert content_range(ByteRange(0, 10), 100) == "bytes 0-9/100"
    assert unsatisfied_range(100) == "bytes */100"
    assert ByteRange(3, 10).length == 7


@given(
    header=st.one_of(
        st.text(max_size=40),
        st.from_regex(r"bytes=\d{0,4}-\d{0,4}", fullmatch=True),
        st.from_regex(r"bytes=-\d{1,4}", fullmatch=True),
    ),
    size=st.integers(min_value=0, max_value=5000),
)
def test_any_header_gives_a_range_inside_the_file_the_whole_or_unsatisfiable(
    header: str, size: int
) -> None:
    try:
        selected = parse_range(header, size)
    except Unsatisfiable:
        return
    if selected is not None:
        assert 0 <= selected.start < selected.end <= size
