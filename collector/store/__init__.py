"""ClickHouse storage through clickhouse-connect: `chdb://PATH` (embedded) or `http(s)://…` (server)."""

from llmsight.collector.store.store import QueryResult, Store, StoreError, StoreLockedError, StoreUnavailableError

__all__ = ["QueryResult", "Store", "StoreError", "StoreLockedError", "StoreUnavailableError"]
