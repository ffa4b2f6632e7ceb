"""The DuckDB workspace file: connection, schema migrations and SQL over stored tables."""

from clustomer.store.db import Store
from clustomer.store.migrations import LATEST_VERSION

__all__ = ["LATEST_VERSION", "Store"]
