"""A node that cannot start leaves nothing open behind it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homer.broker.inprocess import InProcessBroker
from homer.config import HomerConfig
from homer.core.app import Homer
from homer.errors import BrokerError
from homer.identity.passwords import Argon2Params
from homer.store.sqlite import SQLiteStore


class RefusingBroker(InProcessBroker):
    """A broker that cannot be reached."""

    async def start(self, *args: Any, **kwargs: Any) -> None:
        raise BrokerError("the broker does not answer")


def closed(app: Homer) -> bool:
    """Whether the store the node opened for itself is closed."""
    store = app.identity.store
    assert isinstance(store, SQLiteStore)
    return store.db._executor is None


async def test_a_broker_that_does_not_start_leaves_the_store_closed(tmp_path: Path) -> None:
    app = Homer(
        HomerConfig(data_dir=str(tmp_path)),
        broker=RefusingBroker(),
        password_params=Argon2Params.cheap(),
    )
    with pytest.raises(BrokerError):
        await app.start()
    assert closed(app)


async def test_an_undeclared_permission_leaves_the_store_closed(tmp_path: Path) -> None:
    app = Homer(HomerConfig(data_dir=str(tmp_path)), password_params=Argon2Params.cheap())

    @app.on("shout", requires="room.shout")
    async def shout(ctx: Any) -> None:
        return None

    with pytest.raises(Exception, match="room.shout"):
        await app.start()
    assert closed(app)
