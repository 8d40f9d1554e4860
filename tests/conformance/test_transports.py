"""The transport conformance kit (:mod:`homer.testing.transport_conformance`) over
every transport and codec Homer's own listeners speak, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from homer.config import HomerConfig
from homer.testing.server import replace_config, running_homer
from homer.testing.transport_conformance import (
    BUILT_IN,
    TransportConformance,
    TransportKit,
    quick_presence,
)


def configure(config: HomerConfig) -> HomerConfig:
    return quick_presence(replace_config(config, server={"tcp_port": 0}))


class TestBuiltInTransports(TransportConformance):
    @pytest_asyncio.fixture(params=BUILT_IN, ids=[c.id for c in BUILT_IN])
    async def kit(
        self, request: pytest.FixtureRequest, tmp_path: Path
    ) -> AsyncIterator[TransportKit]:
        async with running_homer(tmp_path, configure=configure) as server:
            kit = TransportKit.on_server(server, request.param)
            try:
                yield kit
            finally:
                await kit.aclose()
