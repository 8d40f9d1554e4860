"""The SDK with a state directory: offline sends, unread messages and a history
cache that survive the client process being killed with SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
from pathlib import Path

import pytest

from homer.client import ClientError, HomerClient
from homer.client.local_state import StateInUse
from homer.core.app import Homer
from homer.testing.server import PASSWORD, create_user
from tests.client.restartable import node

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """``tests/client/offline_client.py`` in a process of its own."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(cls, url: str, name: str, state: Path, *args: str) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.client.offline_client",
            url,
            name,
            str(state),
            *args,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        child = cls(proc)
        await child.line_starting("ready")
        return child

    async def line_starting(self, prefix: str, timeout: float = 60.0) -> str:  # noqa: ASYNC109
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"the client exited: {self.lines[-5:]}")
                line = raw.decode().strip()
                self.lines.append(line)
                if line.startswith(prefix):
                    return line

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)

    async def wait(self) -> int:
        async with asyncio.timeout(60):
            return await self.proc.wait()


async def room_texts(app: Homer, url: str, room: str) -> list[str]:
    await create_user(app, "carol")
    async with HomerClient(url, name="carol", password=PASSWORD) as carol:
        await carol.join(room)
        texts: list[str] = []
        after = 0
        while True:
            page = await carol.request("history", room=room, after=after, limit=500)
            texts += [m["body"]["text"] for m in page["messages"] if m["kind"] == "msg"]
            if not page["more"]:
                return texts
            after = page["messages"][-1]["seq"]


async def test_messages_posted_offline_arrive_once_in_order_through_kills(
    tmp_path: Path,
) -> None:
    rng = random.Random(1234)
    state = tmp_path / "alice-state"
    async with node(tmp_path) as server:
        app = await server.start("alice", "bob")
        async with server.client("alice") as alice:
            await alice.create("plans")
        bob = server.client("bob")
        await server.stop()

        # Offline: alice's client posts, killed at random points, started again.
        confirmed, total = 0, 40
        while confirmed < total:
            child = await Child.start(
                server.url, "alice", state, "post", "plans", str(confirmed + 1), str(total)
            )
            stop_after = rng.randint(1, 12)
            for _ in range(stop_after):
                line = await child.line_starting("queued")
                confirmed = int(line.split()[1])
                if confirmed == total:
                    break
            child.kill()
            await child.wait()

        # Online again: bob listens; alice drains while killed now and then.
        app = await server.start()
        await bob.connect()
        await bob.join("plans")
        for _ in range(3):
            child = await Child.start(server.url, "alice", state, "drain")
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            child.kill()
            await child.wait()
        child = await Child.start(server.url, "alice", state, "drain")
        await child.line_starting("drained")
        await child.wait()

        expected = [f"m{i}" for i in range(1, total + 1)]
        assert await room_texts(app, server.url, "plans") == expected
        got: list[str] = []
        async with asyncio.timeout(30):
            while len(got) < total:
                event = await bob.next_event("msg")
                if event.kind == "msg":
                    got.append(event.body["text"])
        assert got == expected, "bob gets each once, in order"
        await bob.close()


