"""The store conformance kit, rich messaging (part of
:class:`~homer.testing.store_conformance.StoreConformance`).

Edits, redactions and reactions are events of their own appended through
``append_messages``, and the message they change is kept current in the same
transaction (decision 0019); replies keep their thread's summary; mentions are
counted past read markers; search finds the current text of messages in the
rooms a user is in now.
"""

from __future__ import annotations

from typing import Any

from homer.errors import Conflict, HomerError, InvalidInput, NotFound
from homer.store.ports import Store
from homer.store.records import Appended, MessageRecord, NewMessage
from homer.store.search import Query
from homer.testing.store_kit import KitBase, make_member, new_message, stored_message

__all__ = ["ChangeConformance"]


def change(
    room_id: str, kind: str, target: object, sender_id: str = "u-ann", **body: Any
) -> NewMessage:
    """A change event of ``kind`` on message ``target``."""
    return new_message(room_id, sender_id, kind=kind, body={"target": target, **body})


class ChangeConformance(KitBase):
    """What every Store adapter must do with changes, threads, mentions and search."""

    async def _one(self, store: Store, message: NewMessage) -> MessageRecord:
        (outcome,) = await store.append_messages([message])
        return stored_message(outcome)

    async def _fails(self, store: Store, message: NewMessage) -> HomerError:
        (outcome,) = await store.append_messages([message])
        assert isinstance(outcome, HomerError), f"expected a refusal, got {outcome!r}"
        return outcome

    async def _at(self, store: Store, room_id: str, seq: int) -> MessageRecord:
        found = await store.message_at(room_id, seq)
        assert found is not None, f"no message {seq}"
        return found

    async def test_an_edit_is_an_event_and_the_message_is_kept_current(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        first = await self._one(
            store, new_message(room.id, body={"text": "helo wrld", "data": {"a": 1}})
        )
        edit = await self._one(
            store, change(room.id, "edit", first.seq, text="hello world", keep_previous=True)
        )
        assert edit.seq == first.seq + 1
        assert edit.kind == "edit"
        assert edit.body == {"target": first.seq, "text": "hello world", "edits": 1}
        now = await self._at(store, room.id, first.seq)
        assert now.body == {"text": "hello world", "edited_at": edit.ts, "edits": 1}
        assert [m.seq for m in await store.messages_after(room.id, 0)] == [1, 2]
        again = await self._one(store, change(room.id, "edit", first.seq, text="third"))
        assert (await self._at(store, room.id, first.seq)).body["edits"] == 2
        assert await store.edits_of(room.id, first.seq) == [
            (edit.seq, {"text": "helo wrld", "data": {"a": 1}, "ts": first.ts}),
            (again.seq, None),  # kept only when asked
        ]
        # Only msg counts as unread: the edits do not.
        assert await store.unread_counts("u-bob", room_id=room.id) == {room.id: 1}

    async def test_a_change_to_a_missing_or_wrong_message_is_refused_alone(
        self, store: Store
    ) -> None:
        room = await self._room(store, "u-ann")
        other = await self._room(store, "u-ann")
        msg = await self._one(store, new_message(room.id))
        elsewhere = await self._one(store, new_message(other.id))
        join = await self._one(store, new_message(room.id, kind="join", body={}))
        refused = [
            change(room.id, "edit", 99, text="x"),
            change(room.id, "edit", elsewhere.seq + 5, text="x"),
            change(room.id, "edit", join.seq, text="x"),
            change(room.id, "react", "1", key="x"),
            change(room.id, "redact", 0),
            new_message(room.id, body={"text": "re", "reply_to": 42}),
            new_message(room.id, body={"text": "re", "thread": join.seq}),
        ]
        good = change(room.id, "react", msg.seq, key="👍")
        outcomes = await store.append_messages([*refused, good])
        kinds = [type(o) for o in outcomes[:-1]]
        missing, wrong = NotFound, InvalidInput
        assert kinds == [missing, missing, wrong, wrong, wrong, missing, wrong]
        assert stored_message(outcomes[-1]).seq == join.seq + 1  # numbered densely
        found = await store.room(room.id)
        assert found is not None
        assert found.last_seq == join.seq + 1

    async def test_a_redaction_empties_the_message_and_its_edits(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        root = await self._one(store, new_message(room.id, "u-bob", text="root"))
        msg = await self._one(
            store,
            new_message(
                room.id,
                body={"text": "secret", "data": {"k": 1}, "files": ["f1"], "thread": root.seq},
            ),
        )
        await self._one(
            store, change(room.id, "edit", msg.seq, text="secret 2", keep_previous=True)
        )
        await self._one(store, change(room.id, "react", msg.seq, "u-bob", key="x"))
        redact = await self._one(store, change(room.id, "redact", msg.seq, "u-mod", reason="spam"))
        now = await self._at(store, room.id, msg.seq)
        assert now.kind == "msg"
        assert now.body == {
            "text": "",
            "thread": root.seq,
            "redacted": {"by": "u-mod", "reason": "spam", "at": redact.ts},
        }
        history = await store.messages_after(room.id, 0)
        assert "secret" not in repr(history)
        assert await store.edits_of(room.id, msg.seq) == [(msg.seq + 1, None)]
        for refused in (
            change(room.id, "edit", msg.seq, text="back"),
            change(room.id, "redact", msg.seq),
            change(room.id, "react", msg.seq, key="y"),
        ):
            assert isinstance(await self._fails(store, refused), InvalidInput)
        # Positions and counts stay: a redacted message keeps its place as a msg.
        assert await store.unread_counts("u-bob", room_id=room.id) == {room.id: 1}
        assert await store.search("u-ann", Query.parse("secret")) == []

    async def test_reactions_are_one_per_user_and_key(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        msg = await self._one(store, new_message(room.id))
        first = await self._one(store, change(room.id, "react", msg.seq, "u-ann", key="👍"))
        assert first.body["count"] == 1
        second = await self._one(store, change(room.id, "react", msg.seq, "u-bob", key="👍"))
        assert second.body["count"] == 2
        await self._one(store, change(room.id, "react", msg.seq, "u-bob", key=":tada:"))
        assert isinstance(
            await self._fails(store, change(room.id, "react", msg.seq, "u-ann", key="👍")),
            Conflict,
        )
        assert (await self._at(store, room.id, msg.seq)).body["reactions"] == {
            "👍": ["u-ann", "u-bob"],
            ":tada:": ["u-bob"],
        }
        gone = await self._one(store, change(room.id, "unreact", msg.seq, "u-ann", key="👍"))
        assert gone.body["count"] == 1
        assert isinstance(
            await self._fails(store, change(room.id, "unreact", msg.seq, "u-ann", key="👍")),
            NotFound,
        )
        await self._one(store, change(room.id, "unreact", msg.seq, "u-bob", key="👍"))
        await self._one(store, change(room.id, "unreact", msg.seq, "u-bob", key=":tada:"))
        assert "reactions" not in (await self._at(store, room.id, msg.seq)).body

    async def test_changes_within_one_batch_see_each_other(self, store: Store) -> None:
        room = await self._room(store, "u-ann")
        msg = new_message(room.id, text="draft")
        outcomes = await store.append_messages(
            [
                msg,
                change(room.id, "edit", 1, text="final words"),
                change(room.id, "react", 1, key="x"),
                new_message(room.id, body={"text": "reply", "thread": 1, "reply_to": 1}),
            ]
        )
        assert [stored_message(o).seq for o in outcomes] == [1, 2, 3, 4]
        now = await self._at(store, room.id, 1)
        assert now.body["text"] == "final words"
        assert now.body["reactions"] == {"x": ["u-ann"]}
        assert now.body["thread_summary"]["replies"] == 1
        hits = await store.search("u-ann", Query.parse("final"))
        assert [h.message.seq for h in hits] == [1]
        assert await store.search("u-ann", Query.parse("draft")) == []
        # A resend of the edit is the stored one, not a second edit.
        (again,) = await store.append_messages(
            [
                NewMessage(
                    **{**_fields(outcomes[1]), "client_id": stored_message(outcomes[1]).client_id}
                )
            ]
        )
        assert isinstance(again, Appended)
        assert again.duplicate

    async def test_threads_keep_a_summary_on_their_root(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        root = await self._one(store, new_message(room.id, text="root"))
        replies = [
            await self._one(
                store, new_message(room.id, sender, body={"text": f"r{n}", "thread": root.seq})
            )
            for n, sender in enumerate(["u-bob", "u-ann", "u-bob"])
        ]
        await self._one(store, new_message(room.id, text="not in the thread"))
        summary = (await self._at(store, room.id, root.seq)).body["thread_summary"]
        assert summary == {
            "replies": 3,
            "last_seq": replies[-1].seq,
            "last_ts": replies[-1].ts,
            "last_uid": "u-bob",
            "participants": ["u-bob", "u-ann"],
        }
        assert [m.seq for m in await store.thread(room.id, root.seq)] == [r.seq for r in replies]
        assert [m.seq for m in await store.thread(room.id, root.seq, after=replies[0].seq)] == [
            r.seq for r in replies[1:]
        ]
        nested = new_message(room.id, body={"text": "x", "thread": replies[0].seq})
        assert isinstance(await self._fails(store, nested), InvalidInput)

    async def test_mentions_are_counted_past_the_read_marker(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob", "u-cy")
        await self._one(store, new_message(room.id, body={"text": "@bob", "mentions": ["u-bob"]}))
        everyone = await self._one(
            store, new_message(room.id, "u-bob", body={"text": "@room", "mention_all": True})
        )
        assert await store.mention_counts("u-bob") == {room.id: 1}  # not their own @room
        assert await store.mention_counts("u-cy") == {room.id: 1}
        assert await store.mention_counts("u-ann", room_id=room.id) == {room.id: 1}
        await store.set_read(room.id, "u-cy", everyone.seq)
        assert await store.mention_counts("u-cy") == {}
        # An edit that drops the mention drops the count; a redaction too.
        await self._one(store, change(room.id, "edit", 1, text="nobody"))
        assert await store.mention_counts("u-bob") == {}
        await self._one(store, change(room.id, "redact", everyone.seq, "u-bob"))
        assert await store.mention_counts("u-ann") == {}
        await self._one(store, change(room.id, "edit", 1, text="@cy again", mentions=["u-cy"]))
        assert await store.mention_counts("u-cy") == {}  # the edited message is read

    async def test_search_finds_current_text_in_the_users_rooms_only(self, store: Store) -> None:
        mine = await self._room(store, "u-ann", "u-bob")
        theirs = await self._room(store, "u-bob")
        texts = ["Deploying the café release", "release notes", "lunch?", "Release party"]
        for n, text in enumerate(texts):
            await self._one(
                store, new_message(mine.id, "u-bob" if n % 2 else "u-ann", text=text, ts=100.0 + n)
            )
        await self._one(store, new_message(theirs.id, "u-bob", text="release secret"))
        hits = await store.search("u-ann", Query.parse("RELEASE"))
        assert sorted(h.message.seq for h in hits) == [1, 2, 4]
        assert all(h.message.room_id == mine.id for h in hits)
        (cafe,) = await store.search("u-ann", Query.parse("cafe deploy*"))
        assert cafe.message.body["text"] == texts[0]
        text = texts[0]
        assert [text[a:b] for a, b in cafe.highlights] == ["Deploying", "café"]
        assert sorted(
            h.message.seq
            for h in await store.search("u-ann", Query.parse("release"), sender_id="u-bob")
        ) == [2, 4]
        assert [
            h.message.seq for h in await store.search("u-ann", Query.parse("release"), since=103.0)
        ] == [4]
        assert [
            h.message.seq for h in await store.search("u-ann", Query.parse("release"), until=101.0)
        ] == [1]
        assert len(await store.search("u-bob", Query.parse("release"))) == 4
        assert await store.search("u-bob", Query.parse("release"), limit=1) != []
        # Leaving a room takes its messages out of one's searches.
        await store.remove_member(mine.id, "u-ann")
        assert await store.search("u-ann", Query.parse("release")) == []
        # A purge takes them out of everyone's.
        await store.add_member(make_member(mine.id, "u-ann"))
        await store.purge_history(mine.id)
        assert await store.search("u-bob", Query.parse("release")) == [
            h
            for h in await store.search("u-bob", Query.parse("release"))
            if h.message.room_id == theirs.id
        ]
        assert len(await store.search("u-bob", Query.parse("release"))) == 1


def _fields(outcome: Appended | HomerError) -> dict[str, Any]:
    message = stored_message(outcome)
    return {
        "room_id": message.room_id,
        "id": message.id,
        "sender_id": message.sender_id,
        "client_id": message.client_id,
        "kind": message.kind,
        "ts": message.ts,
        "body": {"target": 1, "text": "final words"},
    }
