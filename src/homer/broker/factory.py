"""Pick the Broker adapter a configuration names.

The RabbitMQ adapter is imported only when a configuration asks for it: it needs
aio-pika, an optional dependency (the ``rabbitmq`` extra).
"""

from __future__ import annotations

from homer.broker.inprocess import InProcessBroker
from homer.broker.ports import Broker
from homer.config import HomerConfig
from homer.errors import InvalidInput
from homer.extras import optional_dependency

__all__ = ["open_broker"]


def open_broker(config: HomerConfig) -> Broker:
    """The adapter for ``config.broker`` (not started yet):

    - ``inprocess``: one node, nothing to run (the embedded default);
    - ``amqp://user:password@host:port/vhost`` (or ``amqps://``): RabbitMQ, for
      several nodes; ``broker_exchange`` names the exchange they share.
    """
    url = config.broker
    if url == "inprocess":
        return InProcessBroker()
    if url.startswith(("amqp://", "amqps://")):
        with optional_dependency("the RabbitMQ broker", extra="rabbitmq"):
            from homer.broker.rabbitmq import RabbitMQBroker

        return RabbitMQBroker(url, exchange=config.broker_exchange)
    raise InvalidInput(f"unknown broker {url!r}: use 'inprocess' or 'amqp://user:pass@host/'")
