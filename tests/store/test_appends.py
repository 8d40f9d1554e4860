"""The append rules on their own: no database, only what an adapter would have read."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from homer.errors import HomerError, InvalidInput, NotFound
from homer.store.appends import AppendBatch, Key, Tail, holds_nul
from homer.store.records import Appended, MessageRecord, NewMessage
from homer.store.rows import Rows
from homer.testing.store_conformance import new_message


def _record(message: NewMessage, seq: int, ts: float | None = None) -> MessageRecord:
    return MessageRecord(
        message.room_id,
        seq,
        message.id,
        message.sender_id,
        message.client_id,
        message.kind,
        message.ts if ts is None else ts,
        message.body,
    )


def _stored(outcome: Appended | HomerError) -> MessageRecord:
    assert isinstance(outcome, Appended), outcome
    assert not outcome.duplicate
    return outcome.message


def _repeats(outcome: Appended | HomerError) -> MessageRecord:
    assert isinstance(outcome, Appended), outcome
    assert outcome.duplicate
    return outcome.message


def test_each_room_counts_on_from_its_own_last_seq_in_batch_order() -> None:
    a1, b1, a2, a3 = (new_message(room) for room in ("a", "b", "a", "a"))
    plan = AppendBatch([a1, b1, a2, a3]).plan({"a": (7, None), "b": (0, None)}, {})
    assert [_stored(o) for o in plan.outcomes] == [
        _record(a1, 8),
        _record(b1, 1),
        _record(a2, 9),
        _record(a3, 10),
    ]
    assert plan.grown == {"a": 10, "b": 1}
    assert plan.rows == [
        Rows.message_row(_stored(o), msgspec.json.encode(o.message.body))
        for o in plan.outcomes
        if isinstance(o, Appended)
    ]


def test_messages_of_kind_msg_are_counted_by_room_and_sender() -> None:
    batch = [
        new_message("a", "u-ann"),
        new_message("b", "u-bob"),
        new_message("a", "u-ann", kind="join", body={}),
        new_message("a", "u-bob"),
        new_message("a", "u-ann"),
        new_message("gone", "u-ann"),
        new_message("b", "u-bob", kind="topic", body={}),
    ]
    resend = _record(new_message("a", "u-bob", client_id="c-1"), 3)
    batch.append(new_message("a", "u-bob", client_id="c-1"))
    plan = AppendBatch(batch).plan(
        {"a": (3, None), "b": (0, None)}, {("a", "u-bob", "c-1"): resend}
    )
    assert plan.counted == {"a": 3, "b": 1}
    assert plan.sent == {("a", "u-ann"): 2, ("b", "u-bob"): 1, ("a", "u-bob"): 1}
    assert plan.rooms == [("a", 7, 3), ("b", 2, 1)]
    assert plan.senders == [("a", "u-ann", 2), ("b", "u-bob", 1), ("a", "u-bob", 1)]
    only_joins = AppendBatch([new_message("a", kind="join", body={})]).plan({"a": (0, None)}, {})
    assert only_joins.rooms == [("a", 1, 0)]
    assert only_joins.senders == []


def test_an_empty_batch_plans_nothing() -> None:
    batch = AppendBatch([])
    assert batch.room_ids == []
    assert batch.keys({"a"}) == []
    plan = batch.plan({}, {})
    assert (plan.outcomes, plan.rows, plan.grown) == ([], [], {})


def test_a_message_for_a_missing_room_fails_alone() -> None:
    batch = [new_message("a"), new_message("gone"), new_message("a")]
    plan = AppendBatch(batch).plan({"a": (0, None)}, {})
    assert isinstance(plan.outcomes[1], NotFound)
    assert "gone" in str(plan.outcomes[1])
    assert [_stored(plan.outcomes[i]).seq for i in (0, 2)] == [1, 2]
    assert plan.grown == {"a": 2}
    assert len(plan.rows) == 2


def test_a_resend_of_a_stored_message_is_that_message_and_takes_no_seq() -> None:
    original = _record(new_message("a", client_id="c-1"), 3)
    resend = new_message("a", client_id="c-1", text="changed", ts=500.0)
    fresh = new_message("a", client_id="c-2")
    key: Key = ("a", "u-ann", "c-1")
    plan = AppendBatch([resend, fresh]).plan({"a": (3, 100.0)}, {key: original})
    assert _repeats(plan.outcomes[0]) == original
    assert _stored(plan.outcomes[1]) == _record(fresh, 4)
    assert plan.grown == {"a": 4}
    assert len(plan.rows) == 1


def test_a_repeat_within_the_batch_is_the_first_one_again() -> None:
    twice = new_message("a", client_id="c-9")
    between = new_message("a")
    plan = AppendBatch([twice, between, twice]).plan({"a": (0, None)}, {})
    first = _stored(plan.outcomes[0])
    assert _repeats(plan.outcomes[2]) == first
    assert [first.seq, _stored(plan.outcomes[1]).seq] == [1, 2]
    assert len(plan.rows) == 2


def test_the_same_client_id_from_another_sender_or_room_is_another_message() -> None:
    batch = [
        new_message("a", "u-ann", client_id="c"),
        new_message("a", "u-bob", client_id="c"),
        new_message("b", "u-ann", client_id="c"),
    ]
    plan = AppendBatch(batch).plan({"a": (0, None), "b": (0, None)}, {})
    assert [_stored(o).seq for o in plan.outcomes] == [1, 2, 1]


def test_a_batch_of_nothing_but_resends_grows_no_room() -> None:
    message = new_message("a", client_id="c-1")
    original = _record(message, 1)
    plan = AppendBatch([message, message]).plan(
        {"a": (1, 100.0)}, {("a", "u-ann", "c-1"): original}
    )
    assert [_repeats(o) for o in plan.outcomes] == [original, original]
    assert (plan.rows, plan.grown) == ([], {})


def test_a_body_that_is_not_json_fails_alone_and_takes_no_seq() -> None:
    bad = new_message("a", body={"x": object()})
    plan = AppendBatch([new_message("a"), bad, new_message("a")]).plan({"a": (0, None)}, {})
    assert isinstance(plan.outcomes[1], InvalidInput)
    assert "not JSON" in str(plan.outcomes[1])
    assert [_stored(plan.outcomes[i]).seq for i in (0, 2)] == [1, 2]


def test_a_resend_is_recognised_before_its_body_is_judged() -> None:
    """The stored message is the answer, whatever the resend carries now."""
    bad = new_message("a", client_id="c-1", body={"x": object()})
    original = _record(new_message("a", client_id="c-1"), 1)
    plan = AppendBatch([bad]).plan({"a": (1, None)}, {("a", "u-ann", "c-1"): original})
    assert _repeats(plan.outcomes[0]) == original


def test_a_missing_room_is_reported_before_a_body_that_is_not_json() -> None:
    plan = AppendBatch([new_message("gone", body={"x": object()})]).plan({}, {})
    assert isinstance(plan.outcomes[0], NotFound)


def test_ts_never_goes_back_within_a_room() -> None:
    batch = [
        new_message("a", ts=150.0),  # older than the room's last message
        new_message("b", ts=10.0),  # another room keeps its own time
        new_message("a", ts=201.0),
        new_message("a", ts=199.0),  # older than the one before it in the batch
        new_message("c", ts=5.0),  # a room without messages: nothing to follow
    ]
    tails = {"a": (4, 200.0), "b": (0, None), "c": (9, None)}
    plan = AppendBatch(batch).plan(tails, {})
    assert [_stored(o).ts for o in plan.outcomes] == [200.0, 10.0, 201.0, 201.0, 5.0]
    assert [row[6] for row in plan.rows] == [200.0, 10.0, 201.0, 201.0, 5.0]
    assert _stored(plan.outcomes[0]) == _record(batch[0], 5, ts=200.0)


def test_a_message_that_is_not_stored_does_not_move_the_clock() -> None:
    """Only stored messages set the ts the next must not precede."""
    batch = [
        new_message("a", ts=300.0, body={"x": object()}),
        new_message("a", ts=120.0),
    ]
    plan = AppendBatch(batch).plan({"a": (1, 100.0)}, {})
    assert _stored(plan.outcomes[1]).ts == 120.0


NUL_MESSAGES: dict[str, dict[str, object]] = {
    "room": {"room_id": "a\x00"},
    "id": {"id": "m\x00"},
    "sender": {"sender_id": "u-\x00"},
    "client id": {"client_id": "c\x00"},
    "kind": {"kind": "msg\x00"},
    "text": {"body": {"text": "a\x00b"}},
}


def test_a_nul_character_in_an_id_the_kind_or_the_text_is_refused_first() -> None:
    for field, overrides in NUL_MESSAGES.items():
        message = replace(new_message("a"), **overrides)
        assert holds_nul(message), field
        # Refused before the room is looked for, and never looked up as a resend.
        batch = AppendBatch([message, new_message("a")])
        assert batch.room_ids == ["a"]
        assert batch.keys({"a", "a\x00"}) == [("a", "u-ann", batch.messages[1].client_id)]
        plan = batch.plan({"a": (0, None), "a\x00": (0, None)}, {})
        assert isinstance(plan.outcomes[0], InvalidInput), field
        assert "NUL" in str(plan.outcomes[0])
        assert _stored(plan.outcomes[1]).seq == 1, field


def test_structured_data_may_hold_a_nul_character() -> None:
    message = new_message("a", body={"text": "fine", "data": {"k\x00": ["v\x00"]}})
    assert not holds_nul(message)
    assert not holds_nul(new_message("a", body={"text": 5}))
    plan = AppendBatch([message]).plan({"a": (0, None)}, {})
    assert _stored(plan.outcomes[0]) == _record(message, 1)


def test_room_ids_are_sorted_once_each_and_keys_are_those_of_existing_rooms() -> None:
    batch = AppendBatch(
        [
            new_message("c", client_id="1"),
            new_message("a", client_id="2"),
            new_message("c", client_id="1"),
            new_message("b", client_id="3"),
        ]
    )
    assert batch.room_ids == ["a", "b", "c"]
    assert batch.keys({"a", "c"}) == [("c", "u-ann", "1"), ("a", "u-ann", "2")]


# -- the rules hold for any batch ------------------------------------------------------

_messages = st.builds(
    lambda room, sender, cid, ts, kind: new_message(room, sender, client_id=cid, ts=ts, kind=kind),
    st.sampled_from(["a", "b", "gone"]),
    st.sampled_from(["u-ann", "u-bob"]),
    st.sampled_from(["c-1", "c-2", "c-3", "c-4"]),
    st.floats(min_value=0.0, max_value=1000.0),
    st.sampled_from(["msg", "msg", "join"]),
)


@settings(max_examples=200, deadline=None)
@given(
    batch=st.lists(_messages, max_size=20),
    seqs=st.tuples(st.integers(0, 50), st.integers(0, 50)),
    stored_cids=st.sets(st.sampled_from(["c-1", "c-2", "c-3", "c-4"])),
)
def test_any_batch_is_numbered_densely_once_per_key_with_ts_in_order(
    batch: list[NewMessage], seqs: tuple[int, int], stored_cids: set[str]
) -> None:
    tails: dict[str, Tail] = {"a": (seqs[0], 500.0), "b": (seqs[1], None)}
    stored: dict[Key, MessageRecord] = {
        ("a", "u-ann", cid): _record(new_message("a", client_id=cid), 1) for cid in stored_cids
    }
    plan = AppendBatch(batch).plan(tails, stored)
    assert len(plan.outcomes) == len(batch)
    new: dict[str, list[MessageRecord]] = {"a": [], "b": []}
    seen: dict[Key, MessageRecord] = dict(stored)
    for message, outcome in zip(batch, plan.outcomes, strict=True):
        key = (message.room_id, message.sender_id, message.client_id)
        if message.room_id == "gone":
            assert isinstance(outcome, NotFound)
        elif key in seen:
            assert _repeats(outcome) == seen[key]
        else:
            record = seen[key] = _stored(outcome)
            new[message.room_id].append(record)
    for room, records in new.items():
        start = tails[room][0]
        assert [r.seq for r in records] == list(range(start + 1, start + 1 + len(records)))
        times = [tails[room][1] or 0.0] + [r.ts for r in records]
        assert times == sorted(times)
        if records:
            assert plan.grown[room] == records[-1].seq
        else:
            assert room not in plan.grown
    assert len(plan.rows) == sum(map(len, new.values()))
    # What the unread counts gain: the new messages of kind msg, by room and by sender.
    counted = {room: sum(r.kind == "msg" for r in records) for room, records in new.items()}
    assert plan.counted == {room: n for room, n in counted.items() if n}
    sent = Counter(
        (r.room_id, r.sender_id) for records in new.values() for r in records if r.kind == "msg"
    )
    assert plan.sent == sent
    assert plan.rooms == [(room, seq, counted[room]) for room, seq in plan.grown.items()]
    assert sorted(plan.senders) == sorted((room, sender, n) for (room, sender), n in sent.items())
