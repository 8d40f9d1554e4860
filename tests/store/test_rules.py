"""The Store rules both SQL adapters share, on their own: no database."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homer.errors import Conflict, Forbidden, InvalidInput, NotFound
from homer.store.records import AuditEvent, Page
from homer.store.rows import Rows
from homer.store.rules import (
    ReadMarker,
    Tally,
    check_heir,
    check_join,
    check_members,
    check_name_free,
    missed_update,
    page,
    room_taken,
    room_to_join,
    unread,
    window,
)
from homer.testing.store_conformance import make_member, make_room

_JSON_TEXT = Rows(
    load_json=msgspec.json.decode,
    dump_json=msgspec.json.encode,
    load_names=msgspec.json.decode,
    dump_names=msgspec.json.encode,
)


def test_a_name_is_free_unless_another_row_holds_it() -> None:
    check_name_free("users", "Ann", holder=None, own_id="u1")
    check_name_free("users", "Ann", holder="u1", own_id="u1")  # a rename of oneself
    with pytest.raises(Conflict, match="a user named 'Ann' already exists"):
        check_name_free("users", "Ann", holder="u2", own_id="u1")
    with pytest.raises(Conflict, match="a group named 'staff' already exists"):
        check_name_free("groups", "staff", holder="g2", own_id="g1")


def test_a_missed_update_is_a_row_gone_or_changed_meanwhile() -> None:
    gone = missed_update("users", "u1", None)
    assert isinstance(gone, NotFound)
    assert str(gone) == "no user with id u1"
    changed = missed_update("groups", "g1", 4)
    assert isinstance(changed, Conflict)
    assert str(changed) == "the group was changed concurrently (now at version 4)"


def test_an_heir_is_another_group_and_both_exist() -> None:
    with pytest.raises(Conflict, match="its own heir"):
        check_heir("g1", "g1")
    check_heir("g1", "g2")
    check_heir("g1", "g2", {"g1", "g2"})
    with pytest.raises(NotFound, match="no group with id g1"):
        check_heir("g1", "g2", {"g2"})
    with pytest.raises(NotFound, match="no group with id g2"):
        check_heir("g1", "g2", {"g1"})


def test_a_new_room_has_its_own_members_and_a_free_id_and_pair() -> None:
    room = make_room("dm", dm_key="u1 u2")
    check_members(room, [make_member(room.id, "u1"), make_member(room.id, "u2")])
    with pytest.raises(InvalidInput, match="name other rooms: a, b"):
        check_members(room, [make_member("b", "u1"), make_member("a", "u2")])
    room_taken(room, id_taken=False, dm_taken=False)
    with pytest.raises(Conflict, match=f"a room with id {room.id} already exists"):
        room_taken(room, id_taken=True, dm_taken=True)
    with pytest.raises(Conflict, match="a direct-message room for 'u1 u2' already exists"):
        room_taken(room, id_taken=False, dm_taken=True)


def test_the_joining_rules_in_their_order() -> None:
    public, private, dm = make_room("public"), make_room("private"), make_room("dm")
    with pytest.raises(NotFound, match="no room 'gone'"):
        room_to_join("gone", None)
    assert room_to_join(public.id, public) is public
    fine = {"banned": False, "invited": False, "count": 0, "max_rooms": 2}
    check_join(public, **fine)
    check_join(private, **{**fine, "invited": True})
    for room, changes, error, message in (
        (dm, {"invited": True}, NotFound, "no room"),  # as if there were none
        (private, {"banned": True, "invited": True}, Forbidden, "banned"),
        (private, {}, NotFound, "no room"),
        (public, {"banned": True, "count": 2}, Forbidden, "banned"),
        (public, {"count": 2}, Conflict, "at most 2 rooms"),
    ):
        with pytest.raises(error, match=message):
            check_join(room, **{**fine, **changes})


def test_a_page_holds_limit_rows_and_says_where_the_next_starts() -> None:
    rows = [(n, f"k{n}") for n in range(5)]
    assert window(3) == 4
    assert window(-2) == 1
    first = page(rows[: window(3)], 3, lambda row: row[0], lambda row: row[1])
    assert first == Page([0, 1, 2], "k2")
    last = page(rows[3:][: window(3)], 3, lambda row: row[0], lambda row: row[1])
    assert last == Page([3, 4], None)
    exact = page(rows[:3], 3, lambda row: row[0], lambda row: row[1])
    assert exact == Page([0, 1, 2], None)
    assert page(rows[:1], 0, lambda row: row[0], lambda row: row[1]) == Page([], None)


def test_audit_rows_and_room_changes_round_trip() -> None:
    event = AuditEvent(actor="root", action="user.add", target="user:u1", at=5.0, detail={"k": 1})
    row = _JSON_TEXT.audit_row(event)
    entry = _JSON_TEXT.audit_entry((7, *row))
    assert (entry.id, entry.actor, entry.action, entry.target, entry.at, entry.detail) == (
        7,
        "root",
        "user.add",
        "user:u1",
        5.0,
        {"k": 1},
    )
    assert _JSON_TEXT.room_changes(name=None, topic=None, meta=None) == []
    assert _JSON_TEXT.room_changes(name="n", topic="", meta={"a": 1}) == [
        ("name", "n"),
        ("topic", ""),
        ("meta", b'{"a":1}'),
    ]


# -- unread counts ---------------------------------------------------------------------


def test_an_unread_count_is_what_is_neither_read_nor_ones_own_up_to_the_cap() -> None:
    assert unread(10, 3, 2, cap=1000) == 5
    assert unread(10, 3, 2, cap=4) == 4
    assert unread(10, 3, 2, cap=0) == 0
    assert unread(3, 3, 0, cap=1000) == 0


def test_a_marker_moves_forward_only_and_not_past_the_end() -> None:
    marker = ReadMarker(10, 4, 1)
    assert marker.move(10, last_seq=50, room_msgs=30) is None
    assert marker.move(3, last_seq=50, room_msgs=30) is None, "never back"
    to_end = marker.move(99, last_seq=50, room_msgs=30)
    assert to_end is not None
    assert (to_end.to, to_end.empty) == (50, True), "past the end: at it, nothing to count"
    assert to_end.result(Tally()) == ReadMarker(50, 30, 0)


def test_a_move_counts_the_shorter_span() -> None:
    marker = ReadMarker(10, 4, 1)
    short = marker.move(20, last_seq=50, room_msgs=30)
    assert short is not None
    assert (short.after, short.upto, short.passed) == (10, 20, True)
    assert short.result(Tally(msgs=6, own=1)) == ReadMarker(20, 10, 0)
    far = marker.move(45, last_seq=50, room_msgs=30)
    assert far is not None
    assert (far.after, far.upto, far.passed) == (45, 50, False)
    assert far.result(Tally(msgs=3, own=2)) == ReadMarker(45, 27, 2)


def test_a_new_members_marker() -> None:
    room = make_room(last_seq=5)
    assert ReadMarker.first(make_member(room.id, "u-ann", read_seq=9), room) == ReadMarker(5)
    assert ReadMarker.first(make_member(room.id, "u-ann", read_seq=-1), room) == ReadMarker(0)
    assert ReadMarker.at_start(3) == ReadMarker(0, 0, 3)


_history = st.lists(st.tuples(st.sampled_from(["msg", "msg", "join"]), st.booleans()), max_size=60)


@settings(max_examples=200, deadline=None)
@given(
    history=_history,
    purged=st.integers(0, 60),
    start=st.integers(-2, 70),
    moves=st.lists(st.integers(-2, 70), max_size=8),
)
def test_kept_counts_match_counting_the_history(
    history: list[tuple[str, bool]], purged: int, start: int, moves: list[int]
) -> None:
    """Whatever the history (the first ``purged`` seqs gone), wherever a member starts
    and however the marker moves, the kept counts give the count of what lies past it."""
    last = len(history)
    stored = {
        seq: entry for seq, entry in enumerate(history, 1) if seq > min(purged, last)
    }  # seq -> (kind, own)

    def tally(after: int, upto: int) -> Tally:
        span = [stored[s] for s in range(after + 1, upto + 1) if s in stored]
        return Tally(sum(k == "msg" for k, _ in span), sum(k == "msg" and own for k, own in span))

    room_msgs = tally(0, last).msgs
    marker = ReadMarker.at_start(tally(0, last).own)
    for wanted in [start, *moves]:
        move = marker.move(wanted, last_seq=last, room_msgs=room_msgs)
        expected_seq = max(marker.seq, min(wanted, last))
        if move is not None:
            assert move.upto - move.after <= (last - marker.seq) / 2 + 0.5
            marker = move.result(Tally() if move.empty else tally(move.after, move.upto))
        assert marker.seq == expected_seq
        past = tally(marker.seq, last)
        assert (marker.msgs, marker.own) == (room_msgs - past.msgs, past.own)
        assert unread(room_msgs, marker.msgs, marker.own, cap=10**6) == past.msgs - past.own
