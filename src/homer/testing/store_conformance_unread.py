"""The store conformance kit, unread counts (part of
:class:`~homer.testing.store_conformance.StoreConformance`).

An unread count is the ``msg`` messages from others past the member's read marker.
Each scenario checks the count the store gives against that count taken the hard
way, by reading the history past the marker; the counts must agree after anything
that changes the history or the marker: appends (in batches of several rooms, with
resends, other kinds, senders who are not members), moves of the marker, purges,
leaving and joining again, deleted accounts, and all of these at once.
"""

from __future__ import annotations

import asyncio

from homer.errors import InvalidInput, NotFound
from homer.store.ports import Store
from homer.store.records import NewMessage
from homer.testing.store_kit import (
    KitBase,
    event,
    make_member,
    make_room,
    make_user,
    new_message,
    stored_message,
)

__all__ = ["UnreadConformance"]

#: A cap no count here reaches: the exact count.
EXACT = 10**9


class UnreadConformance(KitBase):
    """What every Store adapter must do with unread counts."""

    async def _counted(self, store: Store, room_id: str, user_id: str) -> int:
        """The unread count the hard way: every message past the marker, read."""
        member = await store.member(room_id, user_id)
        assert member is not None, f"{user_id} is not in {room_id}"
        seq, count = member.read_seq, 0
        while page := await store.messages_after(room_id, seq, limit=500):
            count += sum(m.kind == "msg" and m.sender_id != user_id for m in page)
            seq = page[-1].seq
        return count

    async def _check(self, store: Store, room_id: str, *user_ids: str) -> dict[str, int]:
        """Each user's unread count in the room, as every read of the store gives it,
        checked against the hard way."""
        found: dict[str, int] = {}
        for user_id in user_ids:
            kept = await store.unread_counts(user_id, cap=EXACT, room_id=room_id)
            listed = {
                room.id: unread for room, _, unread in await store.room_list(user_id, cap=EXACT)
            }
            every = await store.unread_counts(user_id, cap=EXACT)
            counted = await self._counted(store, room_id, user_id)
            assert kept == {room_id: counted}, (user_id, kept, counted)
            assert listed[room_id] == every[room_id] == counted, (user_id, listed, every)
            found[user_id] = counted
        return found

    async def test_others_messages_count_not_ones_own_nor_other_kinds(self, store: Store) -> None:
        one = await self._room(store, "u-ann", "u-bob")
        two = await self._room(store, "u-ann", "u-cy")
        outcomes = await store.append_messages(
            [
                new_message(one.id, "u-bob"),
                new_message(two.id, "u-cy"),
                new_message(one.id, "u-ann"),
                new_message(one.id, "u-bob", kind="topic", body={"topic": "t"}),
                new_message(two.id, "u-ann"),
                new_message(one.id, "u-zed"),  # not a member: still someone else
                new_message(two.id, "u-cy", kind="join", body={}),
                new_message("no-such-room", "u-bob"),
                new_message(one.id, "u-bob", text="nul \x00"),
                new_message(one.id, "u-bob"),
            ]
        )
        assert isinstance(outcomes[7], NotFound)
        assert isinstance(outcomes[8], InvalidInput)
        assert await self._check(store, one.id, "u-ann", "u-bob") == {"u-ann": 3, "u-bob": 2}
        assert await self._check(store, two.id, "u-ann", "u-cy") == {"u-ann": 1, "u-cy": 1}
        await store.append_messages([new_message(two.id, "u-ann") for _ in range(3)])
        assert await self._check(store, two.id, "u-ann", "u-cy") == {"u-ann": 1, "u-cy": 4}

    async def test_a_resend_counts_once(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        first = [
            new_message(room.id, "u-bob", client_id="b-1"),
            new_message(room.id, "u-ann", client_id="a-1"),
        ]
        await store.append_messages(first)
        again = new_message(room.id, "u-bob", client_id="b-2")
        outcomes = await store.append_messages([*first, again, again, first[1]])
        assert [getattr(o, "duplicate", None) for o in outcomes] == [True, True, False, True, True]
        assert await self._check(store, room.id, "u-ann", "u-bob") == {"u-ann": 2, "u-bob": 1}

    async def test_a_moved_marker_leaves_what_is_past_it(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        history: list[NewMessage] = []
        for n in range(40):
            if n % 7 == 3:
                history.append(new_message(room.id, "u-bob", kind="join", body={}))
            else:
                history.append(new_message(room.id, "u-ann" if n % 5 == 0 else "u-bob"))
        await store.append_messages(history)
        before = await self._check(store, room.id, "u-ann", "u-bob")
        # Short moves, long ones, to the end and past it, back (it stays), and not at all.
        for wanted, marker in ((3, 3), (4, 4), (30, 30), (30, 30), (10, 30), (35, 35), (99, 40)):
            assert await store.set_read(room.id, "u-ann", wanted) == marker
            counts = await self._check(store, room.id, "u-ann", "u-bob")
            assert counts["u-bob"] == before["u-bob"], "another's marker and count stay"
        assert counts["u-ann"] == 0
        await store.append_messages(
            [new_message(room.id, "u-bob"), new_message(room.id, "u-ann"), new_message(room.id)]
        )
        assert await self._check(store, room.id, "u-ann") == {"u-ann": 1}
        for wanted in (2, 21, 22, 38, 41):
            await store.set_read(room.id, "u-bob", wanted)
            await self._check(store, room.id, "u-ann", "u-bob")
        assert await self._check(store, room.id, "u-bob") == {"u-bob": 2}

    async def test_a_purge_leaves_nothing_unread(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        await store.append_messages(
            [new_message(room.id, sender) for sender in ["u-bob", "u-ann"] * 10]
        )
        await store.set_read(room.id, "u-ann", 5)
        assert await self._check(store, room.id, "u-ann", "u-bob") == {"u-ann": 7, "u-bob": 10}
        await store.purge_history(room.id)
        assert await self._check(store, room.id, "u-ann", "u-bob") == {"u-ann": 0, "u-bob": 0}
        await store.append_messages([new_message(room.id, "u-bob") for _ in range(3)])
        assert await self._check(store, room.id, "u-ann", "u-bob") == {"u-ann": 3, "u-bob": 0}
        # A marker moved into the purged part, then into what came after.
        assert await store.set_read(room.id, "u-ann", 12) == 12
        assert await self._check(store, room.id, "u-ann") == {"u-ann": 3}
        assert await store.set_read(room.id, "u-ann", 22) == 22
        assert await self._check(store, room.id, "u-ann") == {"u-ann": 1}
        await store.purge_history(room.id)
        await store.append_messages([new_message(room.id, "u-ann")])
        assert await self._check(store, room.id, "u-ann", "u-bob") == {"u-ann": 0, "u-bob": 1}

    async def test_leaving_and_joining_again_starts_from_the_beginning(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        await store.append_messages(
            [new_message(room.id, sender) for sender in ["u-ann", "u-bob", "u-ann", "u-bob"]]
        )
        await store.set_read(room.id, "u-ann", 4)
        assert await store.remove_member(room.id, "u-ann")
        await store.append_messages([new_message(room.id, "u-bob"), new_message(room.id, "u-ann")])
        _, member, new = await store.join_room(room.id, "u-ann", joined_at=50.0, max_rooms=9)
        assert new
        assert member.read_seq == 0
        # Back at the start: everything from others is unread, nothing of one's own.
        assert await self._check(store, room.id, "u-ann", "u-bob") == {"u-ann": 3, "u-bob": 3}
        await store.set_read(room.id, "u-ann", 5)
        assert await self._check(store, room.id, "u-ann") == {"u-ann": 0}

    async def test_a_member_added_with_a_marker_counts_from_it(self, store: Store) -> None:
        room = make_room(last_seq=0)
        await store.create_room(room, [make_member(room.id, "u-bob", read_seq=7)])
        bob = await store.member(room.id, "u-bob")
        assert bob is not None
        assert bob.read_seq == 0, "a marker is never past the room's last seq"
        history = [new_message(room.id, "u-bob" if n % 3 else "u-ann") for n in range(30)]
        await store.append_messages(history)
        for user_id, read_seq, stored in (
            ("u-ann", 4, 4),  # near the start
            ("u-cy", 27, 27),  # near the end
            ("u-dee", 0, 0),
            ("u-eve", 1000, 30),  # past the end: at the end
        ):
            assert await store.add_member(make_member(room.id, user_id, read_seq=read_seq))
            member = await store.member(room.id, user_id)
            assert member is not None
            assert member.read_seq == stored
        assert not await store.add_member(make_member(room.id, "u-ann", read_seq=29))
        counts = await self._check(store, room.id, "u-ann", "u-bob", "u-cy", "u-dee", "u-eve")
        assert counts == {"u-ann": 18, "u-bob": 10, "u-cy": 3, "u-dee": 30, "u-eve": 0}

    async def test_a_deleted_account_leaves_the_counts_of_others(self, store: Store) -> None:
        group = await self._group(store)
        bob = make_user("bob", group.id)
        await store.insert_user(bob, event("user.create"))
        room = await self._room(store, "u-ann", bob.id)
        await store.append_messages([new_message(room.id, bob.id) for _ in range(3)])
        assert await store.delete_user(bob.id, event("user.delete"))
        assert await self._check(store, room.id, "u-ann") == {"u-ann": 3}

    async def test_a_big_backlog_is_counted_exactly(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        for start in range(0, 5000, 500):
            await store.append_messages(
                [
                    new_message(room.id, "u-ann" if n % 100 == 0 else "u-bob")
                    for n in range(start, start + 500)
                ]
            )
        assert await self._check(store, room.id, "u-ann", "u-bob") == {"u-ann": 4950, "u-bob": 50}
        # What clients are promised: counted up to the cap.
        assert await store.unread_counts("u-ann") == {room.id: 1000}
        assert [unread for _, _, unread in await store.room_list("u-ann")] == [1000]
        assert await store.unread_counts("u-ann", cap=0) == {room.id: 0}
        await store.set_read(room.id, "u-ann", 2000)
        assert await self._check(store, room.id, "u-ann") == {"u-ann": 2970}
        await store.set_read(room.id, "u-ann", 4990)
        assert await self._check(store, room.id, "u-ann") == {"u-ann": 10}

    async def test_counts_hold_under_concurrent_appends_markers_and_joins(
        self, store: Store
    ) -> None:
        room = await self._room(store, "u-ann", "u-bob", "u-cy")
        other = await self._room(store, "u-ann", "u-bob")

        async def send(sender: str, count: int) -> None:
            for n in range(count):
                batch = [new_message(room.id, sender), new_message(other.id, sender)]
                if n % 4 == 0:
                    batch.append(new_message(room.id, sender, kind="topic", body={}))
                await store.append_messages(batch)

        async def read(user_id: str, *rooms: str) -> None:
            for n in range(12):
                for step, room_id in enumerate(rooms, 5):
                    await store.set_read(room_id, user_id, n * step)

        async def join() -> None:
            for user_id in ("u-dee", "u-eve"):
                await asyncio.sleep(0)
                await store.join_room(room.id, user_id, joined_at=60.0, max_rooms=9)

        await asyncio.gather(
            send("u-ann", 15),
            send("u-bob", 15),
            send("u-dee", 10),  # a member only part of the time
            read("u-ann", room.id, other.id),
            read("u-bob", other.id, room.id),
            read("u-cy", room.id),
            join(),
        )
        await self._check(store, room.id, "u-ann", "u-bob", "u-cy", "u-dee", "u-eve")
        await self._check(store, other.id, "u-ann", "u-bob")
        last = stored_message((await store.append_messages([new_message(room.id)]))[0]).seq
        for user_id in ("u-ann", "u-bob", "u-cy", "u-dee", "u-eve"):
            await store.set_read(room.id, user_id, last)
        counts = await self._check(store, room.id, "u-ann", "u-bob", "u-cy", "u-dee", "u-eve")
        assert set(counts.values()) == {0}
