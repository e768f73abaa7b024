"""The demo's workload: realistic mixed traffic through the REAL openai, anthropic, google-genai (Gemini)
and boto3 (Bedrock) SDKs.

Deterministic for a seed (choices, prompts, fault schedule). Two phases:
- history: the previous day's traffic, sent now and back-dated (see BackdatingProcessor) so trailing
  baselines exist — every one of these calls is still a real SDK call that the provider billed;
- now: the last hour, where things go wrong: the support prompt template starts embedding the current
  time (its prefix is never cached again), a burst of 429s, a slow model, and a cost spike
  (long documents summarised by a frontier model).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anthropic
import boto3
import botocore.exceptions
import openai
from google import genai
from google.genai import errors as genai_errors
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

import llmsight
from llmsight.testing.faults import Fault
from llmsight.testing.server import ProviderServer

_backdate_seconds: ContextVar[float] = ContextVar("llmsight_demo_backdate", default=0.0)

POLICY = (
    "You are Acme's support assistant. Answer only from the knowledge base. Cite the article id for every "
    "claim. Never promise refunds; escalate billing disputes to a human. Keep answers under 120 words. "
) * 24  # ~1,400 tokens: large enough for provider prompt caching (>= 1,024)
QUESTIONS = ["Where is my order?", "How do I reset my password?", "Can I change my plan?", "Why was I charged twice?",
             "Do you ship to Norway?", "How do I export my data?"]
TENANTS = ["acme", "acme", "globex", "initech"]


class BackdatingProcessor(SpanProcessor):
    """Shifts the times of spans that end while a back-date is set, then hands them on: how the demo
    gives its "previous day" real calls realistic timestamps."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        shift = int(_backdate_seconds.get() * 1e9)
        if shift:
            span = ReadableSpan(
                name=span.name, context=span.context, parent=span.parent, resource=span.resource,
                attributes=span.attributes, events=span.events, links=span.links, kind=span.kind,
                status=span.status, start_time=(span.start_time or 0) - shift, end_time=(span.end_time or 0) - shift,
                instrumentation_scope=span.instrumentation_scope,
            )
        self.inner.on_end(span)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


@contextmanager
def backdated(seconds: float) -> Iterator[None]:
    token = _backdate_seconds.set(seconds)
    try:
        yield
    finally:
        _backdate_seconds.reset(token)


# Fake keys shaped like the providers' (the local provider accepts any), so spans carry key hints.
DEMO_OPENAI_KEY = "sk-proj-demo" + "0123456789abcdefghij" * 4 + "Ap9Q"
DEMO_OTHER_OPENAI_KEY = "sk-proj-laptop" + "jihgfedcba9876543210" * 4 + "Zx7K"
DEMO_ANTHROPIC_KEY = "sk-ant-api03-Dm0" + "klmnopqrstuvwxyz0123" * 4 + "Qw3E"


