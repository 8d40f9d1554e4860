"""Login and sign-up limits over real sockets, with clients on two loopback
source addresses (127.0.0.1 and 127.0.0.2) talking to a server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from homer.config import HomerConfig, PasswordConfig
from homer.testing.server import PASSWORD, TestServer, replace_config, running_homer


@asynccontextmanager
async def client_from(source: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def post(
    session: aiohttp.ClientSession, server: TestServer, path: str, body: Any
) -> tuple[int, dict[str, Any]]:
    async with session.post(server.url + path, json=body) as response:
        return response.status, await response.json(content_type=None)


async def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out(
    tmp_path: Path,
) -> None:
    async with running_homer(tmp_path) as server:
        await server.user("carol")
        async with client_from("127.0.0.1") as attacker, client_from("127.0.0.2") as carol:
            statuses = [
                (
                    await post(
                        attacker, server, "/api/login", {"name": "carol", "password": "x" * 9}
                    )
                )[0]
                for _ in range(11)
            ]
            assert statuses == [401] * 10 + [429]
            status, body = await post(
                carol, server, "/api/login", {"name": "carol", "password": PASSWORD}
            )
            assert status == 200, body
            assert body["user"]["name"] == "carol"


def few_logins_per_account(config: HomerConfig) -> HomerConfig:
    return replace_config(config, limits={"logins_per_account_total": 3})


async def test_a_spent_account_limit_still_lets_a_known_address_in(tmp_path: Path) -> None:
    async with running_homer(tmp_path, configure=few_logins_per_account) as server:
        await server.user("carol")
        right = {"name": "carol", "password": PASSWORD}
        async with client_from("127.0.0.1") as owner, client_from("127.0.0.2") as stranger:
            assert (await post(owner, server, "/api/login", right))[0] == 200  # 1 of 3
            wrong = {"name": "carol", "password": "guess-1234"}
            statuses = [(await post(stranger, server, "/api/login", wrong))[0] for _ in range(3)]
            assert statuses == [401, 401, 429], "the account-wide limit binds strangers"
            assert (await post(stranger, server, "/api/login", right))[0] == 429
            # The owner's address logged in before: the spent account limit does not bind it.
            status, _ = await post(owner, server, "/api/login", right)
            assert status == 200


async def test_sign_ups_are_limited_per_address(tmp_path: Path) -> None:
    async with (
        running_homer(tmp_path) as server,
        client_from("127.0.0.1") as flood,
        client_from("127.0.0.2") as other,
    ):
        statuses = []
        for n in range(7):
            body = {"name": f"bot{n}", "password": "correct horse battery staple"}
            statuses.append((await post(flood, server, "/api/register", body))[0])
        assert statuses == [201] * 5 + [429] * 2
        body = {"name": "dora", "password": "correct horse battery staple"}
        assert (await post(other, server, "/api/register", body))[0] == 201


def one_hash_per_address(config: HomerConfig) -> HomerConfig:
    return replace_config(config, identity={"passwords": PasswordConfig(per_client=1)})


async def test_a_flooding_address_gets_429_while_another_address_logs_in(
    tmp_path: Path,
) -> None:
    async with running_homer(tmp_path, configure=one_hash_per_address) as server:
        await server.user("alice")
        passwords = server.app.identity.passwords
        gate = threading.Event()
        judge = passwords._judge_and_hash

        def held(password: str, user_inputs: Any) -> Any:
            gate.wait(10.0)
            return judge(password, user_inputs)

        passwords._judge_and_hash = held  # type: ignore[method-assign]
        started = asyncio.Event()
        passwords.pool.on_start = lambda client: started.set()
        strong = "correct horse battery staple"
        try:
            async with client_from("127.0.0.2") as flood, client_from("127.0.0.1") as alice:
                first = asyncio.create_task(
                    post(flood, server, "/api/register", {"name": "bot1", "password": strong})
                )
                await asyncio.wait_for(started.wait(), 10.0)
                status, body = await post(
                    flood, server, "/api/register", {"name": "bot2", "password": strong}
                )
                assert (status, body["code"]) == (429, "rate_limited"), "refused, not queued"
                # The flood holds a worker; alice's login takes the other one at once.
                status, body = await post(
                    alice, server, "/api/login", {"name": "alice", "password": PASSWORD}
                )
                assert status == 200, body
                assert not first.done()
                gate.set()
                assert (await first)[0] == 201
        finally:
            gate.set()
        metrics = server.app.metrics.render().decode()
        assert 'homer_security_events_total{kind="hashing.refused"} 1.0' in metrics
