"""`Store`: the one client for both the embedded store (chDB) and a ClickHouse server.

    store = Store.open("chdb:///var/lib/llmsight/store")   # or "http://user:pass@host:8123"
    store.ensure_schema()
    store.insert(records, dedup_token="seg-3:0-512")
    store.query("SELECT count() FROM llmsight.llm_calls")

Same client (clickhouse-connect), same SQL, same schema. An embedded store is owned by one process:
opening it takes an exclusive lock next to it.
"""

from __future__ import annotations

import importlib.util
import operator
import re
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from llmsight.collector.columns import CALL_COLUMNS, CALLS_TABLE, CONTENT_COLUMN, DATABASE
from llmsight.collector.config import redact_dsn
from llmsight.collector.lockfile import LockedError, lock_exclusively
from llmsight.collector.record import CallRecord
from llmsight.collector.store import schema
from llmsight.errors import LLMSightError

COLUMN_NAMES = [name for name, _ in CALL_COLUMNS]
_ROW_OF = operator.attrgetter(*COLUMN_NAMES)
# Trace and span ids are FixedString hex: read them back as str, not bytes.
_QUERY_FORMATS = {"FixedString": "string"}


class StoreError(LLMSightError, RuntimeError):
    """ClickHouse refused or failed an operation; `code` is ClickHouse's error code when it gave one."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class StoreUnavailableError(StoreError):
    """The ClickHouse server cannot be reached (retry later)."""


class StoreLockedError(StoreError):
    """Another process owns this embedded store."""


class StoreDataError(StoreError):
    """The store refuses these rows for what they hold (a constraint, a value out of a type's range, too many
    partitions in one block): sending them again can never succeed, unlike an unavailable server."""


# ClickHouse error codes that say "this data", not "this server right now" (src/Common/ErrorCodes.cpp). Not 252
# (TOO_MANY_PARTS): it also means "merges are behind", which passes; the writer's blocks never span more day
# partitions than ClickHouse allows (insert_blocks), so it is retried like an unavailable server.
_DATA_ERROR_CODES = frozenset({
    6,  # CANNOT_PARSE_TEXT
    27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    38, 41,  # CANNOT_PARSE_DATE, CANNOT_PARSE_DATETIME
    53,  # TYPE_MISMATCH
    69,  # ARGUMENT_OUT_OF_BOUND
    70,  # CANNOT_CONVERT_TYPE
    72,  # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    131,  # TOO_LARGE_STRING_SIZE
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    469,  # VIOLATED_CONSTRAINT
})
# The store has no llmsight schema: pointed at the wrong database or directory.
_NO_SCHEMA_CODES = frozenset({60, 81})  # UNKNOWN_TABLE, UNKNOWN_DATABASE
# Every bounded read (the read API's operations, the alert evaluator) marks its SQL `/* READ_MARKER:id */`, so
# one KILL QUERY finds it, or all of them at shutdown.
READ_MARKER = "llmsight-read"
# Rows per insert: bounded so no single block is too large for the server's memory limits.
MAX_INSERT_ROWS = 100_000
# Day partitions per insert: half of ClickHouse's default max_partitions_per_insert_block (100).
MAX_INSERT_DAYS = 50


def insert_blocks(
    records: Sequence[CallRecord], max_rows: int = MAX_INSERT_ROWS, max_days: int = MAX_INSERT_DAYS
) -> list[tuple[str, list[CallRecord]]]:
    """The batch as (suffix, rows) blocks of at most `max_days` day partitions (`PARTITION BY toDate(ts)`,
    UTC) and `max_rows` rows: no insert can touch more partitions than ClickHouse allows, however far apart
    the spans are. Deterministic for the same rows in the same order, so a replayed batch gets the same
    blocks and tokens."""
    days: dict[int, list[CallRecord]] = {}
    for record in records:  # UTC day number: toordinal() is far cheaper per row than formatting a date
        days.setdefault(record.ts.toordinal(), []).append(record)
    blocks: list[tuple[str, list[CallRecord]]] = []
    block_days = 0
    for ordinal, rows in sorted(days.items()):
        day = f"{date.fromordinal(ordinal):%Y%m%d}"
        if not blocks or block_days >= max_days or len(blocks[-1][1]) + len(rows) > max_rows:
            blocks.append((day, []))
            block_days = 0
        block_days += 1
        for start in range(0, len(rows), max_rows):
            if len(blocks[-1][1]) + len(rows[start:start + max_rows]) > max_rows:
                blocks.append((f"{day}.{start}", []))
                block_days = 1
            blocks[-1][1].extend(rows[start:start + max_rows])
    return blocks


@dataclass(frozen=True, slots=True)
class QueryResult:
    column_names: list[str]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.column_names, row, strict=True)) for row in self.rows]


class Store:
    def __init__(self, client: Any, dsn: str, lock_file: Any = None, *, connect_timeout: float = 5.0) -> None:
        self._client = client  # None: a server that was down; connect on next use
        self.dsn = dsn
        self._connect_timeout = connect_timeout
        self._schema_ttl_days: int | None = None  # set once ensure_schema has been asked for
        self._content_ttl_days = schema.DEFAULT_CONTENT_TTL_DAYS
        self._lock_file = lock_file
        # chDB runs queries in-process; clickhouse-connect clients are not meant for concurrent use.
        self._lock = threading.RLock()
        # Reads (report, alerts) get a client of their own, so a long read never holds the lock that inserts,
        # schema changes and close() take. chDB allows several handles on its one engine, and they do run at
        # once: an insert took 10-20 ms while a 6 s read ran on the other handle (measured).
        self._reader: Any = None
        self._read_lock = threading.Lock()
        self._reads_cancelled = threading.Event()  # set by cancel_reads (shutdown): no new read starts

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb://")

    @classmethod
    def open(cls, dsn: str, *, connect_timeout: float = 5.0, lazy: bool = False, create: bool = True) -> Store:
        """Open a store. With `lazy`, a ClickHouse server that is down is not an error: the store
        connects (and creates its schema) on first use, and each use raises StoreUnavailableError
        until the server answers. Without `create` (commands that only read or fix stored calls), an
        embedded store that does not exist is an error, not a new empty directory."""

        lock_file = None
        if dsn.startswith("chdb://"):
            if importlib.util.find_spec("chdb") is None:  # the collector-server install, by design
                raise StoreError(
                    f"the embedded store ({dsn}) needs chDB, which is not installed: pip install 'llmsight[collector]', "
                    "or point --dsn / LLMSIGHT_CLICKHOUSE_DSN at a ClickHouse server (http://user:pass@host:8123)"
                )
            path = Path(dsn.removeprefix("chdb://"))
            if not create and not path.is_dir():
                raise StoreError(
                    f"no embedded store at {path}: nothing has been stored there (a collector creates it: "
                    f"llmsight collector --dsn chdb://{path}); check --dsn / --data-dir"
                )
            path.mkdir(parents=True, exist_ok=True)
            try:
                lock_file = lock_exclusively(path.parent / f".{path.name}.lock", what=f"the embedded store {path}")
            except LockedError as exc:
                raise StoreLockedError(
                    f"{exc}; stop it, or query through the running collector (llmsight report finds it automatically)"
                ) from None
        elif not dsn.startswith(("http://", "https://")):
            raise StoreError(f"unsupported ClickHouse DSN {redact_dsn(dsn)!r}: use chdb://PATH or http(s)://HOST:PORT")
        try:
            client = _connect(dsn, connect_timeout, embedded=lock_file is not None)
        except StoreUnavailableError:
            if lock_file is not None:
                lock_file.close()
            if not lazy or lock_file is not None:
                raise
            client = None
        return cls(client, dsn, lock_file, connect_timeout=connect_timeout)

    def _connected(self) -> Any:
        if self._client is None:
            self._client = _connect(self.dsn, self._connect_timeout, embedded=False)
            if self._schema_ttl_days is not None:
                self._migrate(self._schema_ttl_days)
        return self._client

    def ensure_schema(self, *, ttl_days: int = 90, content_ttl_days: int = schema.DEFAULT_CONTENT_TTL_DAYS) -> int:
        """Create or migrate the schema; returns the schema version now in force. Idempotent. A lazy
        store whose server is down remembers the request and migrates when it connects."""
        with self._lock:
            self._schema_ttl_days, self._content_ttl_days = ttl_days, content_ttl_days
            if self._client is None:
                self._connected()  # migrates on success, raises StoreUnavailableError otherwise
                return schema.SCHEMA_VERSION
            try:
                return self._migrate(ttl_days)
            except StoreError:
                raise
            except Exception as exc:
                raise _classify(exc, self.dsn) from exc

    def _migrate(self, ttl_days: int) -> int:
        client = self._client
        for statement in schema.bootstrap_ddl():
            client.command(statement)
        current = int(client.command(f"SELECT max(version) FROM {DATABASE}.schema_version") or 0)
        for version, statements in schema.migrations(ttl_days, self._content_ttl_days):
            if version <= current:
                continue
            for statement in statements:
                client.command(statement)
            client.command(f"INSERT INTO {DATABASE}.schema_version (version) VALUES ({version})")
            current = version
        self._apply_content_ttl(self._content_ttl_days)
        return current

    def _apply_content_ttl(self, days: int) -> None:
        """A changed content_ttl_days applies to the existing table (and its rows). Only a MergeTree-family
        table has column TTLs: with a cluster's Distributed table, ALTER the local tables ON CLUSTER instead."""
        engine, create = self._client.query(
            "SELECT engine, create_table_query FROM system.tables WHERE database = {db:String} AND name = {table:String}",
            parameters={"db": DATABASE, "table": CALLS_TABLE},
        ).result_rows[0]
        in_force = re.search(rf"`?{CONTENT_COLUMN}`? Map\(String, String\)[^,]*?TTL toDateTime\(ts\) \+ toIntervalDay\((\d+)\)", create)
        if engine.endswith("MergeTree") and (in_force is None or int(in_force.group(1)) != days):
            self._client.command(schema.content_column_ddl(days, modify=True))

    def insert(self, records: Sequence[CallRecord], dedup_token: str, *, table: str = CALLS_TABLE) -> None:
        """Columnar insert of one batch. Inserting the same batch again with the same token is a no-op
        in the raw table and in the hourly rollup (ClickHouse insert deduplication)."""
        if not records:
            return
        columns = list(zip(*map(_ROW_OF, records), strict=True))  # one C-level attrgetter call per record
        settings = {
            "insert_deduplicate": 1,
            "insert_deduplication_token": dedup_token,
            "deduplicate_blocks_in_dependent_materialized_views": 1,
        }
        try:
            with self._lock:
                self._connected().insert(
                    f"{DATABASE}.{table}", columns, column_names=COLUMN_NAMES, column_oriented=True, settings=settings
                )
        except Exception as exc:
            raise _classify(exc, self.dsn) from exc

    def insert_rows(
        self, table: str, column_names: list[str], rows: Sequence[Sequence[Any]], *, column_oriented: bool = False
    ) -> None:
        """A plain insert into another llmsight table (small tables such as model_prices); with `column_oriented`,
        `rows` holds one sequence per column."""
        try:
            with self._lock:
                self._connected().insert(f"{DATABASE}.{table}", rows, column_names=column_names, column_oriented=column_oriented)
        except Exception as exc:
            raise _classify(exc, self.dsn) from exc

    def query(self, sql: str, parameters: dict[str, Any] | None = None, *, settings: dict[str, Any] | None = None) -> QueryResult:
        try:
            with self._lock:
                result = self._connected().query(
                    sql, parameters=parameters, settings=settings, query_formats=_QUERY_FORMATS
                )
        except Exception as exc:
            raise _classify(exc, self.dsn) from exc
        return QueryResult(list(result.column_names), [tuple(row) for row in result.result_rows])

    def read(
        self, sql: str, parameters: dict[str, Any] | None = None, *, settings: dict[str, Any] | None = None,
        wait_s: float | None = None,
    ) -> QueryResult:
        """A query on the read client (see __init__), one at a time; `settings` should bound it (READ_LIMITS in
        the read API). With `wait_s`, waiting longer than that for the read before it raises StoreUnavailableError."""
        if not self._read_lock.acquire(timeout=-1 if wait_s is None else max(wait_s, 0.0)):
            raise StoreUnavailableError(f"another read held the store for {wait_s:.0f}s; retry")
        try:
            if self._reads_cancelled.is_set():  # queued behind a read that shutdown killed
                raise StoreUnavailableError("reads are cancelled: the collector is stopping")
            if self._reader is None:
                with self._lock:
                    self._connected()  # the schema exists (or the server is down: raises)
                self._reader = _connect(self.dsn, self._connect_timeout, embedded=self.embedded)
            try:
                result = self._reader.query(sql, parameters=parameters, settings=settings, query_formats=_QUERY_FORMATS)
            except Exception:
                # A failed statement can leave settings applied to the handle (readonly=1 cannot be undone
                # under readonly=1): the next read starts on a fresh one.
                self._reader.close()
                self._reader = None
                raise
        except Exception as exc:
            raise _classify(exc, self.dsn) from exc
        finally:
            self._read_lock.release()
        return QueryResult(list(result.column_names), [tuple(row) for row in result.result_rows])

    def kill_reads(self, marker: str) -> None:
        """Cancel the reads whose SQL carries `/* marker */` (from any thread; the read lock is not taken)."""
        if not marker.replace("-", "").replace(":", "").isalnum():
            raise ValueError(f"unsafe query marker {marker!r}")
        self.command(f"KILL QUERY WHERE query LIKE '/* {marker} */%' ASYNC")

    def cancel_reads(self) -> None:
        """At shutdown (from any thread): refuse reads from now on and kill every marked read running."""
        self._reads_cancelled.set()
        try:
            self.command(f"KILL QUERY WHERE query LIKE '/* {READ_MARKER}:%' ASYNC")
        except StoreUnavailableError:
            pass  # a server that is down runs nothing of ours

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        try:
            with self._lock:
                return self._connected().command(sql, parameters=parameters)
        except Exception as exc:
            raise _classify(exc, self.dsn) from exc

    def close(self) -> None:
        with self._read_lock:  # a read in progress is bounded by its max_execution_time
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        with self._lock:
            try:
                if self._client is not None:
                    self._client.close()
            finally:
                if self._lock_file is not None:
                    self._lock_file.close()
                    self._lock_file = None


