"""The Broker port: how live events reach the nodes whose sessions need them.

The RabbitMQ adapter, :class:`homer.broker.rabbitmq.RabbitMQBroker`, is imported
from its module: it needs the ``rabbitmq`` extra.
"""

from homer.broker.inprocess import InProcessBroker
from homer.broker.ports import Broker, Deliver, Resync

__all__ = ["Broker", "Deliver", "InProcessBroker", "Resync"]
