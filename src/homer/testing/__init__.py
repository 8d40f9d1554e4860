"""Homer's public test kit: what the project tests itself with, for applications too.

- :mod:`homer.testing.store_conformance`: the suite every Store adapter passes;
- :mod:`homer.testing.plugin`: pytest fixtures (loaded automatically).
"""
