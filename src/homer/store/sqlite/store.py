"""The embedded default Store: one SQLite file in the data directory, WAL mode."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from homer.errors import HomerError, InvalidInput, StoreError
from homer.store.appends import AppendBatch, Key, Plan, Spot, Tail
from homer.store.changes import search_text
from homer.store.records import (
    Appended,
    JSONMap,
    MemberRecord,
    MessageRecord,
    NewMessage,
    Page,
    RoomRecord,
    SearchHit,
)
from homer.store.rows import (
    MEMBER_COLUMNS,
    MESSAGE_COLUMNS,
    NEW_MEMBER_COLUMNS,
    ROOM_COLUMNS,
    UNREAD_COLUMNS,
    qualified,
)
from homer.store.rules import (
    UNREAD_KIND,
    ReadMarker,
    ReadMove,
    Tally,
    check_join,
    check_members,
    no_room,
    not_a_member,
    page,
    room_taken,
    room_to_join,
    window,
)
from homer.store.search import WINDOW, Query, filters
from homer.store.sqlite.accounts import SQLiteAccounts, fill_skeletons
from homer.store.sqlite.database import ROWS, SQLiteDatabase, Synchronous
from homer.store.sqlite.files import SQLiteFiles

__all__ = ["SQLiteStore"]


_ROOMS_OF = (
    f"SELECT {qualified('r', ROOM_COLUMNS)}, {qualified('m', MEMBER_COLUMNS)}"
    " FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ? ORDER BY m.room_id"
)
#: The same, with what each room's unread count is read from in the last columns.
_ROOM_LIST = (
    f"SELECT {qualified('r', ROOM_COLUMNS)}, {qualified('m', MEMBER_COLUMNS)}, {UNREAD_COLUMNS}"
    " FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ? ORDER BY m.room_id"
)
_UNREAD = (
    f"SELECT m.room_id, {UNREAD_COLUMNS} FROM room_members m JOIN rooms r ON r.id = m.room_id"
    " WHERE m.user_id = ?"
)
_INSERT_MEMBER = f"INSERT INTO room_members({NEW_MEMBER_COLUMNS}) VALUES (?,?,?,?,?,?,?)"
#: The same for one who may be a member already (the stored membership is kept).
_ADD_MEMBER = _INSERT_MEMBER + " ON CONFLICT(room_id, user_id) DO NOTHING"
#: A member's read marker with its counts, and the room's last_seq and count.
_MARKER = (
    "SELECT m.read_seq, m.read_msgs, m.own_after, r.last_seq, r.msgs"
    " FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.room_id = ? AND m.user_id = ?"
)
#: A user's stored messages of a kind in a room: their own, by the index on client ids
#: (left to itself, the planner would go through the room's whole history).
_OWN = (
    "SELECT COUNT(*) FROM messages INDEXED BY messages_client"
    " WHERE room_id = ? AND sender_id = ? AND kind = ?"
)
#: A span (seq > ? AND seq <= ?) of a room's messages of a kind: how many, and a user's.
_TALLY = (
    "SELECT COUNT(*), COALESCE(SUM(sender_id = ?), 0) FROM messages"
    " WHERE room_id = ? AND seq > ? AND seq <= ? AND kind = ?"
)
_INSERT_MESSAGE = f"INSERT INTO messages({MESSAGE_COLUMNS}, thread) VALUES (?,?,?,?,?,?,?,?,?)"
#: Skips a message stored before (same room, sender and client id) instead of failing.
_INSERT_NEW_MESSAGE = _INSERT_MESSAGE + " ON CONFLICT(room_id, sender_id, client_id) DO NOTHING"
#: Each room's last_seq and the ts of its last message (what the next must not precede).
_TAILS = (
    "SELECT id, last_seq, (SELECT m.ts FROM messages m WHERE m.room_id = rooms.id"
    " ORDER BY m.seq DESC LIMIT 1) FROM rooms WHERE id IN ({marks})"
)
_STORED_MESSAGE = (
    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND sender_id = ? AND client_id = ?"
)
#: Mentions of a user past their read markers, per room (add a GROUP BY).
_MENTIONS = (
    "SELECT r.room_id, COUNT(*) FROM room_members r JOIN mentions m"
    " ON m.room_id = r.room_id AND m.user_id IN (r.user_id, '*') AND m.seq > r.read_seq"
    " AND m.sender_id != r.user_id WHERE r.user_id = ?"
)
#: Matches in the rooms of a user: the newest ``WINDOW`` (FTS5 walks its rowids
#: backwards and stops there), ranked by BM25, each message as it is now.
_SEARCH = (
    f"SELECT {qualified('m', MESSAGE_COLUMNS)} FROM ("
    "SELECT search_text.rowid AS id, rank AS score FROM search_text"
    " JOIN search_docs d ON d.id = search_text.rowid"
    " JOIN room_members r ON r.room_id = d.room_id AND r.user_id = ?"
    " WHERE search_text MATCH ?{where} ORDER BY search_text.rowid DESC LIMIT ?) AS f"
    " JOIN search_docs d ON d.id = f.id"
    " JOIN messages m ON m.room_id = d.room_id AND m.seq = d.seq"
    " ORDER BY f.score, d.ts DESC LIMIT ?"
)
#: Search rows indexed together (decision 0019, migration 4).
INDEX_EVERY = 256
_MESSAGE_AT = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq = ?"
#: What an edit event keeps once the message it edited is redacted.
_REDACTED_EDIT = "json_object('target', ?, 'redacted', json('true'))"


def _hit(message: MessageRecord, query: Query) -> SearchHit:
    text = message.body.get("text")
    return SearchHit(message, query.highlights(text) if isinstance(text, str) else [])


def _with_threads(plan: Plan) -> list[tuple[Any, ...]]:
    """The plan's rows with their ``thread`` column."""
    return [(*row, extra[0]) for row, extra in zip(plan.rows, plan.extras, strict=True)]