def without_dataframes() -> None:
    """clickhouse-connect imports pandas (a quarter of a CPU-second at start-up, and its memory for good) on the
    first insert, only to ask whether the rows are a DataFrame. The collector's never are (column lists): in its
    process, resolve the library's lazy pandas handles as absent, as they are where pandas is not installed."""
    from clickhouse_connect.driver import options

    options.pd = None
    options.pd_time_test = None


def _connect(dsn: str, connect_timeout: float, *, embedded: bool) -> Any:
    import clickhouse_connect

    try:
        options = {} if embedded else {"connect_timeout": connect_timeout}
        return clickhouse_connect.get_client(dsn=dsn, **options)
    except Exception as exc:
        raise StoreUnavailableError(f"cannot connect to ClickHouse at {redact_dsn(dsn)}: {exc}") from exc


def _classify(exc: Exception, dsn: str) -> StoreError:
    """Ours, by clickhouse-connect's exception class and ClickHouse's error code (never the message text)."""
    from clickhouse_connect.driver.exceptions import DataError, Error, OperationalError

    if isinstance(exc, StoreError):
        return exc
    code = exc.code if isinstance(exc, Error) else None
    if isinstance(exc, OperationalError) or isinstance(exc, (ConnectionError, TimeoutError)):
        return StoreUnavailableError(f"ClickHouse at {redact_dsn(dsn)} is unavailable: {exc}", code=code)
    if code in _NO_SCHEMA_CODES:
        return StoreError(f"{redact_dsn(dsn)} holds no llmsight data (no llmsight schema: {str(exc).strip()}); "
                          "point --dsn / --data-dir at the store a collector writes to", code=code)
    if code in _DATA_ERROR_CODES or isinstance(
        # Rows the client cannot even encode for their column types.
        exc, (DataError, struct.error, OverflowError, TypeError, ValueError, UnicodeError)
    ):
        return StoreDataError(str(exc), code=code)
    return StoreError(str(exc), code=code)
