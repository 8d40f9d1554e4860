"""A database written before unread counts were kept (schema 2), as rows, and what
the store must give for it once migrated: each adapter's test writes the rows with
its own SQL, opens the store, and runs :func:`check_upgraded`."""

from __future__ import annotations

import json
from typing import Any

from homer.store.migrations import load_migrations
from homer.store.ports import Store
from homer.testing.store_conformance import new_message
from homer.testing.store_conformance_unread import UnreadConformance

#: Rows of ``rooms`` (id, kind, name, topic, meta, created_by, created_at, epoch,
#: last_seq, dm_key): a room with history, one whose history was purged once (seqs 1-3
#: are gone), one without any.
ROOMS = [
    ("r-a", "public", "a", "", "{}", "u-ann", 1.0, 1, 12, None),
    ("r-b", "public", "b", "", "{}", "u-ann", 1.0, 2, 6, None),
    ("r-c", "public", "c", "", "{}", "u-ann", 1.0, 1, 0, None),
]

#: The schema version a store opened today migrates to (the same on every adapter).
NEWEST = len(load_migrations("homer.store.sqlite.migrations"))

_SENDERS = ["u-ann", "u-bob", "u-cy", "u-bob"]


def _message(room_id: str, seq: int, sender_id: str, kind: str) -> tuple[Any, ...]:
    body = json.dumps({"text": "hi"} if kind == "msg" else {})
    return (room_id, seq, f"m-{room_id}-{seq}", sender_id, f"c-{seq}", kind, float(seq), body)


#: Rows of ``messages`` (room_id, seq, id, sender_id, client_id, kind, ts, body).
MESSAGES = [
    _message("r-a", seq, _SENDERS[seq % 4], "join" if seq % 5 == 0 else "msg")
    for seq in range(1, 13)
] + [_message("r-b", seq, _SENDERS[seq % 2], "msg") for seq in range(4, 7)]

#: Rows of ``room_members`` (room_id, user_id, role, joined_at, read_seq). A marker
#: past its room's end (none could be moved there, but a member could be added so)
#: is brought back to it.
MEMBERS = [
    ("r-a", "u-ann", "owner", 1.0, 0),
    ("r-a", "u-bob", "member", 1.0, 5),
    ("r-a", "u-cy", "member", 1.0, 12),
    ("r-a", "u-dee", "member", 1.0, 99),
    ("r-b", "u-ann", "owner", 1.0, 2),
    ("r-b", "u-bob", "member", 1.0, 5),
    ("r-c", "u-ann", "owner", 1.0, 0),
]


async def check_upgraded(store: Store) -> None:
    """Open ``store`` on the database of these rows: it migrates, counts what the old
    store counted, and keeps counting."""
    await store.open()
    try:
        assert await store.schema_version() == NEWEST
        await _counts(store)
    finally:
        await store.close()


async def _counts(store: Store) -> None:
    kit = UnreadConformance()
    # r-a: msg messages at seqs 1-4, 6-9, 11, 12, sent by bob (1, 3, 7, 9, 11),
    # cy (2, 6), ann (4, 8, 12).
    counts = await kit._check(store, "r-a", "u-ann", "u-bob", "u-cy", "u-dee")
    assert counts == {"u-ann": 7, "u-bob": 3, "u-cy": 0, "u-dee": 0}
    dee = await store.member("r-a", "u-dee")
    assert dee is not None
    assert dee.read_seq == 12
    assert await kit._check(store, "r-b", "u-ann", "u-bob") == {"u-ann": 1, "u-bob": 1}
    assert await kit._check(store, "r-c", "u-ann") == {"u-ann": 0}
    await store.append_messages([new_message("r-a", "u-cy"), new_message("r-a", "u-ann")])
    await store.set_read("r-a", "u-ann", 6)
    await store.set_read("r-b", "u-ann", 5)
    counts = await kit._check(store, "r-a", "u-ann", "u-bob", "u-cy", "u-dee")
    assert counts == {"u-ann": 4, "u-bob": 5, "u-cy": 1, "u-dee": 2}
    assert await kit._check(store, "r-b", "u-ann") == {"u-ann": 0}
