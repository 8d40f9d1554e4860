"""The Broker port: how live events reach the nodes whose sessions need them."""

from homer.broker.inprocess import InProcessBroker
from homer.broker.ports import Broker, Deliver

__all__ = ["Broker", "Deliver", "InProcessBroker"]
