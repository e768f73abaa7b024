"""ClickHouse storage through clickhouse-connect: `chdb://PATH` (embedded) or `http(s)://…` (server)."""

from llmsight.collector.store.store import (
    QueryResult,
    Store,
    StoreDataError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)

__all__ = ["QueryResult", "Store", "StoreDataError", "StoreError", "StoreLockedError", "StoreUnavailableError"]
