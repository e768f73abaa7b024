"""Per-user / per-session attribution and deploy markers, from the app to the columns the dashboards read:
`llmsight.tags(user=..., session=...)` on a real OpenAI SDK call, exported by the real OTLP exporter to the real
collector; and the schema migration that gives an existing store the new columns."""

from __future__ import annotations

from pathlib import Path

import openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import llmsight
from llmsight import attributes as attr
from llmsight.collector.columns import (
    ADDED_CALL_COLUMNS,
    ADDED_HOURLY_COLUMNS,
    CONTENT_COLUMN,
    MATERIALIZED_CALL_COLUMNS,
)
from llmsight.collector.record import CallRecord
from llmsight.collector.store import Store, schema

MESSAGES = [{"role": "user", "content": "Say hello."}]


def test_user_and_session_tags_reach_their_columns(empty_store, provider_server) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "chat-app", "service.version": "2.0.1"}))
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{empty_store.collector.http_port}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    llmsight.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=provider_server.openai_base_url, api_key="test")
        with llmsight.tags(user="u-42", session="conv-7", task="chat"):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            with llmsight.tags(session="conv-8"):  # nested: the inner session wins, the user is inherited
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # outside: no attribution
    finally:
        llmsight.uninstrument()
        provider.shutdown()
    assert empty_store.collector.flush()
    rows = empty_store.query(
        "SELECT user_id, session_id, task, attributes['service.version'] AS version, mapContains(attributes, 'user.id') AS raw "
        "FROM llmsight.llm_calls ORDER BY ts"
    ).rows
    assert rows == [("u-42", "conv-7", "chat", "2.0.1", False), ("u-42", "conv-8", "chat", "2.0.1", False),
                    ("", "", "", "2.0.1", False)]


def test_tag_attribute_names_are_the_otel_general_ones() -> None:
    """The names OpenTelemetry's semantic conventions (the package the SDK ships) give these attributes."""
    from opentelemetry.semconv._incubating.attributes import session_attributes, user_attributes
    from opentelemetry.semconv.attributes import service_attributes

    assert (attr.USER_ID, attr.SESSION_ID, attr.SERVICE_VERSION) == (
        user_attributes.USER_ID, session_attributes.SESSION_ID, service_attributes.SERVICE_VERSION)


def test_an_existing_store_gets_the_new_columns(tmp_path: Path) -> None:
    store = Store.open(f"chdb://{tmp_path / 'store'}")
    try:
        # A store as schema version 1 created it: no user_id / session_id.
        for statement in schema.bootstrap_ddl():
            store.command(statement)
        # Every column added after version 1 (content has its own migration, with its TTL), and call_id's index.
        later = tuple(f"{name} " for name in (*(name for _, name in ADDED_CALL_COLUMNS), CONTENT_COLUMN,
                                               *(name for _, name, _, _ in MATERIALIZED_CALL_COLUMNS), "INDEX"))
        v1_table = "\n".join(line for line in schema.calls_table_ddl().splitlines() if not line.strip().startswith(later))
        v1_table = v1_table.replace("attributes Map(String, String) CODEC(ZSTD(3)),", "attributes Map(String, String) CODEC(ZSTD(3))")
        later_sums = tuple(name for _, name in ADDED_HOURLY_COLUMNS)
        v1_hourly = "\n".join(line for line in schema.hourly_table_ddl().splitlines()
                              if not line.strip().startswith(tuple(f"{name} " for name in later_sums)))
        v1_view = schema.hourly_view_ddl()
        for name in later_sums:
            v1_view = v1_view.replace(f",\n    {schema._HOURLY_SUMS[name]} AS {name}", "")
        for statement in (v1_table, v1_hourly, v1_view):
            store.command(statement)
        store.command("INSERT INTO llmsight.schema_version (version) VALUES (1)")
        store.command("INSERT INTO llmsight.llm_calls (ts, trace_id, span_id, service) VALUES (now64(6), repeat('a', 32), repeat('b', 16), 'old')")
        columns = {row[0] for row in store.query("DESCRIBE TABLE llmsight.llm_calls").rows}
        assert "user_id" not in columns

        assert store.ensure_schema() == schema.SCHEMA_VERSION
        from datetime import datetime, timezone

        store.insert([CallRecord(ts=datetime.now(timezone.utc), trace_id="c" * 32, span_id="d" * 16, service="new", user_id="u1", session_id="s1")], "t1")
        rows = store.query("SELECT service, user_id, session_id FROM llmsight.llm_calls ORDER BY service").rows
        assert rows == [("new", "u1", "s1"), ("old", "", "")]
        assert store.ensure_schema() == schema.SCHEMA_VERSION  # idempotent
    finally:
        store.close()