async def test_unread_counts_after_kills_equal_the_servers(tmp_path: Path) -> None:
    rng = random.Random(99)
    state = tmp_path / "bob-state"
    async with node(tmp_path) as server:
        await server.start("alice", "bob")
        async with server.client("alice") as alice:
            for room in ("a", "b"):
                await alice.create(room)
            async with server.client("bob") as bob:
                await bob.join("a")
                await bob.join("b")
                await bob.send("a", "bob's own: never unread")
            sent = 0
            for _ in range(4):  # bob's client killed while messages arrive
                child = await Child.start(server.url, "bob", state, "listen")
                for _ in range(rng.randint(3, 10)):
                    sent += 1
                    await alice.send("a" if sent % 3 else "b", f"n{sent}")
                await asyncio.sleep(rng.uniform(0.0, 0.2))
                child.kill()
                await child.wait()
                for _ in range(rng.randint(0, 4)):  # while bob is away
                    sent += 1
                    await alice.send("a" if sent % 3 else "b", f"n{sent}")

        child = await Child.start(server.url, "bob", state, "counts")
        counts = json.loads((await child.line_starting("{"))[0:])
        await child.wait()
        assert counts["local"] == counts["server"]
        assert sum(counts["server"].values()) == sent

        # Read on another device: the next start drops what was read there.
        async with server.client("bob") as elsewhere:
            await elsewhere.read_room("a")
        child = await Child.start(server.url, "bob", state, "counts")
        counts = json.loads(await child.line_starting("{"))
        await child.wait()
        assert counts["local"] == counts["server"]
        assert "a" not in counts["local"]

        # Reading here takes them and moves the server's marker.
        async with server.client("bob", state_dir=state) as bob:
            await bob.start()
            keeper = bob.keeper
            assert keeper is not None
            await keeper.settled()
            unread = await bob.read_room("b")
            assert [m.body["text"] for m in unread] == [
                f"n{i}" for i in range(1, sent + 1) if i % 3 == 0
            ]
            await keeper.drained()
            assert await bob.unread_counts() == {}
            rooms = (await bob.request("rooms"))["rooms"]
            assert {r["id"]: r["unread"] for r in rooms} == {"a": 0, "b": 0}


async def test_a_client_starts_offline_with_its_cached_history(tmp_path: Path) -> None:
    state = tmp_path / "bob-state"
    async with node(tmp_path) as server:
        await server.start("alice", "bob")
        async with server.client("alice") as alice:
            await alice.create("news")
            bob = server.client("bob", state_dir=state)
            await bob.start()
            await bob.join("news")
            for i in range(5):
                await alice.send("news", f"item {i}")
            # Each message is kept before it is handed on.
            while (await bob.next_event("msg")).body.get("text") != "item 4":
                pass
            await bob.close()
        await server.stop()

        bob = server.client("bob", state_dir=state)
        assert await bob.start() == {}
        keeper = bob.keeper
        assert keeper is not None
        assert keeper.status == "offline"
        cached = await bob.cached("news", limit=3)
        assert [m.body.get("text") for m in cached] == ["item 2", "item 3", "item 4"]
        assert await bob.unread_counts() == {"news": 5}
        cid = await bob.post("news", "written offline")
        assert keeper.queued == 1
        await bob.close()

        await server.start()
        bob = server.client("bob", state_dir=state)
        await bob.start()
        echo = await bob.next_event("msg", timeout=30)
        assert (echo.cid, echo.body["text"]) == (cid, "written offline")
        await bob.close()


async def test_a_refused_outbox_item_is_reported_and_dropped(tmp_path: Path) -> None:
    state = tmp_path / "bob-state"
    async with node(tmp_path) as server:
        await server.start("bob")
        bob = server.client("bob", state_dir=state)
        await bob.start()
        await bob.post("nowhere", "lost in the void")
        failed = await bob.next_event("send_failed", timeout=30)
        assert failed.room == "nowhere"
        assert failed.body["code"] in ("not_found", "forbidden")
        with pytest.raises(ClientError):
            await bob.send("nowhere", "again")
        assert bob.keeper is not None
        assert bob.keeper.queued == 0
        await bob.close()


def test_a_state_directory_needs_an_account() -> None:
    with pytest.raises(ValueError, match="per account"):
        HomerClient("http://127.0.0.1:1", token="t", state_dir="somewhere")


async def test_post_needs_a_state_directory() -> None:
    client = HomerClient("http://127.0.0.1:1", token="t")
    with pytest.raises(ClientError, match="state_dir"):
        await client.post("room", "text")


