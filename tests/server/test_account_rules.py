"""Over HTTP: a weak password and a look-alike name are refused, saying why."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from homer.testing.server import running_homer

STRONG = "correct horse battery staple"


async def test_sign_up_refusals_say_why(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:

        async def register(name: str, password: str) -> tuple[int, dict[str, object]]:
            body = {"name": name, "password": password}
            async with http.post(f"{server.url}/api/register", json=body) as answer:
                return answer.status, await answer.json()

        status, body = await register("carol", "12345678")
        assert status == 400
        assert body["fields"] == {"password": "is one of the most common passwords: choose another"}
        assert (await register("alice", STRONG))[0] == 201
        status, body = await register("al\u0131ce", STRONG)
        assert (status, body["code"]) == (409, "conflict")
        assert "looks like the name of an existing user" in str(body["message"])
        status, body = await register("\u0430lice", STRONG)
        assert status == 400
        assert body["fields"] == {"name": "mixes scripts (Cyrillic, Latin): use one script"}
