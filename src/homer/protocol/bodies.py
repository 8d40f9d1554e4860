"""What changes do to a message's body, written once for the server and clients.

The server keeps each message current as changes arrive (``homer.store.changes``);
a client that keeps messages applies the same change events to its copies
(``homer.client.message_state``). Where both must reach the same body, the rule
is here (docs/protocol.md, "Message bodies").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CHANGE_KINDS",
    "KEPT_BY_REDACTION",
    "MAX_PARTICIPANTS",
    "SHOWN_REACTORS",
    "redacted",
    "with_reply",
]

#: The kinds of event that change a message of their room (``body.target``).
CHANGE_KINDS = frozenset({"edit", "redact", "react", "unreact"})
#: The users a reaction lists to a reader (the first to react): a popular message in
#: a large room does not carry every id to every reader.
SHOWN_REACTORS = 10

#: Participants a thread summary lists (the first to reply).
MAX_PARTICIPANTS = 20
#: What a redaction keeps of a message's body: its place among replies and threads.
KEPT_BY_REDACTION = ("reply_to", "thread", "thread_summary")


def with_reply(
    body: Mapping[str, Any], seq: int, ts: float | None, uid: str | None
) -> dict[str, Any] | None:
    """A thread root's ``body`` with the reply ``seq`` (sent at ``ts`` by ``uid``)
    counted in its ``thread_summary``; ``None`` when that reply (or a later one) is
    counted already."""
    summary = dict(body.get("thread_summary") or {})
    if summary.get("last_seq", 0) >= seq:
        return None
    people = list(summary.get("participants") or [])
    if uid not in people and len(people) < MAX_PARTICIPANTS:
        people.append(uid)
    summary.update(
        replies=int(summary.get("replies", 0)) + 1,
        last_seq=seq,
        last_ts=ts,
        last_uid=uid,
        participants=people,
    )
    return {**body, "thread_summary": summary}


def redacted(
    body: Mapping[str, Any], by: str | None, reason: str | None, at: float | None
) -> dict[str, Any]:
    """``body`` once redacted: its content gone, its place kept."""
    kept = {name: body[name] for name in KEPT_BY_REDACTION if name in body}
    return {**kept, "text": "", "redacted": {"by": by, "reason": reason, "at": at}}
