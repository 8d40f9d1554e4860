"""Security events reach both the audit log and /metrics, over real HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from homer.config import HomerConfig
from homer.testing.server import PASSWORD, replace_config, running_homer

STRONG = "correct horse battery staple"


def strict(config: HomerConfig) -> HomerConfig:
    return replace_config(config, limits={"logins_per_account": 2, "registration_burst": 2})


def counts(metrics: str) -> dict[str, float]:
    found = re.findall(r'^homer_security_events_total\{kind="([^"]+)"\} (\S+)$', metrics, re.M)
    return {kind: float(value) for kind, value in found}


async def test_failures_throttles_refusals_and_changes_are_audited_and_counted(
    tmp_path: Path,
) -> None:
    async with running_homer(tmp_path, configure=strict) as server:
        await server.user("erin")
        url = server.url
        async with aiohttp.ClientSession() as http:
            for _ in range(3):  # two wrong passwords, then the limit
                await http.post(f"{url}/api/login", json={"name": "erin", "password": "nope-nope"})
            await http.post(f"{url}/api/register", json={"name": "erin", "password": STRONG})
            await http.post(f"{url}/api/register", json={"name": "fay", "password": STRONG})
            throttled = await http.post(
                f"{url}/api/register", json={"name": "gus", "password": STRONG}
            )
            assert throttled.status == 429
            login = await http.post(f"{url}/api/login", json={"name": "fay", "password": STRONG})
            token = (await login.json())["token"]
            changed = await http.post(
                f"{url}/api/me/password",
                json={"old": STRONG, "new": STRONG + " again"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert changed.status == 204
            async with http.get(f"{url}/metrics") as response:
                metrics = counts(await response.text())
        assert metrics == {
            "login.failed": 2.0,
            "login.throttled": 1.0,
            "registration.refused": 1.0,
            "registration.throttled": 1.0,
            "hashing.refused": 0.0,
            "user.passwd": 1.0,
            "token.revoke": 0.0,
            "token.revoke_all": 1.0,
        }
        entries = (await server.app.identity.store.audit_entries(limit=100)).items
        security = [(e.action, e.actor, e.target) for e in reversed(entries)]
        assert [entry for entry in security if entry[1] == "127.0.0.1"] == [
            ("login.failed", "127.0.0.1", "user:erin"),
            ("login.failed", "127.0.0.1", "user:erin"),
            ("login.throttled", "127.0.0.1", "user:erin"),
            ("registration.refused", "127.0.0.1", "user:erin"),
            ("registration.throttled", "127.0.0.1", "sign-up"),
        ]
        assert [a for a, _, t in security if t.startswith("user:fay")] == [
            "user.create",
            "user.passwd",
        ]
        assert "token.revoke_all" in [a for a, _, _ in security]
        assert PASSWORD not in repr(entries)
