"""Presence as the application sees it: one change per event."""

from __future__ import annotations

from homer.protocol.envelope import Envelope

__all__ = ["presence_changes"]


def presence_changes(envelope: Envelope) -> list[Envelope]:
    """The changes a ``presences`` event carries (several members' statuses, coalesced
    by the server), each as the ``presence`` event it stands for."""
    body = envelope.body
    changes = body.get("changes") if isinstance(body, dict) else None
    return [
        Envelope(
            op="presence",
            room=envelope.room,
            sender=change.get("name"),
            uid=change.get("uid"),
            body={"status": change.get("status")},
        )
        for change in changes or ()
        if isinstance(change, dict)
    ]
