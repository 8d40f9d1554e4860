"""The store conformance kit, messaging side: rooms, members and messages
(part of :class:`~homer.testing.store_conformance.StoreConformance`)."""

from __future__ import annotations

import asyncio

import pytest

from homer.errors import Conflict, Forbidden, InvalidInput, NotFound
from homer.store.ports import Store
from homer.store.records import (
    Appended,
    MessageRecord,
    Page,
    RoomRecord,
)
from homer.testing.store_kit import (
    KitBase,
    event,
    fields_of,
    make_member,
    make_room,
    make_user,
    new_message,
    record_of,
    stored_message,
)

__all__ = ["RoomConformance"]


class RoomConformance(KitBase):
    """What every Store adapter must do with rooms and messages."""

    # -- rooms ----------------------------------------------------------------

    async def test_room_round_trip(self, store: Store) -> None:
        room = make_room("private", meta={"nested": {"list": [1, 2.5, None, True]}, "ü": "✓"})
        owner = make_member(room.id, "u-owner", "owner", joined_at=40.0)
        member = make_member(room.id, "u-ann", read_seq=0)
        await store.create_room(room, [owner, member])
        assert await store.room(room.id) == room
        assert await store.member(room.id, "u-owner") == owner
        assert await store.member(room.id, "u-ann") == member
        assert await store.member(room.id, "u-bob") is None
        assert await store.room("no-such-room") is None
        assert await store.room_by_dm_key("no such key") is None
        dm = make_room("dm", name="", topic="", meta={}, dm_key="u-ann u-bob")
        await store.create_room(dm, [])
        assert await store.room_by_dm_key("u-ann u-bob") == dm
        assert await store.room(dm.id) == dm

    async def test_a_taken_room_id_or_dm_key_is_a_conflict_and_writes_nothing(
        self, store: Store
    ) -> None:
        room = await self._room(store, "u-ann")
        again = make_room(id=room.id, name="Other")
        with pytest.raises(Conflict, match="room"):
            await store.create_room(again, [make_member(room.id, "u-bob")])
        assert await store.room(room.id) == room
        assert await store.member(room.id, "u-bob") is None
        dm = await self._room(store, kind="dm", dm_key="u-ann u-bob")
        twin = make_room("dm", dm_key="u-ann u-bob")
        with pytest.raises(Conflict, match="u-ann u-bob"):
            await store.create_room(twin, [make_member(twin.id, "u-ann")])
        assert await store.room(twin.id) is None
        assert await store.member(twin.id, "u-ann") is None
        assert await store.room_by_dm_key("u-ann u-bob") == dm
        # Rooms that are no DM need no key: many rooms have none.
        await self._room(store)
        await self._room(store)

    async def test_concurrent_creates_of_one_dm_let_exactly_one_win(self, store: Store) -> None:
        results = await asyncio.gather(
            *(store.create_room(make_room("dm", dm_key="u-x u-y"), []) for _ in range(5)),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 1
        assert all(isinstance(r, Conflict) for r in results if r is not None)

    async def test_update_room_changes_only_what_is_given(self, store: Store) -> None:
        room = await self._room(store)
        renamed = await store.update_room(room.id, name="Hall")
        assert renamed == RoomRecord(**{**fields_of(room), "name": "Hall"})
        retopiced = await store.update_room(room.id, topic="", meta={"x": [1]})
        assert retopiced == RoomRecord(**{**fields_of(renamed), "topic": "", "meta": {"x": [1]}})
        assert await store.room(room.id) == retopiced
        assert await store.update_room(room.id) == retopiced
        with pytest.raises(NotFound):
            await store.update_room("no-such-room", name="x")

    async def test_list_rooms_filters_kinds_and_pages_by_id(self, store: Store) -> None:
        public = [await self._room(store, id=f"p{i:02d}") for i in (3, 1, 4, 5, 9, 2, 6)]
        await self._room(store, id="a-announce", kind="announce")
        await self._room(store, id="private", kind="private")
        await self._room(store, id="dm", kind="dm", dm_key="u-a u-b")
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await store.list_rooms(kinds=["public", "announce"], after=cursor, limit=3)
            assert len(page.items) <= 3
            seen += [r.id for r in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == sorted(["a-announce", *(r.id for r in public)])
        only = await store.list_rooms(kinds=["private"])
        assert [r.id for r in only.items] == ["private"]
        assert only.next_cursor is None
        exact = await store.list_rooms(kinds=["public"], limit=len(public))
        assert len(exact.items) == len(public)
        assert exact.next_cursor is None
        assert (await store.list_rooms(kinds=[])).items == []
        assert (await store.list_rooms(kinds=["nothing"])).items == []

    async def test_a_limit_of_zero_or_less_is_an_empty_page(self, store: Store) -> None:
        group = await self._group(store, "users")
        await store.insert_user(make_user("ann", group.id), event())
        room = await self._room(store, "u-ann")
        for limit in (0, -1, -5):
            assert await store.list_users(limit=limit) == Page([])
            assert await store.audit_entries(limit=limit) == Page([])
            assert await store.list_rooms(kinds=["public"], limit=limit) == Page([])
            assert await store.members(room.id, limit=limit) == Page([])

    async def test_rooms_of_lists_the_memberships_by_room_id(self, store: Store) -> None:
        for room_id in ("r-c", "r-a", "r-b"):
            await self._room(store, "u-ann", "u-bob", id=room_id)
        await self._room(store, "u-bob", id="r-0")
        pairs = await store.rooms_of("u-ann")
        assert [(room.id, member.room_id) for room, member in pairs] == [
            ("r-a", "r-a"),
            ("r-b", "r-b"),
            ("r-c", "r-c"),
        ]
        room, member = pairs[0]
        assert room == await store.room("r-a")
        assert member == await store.member("r-a", "u-ann")
        assert await store.count_rooms_of("u-ann") == 3
        assert await store.count_rooms_of("u-bob") == 4
        assert await store.rooms_of("u-nobody") == []
        assert await store.count_rooms_of("u-nobody") == 0

    async def test_members_join_leave_and_page_by_user_id(self, store: Store) -> None:
        room = await self._room(store, "u-owner")
        joined = make_member(room.id, "u-ann", joined_at=50.0)
        assert await store.add_member(joined)
        assert not await store.add_member(make_member(room.id, "u-ann", "owner", joined_at=60.0))
        assert await store.member(room.id, "u-ann") == joined, "the stored membership stays"
        for i in (7, 3, 9, 1, 5):
            assert await store.add_member(make_member(room.id, f"u-{i}"))
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await store.members(room.id, after=cursor, limit=2)
            assert len(page.items) <= 2
            seen += [m.user_id for m in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = sorted(["u-owner", "u-ann", "u-1", "u-3", "u-5", "u-7", "u-9"])
        assert seen == expected
        whole = await store.members(room.id, limit=len(expected))
        assert [m.user_id for m in whole.items] == expected
        assert whole.next_cursor is None
        assert await store.remove_member(room.id, "u-ann")
        assert not await store.remove_member(room.id, "u-ann")
        assert await store.member(room.id, "u-ann") is None
        assert await store.count_rooms_of("u-ann") == 0
        assert (await store.members("no-such-room")).items == []
        with pytest.raises(NotFound):
            await store.add_member(make_member("no-such-room", "u-ann"))

    async def test_join_room_applies_the_joining_rules_at_once(self, store: Store) -> None:
        public, private, dm = make_room("public"), make_room("private"), make_room("dm")
        for room in (public, private, dm):
            await store.create_room(room, [make_member(room.id, "u-owner", "owner")])
        room, member, new = await store.join_room(public.id, "u-ann", joined_at=5.0, max_rooms=10)
        assert (room, new) == (public, True)
        assert member == make_member(public.id, "u-ann", joined_at=5.0)
        again = await store.join_room(public.id, "u-ann", joined_at=9.0, max_rooms=10)
        assert again == (public, member, False), "an existing member keeps their membership"
        # Without an invitation a private room, and a DM, answer as no room at all.
        with pytest.raises(NotFound, match="no room"):
            await store.join_room(private.id, "u-ann", joined_at=1.0, max_rooms=10)
        await store.set_invite(private.id, "u-ann", True)
        _, _, new = await store.join_room(private.id, "u-ann", joined_at=1.0, max_rooms=10)
        assert new
        assert not await store.is_invited(private.id, "u-ann"), "the invitation is used"
        with pytest.raises(NotFound, match="no room"):
            await store.join_room(dm.id, "u-ann", joined_at=1.0, max_rooms=10)
        await store.set_ban(public.id, "u-bob", True)
        with pytest.raises(Forbidden):
            await store.join_room(public.id, "u-bob", joined_at=1.0, max_rooms=10)
        with pytest.raises(NotFound):
            await store.join_room("no-such-room", "u-ann", joined_at=1.0, max_rooms=10)
        with pytest.raises(Conflict):  # no room left in u-cat's budget
            await store.join_room(public.id, "u-cat", joined_at=1.0, max_rooms=0)
        assert await store.member(public.id, "u-cat") is None
        assert await store.count_rooms_of("u-ann") == 2

    async def test_bans_and_invitations(self, store: Store) -> None:
        room = await self._room(store)
        other = await self._room(store)
        for set_flag, has_flag in (
            (store.set_ban, store.is_banned),
            (store.set_invite, store.is_invited),
        ):
            assert not await has_flag(room.id, "u-ann")
            await set_flag(room.id, "u-ann", True)
            await set_flag(room.id, "u-ann", True)  # idempotent
            assert await has_flag(room.id, "u-ann")
            assert not await has_flag(room.id, "u-bob")
            assert not await has_flag(other.id, "u-ann")
            await set_flag(room.id, "u-ann", False)
            await set_flag(room.id, "u-ann", False)  # idempotent
            assert not await has_flag(room.id, "u-ann")
            await set_flag(other.id, "u-bob", True)
            assert await has_flag(other.id, "u-bob")
            assert not await has_flag("no-such-room", "u-ann")
            await set_flag("no-such-room", "u-ann", False)
            with pytest.raises(NotFound):
                await set_flag("no-such-room", "u-ann", True)
        # A ban and an invitation are independent of each other.
        await store.set_ban(room.id, "u-cy", True)
        assert not await store.is_invited(room.id, "u-cy")

    async def test_read_markers_move_forward_only_and_not_past_the_end(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        await store.append_messages([new_message(room.id, "u-bob") for _ in range(5)])
        assert await store.set_read(room.id, "u-ann", 3) == 3
        assert await store.set_read(room.id, "u-ann", 2) == 3, "never back"
        assert await store.set_read(room.id, "u-ann", 99) == 5, "never past last_seq"
        member = await store.member(room.id, "u-ann")
        assert member is not None
        assert member.read_seq == 5
        bob = await store.member(room.id, "u-bob")
        assert bob is not None
        assert bob.read_seq == 0, "another member's marker is left alone"
        with pytest.raises(NotFound):
            await store.set_read(room.id, "u-cy", 1)
        with pytest.raises(NotFound):
            await store.set_read("no-such-room", "u-ann", 1)

    async def test_unread_counts(self, store: Store) -> None:
        busy = await self._room(store, "u-ann", "u-bob", id="r-busy")
        quiet = await self._room(store, "u-ann", "u-bob", id="r-quiet")
        flood = await self._room(store, "u-ann", "u-bob", id="r-flood")
        await self._room(store, "u-bob", id="r-not-mine")
        await store.append_messages(
            [
                new_message(busy.id, "u-bob"),
                new_message(busy.id, "u-ann"),  # own: never unread
                new_message(busy.id, "u-bob", kind="join", body={}),  # not a msg
                new_message(busy.id, "u-bob"),
                new_message(busy.id, "u-bob"),
                new_message(quiet.id, "u-ann"),
                new_message("r-not-mine", "u-bob"),
            ]
        )
        await store.append_messages([new_message(flood.id, "u-bob") for _ in range(30)])
        assert await store.unread_counts("u-ann") == {busy.id: 3, quiet.id: 0, flood.id: 30}
        assert await store.unread_counts("u-ann", cap=10) == {
            busy.id: 3,
            quiet.id: 0,
            flood.id: 10,
        }
        await store.set_read(busy.id, "u-ann", 4)  # past the first three
        assert (await store.unread_counts("u-ann"))[busy.id] == 1
        await store.set_read(flood.id, "u-ann", 25)
        assert (await store.unread_counts("u-ann", cap=10))[flood.id] == 5
        assert await store.unread_counts("u-bob") == {
            busy.id: 1,
            quiet.id: 1,
            flood.id: 0,
            "r-not-mine": 0,
        }
        assert await store.unread_counts("u-nobody") == {}
        listed = await store.room_list("u-ann", cap=10)
        assert [(room.id, unread) for room, _, unread in listed] == sorted(
            (await store.unread_counts("u-ann", cap=10)).items()
        )
        assert await store.rooms_of("u-ann") == [(room, member) for room, member, _ in listed]
        assert await store.unread_counts("u-ann", room_id=busy.id) == {busy.id: 1}
        assert await store.unread_counts("u-ann", room_id="no-such-room") == {}

    async def test_delete_room_takes_everything_of_it(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob", kind="dm", dm_key="u-ann u-bob")
        keep = await self._room(store, "u-ann")
        await store.set_ban(room.id, "u-cy", True)
        await store.set_invite(room.id, "u-dee", True)
        sent = new_message(room.id, "u-ann", client_id="c-1")
        await store.append_messages([sent, new_message(keep.id, "u-ann", client_id="c-1")])
        assert await store.delete_room(room.id)
        assert not await store.delete_room(room.id)
        assert await store.room(room.id) is None
        assert await store.room_by_dm_key("u-ann u-bob") is None
        assert await store.member(room.id, "u-ann") is None
        assert [r.id for r, _ in await store.rooms_of("u-ann")] == [keep.id]
        assert await store.count_rooms_of("u-bob") == 0
        assert not await store.is_banned(room.id, "u-cy")
        assert not await store.is_invited(room.id, "u-dee")
        assert await store.messages_after(room.id, 0) == []
        assert await store.unread_counts("u-bob") == {}
        # The id and the DM key are free again, and a new room of that id starts afresh.
        again = await self._room(store, id=room.id, kind="dm", dm_key="u-ann u-bob")
        assert (await store.room(room.id)) == again
        assert (await store.members(room.id)).items == []
        assert not await store.is_banned(room.id, "u-cy")
        (outcome,) = await store.append_messages([sent])
        assert isinstance(outcome, Appended)
        assert not outcome.duplicate
        assert outcome.message.seq == 1
        # The other room lost nothing.
        assert len(await store.messages_after(keep.id, 0)) == 1
        assert await store.member(keep.id, "u-ann") is not None

    # -- messages -------------------------------------------------------------

    async def test_append_numbers_each_room_densely_in_batch_order(self, store: Store) -> None:
        a = await self._room(store)
        b = await self._room(store)
        batch = [
            new_message(a.id, "u-ann", "a1", ts=101.0, body={"text": "a1", "n": [1, None]}),
            new_message(b.id, "u-bob", "b1", ts=102.0),
            new_message(a.id, "u-bob", "a2", ts=103.0, kind="topic", body={"topic": "ü ✓"}),
            new_message(a.id, "u-ann", "a3", ts=104.0),
        ]
        outcomes = await store.append_messages(batch)
        assert [(m.room_id, m.seq) for m in map(stored_message, outcomes)] == [
            (a.id, 1),
            (b.id, 1),
            (a.id, 2),
            (a.id, 3),
        ]
        for sent, outcome in zip(batch, outcomes, strict=True):
            assert isinstance(outcome, Appended)
            assert not outcome.duplicate
            assert outcome.message == record_of(sent, outcome.message.seq)
        more = await store.append_messages([new_message(b.id), new_message(a.id)])
        assert [(m.room_id, m.seq) for m in map(stored_message, more)] == [(b.id, 2), (a.id, 4)]
        room_a = await store.room(a.id)
        room_b = await store.room(b.id)
        assert room_a is not None
        assert room_b is not None
        assert (room_a.last_seq, room_b.last_seq) == (4, 2)
        stored = await store.messages_after(a.id, 0)
        assert stored == [stored_message(outcomes[i]) for i in (0, 2, 3)] + [
            stored_message(more[1])
        ]
        assert await store.append_messages([]) == []

    async def test_a_resend_is_a_duplicate_not_a_new_message(self, store: Store) -> None:
        room = await self._room(store)
        other = await self._room(store)
        first = new_message(room.id, "u-ann", "first", client_id="c-1")
        (original,) = await store.append_messages([first])
        stored = stored_message(original)
        # Resent later with another id and body among new messages: the stored one wins,
        # and the new messages around it are numbered without a gap.
        resend = new_message(room.id, "u-ann", "changed", client_id="c-1", ts=200.0)
        outcomes = await store.append_messages(
            [new_message(room.id, client_id="c-2"), resend, new_message(room.id, client_id="c-3")]
        )
        assert [isinstance(o, Appended) and o.duplicate for o in outcomes] == [False, True, False]
        assert stored_message(outcomes[1]) == stored
        assert [stored_message(o).seq for o in outcomes] == [2, 1, 3]
        # Twice in one batch: stored once, the second is a duplicate of the first.
        twice = new_message(room.id, "u-bob", client_id="c-9")
        outcomes = await store.append_messages([twice, new_message(room.id), twice])
        assert [isinstance(o, Appended) and o.duplicate for o in outcomes] == [False, False, True]
        assert stored_message(outcomes[2]) == stored_message(outcomes[0])
        assert [stored_message(o).seq for o in outcomes] == [4, 5, 4]
        # The same client id from another sender, or in another room, is another message.
        outcomes = await store.append_messages(
            [
                new_message(room.id, "u-bob", client_id="c-1"),
                new_message(other.id, "u-ann", client_id="c-1"),
            ]
        )
        assert [isinstance(o, Appended) and o.duplicate for o in outcomes] == [False, False]
        assert [stored_message(o).seq for o in outcomes] == [6, 1]
        # A batch of nothing but duplicates changes nothing.
        outcomes = await store.append_messages([first, twice])
        assert all(isinstance(o, Appended) and o.duplicate for o in outcomes)
        found = await store.room(room.id)
        assert found is not None
        assert found.last_seq == 6
        assert [m.seq for m in await store.messages_after(room.id, 0)] == [1, 2, 3, 4, 5, 6]

    async def test_a_message_for_a_missing_room_fails_alone(self, store: Store) -> None:
        room = await self._room(store)
        outcomes = await store.append_messages(
            [
                new_message(room.id),
                new_message("no-such-room"),
                new_message(room.id),
                new_message("no-such-room"),
            ]
        )
        assert isinstance(outcomes[1], NotFound)
        assert isinstance(outcomes[3], NotFound)
        assert [stored_message(outcomes[i]).seq for i in (0, 2)] == [1, 2]
        assert [m.seq for m in await store.messages_after(room.id, 0)] == [1, 2]
        assert await store.messages_after("no-such-room", 0) == []

    async def test_a_message_holding_a_nul_character_fails_alone(self, store: Store) -> None:
        """A NUL character in an id, the kind or the text is refused by every store
        (PostgreSQL cannot keep one in a text column), so what a client may send does
        not depend on the store. Structured data is JSON: it may hold one."""
        room = await self._room(store)
        refused = [
            new_message(room.id, text="a\x00b"),
            new_message(room.id, client_id="c\x00"),
            new_message(room.id, "u-\x00"),
            new_message(room.id, id="m\x00"),
            new_message(room.id, kind="msg\x00"),
            new_message(f"{room.id}\x00"),
        ]
        data = new_message(room.id, body={"text": "fine", "data": {"k\x00": ["v\x00"]}})
        after = new_message(room.id)
        outcomes = await store.append_messages([data, *refused, after])
        for outcome in outcomes[1:-1]:
            assert isinstance(outcome, InvalidInput), outcome
        assert [stored_message(outcomes[i]) for i in (0, -1)] == [
            record_of(data, 1),
            record_of(after, 2),
        ]
        again = await store.append_messages(refused)  # nothing was stored to repeat
        assert all(isinstance(outcome, InvalidInput) for outcome in again)
        assert await store.messages_after(room.id, 0) == [record_of(data, 1), record_of(after, 2)]
        found = await store.room(room.id)
        assert found is not None
        assert found.last_seq == 2

    async def test_time_never_goes_back_as_seq_grows_in_a_room(self, store: Store) -> None:
        """Writers with clocks apart (nodes, a clock stepped back): a message stored
        after another in a room is never older, so one who follows the room by time
        (``since`` = the last ``ts`` seen) misses nothing."""
        room = await self._room(store)
        other = await self._room(store)
        await store.append_messages([new_message(room.id, ts=200.0)])
        outcomes = await store.append_messages(
            [
                new_message(room.id, ts=150.0),  # a writer 50 s behind
                new_message(other.id, ts=10.0),  # another room keeps its own time
                new_message(room.id, ts=201.0),
                new_message(room.id, ts=199.0),
            ]
        )
        assert [stored_message(o).ts for o in outcomes] == [200.0, 10.0, 201.0, 201.0]
        await store.append_messages([new_message(room.id, ts=1.0)])
        stored = await store.messages_after(room.id, 0)
        assert [m.ts for m in stored] == [200.0, 200.0, 201.0, 201.0, 201.0]
        since = await store.messages_between(room.id, 201.0, float("inf"))
        assert [m.seq for m in since] == [3, 4, 5]

    async def _history(self, store: Store, count: int) -> tuple[RoomRecord, list[MessageRecord]]:
        """A room with ``count`` messages, message n sent at ``1000 + n``."""
        room = await self._room(store)
        noise = await self._room(store)
        stored: list[MessageRecord] = []
        for start in range(1, count + 1, 10):
            batch = [
                new_message(room.id, f"u-{n % 3}", f"m{n}", ts=1000.0 + n)
                for n in range(start, min(start + 10, count + 1))
            ]
            outcomes = await store.append_messages([*batch, new_message(noise.id, ts=1005.5)])
            stored += [stored_message(o) for o in outcomes[:-1]]
        return room, stored

    async def test_history_by_sequence_number(self, store: Store) -> None:
        room, stored = await self._history(store, 25)
        assert [m.seq for m in stored] == list(range(1, 26))
        assert await store.messages_after(room.id, 0) == stored
        assert await store.messages_after(room.id, 20) == stored[20:]
        assert await store.messages_after(room.id, 3, limit=4) == stored[3:7]
        assert await store.messages_after(room.id, 25) == []
        assert await store.messages_before(room.id, None) == stored
        assert await store.messages_before(room.id, None, limit=5) == stored[-5:]
        assert await store.messages_before(room.id, 11, limit=4) == stored[6:10]
        assert await store.messages_before(room.id, 3) == stored[:2]
        assert await store.messages_before(room.id, 1) == []
        assert await store.messages_before(room.id, 1000, limit=2) == stored[-2:]
        assert await store.messages_after(room.id, 0, limit=0) == []
        assert await store.messages_before(room.id, None, limit=0) == []
        assert await store.messages_before("no-such-room", None) == []
        # Paging backwards from the end meets every message once.
        seen: list[MessageRecord] = []
        before: int | None = None
        while page := await store.messages_before(room.id, before, limit=7):
            seen = page + seen
            before = page[0].seq
        assert seen == stored

    async def test_history_by_time(self, store: Store) -> None:
        room, stored = await self._history(store, 25)
        assert await store.messages_between(room.id, 1005.0, 1010.0) == stored[4:9]
        assert await store.messages_between(room.id, 1005.5, 1010.5) == stored[5:10]
        assert await store.messages_between(room.id, 0.0, 1e12, limit=3) == stored[:3]
        assert await store.messages_between(room.id, 0.0, float("inf")) == stored
        assert await store.messages_between(room.id, 1010.0, 1010.0) == []
        assert await store.messages_between(room.id, 2000.0, 3000.0) == []
        assert await store.messages_between("no-such-room", 0.0, 1e12) == []
        # newest: the page just before ``until``, still oldest first.
        newest = await store.messages_between(room.id, 0.0, 1010.0, limit=3, newest=True)
        assert newest == stored[6:9]
        assert await store.messages_between(room.id, 1005.0, 1010.0, newest=True) == stored[4:9]
        latest = await store.messages_between(room.id, 0.0, float("inf"), limit=2, newest=True)
        assert latest == stored[-2:]
        assert await store.messages_between(room.id, 0.0, 1001.0, newest=True) == []
        # Paging backwards by time from the end meets every message once.
        seen: list[MessageRecord] = []
        until = float("inf")
        while page := await store.messages_between(room.id, 0.0, until, limit=7, newest=True):
            seen = page + seen
            until = page[0].ts
        assert seen == stored

    async def test_purge_history_starts_a_new_epoch(self, store: Store) -> None:
        room = await self._room(store, "u-ann")
        other = await self._room(store)
        await store.append_messages([new_message(room.id, "u-bob") for _ in range(3)])
        await store.append_messages([new_message(other.id)])
        await store.set_read(room.id, "u-ann", 2)
        assert await store.purge_history(room.id) == room.epoch + 1
        purged = await store.room(room.id)
        assert purged is not None
        assert (purged.epoch, purged.last_seq) == (room.epoch + 1, 3)
        assert await store.messages_after(room.id, 0) == []
        assert await store.messages_before(room.id, None) == []
        assert await store.unread_counts("u-ann") == {room.id: 0}
        member = await store.member(room.id, "u-ann")
        assert member is not None
        assert member.read_seq == 2
        (outcome,) = await store.append_messages([new_message(room.id, "u-bob")])
        assert stored_message(outcome).seq == 4, "sequence numbers keep counting"
        assert await store.unread_counts("u-ann") == {room.id: 1}
        assert await store.purge_history(room.id) == room.epoch + 2
        assert len(await store.messages_after(other.id, 0)) == 1, "other rooms keep theirs"
        with pytest.raises(NotFound):
            await store.purge_history("no-such-room")

    async def test_concurrent_appends_to_one_room_leave_no_gap(self, store: Store) -> None:
        room = await self._room(store)
        batches = [
            [new_message(room.id, f"u-{sender}", f"{sender}-{n}") for n in range(20)]
            for sender in range(5)
        ]
        results = await asyncio.gather(*(store.append_messages(b) for b in batches))
        seqs = sorted(stored_message(o).seq for outcomes in results for o in outcomes)
        assert seqs == list(range(1, 101))
        for outcomes in results:  # each batch in its own order
            mine = [stored_message(o).seq for o in outcomes]
            assert mine == sorted(mine)
        stored = await store.messages_after(room.id, 0, limit=1000)
        assert [m.seq for m in stored] == list(range(1, 101))
        found = await store.room(room.id)
        assert found is not None
        assert found.last_seq == 100
