"""One conformance suite for every transport, codec and framing: the scenarios
Homer's own transports pass, for an application that adds one (or hosts Homer
another way) to run against its own.

Subclass :class:`TransportConformance` in a test module and provide a ``kit``
fixture: a :class:`TransportKit` for one :class:`Combination`, on a running
server whose application was configured with :func:`quick_presence`. Each
scenario connects its clients through ``kit.client(name)``; a second member
goes over ``kit.other``, another combination the same server speaks::

    ON_MY_SERVER = (Combination("ws-cbor", "websocket", "cbor"),)

    class TestMyCodec(TransportConformance):
        @pytest_asyncio.fixture(params=ON_MY_SERVER, ids=lambda c: c.id)
        async def kit(self, request, tmp_path):
            async with running_homer(tmp_path, configure=quick_presence) as server:
                kit = TransportKit.on_server(server, request.param)
                yield kit
                await kit.aclose()

Homer runs these for every built-in transport and codec on its own listener,
and for WebSocket, Server-Sent Events and long-poll through the ASGI adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from homer.client import ClientCodec, ClientError, FramingName, HomerClient, TransportName
from homer.config import HomerConfig
from homer.core.app import Homer
from homer.protocol.envelope import Envelope
from homer.testing.server import PASSWORD, TestServer, create_user, issue_token, replace_config

__all__ = [
    "BUILT_IN",
    "Combination",
    "TransportConformance",
    "TransportKit",
    "next_matching",
    "next_message",
    "quick_presence",
    "until",
]


@dataclass(frozen=True)
class Combination:
    """A transport, a codec and (for raw TCP) a framing: what a client speaks."""

    id: str
    transport: TransportName
    codec: ClientCodec = "json"
    framing: FramingName | None = None


#: Every transport and codec Homer's own listeners speak.
BUILT_IN = (
    Combination("ws-json", "websocket", "json"),
    Combination("ws-msgpack", "websocket", "msgpack"),
    Combination("tcp-json-lines", "tcp", "json", "lines"),
    Combination("tcp-json-length", "tcp", "json", "length"),
    Combination("tcp-msgpack-length", "tcp", "msgpack", "length"),
    Combination("sse-json", "sse", "json"),
    Combination("sse-msgpack", "sse", "msgpack"),
    Combination("longpoll-json", "longpoll", "json"),
    Combination("longpoll-msgpack", "longpoll", "msgpack"),
)
_BY_ID = {combination.id: combination for combination in BUILT_IN}

#: For each built-in transport, another one to put a second member on.
OTHER = {
    "websocket": _BY_ID["longpoll-json"],
    "tcp": _BY_ID["sse-json"],
    "sse": _BY_ID["tcp-msgpack-length"],
    "longpoll": _BY_ID["ws-json"],
}


def quick_presence(config: HomerConfig) -> HomerConfig:
    """``config`` with presence changes announced quickly, so the scenarios stay short."""
    return replace_config(config, limits={"presence_delay": 0.05})


@dataclass
class TransportKit:
    """Clients for one combination (:attr:`over`) of a running Homer application."""

    app: Homer
    #: The combination under test.
    over: Combination
    #: A combination on another transport of the same server, for a second member.
    other: Combination
    #: The URL a client passes to reach a combination (its scheme picks the transport).
    url: Callable[[Combination], str]
    #: The HTTP API's URL, for clients whose URL is not one (raw TCP).
    http_url: str | None = None
    clients: list[HomerClient] = field(default_factory=list)

    @classmethod
    def on_server(cls, server: TestServer, over: Combination) -> TransportKit:
        """A kit for one built-in combination of a :func:`~homer.testing.server.running_homer`
        (raw TCP needs ``server.tcp_port`` configured)."""
        running = server.running
        scheme = "wss" if running.tls else "ws"

        def url(combination: Combination) -> str:
            if combination.transport == "websocket":
                return f"{scheme}://{running.host}:{running.port}"
            if combination.transport == "tcp":
                return f"tcp{'s' if running.tls else ''}://{running.host}:{running.tcp_port}"
            return running.url

        return cls(server.app, over, OTHER[over.transport], url, http_url=running.url)

    async def user(self, name: str, *, group: str | None = None) -> Any:
        """Create a user (or return the existing one), password :data:`PASSWORD`."""
        return await create_user(self.app, name, group=group)

    async def token(self, name: str, *, group: str | None = None, **issue: Any) -> str:
        """A token for ``name`` (created if needed); ``issue`` goes to the token manager."""
        return await issue_token(self.app, name, group=group, **issue)

    async def client(
        self,
        name: str,
        *,
        over: Combination | None = None,
        group: str | None = None,
        token: str | None = None,
        login: bool = False,
        connect: bool = True,
        **options: Any,
    ) -> HomerClient:
        """A client for ``name`` (created if needed) over ``over`` (by default the
        combination under test), connected unless told not. It holds a token issued
        directly; ``login=True`` makes it log in over HTTP with a password instead."""
        over = over or self.over
        options.setdefault("max_backoff", 0.2)
        options["codec"] = over.codec
        if over.transport in ("sse", "longpoll"):
            options["transport"] = over.transport
        if over.transport == "tcp":
            options["framing"] = over.framing
            options["http_url"] = self.http_url
        if login:
            await self.user(name, group=group)
            options.update(name=name, password=PASSWORD)
        else:
            options["token"] = token or await self.token(name, group=group)
        client = HomerClient(self.url(over), **options)
        self.clients.append(client)
        if connect:
            await client.connect()
        return client

    async def aclose(self) -> None:
        """Close every client the kit made (the fixture's last step)."""
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.close()


# -- helpers for the scenarios ---------------------------------------------------------


async def next_message(client: HomerClient, room: str, *, timeout: float = 5.0) -> Envelope:  # noqa: ASYNC109
    """The next message someone wrote in ``room`` (membership records skipped)."""
    return await next_matching(
        client, lambda e: e.op == "msg" and e.room == room and e.kind == "msg", timeout
    )


async def next_matching(
    client: HomerClient,
    wanted: Callable[[Envelope], bool],
    timeout: float = 5.0,  # noqa: ASYNC109
) -> Envelope:
    """The next event ``wanted`` accepts, the others skipped; ``TimeoutError`` after
    ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            event = await client.events.get()
            if wanted(event):
                return event


async def next_presence(client: HomerClient, of: str, status: str) -> Envelope:
    """The next presence change of ``of`` to ``status``."""
    return await next_matching(
        client,
        lambda e: e.op == "presence" and e.sender == of and e.body == {"status": status},
    )


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until ``condition()`` holds (polled), or ``TimeoutError``."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - another task changes what it reads
            await asyncio.sleep(0.01)


class TransportConformance:
    """The scenarios; a subclass provides the ``kit`` fixture (module docstring)."""

    # -- Sessions: authentication, errors, permissions ----------------------------------

    async def test_a_good_token_opens_a_session(self, kit: TransportKit) -> None:
        alice = await kit.client("alice")
        assert alice.welcome["user"]["name"] == "alice"
        assert alice.transport is not None
        assert alice.transport.name == kit.over.transport
        assert (await alice.request("ping"))["server_time"] > 0
        # A name and a password log in over HTTP first, whatever the transport.
        again = await kit.client("alice", login=True)
        assert again.welcome["user"]["name"] == "alice"
        assert again.token is not None

    @pytest.mark.parametrize(
        ("token", "code", "says"),
        [
            ("garbled", "invalid_token", "garbled"),
            ("expired", "unauthenticated", "expired"),
        ],
    )
    async def test_a_bad_token_is_refused_with_a_clear_error(
        self, kit: TransportKit, token: str, code: str, says: str
    ) -> None:
        if token == "expired":
            token = await kit.token("alice", ttl=0.001)
            await asyncio.sleep(0.01)
        client = await kit.client("alice", token=token, connect=False)
        with pytest.raises(ClientError) as refused:
            await client.connect()
        assert refused.value.wire_code == code
        assert says in refused.value.message
        assert client.transport is None

    async def test_errors_carry_their_code_and_leave_the_session_usable(
        self, kit: TransportKit
    ) -> None:
        alice = await kit.client("alice")
        await alice.create("lobby")
        max_text = kit.app.config.limits.max_text
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("teleport", {}, "unknown_op"),
            ("send", {"room": "lobby", "text": "no cid"}, "invalid"),
            ("history", {"room": "lobby", "bogus": 1}, "invalid"),
            ("history", {"room": "lobby", "after": 1, "since": 1.0}, "invalid"),
            ("read", {"room": "lobby", "seq": -1}, "invalid"),
            ("join", {"room": "nowhere"}, "not_found"),
            ("send", {"room": "lobby", "cid": "big", "text": "x" * (max_text + 1)}, "too_large"),
        ]
        for op, params, code in cases:
            with pytest.raises(ClientError) as refused:
                await alice.request(op, **params)
            assert refused.value.wire_code == code, (op, params, refused.value.message)
            assert refused.value.message
        with pytest.raises(ClientError) as refused:
            await alice.send("lobby", "y" * (max_text + 1))
        assert refused.value.wire_code == "too_large"
        ack = await alice.send("lobby", "still here")
        assert ack["duplicate"] is False
        assert alice.reconnects == 0

    async def test_permissions_are_enforced(self, kit: TransportKit) -> None:
        alice = await kit.client("alice")
        await alice.create("secret", kind="private")
        carol = await kit.client("carol")
        # A private room answers a stranger as a room that does not exist would.
        for call in (
            carol.join("secret"),
            carol.history("secret"),
            carol.send("secret", "let me in"),
        ):
            with pytest.raises(ClientError) as hidden:
                await call
            with pytest.raises(ClientError) as absent:
                await carol.history("no-such-room")
            assert hidden.value.wire_code == absent.value.wire_code == "not_found"
        with pytest.raises(ClientError) as refused:
            await carol.request("broadcast", text="hear me, everyone")
        assert refused.value.wire_code == "forbidden", refused.value.message
        # An invitation opens the private room; an administrator may broadcast.
        await alice.request("invite", room="secret", user="carol")
        await carol.join("secret")
        assert (await carol.send("secret", "thanks"))["room"] == "secret"
        root = await kit.client("root", group="admins")
        await root.request("broadcast", text="maintenance at noon")
        heard = await next_matching(carol, lambda e: e.op == "broadcast")
        assert (heard.sender, heard.body["text"]) == ("root", "maintenance at noon")

    async def test_the_invitee_hears_of_an_invitation(self, kit: TransportKit) -> None:
        alice = await kit.client("alice")
        await alice.create("secret", kind="private")
        carol = await kit.client("carol")
        await alice.request("invite", room="secret", user="carol")
        invited = await next_matching(carol, lambda e: e.op == "invited", timeout=1.0)
        assert (invited.room, invited.sender) == ("secret", "alice")
        assert invited.body["kind"] == "private"

    # -- Messages: delivery, resends, history, resuming ----------------------------------

    async def test_a_message_is_acked_and_delivered_to_every_member(
        self, kit: TransportKit
    ) -> None:
        alice = await kit.client("alice")
        bob = await kit.client("bob")
        carol = await kit.client("carol", over=kit.other)
        await alice.create("lobby")
        await bob.join("lobby")
        await carol.join("lobby")
        ack = await alice.send("lobby", "hello", data={"n": 1})
        assert ack["room"] == "lobby"
        assert ack["duplicate"] is False
        for member in (alice, bob, carol):
            event = await next_message(member, "lobby")
            assert (event.seq, event.id, event.cid, event.sender) == (
                ack["seq"],
                ack["id"],
                ack["cid"],
                "alice",
            )
            assert event.body == {"text": "hello", "data": {"n": 1}}
        # And back, from the member on the other transport.
        answer = await carol.send("lobby", "hi alice")
        for member in (alice, bob):
            event = await next_message(member, "lobby")
            assert (event.seq, event.sender, event.body["text"]) == (
                answer["seq"],
                "carol",
                "hi alice",
            )

    async def test_a_resend_with_the_same_cid_gets_the_first_ack(self, kit: TransportKit) -> None:
        alice = await kit.client("alice")
        bob = await kit.client("bob")
        await alice.create("lobby")
        await bob.join("lobby")
        first = await alice.send("lobby", "once", cid="c-1")
        again = await alice.send("lobby", "once", cid="c-1")
        assert again["duplicate"] is True
        assert (again["seq"], again["id"]) == (first["seq"], first["id"])
        after = await alice.send("lobby", "next")
        seen = [await next_message(bob, "lobby") for _ in range(2)]
        assert [e.cid for e in seen] == ["c-1", after["cid"]]
        history = await bob.history("lobby")
        assert [m.cid for m in history if m.kind == "msg"] == ["c-1", after["cid"]]

    async def test_history_by_seq_and_by_time(self, kit: TransportKit) -> None:
        alice = await kit.client("alice")
        await alice.create("lobby")
        bob = await kit.client("bob")
        await bob.join("lobby")
        acks = [await alice.send("lobby", f"m{i}") for i in range(6)]
        seqs = [ack["seq"] for ack in acks]

        def texts(messages: list[Envelope]) -> list[str]:
            return [m.body["text"] for m in messages]

        newer = await bob.history("lobby", after=seqs[1], limit=2)
        assert [m.seq for m in newer] == seqs[2:4]
        assert texts(newer) == ["m2", "m3"]
        older = await bob.history("lobby", before=seqs[3], limit=2)
        assert [m.seq for m in older] == seqs[1:3]
        window = await bob.history("lobby", since=acks[2]["ts"], until=acks[4]["ts"])
        assert texts(window) == ["m2", "m3"]
        # Only until: the newest page before it (older ones are "more"), as before= does.
        latest = await bob.request("history", room="lobby", until=acks[4]["ts"], limit=2)
        assert [m["body"]["text"] for m in latest["messages"]] == ["m2", "m3"]
        assert latest["more"] is True
        rest = await bob.http("GET", f"/api/rooms/lobby/messages?until={acks[4]['ts']!r}&limit=2")
        assert rest["messages"] == latest["messages"]
        assert rest["more"] is True
        page = await bob.request("history", room="lobby", after=seqs[1], limit=2)
        assert page["more"] is True
        assert page["last_seq"] == seqs[-1]
        with pytest.raises(ClientError) as refused:
            await bob.history("lobby", after=seqs[0], since=acks[0]["ts"])
        assert refused.value.wire_code == "invalid"

    async def test_a_dropped_client_resumes_with_no_gap_and_no_duplicate(
        self, kit: TransportKit
    ) -> None:
        alice = await kit.client("alice", over=kit.other)
        bob = await kit.client("bob")
        await alice.create("lobby")
        await bob.join("lobby")
        before = [await alice.send("lobby", f"before {i}") for i in range(3)]
        for ack in before:
            assert (await next_message(bob, "lobby")).seq == ack["seq"]
        cut = bob.transport
        assert cut is not None
        cut.abort()
        await until(lambda: bob.transport is not cut)  # bob noticed: he is away
        # bob sends while away: the send goes out once he is back.
        sending = asyncio.create_task(bob.send("lobby", "sent while cut", cid="while-cut"))
        during = [await alice.send("lobby", f"during {i}") for i in range(5)]
        mine = await asyncio.wait_for(sending, 5)
        assert mine["cid"] == "while-cut"
        marker = await alice.send("lobby", "after")
        events: list[Envelope] = []
        while not events or events[-1].cid != marker["cid"]:
            events.append(await next_matching(bob, lambda e: e.room in ("lobby", None)))
        assert [e.op for e in events].count("reconnected") == 1
        resumed = [e.body for e in events if e.op == "resumed"]
        assert len(resumed) == 1
        assert resumed[0]["recovered"] is True
        assert resumed[0]["from"] == before[-1]["seq"] + 1, "resumed from where bob was cut off"
        seen = [e for e in events if e.op == "msg" and e.kind == "msg"]
        from_alice = [e.seq for e in seen if e.sender == "alice"]
        assert from_alice == [a["seq"] for a in during] + [marker["seq"]], "no gap, no duplicate"
        assert [e.seq for e in seen] == sorted({e.seq for e in seen if e.seq is not None}), (
            "in order, each once"
        )
        assert [e.cid for e in seen if e.sender == "bob"] == ["while-cut"]
        assert bob.reconnects == 1
        history = await alice.history("lobby")
        assert [m.cid for m in history].count("while-cut") == 1

    async def test_a_send_cut_off_before_its_ack_is_stored_once(self, kit: TransportKit) -> None:
        alice = await kit.client("alice", over=kit.other)
        bob = await kit.client("bob")
        await alice.create("lobby")
        await bob.join("lobby")
        cut = bob.transport
        assert cut is not None
        sending = asyncio.create_task(bob.send("lobby", "in flight", cid="in-flight"))
        await asyncio.sleep(0)  # the request is on its way, or about to be
        cut.abort()
        ack = await asyncio.wait_for(sending, 5)
        assert ack["cid"] == "in-flight"
        event = await next_message(alice, "lobby")
        assert (event.cid, event.seq) == ("in-flight", ack["seq"])
        history = await alice.history("lobby")
        assert [m.cid for m in history].count("in-flight") == 1

    async def test_a_gap_in_sequence_numbers_is_filled_from_history(
        self, kit: TransportKit
    ) -> None:
        alice = await kit.client("alice", over=kit.other)
        bob = await kit.client("bob")
        await alice.create("gappy")
        await bob.join("gappy")
        first = await alice.send("gappy", "one")
        lost = first["seq"] + 1
        dispatch = bob._dispatch
        dropped: list[int] = []

        def lossy(envelope: Envelope) -> None:  # loses one message on its way in
            if envelope.op == "msg" and envelope.seq == lost and not dropped:
                dropped.append(lost)
                return
            dispatch(envelope)

        bob._dispatch = lossy  # type: ignore[method-assign]
        for text in ("two", "three", "four"):
            await alice.send("gappy", text)
        seen = [await next_message(bob, "gappy") for _ in range(4)]
        assert dropped == [lost]
        assert [e.body["text"] for e in seen] == ["one", "two", "three", "four"]
        assert [e.seq for e in seen] == list(range(first["seq"], first["seq"] + 4))
        assert bob.gaps == 1
        assert bob.reconnects == 0

    # -- Read markers, presence and typing -----------------------------------------------

    async def test_a_read_marker_moves_the_unread_count_on_every_device(
        self, kit: TransportKit
    ) -> None:
        alice = await kit.client("alice")
        await alice.create("lobby")
        bob = await kit.client("bob")
        await bob.join("lobby")
        elsewhere = await kit.client("bob", over=kit.other)  # bob's other device
        acks = [await alice.send("lobby", f"m{i}") for i in range(3)]
        marked = await bob.read("lobby", acks[1]["seq"])
        assert marked == {"room": "lobby", "read": acks[1]["seq"], "unread": 1, "mentions": 0}
        for device in (bob, elsewhere):
            event = await next_matching(device, lambda e: e.op == "unread")
            assert event.room == "lobby"
            assert event.body == {"read": acks[1]["seq"], "unread": 1, "mentions": 0}
        rooms = (await elsewhere.request("rooms"))["rooms"]
        assert [(r["id"], r["read"], r["unread"]) for r in rooms] == [("lobby", acks[1]["seq"], 1)]

    # -- Rich messaging: changes, threads, mentions, search ------------------------------

    async def test_edits_reactions_and_redactions_reach_every_member(
        self, kit: TransportKit
    ) -> None:
        alice = await kit.client("alice", over=kit.other)
        bob = await kit.client("bob")
        await bob.create("lobby")
        await alice.join("lobby")
        sent = await bob.send("lobby", "helo wrld")
        assert (await next_message(alice, "lobby")).seq == sent["seq"]

        def change(kind: str) -> Callable[[Envelope], bool]:
            return lambda e: e.op == "msg" and e.kind == kind and e.room == "lobby"

        edited = await bob.edit("lobby", sent["seq"], "hello world")
        assert edited["target"] == sent["seq"]
        assert edited["edits"] == 1
        for member in (alice, bob):
            event = await next_matching(member, change("edit"))
            assert event.seq == edited["seq"]
            assert event.sender == "bob"
            assert event.body == {"target": sent["seq"], "text": "hello world", "edits": 1}
        reacted = await alice.react("lobby", sent["seq"], "👍")
        assert reacted["count"] == 1
        event = await next_matching(bob, change("react"))
        assert (event.uid, event.body) == (
            alice.user_id,
            {"target": sent["seq"], "key": "👍", "count": 1},
        )
        (shown,) = [m for m in await bob.history("lobby") if m.seq == sent["seq"]]
        assert shown.body["text"] == "hello world"
        assert shown.body["edits"] == 1
        assert shown.body["reactions"] == [
            {"key": "👍", "count": 1, "me": False, "users": [alice.user_id]}
        ]
        (mine,) = [m for m in await alice.history("lobby") if m.seq == sent["seq"]]
        assert mine.body["reactions"][0]["me"] is True
        # Nobody changes another's message without being a moderator.
        with pytest.raises(ClientError) as refused:
            await alice.edit("lobby", sent["seq"], "mine now")
        assert refused.value.wire_code == "forbidden"
        with pytest.raises(ClientError) as twice:
            await alice.react("lobby", sent["seq"], "👍")
        assert twice.value.wire_code == "conflict"
        # Its sender redacts it; the message keeps its place, emptied.
        redacted = await bob.redact("lobby", sent["seq"], "off topic")
        event = await next_matching(alice, change("redact"))
        assert event.seq == redacted["seq"]
        assert event.body == {"target": sent["seq"], "reason": "off topic"}
        (gone,) = [m for m in await bob.history("lobby") if m.seq == sent["seq"]]
        assert gone.kind == "msg"
        assert gone.body["text"] == ""
        assert gone.body["redacted"]["by"] == bob.user_id
        assert "reactions" not in gone.body
        assert "hello" not in repr(await bob.history("lobby"))
        with pytest.raises(ClientError) as again:
            await bob.edit("lobby", sent["seq"], "back")
        assert again.value.wire_code == "invalid"

    async def test_a_client_away_receives_the_changes_it_missed_in_order(
        self, kit: TransportKit
    ) -> None:
        alice = await kit.client("alice", over=kit.other)
        bob = await kit.client("bob")
        await alice.create("lobby")
        await bob.join("lobby")
        first = await alice.send("lobby", "first draft")
        second = await alice.send("lobby", "to be removed")
        for ack in (first, second):
            assert (await next_message(bob, "lobby")).seq == ack["seq"]
        cut = bob.transport
        assert cut is not None
        cut.abort()
        await until(lambda: bob.transport is not cut)
        changes = [
            await alice.edit("lobby", first["seq"], "final text"),
            await alice.react("lobby", first["seq"], ":tada:"),
            await alice.redact("lobby", second["seq"]),
        ]
        marker = await alice.send("lobby", "after")
        events: list[Envelope] = []
        while not events or events[-1].cid != marker["cid"]:
            events.append(await next_matching(bob, lambda e: e.op == "msg" and e.room == "lobby"))
        assert [(e.kind, e.seq) for e in events] == [
            ("edit", changes[0]["seq"]),
            ("react", changes[1]["seq"]),
            ("redact", changes[2]["seq"]),
            ("msg", marker["seq"]),
        ]
        assert events[0].body["text"] == "final text"
        assert all(e.body.get("target") for e in events[:3])
        history = {m.seq: m for m in await bob.history("lobby")}
        assert history[first["seq"]].body["text"] == "final text"
        assert history[first["seq"]].body["reactions"][0]["key"] == ":tada:"
        assert history[second["seq"]].body["redacted"]["reason"] is None

    async def test_threads_replies_and_mentions(self, kit: TransportKit) -> None:
        alice = await kit.client("alice", over=kit.other)
        bob = await kit.client("bob")
        await alice.create("lobby")
        await bob.join("lobby")
        root = await alice.send("lobby", "shall we ship?")
        reply = await bob.send(
            "lobby", "yes @alice, today", thread=root["seq"], reply_to=root["seq"]
        )
        event = await next_matching(alice, lambda e: e.op == "mention")
        assert (event.room, event.sender, event.body["seq"]) == ("lobby", "bob", reply["seq"])
        echoed = await next_matching(bob, lambda e: e.op == "msg" and e.seq == reply["seq"])
        assert echoed.body["mentions"] == [alice.user_id]
        assert echoed.body["thread"] == echoed.body["reply_to"] == root["seq"]
        rooms = {r["id"]: r for r in (await alice.request("rooms"))["rooms"]}
        assert rooms["lobby"]["mentions"] == 1
        thread = await bob.thread("lobby", root["seq"])
        assert thread["root"].body["thread_summary"]["replies"] == 1
        assert thread["root"].body["thread_summary"]["participants"] == [bob.user_id]
        assert [m.seq for m in thread["messages"]] == [reply["seq"]]
        marked = await alice.read("lobby", reply["seq"])
        assert marked["mentions"] == 0
        with pytest.raises(ClientError) as elsewhere:
            await bob.send("lobby", "x", reply_to=10**6)
        assert elsewhere.value.wire_code == "not_found"

    async def test_search_finds_only_what_the_user_may_read(self, kit: TransportKit) -> None:
        alice = await kit.client("alice", over=kit.other)
        bob = await kit.client("bob")
        await alice.create("secret", kind="private")
        await alice.send("secret", "the launch code is swordfish")
        await alice.create("lobby")
        await bob.join("lobby")
        said = await bob.send("lobby", "Swordfish is a film")
        (hit,) = await bob.search("SWORDFISH")
        assert hit["message"].seq == said["seq"]
        assert hit["highlights"] == [[0, 9]]
        found = await alice.search("swordfish")
        assert sorted(r["message"].room for r in found) == ["lobby", "secret"]
        with pytest.raises(ClientError) as strange:
            await bob.search("swordfish", room="secret")
        assert strange.value.wire_code == "not_found"  # a private room is not told of
        await bob.leave("lobby")
        assert await bob.search("swordfish") == []

    async def test_members_see_each_other_come_go_and_step_away(self, kit: TransportKit) -> None:
        alice = await kit.client("alice")
        await alice.create("lobby")
        bob = await kit.client("bob")
        await bob.join("lobby")
        seen = await next_presence(alice, "bob", "online")
        assert seen.room == "lobby"
        await bob.close()
        await next_presence(alice, "bob", "offline")
        back = await kit.client("bob")
        await next_presence(alice, "bob", "online")
        assert (await back.request("presence", status="away")) == {"status": "away"}
        await next_presence(alice, "bob", "away")
        # And alice, seen from bob's side.
        await alice.close()
        await next_presence(back, "alice", "offline")

    async def test_changes_within_one_window_come_in_one_event(self, kit: TransportKit) -> None:
        alice = await kit.client("alice")
        await alice.create("lobby")
        names = ["carol", "dave", "erin"]
        for name in names:
            member = await kit.client(name, over=kit.other)
            await member.join("lobby")
            await next_presence(alice, name, "online")
            await member.close()
            await next_presence(alice, name, "offline")
        # Every event as it came off the wire, before the client unpacks it.
        frames: list[Envelope] = []
        dispatch = alice._dispatch

        def seen(envelope: Envelope) -> None:
            frames.append(envelope)
            dispatch(envelope)

        alice._dispatch = seen  # type: ignore[method-assign]
        presence = kit.app.presence
        delay, presence.delay = presence.delay, 3600.0  # one window, ended below
        try:
            for name in names:
                await kit.client(name, over=kit.other)
            await presence.flush()
        finally:
            presence.delay = delay
        for name in names:
            await next_presence(alice, name, "online")
        coalesced = [e for e in frames if e.op in ("presence", "presences")]
        assert [e.op for e in coalesced] == ["presences"]
        assert coalesced[0].room == "lobby"
        changes = coalesced[0].body["changes"]
        assert sorted((c["name"], c["status"]) for c in changes) == [
            (name, "online") for name in names
        ]

    async def test_typing_reaches_the_room(self, kit: TransportKit) -> None:
        alice = await kit.client("alice", over=kit.other)
        await alice.create("lobby")
        bob = await kit.client("bob")
        await bob.join("lobby")
        answer = await bob.request("typing", room="lobby")
        assert answer["room"] == "lobby"
        for member in (alice, bob):
            event = await next_matching(member, lambda e: e.op == "typing")
            assert (event.room, event.sender, event.body) == (
                "lobby",
                "bob",
                {"until": answer["until"]},
            )
