"""Sessions over every transport: authentication, errors, permissions."""

from __future__ import annotations

import asyncio

import pytest

from homer.client import ClientError
from tests.conformance.conftest import Kit, next_matching


async def test_a_good_token_opens_a_session(kit: Kit) -> None:
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
    kit: Kit, token: str, code: str, says: str
) -> None:
    if token == "expired":
        token = await kit.server.token("alice", ttl=0.001)
        await asyncio.sleep(0.01)
    client = await kit.client("alice", token=token, connect=False)
    with pytest.raises(ClientError) as refused:
        await client.connect()
    assert refused.value.wire_code == code
    assert says in refused.value.message
    assert client.transport is None


async def test_errors_carry_their_code_and_leave_the_session_usable(kit: Kit) -> None:
    alice = await kit.client("alice")
    await alice.create("lobby")
    max_text = kit.server.app.config.limits.max_text
    cases = [
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


async def test_permissions_are_enforced(kit: Kit) -> None:
    alice = await kit.client("alice")
    await alice.create("secret", kind="private")
    carol = await kit.client("carol")
    for call in (
        carol.join("secret"),
        carol.history("secret"),
        carol.send("secret", "let me in"),
        carol.request("broadcast", text="hear me, everyone"),
    ):
        with pytest.raises(ClientError) as refused:
            await call
        assert refused.value.wire_code == "forbidden", refused.value.message
    # An invitation opens the private room; an administrator may broadcast.
    await alice.request("invite", room="secret", user="carol")
    await carol.join("secret")
    assert (await carol.send("secret", "thanks"))["room"] == "secret"
    root = await kit.client("root", group="admins")
    await root.request("broadcast", text="maintenance at noon")
    heard = await next_matching(carol, lambda e: e.op == "broadcast")
    assert (heard.sender, heard.body["text"]) == ("root", "maintenance at noon")


async def test_the_invitee_hears_of_an_invitation(kit: Kit) -> None:
    alice = await kit.client("alice")
    await alice.create("secret", kind="private")
    carol = await kit.client("carol")
    await alice.request("invite", room="secret", user="carol")
    invited = await next_matching(carol, lambda e: e.op == "invited", timeout=1.0)
    assert (invited.room, invited.sender) == ("secret", "alice")
    assert invited.body["kind"] == "private"
