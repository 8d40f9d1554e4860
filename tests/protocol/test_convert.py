"""Whole numbers written with a fraction are integers where an integer is expected,
and nowhere else."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from homer.protocol.convert import convert


class Spot(msgspec.Struct, forbid_unknown_fields=True):
    epoch: int
    seq: Annotated[int, msgspec.Meta(ge=0)]


class Asked(msgspec.Struct, forbid_unknown_fields=True):
    room: str
    limit: int = 50
    after: int | None = None
    since: float | None = None
    data: Any = None
    spots: dict[str, Spot] = {}
    seqs: list[int] = []


def test_whole_floats_are_integers_where_integers_are_expected() -> None:
    asked = convert(
        {
            "room": "a",
            "limit": 1e1,
            "after": 3.0,
            "since": 2.0,
            "data": {"n": 1.0},
            "spots": {"a": {"epoch": 1.0, "seq": 2.0}},
            "seqs": [1.0, 2],
        },
        Asked,
    )
    assert (asked.limit, asked.after, asked.seqs) == (10, 3, [1, 2])
    assert all(type(n) is int for n in (asked.limit, asked.after, *asked.seqs))
    assert asked.spots == {"a": Spot(1, 2)}
    assert type(asked.since) is float
    assert asked.data == {"n": 1.0}
    assert type(asked.data["n"]) is float  # free data as sent


@pytest.mark.parametrize(
    "given",
    [
        {"room": "a", "limit": 1.5},
        {"room": "a", "limit": "10"},
        {"room": "a", "after": True},
        {"room": "a", "spots": {"a": {"epoch": 1, "seq": -1.0}}},
        {"room": 1.0},
    ],
)
def test_anything_else_is_still_refused(given: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        convert(given, Asked)
