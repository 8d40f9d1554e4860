"""The room model and the fuzzy switcher's matching, without a terminal."""

from __future__ import annotations

from homer.chat.rooms import Rooms, fuzzy_filter, fuzzy_score
from homer.protocol.envelope import Envelope


def message(seq: int) -> Envelope:
    return Envelope(op="msg", room="r", seq=seq, ts=float(seq), kind="msg", body={"text": "x"})


def test_rooms_come_before_dms_and_neighbours_wrap() -> None:
    rooms = Rooms()
    rooms.add({"id": "zoo"})
    rooms.add({"id": "dm-1", "kind": "dm", "meta": {"users": ["alice", "bob"]}})
    rooms.add({"id": "lobby"})
    assert [r.label("alice") for r in rooms.ordered("alice")] == ["#lobby", "#zoo", "@bob"]
    assert rooms.neighbour("lobby", 1, "alice").id == "zoo"  # type: ignore[union-attr]
    assert rooms.neighbour("dm-1", 1, "alice").id == "lobby"  # type: ignore[union-attr]
    assert rooms.neighbour("lobby", -1, "alice").id == "dm-1"  # type: ignore[union-attr]


def test_live_and_older_messages_merge_without_duplicates() -> None:
    room = Rooms().add({"id": "r"})
    room.loaded = True
    assert room.add_live(message(5))
    assert not room.add_live(message(5))
    assert room.add_older([message(3), message(4), message(5)], more=True) == 2
    assert [m.seq for m in room.messages] == [3, 4, 5]
    assert room.more_before


def test_typists_lapse() -> None:
    room = Rooms().add({"id": "r"})
    room.typing.update({"bob": 10.0, "carol": 20.0, "alice": 20.0})
    assert room.typists(5.0, "alice") == ["bob", "carol"]
    assert room.typists(15.0, "alice") == ["carol"]


def test_fuzzy_matching_prefers_prefixes_then_runs() -> None:
    labels = ["#general", "#random", "#engineering", "@gene"]
    assert fuzzy_filter("gen", labels) == ["#general", "@gene", "#engineering"]
    assert fuzzy_filter("rdm", labels) == ["#random"]
    assert fuzzy_filter("xyz", labels) == []
    assert fuzzy_score("", "#anything") == 0
