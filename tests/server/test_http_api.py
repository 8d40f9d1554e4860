"""The pinned HTTP API: register, login, refresh, health, readiness, metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from homer.client import ClientError, HomerClient
from homer.testing.server import replace_config, running_homer


async def test_register_login_refresh(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        http = HomerClient(server.url)
        created = await http.register("zoe", "zoe-password", display_name="Zoë")
        assert created["user"]["name"] == "zoe"
        assert created["user"]["attributes"] == {"display_name": "Zoë"}
        with pytest.raises(ClientError) as caught:
            await http.register("ZOE", "another-password")
        assert caught.value.wire_code == "conflict"
        with pytest.raises(ClientError) as caught:
            await http.register("x y", "short", shoe=44)
        assert set(caught.value.body["fields"]) == {"name", "password", "shoe"}

        login = await http.http("POST", "/api/login", {"name": "zoe", "password": "zoe-password"})
        token = login["token"]
        assert server.app.identity.tokens.check(token)["name"] == "zoe"  # type: ignore[index]
        for name, password in (("zoe", "wrong-password"), ("nobody", "zoe-password")):
            with pytest.raises(ClientError) as caught:
                await http.http("POST", "/api/login", {"name": name, "password": password})
            assert caught.value.wire_code == "unauthenticated"
            assert caught.value.message == "wrong name or password"
        refreshed = await http.http("POST", "/api/token/refresh", {"token": token})
        assert refreshed["token"] != token
        with pytest.raises(ClientError) as caught:
            await http.http("POST", "/api/token/refresh", {"token": "garbage"})
        assert caught.value.wire_code == "invalid_token"
        await http.close()


async def test_login_is_rate_limited_before_hashing(tmp_path: Path) -> None:
    def strict(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"logins_per_account": 3})

    async with running_homer(tmp_path, configure=strict) as server:
        await server.user("yan")
        http = HomerClient(server.url)
        passwords = server.app.identity.passwords
        verified = 0
        original = passwords.verify

        async def counting(
            stored: str | None, password: str, *, client: str = ""
        ) -> tuple[bool, bool]:
            nonlocal verified
            verified += 1
            return await original(stored, password, client=client)

        passwords.verify = counting  # type: ignore[method-assign]
        codes = []
        for _ in range(5):
            try:
                await http.http("POST", "/api/login", {"name": "YAN", "password": "wrong-pass"})
            except ClientError as exc:
                codes.append(exc.wire_code)
        assert codes == ["unauthenticated"] * 3 + ["rate_limited"] * 2
        assert verified == 3, "refused attempts never reach the password hash"
        await http.close()


async def test_health_readiness_and_metrics(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        await alice.send("lobby", "counted")
        http = HomerClient(server.url)
        assert await http.http("GET", "/healthz") == {"status": "ok"}
        assert await http.http("GET", "/readyz") == {"status": "ready"}
        assert http._http is not None
        for path in ("/healthz", "/readyz"):  # load balancers often check with HEAD
            async with http._http.head(server.url + path) as response:
                assert response.status == 200, path
        async with http._http.get(server.url + "/metrics") as response:
            text = await response.text()
        assert "homer_store_seconds_count 0.0" not in text
        for name in (
            "homer_connections 1.0",
            "homer_messages_in_total 1.0",
            "homer_fanout_seconds_bucket",
            "homer_store_seconds_count",
            "homer_errors_total",
        ):
            assert name in text, name
        await server.app.identity.store.close()
        with pytest.raises(ClientError) as caught:
            await http.http("GET", "/readyz")
        assert caught.value.body["status"] == "unavailable"
        await http.close()


async def test_the_sdk_sends_its_token_with_http_calls(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        assert (await alice.http("GET", "/api/me"))["name"] == "alice"
        await alice.create("lobby")
        sent = {"cid": "c-1", "text": "over REST"}
        ack = await alice.http("POST", "/api/rooms/lobby/messages", sent)
        assert ack["cid"] == "c-1"
        page = await alice.http("GET", "/api/rooms/lobby/messages")
        assert [m["body"] for m in page["messages"] if m["kind"] == "msg"] == [
            {"text": "over REST"}
        ]
        # A client given only a token, never connected, sends it too.
        bare = HomerClient(server.url, token=await server.token("bob"))
        try:
            assert (await bare.http("GET", "/api/me"))["name"] == "bob"
        finally:
            await bare.close()
        # Without a token the call is refused as before.
        anonymous = HomerClient(server.url)
        try:
            with pytest.raises(ClientError) as refused:
                await anonymous.http("GET", "/api/me")
            assert refused.value.wire_code == "unauthenticated"
        finally:
            await anonymous.close()