@dataclass
class Outcome:
    calls: int = 0
    failed: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class Workload:
    def __init__(self, server: ProviderServer, seed: int) -> None:
        self.server = server
        self.rng = random.Random(seed)
        self.openai = openai.OpenAI(base_url=server.openai_base_url, api_key=DEMO_OPENAI_KEY, max_retries=2)
        self.anthropic = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key=DEMO_ANTHROPIC_KEY, max_retries=2)
        self.gemini = genai.Client(api_key="demo", http_options={"base_url": server.gemini_base_url})
        self.bedrock = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=server.bedrock_endpoint_url,
                                    aws_access_key_id="demo", aws_secret_access_key="demo")
        self.outcome = Outcome()

    def _run(self, kind: str, call: Callable[[], object]) -> None:
        self.outcome.calls += 1
        self.outcome.by_kind[kind] = self.outcome.by_kind.get(kind, 0) + 1
        try:
            call()
        except (openai.APIError, anthropic.APIError, genai_errors.APIError, botocore.exceptions.ClientError):
            self.outcome.failed += 1  # the app sees the SDK's error; llmsight records it

    # --- tasks ---
    def support(self, template: str = "v3") -> None:
        question = self.rng.choice(QUESTIONS)
        tenant = self.rng.choice(TENANTS)
        policy = POLICY if template == "v3" else f"Current time: {self.rng.random():.12f}. " + POLICY
        use_anthropic = self.rng.random() < 0.5
        with llmsight.tags(task="support", prompt_name="support_answer", prompt_version="3", tenant=tenant):
            if use_anthropic:
                self._run("support", lambda: self.anthropic.messages.create(
                    model="claude-sonnet-4-5", max_tokens=300,
                    system=[{"type": "text", "text": policy, "cache_control": {"type": "ephemeral"}}],
                    messages=[{"role": "user", "content": question}]))
            else:
                self._run("support", lambda: self.openai.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "system", "content": policy}, {"role": "user", "content": question}]))

    def summarise(self, spike: bool = False) -> None:
        words = self.rng.randint(40_000, 60_000) if spike else self.rng.randint(300, 1500)
        document = " ".join(self.rng.choice(("revenue", "churn", "latency", "roadmap", "hiring", "risk")) for _ in range(words))
        tenant = self.rng.choice(TENANTS)
        with llmsight.tags(task="summarise", prompt_name="summarise", prompt_version="1", tenant=tenant):
            if spike:
                model = "claude-opus-4-1"
            else:
                model = self.rng.choice(["claude-haiku-4-5", "gpt-4o"])
            if model.startswith("claude"):
                def call() -> None:
                    with self.anthropic.messages.stream(model=model, max_tokens=400,
                                                        messages=[{"role": "user", "content": f"Summarise:\n{document}"}]) as stream:
                        for _ in stream.text_stream:
                            pass
                self._run("summarise", call)
            else:
                def call() -> None:
                    for _ in self.openai.chat.completions.create(
                        model=model, stream=True, stream_options={"include_usage": True},
                        messages=[{"role": "user", "content": f"Summarise:\n{document}"}]):
                        pass
                self._run("summarise", call)

    def classify(self) -> None:
        with llmsight.tags(task="classify", prompt_name="triage", prompt_version="2", tenant=self.rng.choice(TENANTS)):
            self._run("classify", lambda: self.openai.chat.completions.create(
                model="gpt-4o-mini", max_tokens=self.rng.choice([5, 40, 40, 40]),
                messages=[{"role": "system", "content": "Label the ticket: bug, billing, question."},
                          {"role": "user", "content": self.rng.choice(QUESTIONS)}]))

    def embed(self) -> None:
        with llmsight.tags(task="search-index", tenant=self.rng.choice(TENANTS)):
            self._run("embed", lambda: self.openai.embeddings.create(
                model="text-embedding-3-small", input=[self.rng.choice(QUESTIONS) for _ in range(4)]))

    def plan(self) -> None:
        with llmsight.tags(task="plan", prompt_name="planner", prompt_version="1", tenant=self.rng.choice(TENANTS)):
            def call() -> None:
                with self.openai.responses.stream(model="gpt-5", instructions="Plan the steps.",
                                                  input=self.rng.choice(QUESTIONS)) as events:
                    for _ in events:
                        pass
            self._run("plan", call)

    def translate(self) -> None:
        """Gemini: short translations, streamed half of the time."""
        text = self.rng.choice(QUESTIONS)
        with llmsight.tags(task="translate", prompt_name="translate", prompt_version="1", tenant=self.rng.choice(TENANTS)):
            config: Any = {"system_instruction": "Translate the user's message into French.", "max_output_tokens": 200}
            if self.rng.random() < 0.5:
                self._run("translate", lambda: self.gemini.models.generate_content(
                    model="gemini-2.5-flash", contents=text, config=config))
            else:
                def call() -> None:
                    for _ in self.gemini.models.generate_content_stream(model="gemini-2.5-flash-lite", contents=text, config=config):
                        pass
                self._run("translate", call)

    def extract(self) -> None:
        """Bedrock: field extraction with Nova (Converse) or Claude (ConverseStream, cached policy)."""
        ticket = [{"role": "user", "content": [{"text": self.rng.choice(QUESTIONS)}]}]
        with llmsight.tags(task="extract", prompt_name="extract_fields", prompt_version="2", tenant=self.rng.choice(TENANTS)):
            if self.rng.random() < 0.5:
                self._run("extract", lambda: self.bedrock.converse(
                    modelId="us.amazon.nova-lite-v1:0", messages=ticket, inferenceConfig={"maxTokens": 200}))
            else:
                system = [{"text": POLICY}, {"cachePoint": {"type": "default"}}]

                def call() -> None:
                    for _ in self.bedrock.converse_stream(modelId="us.anthropic.claude-haiku-4-5-20251001-v1:0",
                                                          system=system, messages=ticket)["stream"]:
                        pass
                self._run("extract", call)

    def mixed(self) -> Callable[[], None]:
        steps: list[Callable[[], None]] = [
            self.support, self.summarise, self.classify, self.embed, self.plan, self.translate, self.extract,
        ]
        return self.rng.choices(steps, weights=[4, 2, 3, 1, 1, 2, 2])[0]

    # --- phases ---
    def history_steps(self, count: int) -> Iterator[Callable[[], None]]:
        for index in range(count):
            hours_ago = 2 + (index * 21) / max(count - 1, 1)  # spread over 2..23 hours ago
            task = self.mixed()

            def step(task: Callable[[], None] = task, hours_ago: float = hours_ago) -> None:
                billed_before = len(self.server.ledger)
                with backdated(hours_ago * 3600):
                    task()
                self.server.ledger.backdate(billed_before, hours_ago * 3600)  # the provider bills them then too

            yield step

    def batches(self, requests: int = 10) -> dict[str, str]:
        """One batch per provider (docs/batch.md), submitted under the triage task's tags and read back as an app
        does: every request becomes a call at the batch price. Returns the batch ids by provider."""
        from llmsight.testing import batch_workload as work

        with llmsight.tags(task="ticket-triage", prompt_name="ticket_labels", prompt_version="1", tenant="acme"):
            openai_batch = work.submit_openai_batch(self.openai, requests=requests, errored=0)
            anthropic_batch = work.submit_anthropic_batch(self.anthropic, requests=requests, errored=0)
        openai_batch = work.wait_openai_batch(self.openai, openai_batch.id)
        work.wait_anthropic_batch(self.anthropic, anthropic_batch.id)
        self.openai.files.content(openai_batch.output_file_id).text  # noqa: B018 - reading it is the point
        list(self.anthropic.messages.batches.results(anthropic_batch.id))
        return {"openai": openai_batch.id, "anthropic": anthropic_batch.id}

    def escaped_calls(self) -> None:
        """Three calls llmsight never sees: a script nobody instrumented (plain HTTP), one of them run with a second
        key (a laptop with the production key's sibling). The reconciliation shows them as unexplained spend."""
        import httpx

        message = [{"role": "user", "content": "Summarise yesterday's tickets for the weekly report."}]
        for key in (DEMO_OPENAI_KEY, DEMO_OTHER_OPENAI_KEY):
            httpx.post(f"{self.server.openai_base_url}/chat/completions", headers={"authorization": f"Bearer {key}"},
                       json={"model": "gpt-4o-mini", "messages": message}, timeout=30).raise_for_status()
        httpx.post(f"{self.server.anthropic_base_url}/v1/messages", timeout=30,
                   headers={"x-api-key": DEMO_ANTHROPIC_KEY, "anthropic-version": "2023-06-01"},
                   json={"model": "claude-sonnet-4-5", "max_tokens": 200, "messages": message}).raise_for_status()

    def begin_incidents(self, count: int) -> None:
        """What goes wrong in the last hour: a burst of 429s on OpenAI, a slow Anthropic model."""
        self.server.faults.add(Fault.http_status(429, times=max(12, count // 2), provider="openai", retry_after_s=0.01))
        self.server.faults.add(Fault.slow_first_token(0.15, times=max(6, count // 8), model="claude-haiku-4-5"))

    def now_steps(self, count: int) -> Iterator[Callable[[], None]]:
        spikes = max(3, count // 25)
        for index in range(count):
            if index % max(count // spikes, 1) == 0 and spikes > 0:
                spikes -= 1
                yield lambda: self.summarise(spike=True)
            elif self.rng.random() < 0.45:
                yield lambda: self.support(template="v4")  # the template change that breaks caching
            elif self.rng.random() < 0.4:
                yield lambda: self.summarise()
            else:
                yield self.mixed()
