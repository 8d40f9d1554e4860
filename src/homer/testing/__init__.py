"""Homer's public test kit: what the project tests itself with, for applications too.

- :mod:`homer.testing.store_conformance`: the suite every Store adapter passes;
- :mod:`homer.testing.broker_conformance`: the suite every Broker adapter passes;
- :mod:`homer.testing.transport_conformance`: the scenarios every transport, codec
  and framing passes, for one an application adds;
- :mod:`homer.testing.plugin`: pytest fixtures (loaded automatically).
"""
