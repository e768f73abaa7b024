"""LiteLLM's spans read in-process (tests/peers/test_litellm.py replays the real proxy's through a collector): the
upstream provider and model, the default integration's usage object, what is not a call, hostile values."""

from __future__ import annotations

from llmsight.collector.normalise import gateway
from llmsight.collector.normalise import spans as normalise
from tests.collector.test_normalise import _request, _span

# The default `otel` callback's names (litellm 1.110.2 integrations/opentelemetry.py), values as it sends them.
DEFAULT = {
    "gen_ai.system": "bedrock", "gen_ai.request.model": "claude-haiku", "gen_ai.operation.name": "acompletion",
    "litellm.provider.model": "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", "litellm.model_group": "claude-haiku",
    "gen_ai.usage.input_tokens": 1500, "gen_ai.usage.output_tokens": 90, "llm.is_streaming": "False",
    "metadata.usage_object": "{'prompt_tokens': 1500, 'completion_tokens': 90, 'prompt_tokens_details': "
                             "{'cached_tokens': 1024}, 'cache_creation_input_tokens': 300, "
                             "'completion_tokens_details': {'reasoning_tokens': 40}}",
    "metadata.user_api_key_team_id": "team-a", "metadata.user_api_key_end_user_id": "u-9",
    "gen_ai.cost.total_cost": 0.0123, "metadata.requester_ip_address": "10.0.0.7",
}


def test_default_integration_reads_as_the_upstream_call() -> None:
    (record,) = normalise.normalise_request(_request(_span(DEFAULT), scope="litellm")).records
    assert (record.provider, record.request_model, record.operation) == (
        "aws.bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0", "chat")
    assert (record.input_tokens, record.cache_read_tokens, record.cache_write_tokens, record.output_tokens,
            record.reasoning_tokens) == (1500, 1024, 300, 90, 40)
    assert (record.tenant, record.user_id) == ("team-a", "u-9")
    assert record.attributes[gateway.COST] == "0.0123" and record.attributes[gateway.MODEL_GROUP] == "claude-haiku"
    assert not any(key.startswith("metadata.") for key in record.attributes)  # LiteLLM's request metadata
    converse = {**DEFAULT, "litellm.provider.model": "bedrock/converse/amazon.nova-lite-v1:0"}  # an API route
    (record,) = normalise.normalise_request(_request(_span(converse), scope="litellm")).records
    assert (record.provider, record.request_model) == ("aws.bedrock", "amazon.nova-lite-v1:0")


def test_usage_object_that_is_not_a_literal_is_ignored_and_the_call_kept() -> None:
    for hostile in ("__import__('os').system('true')", "[" * 5000 + "]" * 5000, "{'prompt_tokens_details': 1}",
                    "{'cache_creation_input_tokens': -5}", "x" * 20_000):
        attrs = {**DEFAULT, "metadata.usage_object": hostile}
        (record,) = normalise.normalise_request(_request(_span(attrs), scope="litellm")).records
        assert (record.input_tokens, record.cache_read_tokens, record.cache_write_tokens) == (1500, 0, 0), hostile[:40]


def test_spans_carrying_only_litellm_baggage_are_not_calls() -> None:
    """The typed integration stamps the request model, team and key on every span of a request (its `route` span,
    the web framework's): usage-free, they are not calls, whatever their scope."""
    baggage = {"gen_ai.request.model": "gpt-4o", "litellm.team.id": "team-a", "litellm.api_key.hash": "ab12"}
    for scope in ("litellm", "opentelemetry.instrumentation.fastapi"):
        result = normalise.normalise_request(_request(_span(baggage), scope=scope))
        assert (result.records, result.ignored) == ([], 1), scope


def test_a_usage_free_app_span_through_the_proxy_is_still_a_call() -> None:
    """llmsight's span of a stream read without usage (no `include_usage`) that recorded the proxy's headers: a call
    (the proxy's own span, if it comes, brings the usage), never mistaken for LiteLLM's baggage."""
    attrs = {"gen_ai.provider.name": "self_hosted", "gen_ai.request.model": "gpt-4o", "gen_ai.request.stream": True,
             "litellm.call_id": "c-1", "litellm.provider.model": "openai/gpt-4o", "server.address": "10.0.0.5"}
    (record,) = normalise.normalise_request(_request(_span(attrs), scope="llmsight.openai")).records
    assert (record.provider, record.request_model, record.input_tokens) == ("openai", "gpt-4o", 0)
    assert record.attributes[gateway.PROXY_ADDRESS] == "10.0.0.5" and "server.address" not in record.attributes
