from __future__ import annotations

from homer.testing.store_conformance import StoreConformance


class TestSQLiteStore(StoreConformance):
    """The embedded default passes the suite every adapter passes (``store`` from conftest)."""
