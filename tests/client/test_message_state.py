"""Change events applied to kept messages: the same result as history, however
often an event is applied."""

from __future__ import annotations

from typing import Any

from homer.client.message_state import apply_changes
from homer.protocol.envelope import Envelope


def event(seq: int, kind: str, uid: str = "u-ann", **body: Any) -> Envelope:
    return Envelope(op="msg", room="r", seq=seq, uid=uid, ts=float(seq), kind=kind, body=body)


def test_changes_apply_once_whatever_their_repeats() -> None:
    events = [
        event(1, "msg", text="draft", data={"a": 1}),
        event(2, "edit", target=1, text="final", edits=1),
        event(3, "react", "u-bob", target=1, key="x", count=1),
        event(4, "react", "u-ann", target=1, key="x", count=2),
        event(5, "unreact", "u-bob", target=1, key="x", count=1),
        event(6, "msg", "u-bob", text="re", thread=1),
        event(7, "msg", text="gone"),
        event(8, "redact", target=7, reason="no"),
        event(9, "edit", target=7, text="too late", edits=1),
        event(10, "react", target=99, key="x", count=1),  # not kept: nothing to change
    ]
    once = apply_changes(events, "u-ann")
    twice = apply_changes([*events, *events[1:5], events[7]], "u-ann")
    assert once == twice
    first, reply, gone = once
    assert first.body == {
        "text": "final",
        "edited_at": 2.0,
        "edits": 1,
        "reactions": [{"key": "x", "count": 1, "me": True, "users": ["u-ann"]}],
        "thread_summary": {
            "replies": 1,
            "last_seq": 6,
            "last_ts": 6.0,
            "last_uid": "u-bob",
            "participants": ["u-bob"],
        },
    }
    assert reply.body == {"text": "re", "thread": 1}
    assert gone.body == {"text": "", "redacted": {"by": "u-ann", "reason": "no", "at": 8.0}}
