from __future__ import annotations

import pytest

from homer.broker import InProcessBroker
from homer.testing.broker_conformance import BrokerConformance, BrokerFactory


class TestInProcessBroker(BrokerConformance):
    """The embedded default passes the suite every adapter passes, as its one node."""

    multi_node = False
    delivers_unbound = True

    @pytest.fixture
    def broker_factory(self) -> BrokerFactory:
        def make() -> InProcessBroker:
            return InProcessBroker()

        return make
