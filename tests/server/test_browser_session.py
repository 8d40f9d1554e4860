"""One sign-in per browser profile: the session cookie's attributes, what it buys,
what refuses it (no header, another origin, no cookie, a revoked user) and how
signing out ends every token it gave."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from homer.testing.server import running_homer

HEADER = {"X-Homer-Session": "1"}


async def test_a_session_cookie_buys_tokens_until_it_is_ended(tmp_path: Path) -> None:
    async with (
        running_homer(tmp_path) as server,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        url = server.url
        first = await server.token("alice")
        bearer = {"Authorization": f"Bearer {first}"}
        async with http.post(f"{url}/api/session", headers={**HEADER, **bearer}) as opened:
            assert opened.status == 201
            cookie = opened.headers["Set-Cookie"]
        assert "homer_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/api/session" in cookie
        assert "Secure" not in cookie  # plain HTTP here; set on HTTPS

        tokens = []
        for _ in range(2):  # a new tab, a restarted browser: each gets its own token
            async with http.post(f"{url}/api/session/token", headers=HEADER) as answer:
                assert answer.status == 200
                body = await answer.json()
            assert body["user"]["name"] == "alice"
            tokens.append(body["token"])
        for token in tokens:
            async with http.get(
                f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}
            ) as me:
                assert me.status == 200

        async with http.delete(f"{url}/api/session", headers=HEADER) as ended:
            assert ended.status == 204
        for token in [first, *tokens]:  # every token of the session: signed out everywhere
            async with http.get(
                f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}
            ) as me:
                assert me.status == 401
        async with http.post(f"{url}/api/session/token", headers=HEADER) as after:
            assert after.status == 401
            assert (await after.json())["code"] == "unauthenticated"


async def test_what_another_page_could_send_is_refused(tmp_path: Path) -> None:
    async with (
        running_homer(tmp_path) as server,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        url = server.url
        token = await server.token("alice")
        bearer = {"Authorization": f"Bearer {token}"}
        async with http.post(f"{url}/api/session", headers=bearer) as no_header:
            assert no_header.status == 403
        async with http.post(f"{url}/api/session", headers={**HEADER, **bearer}) as opened:
            assert opened.status == 201
        for method, path in (("POST", "/api/session/token"), ("DELETE", "/api/session")):
            async with http.request(method, f"{url}{path}") as bare:
                assert bare.status == 403, (method, path)
            hostile = {**HEADER, "Origin": "http://evil.example"}
            async with http.request(method, f"{url}{path}", headers=hostile) as foreign:
                assert foreign.status == 403, (method, path)
                assert (await foreign.json())["code"] == "forbidden"
        same = {**HEADER, "Origin": url}
        async with http.post(f"{url}/api/session/token", headers=same) as own:
            assert own.status == 200
        async with http.post(f"{url}/api/session", headers=HEADER) as no_token:
            assert no_token.status == 401

    async with (
        running_homer(tmp_path / "other") as server,
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/api/session/token", headers=HEADER) as none,
    ):
        assert none.status == 401  # no cookie at all


async def test_revoking_a_users_tokens_ends_their_sessions(tmp_path: Path) -> None:
    async with (
        running_homer(tmp_path) as server,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        token = await server.token("alice")
        bearer = {"Authorization": f"Bearer {token}"}
        async with http.post(f"{server.url}/api/session", headers={**HEADER, **bearer}) as opened:
            assert opened.status == 201
        user = await server.user("alice")
        await server.app.identity.tokens.revoke_user(user.id)
        async with http.post(f"{server.url}/api/session/token", headers=HEADER) as answer:
            assert answer.status == 401
