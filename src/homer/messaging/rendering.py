"""A stored message as one reader is shown it.

The store keeps, per reaction key, the ids of the users who reacted (decision
0019). A reader is shown each key with its count, whether they are among them
(``me``) and the first of them
(:data:`~homer.protocol.bodies.SHOWN_REACTORS`), so a popular message in a large
room does not carry every id to every reader.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homer.protocol.bodies import SHOWN_REACTORS
from homer.store.records import MessageRecord

__all__ = ["reactions_for", "render_for"]


def reactions_for(reactions: dict[str, list[str]], reader: str) -> list[dict[str, Any]]:
    return [
        {"key": key, "count": len(users), "me": reader in users, "users": users[:SHOWN_REACTORS]}
        for key, users in reactions.items()
    ]


def render_for(message: MessageRecord, reader: str) -> MessageRecord:
    """``message`` with its reactions as ``reader`` sees them (itself when it has none)."""
    reactions = message.body.get("reactions")
    if not isinstance(reactions, dict):
        return message
    return replace(message, body={**message.body, "reactions": reactions_for(reactions, reader)})