async def test_a_failure_to_keep_an_event_still_hands_it_on(tmp_path: Path) -> None:
    async with node(tmp_path) as server:
        await server.start("alice", "bob")
        async with server.client("alice") as alice:
            await alice.create("talk")
            bob = server.client("bob", state_dir=tmp_path / "bob-state")
            await bob.start()
            await bob.join("talk")
            keeper = bob.keeper
            assert keeper is not None

            async def broken(*args: object, **kwargs: object) -> None:
                raise RuntimeError("a bug in keeping")

            keeper.state.record = broken  # type: ignore[method-assign]
            await alice.send("talk", "still here")
            event = await bob.next_event("msg", timeout=30)
            while event.kind != "msg":
                event = await bob.next_event("msg", timeout=30)
            assert event.body["text"] == "still here"
            await bob.close()


async def test_the_outbox_waits_out_a_rate_limit(tmp_path: Path) -> None:
    async with node(tmp_path, rate=5.0, burst=3) as server:
        app = await server.start("alice")
        alice = server.client("alice", state_dir=tmp_path / "alice-state")
        await alice.start()
        await alice.create("slow")
        for i in range(12):
            await alice.post("slow", f"r{i}")
        keeper = alice.keeper
        assert keeper is not None
        failed = []
        async with asyncio.timeout(60):
            await keeper.drained()
        while not alice.events.empty():
            event = alice.events.get_nowait()
            if event.op == "send_failed":
                failed.append(event)
        assert failed == [], "refused for a while, never dropped"
        await alice.close()
        assert await room_texts(app, server.url, "slow") == [f"r{i}" for i in range(12)]


async def test_one_client_process_holds_a_state_directory(tmp_path: Path) -> None:
    state = tmp_path / "bob-state"
    async with node(tmp_path) as server:
        await server.start("bob")
        first = server.client("bob", state_dir=state)
        await first.start()
        second = server.client("bob", state_dir=state)
        with pytest.raises(StateInUse, match="another client process"):
            await second.start()
        await second.close()
        await first.close()
        again = server.client("bob", state_dir=state)  # free once the first closed
        await again.start()
        await again.close()


async def test_the_cached_history_shows_messages_as_they_are_now(tmp_path: Path) -> None:
    """Edits, reactions, redactions and replies received are applied to what the
    client keeps, offline too, and to the unread messages it hands over."""
    state = tmp_path / "bob-state"
    async with node(tmp_path) as server:
        await server.start("alice", "bob")
        async with server.client("alice") as alice:
            await alice.create("news")
            bob = server.client("bob", state_dir=state)
            await bob.start()
            await bob.join("news")
            first = await alice.send("news", "draft")
            second = await alice.send("news", "oops")
            await alice.edit("news", first["seq"], "final")
            await alice.react("news", first["seq"], "👍")
            await bob.react("news", first["seq"], "👍")
            await alice.unreact("news", first["seq"], "👍")
            await alice.redact("news", second["seq"], "wrong room")
            last = await alice.send("news", "reply", thread=first["seq"])
            while (await bob.next_event("msg")).seq != last["seq"]:
                pass
            await bob.close()
        await server.stop()

        bob = server.client("bob", state_dir=state)
        await bob.start()
        keeper = bob.keeper
        assert keeper is not None
        cached = {m.seq: m for m in await bob.cached("news")}
        shown = cached[first["seq"]].body
        assert shown["text"] == "final"
        assert shown["edits"] == 1
        assert shown["reactions"] == [
            {"key": "👍", "count": 1, "me": True, "users": [keeper.state.user_id]}
        ]
        assert shown["thread_summary"]["replies"] == 1
        assert cached[second["seq"]].body["redacted"]["reason"] == "wrong room"
        assert cached[second["seq"]].body["text"] == ""
        assert {m.kind for m in cached.values()} <= {"msg", "join"}, "changes are applied"
        unread = {m.seq: m for m in await bob.read_room("news")}
        assert unread[first["seq"]].body["text"] == "final"
        assert "oops" not in repr(unread)
        await bob.close()