def _index_search(conn: sqlite3.Connection) -> None:
    """Index the search rows written since the last time (see migration 4)."""
    (indexed,) = conn.execute("SELECT indexed FROM search_state").fetchone()
    (last,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM search_docs").fetchone()
    if last > indexed:
        conn.execute(
            "INSERT INTO search_text(rowid, text) SELECT id, text FROM search_docs WHERE id > ?",
            (indexed,),
        )
        conn.execute("UPDATE search_state SET indexed = ?", (last,))


def _write_changes(conn: sqlite3.Connection, plan: Plan) -> int:
    """Everything of ``plan`` besides the new rows and the counts (decision 0019);
    how many search rows it wrote."""
    if plan.updates:
        spots = [(m.room_id, m.seq) for m, _ in plan.updates]
        conn.executemany(
            "UPDATE messages SET body = ? WHERE room_id = ? AND seq = ?",
            [(body, m.room_id, m.seq) for m, body in plan.updates],
        )
        conn.executemany("DELETE FROM search_docs WHERE room_id = ? AND seq = ?", spots)
        conn.executemany("DELETE FROM mentions WHERE room_id = ? AND seq = ?", spots)
    if plan.edits:
        conn.executemany("INSERT INTO message_edits VALUES (?, ?, ?, ?)", plan.edits)
    for room_id, target in plan.redacted:
        conn.execute(
            f"UPDATE messages SET body = {_REDACTED_EDIT} WHERE room_id = ? AND seq IN"
            " (SELECT seq FROM message_edits WHERE room_id = ? AND target = ?)",
            (target, room_id, room_id, target),
        )
        conn.execute(
            "UPDATE message_edits SET previous = NULL WHERE room_id = ? AND target = ?",
            (room_id, target),
        )
    searchable = plan.searchable + [
        (m.room_id, m.seq, m.sender_id, m.ts, text)
        for m, _ in plan.updates
        if (text := search_text(m)) is not None
    ]
    if searchable:
        conn.executemany(
            "INSERT INTO search_docs(room_id, seq, sender_id, ts, text) VALUES (?,?,?,?,?)",
            searchable,
        )
    if plan.mentions:
        conn.executemany(
            "INSERT INTO mentions(room_id, user_id, seq, sender_id) VALUES (?,?,?,?)"
            " ON CONFLICT DO NOTHING",
            plan.mentions,
        )
    return len(searchable)


def _require_room(conn: sqlite3.Connection, room_id: str) -> None:
    if conn.execute("SELECT 1 FROM rooms WHERE id = ?", (room_id,)).fetchone() is None:
        raise no_room(room_id)


def _moved(conn: sqlite3.Connection, room_id: str, user_id: str, move: ReadMove) -> ReadMarker:
    """Where ``move`` puts a member's read marker, with its counts."""
    if move.empty:
        return move.result(Tally())
    msgs, own = conn.execute(
        _TALLY, (user_id, room_id, move.after, move.upto, UNREAD_KIND)
    ).fetchone()
    return move.result(Tally(msgs, own))


def _new_marker(
    conn: sqlite3.Connection, member: MemberRecord, *, last_seq: int, room_msgs: int
) -> ReadMarker:
    """A new member's read marker where the membership puts it, with its counts."""
    (own,) = conn.execute(_OWN, (member.room_id, member.user_id, UNREAD_KIND)).fetchone()
    start = ReadMarker.at_start(own)
    move = start.move(member.read_seq, last_seq=last_seq, room_msgs=room_msgs)
    return start if move is None else _moved(conn, member.room_id, member.user_id, move)


class SQLiteStore(SQLiteAccounts, SQLiteFiles):
    """Implements :class:`homer.store.ports.Store` on one SQLite database file: rooms
    and messages here, shared files in :class:`SQLiteFiles`, the rest in
    :class:`SQLiteAccounts`."""

    #: The package holding this adapter's numbered migrations.
    MIGRATIONS: ClassVar[str] = "homer.store.sqlite.migrations"

    def __init__(
        self, path: Path, *, synchronous: Synchronous = "NORMAL", busy_timeout: float = 10.0
    ) -> None:
        self.db = SQLiteDatabase(path, synchronous=synchronous, busy_timeout=busy_timeout)
        #: Search rows written and not indexed yet, as far as this process knows
        #: (only the writer touches it; another process's are found by the next index).
        self._unindexed = 0

    @property
    def path(self) -> Path:
        return self.db.path

    async def open(self) -> None:
        try:
            await self.db.open(self.MIGRATIONS)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the SQLite store at {self.db.path}: {exc}") from exc
        await self.db.write(_index_search)  # what a process that stopped left unindexed
        await self.db.write(fill_skeletons)  # rows from before migration 6

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        await self.db.fetch_one("SELECT 1")

    async def schema_version(self) -> int:
        return await self.db.read(SQLiteDatabase.current_version)

    # -- rooms ----------------------------------------------------------------

    async def create_room(self, room: RoomRecord, members: Sequence[MemberRecord]) -> None:
        check_members(room, members)
        member_rows = [
            ROWS.member_row(member, ReadMarker.first(member, room)) for member in members
        ]

        def run(conn: sqlite3.Connection) -> None:
            taken = conn.execute(
                "SELECT EXISTS(SELECT 1 FROM rooms WHERE id = ?),"
                " EXISTS(SELECT 1 FROM rooms WHERE dm_key = ?)",
                (room.id, room.dm_key),
            ).fetchone()
            room_taken(room, id_taken=bool(taken[0]), dm_taken=bool(taken[1]))
            conn.execute(
                f"INSERT INTO rooms({ROOM_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                ROWS.room_row(room),
            )
            conn.executemany(_INSERT_MEMBER, member_rows)

        await self.db.write(run)

    async def room(self, room_id: str) -> RoomRecord | None:
        row = await self.db.fetch_one(f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?", (room_id,))
        return None if row is None else ROWS.room(row)

    async def room_by_dm_key(self, dm_key: str) -> RoomRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {ROOM_COLUMNS} FROM rooms WHERE dm_key = ?", (dm_key,)
        )
        return None if row is None else ROWS.room(row)

    async def update_room(
        self,
        room_id: str,
        *,
        name: str | None = None,
        topic: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> RoomRecord:
        changes = ROWS.room_changes(name=name, topic=topic, meta=meta)
        assignments = ", ".join(f"{column} = ?" for column, _ in changes)
        params = [value for _, value in changes]

        def run(conn: sqlite3.Connection) -> RoomRecord:
            if changes:
                conn.execute(f"UPDATE rooms SET {assignments} WHERE id = ?", (*params, room_id))
            row = conn.execute(
                f"SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?", (room_id,)
            ).fetchone()
            if row is None:
                raise no_room(room_id)
            return ROWS.room(row)

        return await self.db.write(run)

    async def delete_room(self, room_id: str) -> bool:
        # Members, bans, invitations and messages go with it (ON DELETE CASCADE).
        return await self.db.write(
            lambda conn: conn.execute("DELETE FROM rooms WHERE id = ?", (room_id,)).rowcount > 0
        )

    async def list_rooms(
        self, *, kinds: Sequence[str], after: str | None = None, limit: int = 50
    ) -> Page[RoomRecord]:
        if not kinds:
            return Page([])
        params: list[Any] = list(kinds)
        where = f"kind IN ({', '.join('?' * len(kinds))})"
        if after is not None:
            where += " AND id > ?"
            params.append(after)
        sql = f"SELECT {ROOM_COLUMNS} FROM rooms WHERE {where} ORDER BY id LIMIT ?"
        rows = await self.db.fetch_all(sql, (*params, window(limit)))
        return page(rows, limit, ROWS.room, lambda row: row[0])

    async def rooms_of(self, user_id: str) -> list[tuple[RoomRecord, MemberRecord]]:
        rows = await self.db.fetch_all(_ROOMS_OF, (user_id,), inline=True)
        return [ROWS.room_and_member(row) for row in rows]

    async def room_list(
        self, user_id: str, *, cap: int = 1000
    ) -> list[tuple[RoomRecord, MemberRecord, int]]:
        rows = await self.db.fetch_all(_ROOM_LIST, (user_id,), inline=True)
        return [ROWS.listed_room(row, max(cap, 0)) for row in rows]

    async def join_room(
        self, room_id: str, user_id: str, *, joined_at: float, max_rooms: int
    ) -> tuple[RoomRecord, MemberRecord, bool]:
        def run(conn: sqlite3.Connection) -> tuple[RoomRecord, MemberRecord, bool]:
            found = conn.execute(
                f"SELECT {ROOM_COLUMNS}, msgs FROM rooms WHERE id = ?", (room_id,)
            ).fetchone()
            room = room_to_join(room_id, None if found is None else ROWS.room(found))
            existing = conn.execute(
                f"SELECT {MEMBER_COLUMNS} FROM room_members WHERE room_id = ? AND user_id = ?",
                (room_id, user_id),
            ).fetchone()
            if existing is not None:
                return room, ROWS.member(existing), False
            flags = conn.execute(
                "SELECT EXISTS(SELECT 1 FROM room_bans WHERE room_id = ?1 AND user_id = ?2),"
                " EXISTS(SELECT 1 FROM room_invites WHERE room_id = ?1 AND user_id = ?2),"
                " (SELECT COUNT(*) FROM room_members WHERE user_id = ?2)",
                (room_id, user_id),
            ).fetchone()
            banned, invited, count = flags
            check_join(room, banned=banned, invited=invited, count=count, max_rooms=max_rooms)
            member = MemberRecord(room_id, user_id, "member", joined_at)
            marker = _new_marker(conn, member, last_seq=room.last_seq, room_msgs=found[-1])
            conn.execute(_INSERT_MEMBER, ROWS.member_row(member, marker))
            if invited:
                conn.execute(
                    "DELETE FROM room_invites WHERE room_id = ? AND user_id = ?",
                    (room_id, user_id),
                )
            return room, member, True

        return await self.db.write(run, inline=True)

    async def add_member(self, member: MemberRecord) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            room = conn.execute(
                "SELECT last_seq, msgs FROM rooms WHERE id = ?", (member.room_id,)
            ).fetchone()
            if room is None:
                raise no_room(member.room_id)
            marker = _new_marker(conn, member, last_seq=room[0], room_msgs=room[1])
            return conn.execute(_ADD_MEMBER, ROWS.member_row(member, marker)).rowcount > 0

        return await self.db.write(run)

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        return await self.db.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM room_members WHERE room_id = ? AND user_id = ?", (room_id, user_id)
                ).rowcount
                > 0
            )
        )

    async def member(self, room_id: str, user_id: str) -> MemberRecord | None:
        row = await self.db.fetch_one(
            f"SELECT {MEMBER_COLUMNS} FROM room_members WHERE room_id = ? AND user_id = ?",
            (room_id, user_id),
        )
        return None if row is None else ROWS.member(row)

    async def members(
        self, room_id: str, *, after: str | None = None, limit: int = 100
    ) -> Page[MemberRecord]:
        sql = f"SELECT {MEMBER_COLUMNS} FROM room_members WHERE room_id = ?"
        params: tuple[Any, ...] = (room_id, window(limit))
        if after is not None:
            sql += " AND user_id > ?"
            params = (room_id, after, window(limit))
        sql += " ORDER BY user_id LIMIT ?"
        rows = await self.db.fetch_all(sql, params)
        return page(rows, limit, ROWS.member, lambda row: row[1])

    async def count_rooms_of(self, user_id: str) -> int:
        row = await self.db.fetch_one(
            "SELECT COUNT(*) FROM room_members WHERE user_id = ?", (user_id,)
        )
        return int(row[0])

    async def set_ban(self, room_id: str, user_id: str, banned: bool) -> None:
        await self._set_flag("room_bans", room_id, user_id, banned)

    async def is_banned(self, room_id: str, user_id: str) -> bool:
        return await self._has_flag("room_bans", room_id, user_id)

    async def set_invite(self, room_id: str, user_id: str, invited: bool) -> None:
        await self._set_flag("room_invites", room_id, user_id, invited)

    async def is_invited(self, room_id: str, user_id: str) -> bool:
        return await self._has_flag("room_invites", room_id, user_id)

    async def set_read(self, room_id: str, user_id: str, seq: int) -> int:
        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute(_MARKER, (room_id, user_id)).fetchone()
            if row is None:
                raise not_a_member(room_id, user_id)
            marker = ReadMarker(*row[:3])
            move = marker.move(seq, last_seq=row[3], room_msgs=row[4])
            if move is None:
                return marker.seq
            moved = _moved(conn, room_id, user_id, move)
            conn.execute(
                "UPDATE room_members SET read_seq = ?, read_msgs = ?, own_after = ?"
                " WHERE room_id = ? AND user_id = ?",
                (moved.seq, moved.msgs, moved.own, room_id, user_id),
            )
            return moved.seq

        return await self.db.write(run)

    async def unread_counts(
        self, user_id: str, *, cap: int = 1000, room_id: str | None = None
    ) -> dict[str, int]:
        # One row per room, read from the counts kept beside the marker: no history.
        sql, params = _UNREAD, [user_id]
        if room_id is not None:
            sql, params = sql + " AND m.room_id = ?", [user_id, room_id]
        rows = await self.db.fetch_all(sql + " ORDER BY m.room_id", params)
        return dict(ROWS.unread_count(row, max(cap, 0)) for row in rows)

    # -- messages -------------------------------------------------------------

    async def append_messages(self, batch: Sequence[NewMessage]) -> list[Appended | HomerError]:
        if not batch:
            return []
        checked = AppendBatch(batch)
        room_ids = checked.room_ids
        # Every room's tail in one query, not one per room of the batch.
        tails_sql = _TAILS.format(marks=",".join("?" * len(room_ids)))

        def run(conn: sqlite3.Connection) -> list[Appended | HomerError]:
            found = conn.execute(tails_sql, room_ids).fetchall()
            tails: dict[str, Tail] = {room: (seq, ts) for room, seq, ts in found}
            targets: dict[Spot, MessageRecord] = {}
            for spot in checked.spots(tails):
                row = conn.execute(_MESSAGE_AT, spot).fetchone()
                if row is not None:
                    targets[spot] = ROWS.message(row)
            # Resends of stored messages are rare: number the batch without looking each
            # message up, insert it all at once and see whether every row went in.
            plan = checked.plan(tails, {}, targets)
            if not plan.rows:
                return plan.outcomes
            conn.execute("SAVEPOINT append")
            if conn.executemany(_INSERT_NEW_MESSAGE, _with_threads(plan)).rowcount != len(
                plan.rows
            ):
                # One was stored before: undo, look each up, and number the batch again.
                conn.execute("ROLLBACK TO append")
                stored: dict[Key, MessageRecord] = {}
                for key in checked.keys(tails):
                    row = conn.execute(_STORED_MESSAGE, key).fetchone()
                    if row is not None:
                        stored[key] = ROWS.message(row)
                plan = checked.plan(tails, stored, targets)
                conn.executemany(_INSERT_MESSAGE, _with_threads(plan))
            conn.execute("RELEASE append")
            self._unindexed += _write_changes(conn, plan)
            if self._unindexed >= INDEX_EVERY:
                _index_search(conn)
                self._unindexed = 0
            conn.executemany(
                "UPDATE rooms SET last_seq = ?, msgs = msgs + ? WHERE id = ?",
                [(seq, msgs, room_id) for room_id, seq, msgs in plan.rooms],
            )
            conn.executemany(
                "UPDATE room_members SET own_after = own_after + ?"
                " WHERE room_id = ? AND user_id = ?",
                [(count, room_id, sender_id) for room_id, sender_id, count in plan.senders],
            )
            return plan.outcomes

        return await self.db.write(run, inline=True)

    async def messages_after(
        self, room_id: str, after_seq: int, *, limit: int = 100
    ) -> list[MessageRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?",
            (room_id, after_seq, max(limit, 0)),
        )
        return [ROWS.message(row) for row in rows]

    async def messages_before(
        self, room_id: str, before_seq: int | None, *, limit: int = 50
    ) -> list[MessageRecord]:
        if before_seq is None:
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ?"
            params: tuple[Any, ...] = (room_id, max(limit, 0))
        else:
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq < ?"
            params = (room_id, before_seq, max(limit, 0))
        sql += " ORDER BY seq DESC LIMIT ?"
        rows = await self.db.fetch_all(sql, params)
        return [ROWS.message(row) for row in reversed(rows)]

    async def messages_between(
        self, room_id: str, since: float, until: float, *, limit: int = 100, newest: bool = False
    ) -> list[MessageRecord]:
        order = "ts DESC, seq DESC" if newest else "ts, seq"
        rows = await self.db.fetch_all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND ts >= ? AND ts < ?"
            f" ORDER BY {order} LIMIT ?",
            (room_id, since, until, max(limit, 0)),
        )
        return [ROWS.message(row) for row in (reversed(rows) if newest else rows)]

    async def purge_history(self, room_id: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "UPDATE rooms SET epoch = epoch + 1, msgs = 0 WHERE id = ? RETURNING epoch",
                (room_id,),
            ).fetchall()
            if not rows:
                raise no_room(room_id)
            for table in ("messages", "search_docs", "mentions", "message_edits"):
                conn.execute(f"DELETE FROM {table} WHERE room_id = ?", (room_id,))
            conn.execute(
                "UPDATE room_members SET read_msgs = 0, own_after = 0 WHERE room_id = ?", (room_id,)
            )
            return int(rows[0][0])

        return await self.db.write(run)

    async def message_at(self, room_id: str, seq: int) -> MessageRecord | None:
        row = await self.db.fetch_one(_MESSAGE_AT, (room_id, seq))
        return None if row is None else ROWS.message(row)

    async def thread(
        self, room_id: str, root: int, *, after: int = 0, limit: int = 100
    ) -> list[MessageRecord]:
        rows = await self.db.fetch_all(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND thread = ?"
            " AND seq > ? ORDER BY seq LIMIT ?",
            (room_id, root, after, max(limit, 0)),
        )
        return [ROWS.message(row) for row in rows]

    async def edits_of(self, room_id: str, seq: int) -> list[tuple[int, JSONMap | None]]:
        rows = await self.db.fetch_all(
            "SELECT seq, previous FROM message_edits WHERE room_id = ? AND target = ? ORDER BY seq",
            (room_id, seq),
        )
        return [(row[0], None if row[1] is None else json.loads(row[1])) for row in rows]

    async def mention_counts(self, user_id: str, *, room_id: str | None = None) -> dict[str, int]:
        sql, params = _MENTIONS, [user_id]
        if room_id is not None:
            sql, params = sql + " AND r.room_id = ?", [user_id, room_id]
        # Read with the room list when a connection says hello: on the loop, as it is.
        rows = await self.db.fetch_all(sql + " GROUP BY r.room_id", params, inline=True)
        return {row[0]: row[1] for row in rows}

    async def search(
        self,
        user_id: str,
        query: Query,
        *,
        room_id: str | None = None,
        sender_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 20,
    ) -> list[SearchHit]:
        where: list[str] = []
        params: list[Any] = [user_id, query.fts5()]
        for column, op, value in filters(room_id, sender_id, since, until):
            where.append(f" AND d.{column} {op} ?")
            params.append(value)
        params += [WINDOW, max(limit, 0)]
        await self.db.write(self._index_now)  # a search finds everything stored before it
        try:
            rows = await self.db.fetch_all(_SEARCH.format(where="".join(where)), params)
        except StoreError as exc:  # FTS5 refuses what the parser let through
            raise InvalidInput(f"the search query cannot be run: {exc}") from None
        return [_hit(ROWS.message(row), query) for row in rows]

    # -- helpers --------------------------------------------------------------

    def _index_now(self, conn: sqlite3.Connection) -> None:
        _index_search(conn)
        self._unindexed = 0

    async def _set_flag(self, table: str, room_id: str, user_id: str, on: bool) -> None:
        """Add or remove a (room, user) row of ``room_bans`` or ``room_invites``."""

        def run(conn: sqlite3.Connection) -> None:
            if on:
                _require_room(conn, room_id)
                conn.execute(
                    f"INSERT INTO {table}(room_id, user_id) VALUES (?, ?)"
                    " ON CONFLICT(room_id, user_id) DO NOTHING",
                    (room_id, user_id),
                )
            else:
                conn.execute(
                    f"DELETE FROM {table} WHERE room_id = ? AND user_id = ?", (room_id, user_id)
                )

        await self.db.write(run)

    async def _has_flag(self, table: str, room_id: str, user_id: str) -> bool:
        row = await self.db.fetch_one(
            f"SELECT 1 FROM {table} WHERE room_id = ? AND user_id = ?", (room_id, user_id)
        )
        return row is not None
