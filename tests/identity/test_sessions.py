from __future__ import annotations

import pytest

from homer.clock import ManualClock
from homer.errors import InvalidInput, NotFound
from homer.identity import Identity


async def test_sessions_live_for_their_ttl(
    homer_identity: Identity, homer_clock: ManualClock
) -> None:
    sessions = homer_identity.sessions
    sid = await sessions.create({"step": 1}, ttl=60)
    assert len(sid) >= 43
    assert await sessions.get(sid) == {"step": 1}
    assert await sessions.update(sid, {"cart": ["x"]}) == {"step": 1, "cart": ["x"]}
    homer_clock.advance(86_399)
    assert await sessions.get(sid) == {"step": 1, "cart": ["x"]}, "update restarted the ttl"
    homer_clock.advance(2)
    assert await sessions.get(sid) is None
    with pytest.raises(NotFound):
        await sessions.update(sid, {})

    forever = await sessions.create({"k": "v"}, ttl=None)
    short = await sessions.create({}, ttl=1)
    homer_clock.advance(10**9)
    assert await sessions.get(forever) == {"k": "v"}
    assert await sessions.purge() == 2
    assert await sessions.get(short) is None
    assert await sessions.delete(forever)
    assert await sessions.get(forever) is None


async def test_bad_session_input_is_refused(homer_identity: Identity) -> None:
    with pytest.raises(InvalidInput):
        await homer_identity.sessions.create({}, ttl=0)
    with pytest.raises(InvalidInput):
        await homer_identity.sessions.put("s", ["not", "a", "mapping"])  # type: ignore[arg-type]
