"""Applying change events to messages a client holds (docs/protocol.md, "Changing
messages").

Edits, redactions and reactions arrive as events of their own (kinds ``edit``,
``redact``, ``react``, ``unreact``) naming the message they change by
``target``; a reply in a thread adds to its root's summary. A client that keeps
messages (the SDK's state directory, an application's own list) applies them
here and ends with what ``history`` returns. Applying an event twice changes
nothing: reactions carry the key's count after them, not a difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from homer.protocol.bodies import CHANGE_KINDS, SHOWN_REACTORS, redacted, with_reply
from homer.protocol.envelope import Envelope

__all__ = ["CHANGE_KINDS", "apply_change", "apply_changes"]


def apply_changes(events: Iterable[Envelope], me: str | None) -> list[Envelope]:
    """``events`` of one room in order, with each change applied to the message it
    names (when among them) and left out: the messages as they are now."""
    kept: dict[int, Envelope] = {}
    order: list[Envelope] = []
    for event in events:
        if event.kind in CHANGE_KINDS:
            target = event.body.get("target") if isinstance(event.body, dict) else None
            if isinstance(target, int) and target in kept:
                changed = apply_change(kept[target], event, me)
                order[order.index(kept[target])] = changed
                kept[target] = changed
            continue
        if event.kind == "msg" and isinstance(event.body, dict):
            root = event.body.get("thread")
            if isinstance(root, int) and root in kept and event.seq is not None:
                summed = _with_reply(kept[root], event)
                order[order.index(kept[root])] = summed
                kept[root] = summed
        if event.seq is not None:
            kept[event.seq] = event
        order.append(event)
    return order


def apply_change(message: Envelope, change: Envelope, me: str | None) -> Envelope:
    """``message`` as ``change`` (an event naming it by ``target``) leaves it."""
    body: dict[str, Any] = dict(message.body) if isinstance(message.body, dict) else {}
    what: dict[str, Any] = change.body if isinstance(change.body, dict) else {}
    if "redacted" in body or what.get("redacted") is True:
        return message  # nothing changes a redacted message
    kind = change.kind
    if kind == "edit":
        for name in ("data", "mentions", "mention_all"):
            body.pop(name, None)
            if name in what:
                body[name] = what[name]
        body.update(text=what.get("text", ""), edited_at=change.ts, edits=what.get("edits", 1))
    elif kind == "redact":
        body = redacted(body, change.uid, what.get("reason"), change.ts)
    elif kind in ("react", "unreact"):
        body["reactions"] = _reacted(body.get("reactions") or [], change, me)
        if not body["reactions"]:
            del body["reactions"]
    return msgspec.structs.replace(message, body=body)


def _reacted(reactions: list[dict[str, Any]], change: Envelope, me: str | None) -> list[Any]:
    key, count, uid = change.body.get("key"), change.body.get("count", 0), change.uid
    found = next((dict(r) for r in reactions if r.get("key") == key), None)
    entry = found or {"key": key, "count": 0, "me": False, "users": []}
    users = [u for u in entry.get("users", []) if u != uid]
    if change.kind == "react":
        users.append(uid)
    entry.update(count=count, users=users[:SHOWN_REACTORS])
    if uid == me:
        entry["me"] = change.kind == "react"
    if not count:
        return [r for r in reactions if r.get("key") != key]
    if found is None:
        return [*reactions, entry]
    return [entry if r.get("key") == key else r for r in reactions]


def _with_reply(root: Envelope, reply: Envelope) -> Envelope:
    body = root.body if isinstance(root.body, dict) else {}
    summed = with_reply(body, reply.seq or 0, reply.ts, reply.uid)
    return root if summed is None else msgspec.structs.replace(root, body=summed)
