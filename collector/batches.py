"""Batch submissions and the attribution of batch results (docs/batch.md).

A `batch.create` span (gen_ai.operation.name) is a submission, not a call: it becomes a row of
`llmsight.batch_submissions` (provider, batch id, time, service, attribution). A batch's result rows (call rows
with `llmsight.batch.id`) take the attribution recorded at submission: from a submission in the same insert batch,
else from the table — so results read by another process, another service or after a restart keep the
submission's tags. A submission is remembered for BATCH_SUBMISSION_TTL_DAYS. What is decided lives in ClickHouse,
so every collector sharing it decides the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmsight.attributes import (
    LLMSIGHT_BATCH_ENDPOINT,
    LLMSIGHT_BATCH_ID,
    LLMSIGHT_BATCH_REQUEST_COUNT,
    LLMSIGHT_BATCH_REQUESTS_PREFIX,
    OPERATION_BATCH_CREATE,
)
from llmsight.collector.columns import (
    BATCH_SUBMISSION_COLUMNS,
    BATCH_SUBMISSION_TTL_DAYS,
    BATCH_SUBMISSIONS_TABLE,
    DATABASE,
)
from llmsight.collector.record import CallRecord

ATTRIBUTION = ("task", "prompt_name", "prompt_version", "tenant", "user_id", "session_id")
SUBMISSION_COLUMNS = [name for name, _ in BATCH_SUBMISSION_COLUMNS]
LOOKUP_CHUNK = 2000  # batch ids per lookup query
_SUBMITTED_TOTAL = LLMSIGHT_BATCH_REQUESTS_PREFIX + "total"


def split_submissions(records: Sequence[CallRecord]) -> tuple[list[CallRecord], list[CallRecord]]:
    """(submissions, calls): submissions that carry a batch id; one without (the create failed) is dropped."""
    submissions: list[CallRecord] = []
    calls: list[CallRecord] = []
    for record in records:
        if record.operation != OPERATION_BATCH_CREATE:
            calls.append(record)
        elif record.attributes.get(LLMSIGHT_BATCH_ID):
            submissions.append(record)
    return submissions, calls


MAX_REQUEST_COUNT = 10_000_000  # far above any provider's limit (OpenAI 50,000, Anthropic 100,000 a batch)


def _count(record: CallRecord) -> int:
    """The submitted request count; 0 when the span does not say or says something no batch can hold."""
    for key in (LLMSIGHT_BATCH_REQUEST_COUNT, _SUBMITTED_TOTAL):
        value = record.attributes.get(key, "")
        if value.isascii() and value.isdigit() and len(value) <= 8 and int(value) <= MAX_REQUEST_COUNT:
            return int(value)
    return 0


def submission_rows(submissions: Sequence[CallRecord]) -> list[list[Any]]:
    return [
        [record.provider, record.attributes[LLMSIGHT_BATCH_ID], record.ts, record.service, record.environment,
         record.attributes.get(LLMSIGHT_BATCH_ENDPOINT, ""), _count(record), record.task, record.prompt_name,
         record.prompt_version, record.tenant, record.user_id, record.session_id, record.trace_id, record.span_id]
        for record in submissions
    ]


def store_submissions(store: Any, submissions: Sequence[CallRecord]) -> None:
    if submissions:
        store.insert_rows(BATCH_SUBMISSIONS_TABLE, SUBMISSION_COLUMNS, submission_rows(submissions))


def _lookup(store: Any, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    ordered = sorted(keys)
    fields = ", ".join(f"argMax({name}, submitted_at)" for name in ATTRIBUTION)
    for offset in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[offset:offset + LOOKUP_CHUNK]
        result = store.query(
            f"SELECT provider, batch_id, {fields} FROM {DATABASE}.{BATCH_SUBMISSIONS_TABLE} "
            f"WHERE batch_id IN {{ids:Array(String)}} AND submitted_at >= now() - INTERVAL {BATCH_SUBMISSION_TTL_DAYS} DAY "
            "GROUP BY provider, batch_id",
            {"ids": [batch_id for _, batch_id in chunk]},
        )
        for provider, batch_id, *values in result.rows:
            if (provider, batch_id) in keys:
                found[(provider, batch_id)] = tuple(values)
    return found


def attribute_results(store: Any, records: Sequence[CallRecord], submissions: Sequence[CallRecord]) -> int:
    """Give each batch result row the attribution of its batch's submission (where the submission set a tag; the
    reader's own tags fill the rest). Returns how many rows found their submission."""
    results = [record for record in records if record.attributes.get(LLMSIGHT_BATCH_ID)]
    if not results:
        return 0
    known = {(s.provider, s.attributes[LLMSIGHT_BATCH_ID]): tuple(getattr(s, name) for name in ATTRIBUTION)
             for s in submissions}
    missing = {(r.provider, r.attributes[LLMSIGHT_BATCH_ID]) for r in results} - set(known)
    if missing:
        known.update(_lookup(store, missing))
    attributed = 0
    for record in results:
        values = known.get((record.provider, record.attributes[LLMSIGHT_BATCH_ID]))
        if values is None:
            continue
        attributed += 1
        for name, value in zip(ATTRIBUTION, values, strict=True):
            if value:
                setattr(record, name, value)
    return attributed
