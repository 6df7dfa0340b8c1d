"""Normalizers between the two dialects: where gateways double count prompt-cache tokens."""

from __future__ import annotations

import msgspec
import pytest
from anthropic.types import MessageDeltaUsage
from anthropic.types import Usage as AnthropicUsage
from openai.types import CompletionUsage

from pricing import (
    Usage,
    merge_anthropic,
    to_anthropic_usage,
    to_openai_usage,
    usage_from_anthropic,
    usage_from_openai,
)


def test_usage_totals_add_the_four_disjoint_kinds() -> None:
    u = Usage(input_tokens=1_000, output_tokens=500, cache_write_tokens=2_000, cache_read_tokens=10_000)
    assert u.total_input_tokens == 13_000
    assert u.total_tokens == 13_500
    assert u.estimated is False


def test_usage_is_frozen_and_rejects_negative_counts() -> None:
    u = Usage(input_tokens=1)
    with pytest.raises(AttributeError):
        u.input_tokens = 2  # type: ignore[misc]
    with pytest.raises(ValueError, match="non-negative"):
        Usage(cache_read_tokens=-1)


def test_anthropic_input_tokens_exclude_cache_so_nothing_is_subtracted() -> None:
    sdk = AnthropicUsage(
        input_tokens=1_000,
        output_tokens=500,
        cache_creation_input_tokens=2_000,
        cache_read_input_tokens=10_000,
    )
    u = usage_from_anthropic(sdk.model_dump())
    assert u == Usage(input_tokens=1_000, output_tokens=500, cache_write_tokens=2_000, cache_read_tokens=10_000)
    assert u.total_input_tokens == 13_000


def test_anthropic_missing_and_null_fields_count_as_zero() -> None:
    assert usage_from_anthropic({"input_tokens": 12, "output_tokens": 3}) == Usage(input_tokens=12, output_tokens=3)
    nulls = {
        "input_tokens": 7,
        "output_tokens": None,
        "cache_creation_input_tokens": None,
        "cache_read_input_tokens": None,
    }
    assert usage_from_anthropic(nulls) == Usage(input_tokens=7)
    assert usage_from_anthropic({}) == Usage()


def test_anthropic_stream_message_start_then_cumulative_deltas() -> None:
    start = usage_from_anthropic(
        {
            "input_tokens": 25,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 9_000,
        }
    )
    # message_delta usage is cumulative: 15 then 40 means 40 in total, not 55.
    mid = merge_anthropic(start, MessageDeltaUsage(output_tokens=15).model_dump())
    end = merge_anthropic(mid, {"output_tokens": 40})
    assert end == Usage(input_tokens=25, output_tokens=40, cache_read_tokens=9_000)


def test_anthropic_delta_may_update_input_and_cache_counts() -> None:
    start = Usage(input_tokens=25, output_tokens=1)
    # With server tools Anthropic restates (and raises) the input-side totals in message_delta.
    delta = {
        "input_tokens": 3_100,
        "output_tokens": 220,
        "cache_creation_input_tokens": 1_500,
        "cache_read_input_tokens": None,
    }
    assert merge_anthropic(start, delta) == Usage(input_tokens=3_100, output_tokens=220, cache_write_tokens=1_500)


def test_anthropic_delta_zero_placeholders_do_not_erase_known_counts() -> None:
    start = Usage(input_tokens=500, output_tokens=1, cache_read_tokens=2_000)
    delta = {"input_tokens": 0, "output_tokens": 90, "cache_read_input_tokens": 0}
    assert merge_anthropic(start, delta) == Usage(input_tokens=500, output_tokens=90, cache_read_tokens=2_000)


def test_merge_clears_estimated_only_when_output_is_reported() -> None:
    guessed = Usage(input_tokens=10, output_tokens=80, estimated=True)
    assert merge_anthropic(guessed, {"input_tokens": 10}).estimated is True
    reported = merge_anthropic(guessed, {"output_tokens": 95})
    assert reported.estimated is False
    assert reported.output_tokens == 95


def test_openai_prompt_tokens_include_cached_tokens() -> None:
    sdk = CompletionUsage.model_validate(
        {
            "prompt_tokens": 12_000,
            "completion_tokens": 700,
            "total_tokens": 12_700,
            "prompt_tokens_details": {"cached_tokens": 8_000, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 300},
        }
    )
    u = usage_from_openai(sdk.model_dump())
    # 12,000 prompt tokens of which 8,000 cached: 4,000 uncached. Reasoning stays in output.
    assert u == Usage(input_tokens=4_000, output_tokens=700, cache_read_tokens=8_000)
    assert u.total_input_tokens == 12_000


def test_openai_missing_or_null_details_mean_no_cache() -> None:
    assert usage_from_openai({"prompt_tokens": 50, "completion_tokens": 5}) == Usage(input_tokens=50, output_tokens=5)
    assert usage_from_openai({"prompt_tokens": 50, "completion_tokens": 5, "prompt_tokens_details": None}) == Usage(
        input_tokens=50, output_tokens=5
    )
    assert usage_from_openai(
        {"prompt_tokens": 50, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": None}}
    ) == Usage(input_tokens=50, output_tokens=5)


def test_openai_counts_never_go_negative() -> None:
    broken = {"prompt_tokens": 100, "completion_tokens": -3, "prompt_tokens_details": {"cached_tokens": 150}}
    assert usage_from_openai(broken) == Usage(input_tokens=0, output_tokens=0, cache_read_tokens=100)


def test_openai_responses_api_shape() -> None:
    obj = {"input_tokens": 900, "output_tokens": 40, "input_tokens_details": {"cached_tokens": 600}}
    assert usage_from_openai(obj) == Usage(input_tokens=300, output_tokens=40, cache_read_tokens=600)


def test_integral_floats_accepted_other_types_rejected() -> None:
    assert usage_from_openai({"prompt_tokens": 12.0, "completion_tokens": 3}) == Usage(input_tokens=12, output_tokens=3)
    with pytest.raises(TypeError, match="prompt_tokens"):
        usage_from_openai({"prompt_tokens": "12", "completion_tokens": 3})
    with pytest.raises(TypeError, match="output_tokens"):
        usage_from_anthropic({"input_tokens": 1, "output_tokens": 2.5})
    with pytest.raises(TypeError, match="bool"):
        usage_from_anthropic({"input_tokens": True})


def test_openai_round_trip_is_lossless() -> None:
    original = {
        "prompt_tokens": 12_000,
        "completion_tokens": 700,
        "total_tokens": 12_700,
        "prompt_tokens_details": {"cached_tokens": 8_000},
    }
    assert to_openai_usage(usage_from_openai(original)) == original


def test_anthropic_round_trip_is_lossless() -> None:
    original = {
        "input_tokens": 1_000,
        "output_tokens": 500,
        "cache_creation_input_tokens": 2_000,
        "cache_read_input_tokens": 10_000,
    }
    assert to_anthropic_usage(usage_from_anthropic(original)) == original


def test_anthropic_usage_shown_in_openai_dialect_counts_each_token_once() -> None:
    u = usage_from_anthropic(
        {
            "input_tokens": 1_000,
            "output_tokens": 500,
            "cache_creation_input_tokens": 2_000,
            "cache_read_input_tokens": 10_000,
        }
    )
    shown = to_openai_usage(u)
    # Cache writes are not cache hits: they stay in the uncached part of prompt_tokens.
    assert shown == {
        "prompt_tokens": 13_000,
        "completion_tokens": 500,
        "total_tokens": 13_500,
        "prompt_tokens_details": {"cached_tokens": 10_000},
    }
    sdk = CompletionUsage.model_validate(shown)
    assert sdk.prompt_tokens_details is not None
    assert sdk.prompt_tokens_details.cached_tokens == 10_000
    # Reading it back in the OpenAI convention keeps the prompt size (writes become input).
    back = usage_from_openai(shown)
    assert back.total_input_tokens == u.total_input_tokens
    assert back.cache_read_tokens == 10_000
    assert back.cache_write_tokens == 0


def test_openai_usage_shown_in_anthropic_dialect_excludes_cache_from_input() -> None:
    u = usage_from_openai(
        {"prompt_tokens": 12_000, "completion_tokens": 700, "prompt_tokens_details": {"cached_tokens": 8_000}}
    )
    shown = to_anthropic_usage(u)
    sdk = AnthropicUsage.model_validate(shown)
    assert sdk.input_tokens == 4_000
    assert sdk.cache_read_input_tokens == 8_000
    assert sdk.cache_creation_input_tokens == 0
    assert sdk.output_tokens == 700


def test_usage_encodes_as_json_for_the_usage_queue() -> None:
    u = Usage(input_tokens=1, output_tokens=2, cache_write_tokens=3, cache_read_tokens=4, estimated=True)
    assert msgspec.json.decode(msgspec.json.encode(u), type=Usage) == u


def test_anthropic_one_hour_cache_writes_are_read_and_merged() -> None:
    start = {"input_tokens": 5, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 0,
             "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
             "output_tokens": 1}  # fmt: skip
    u = usage_from_anthropic(start)
    assert (u.cache_write_tokens, u.cache_write_1h_tokens) == (300, 200)
    merged = merge_anthropic(u, {"output_tokens": 40})
    assert (merged.cache_write_1h_tokens, merged.output_tokens) == (200, 40)
    # A broken upstream claiming more one-hour writes than writes is capped, never over-billed.
    assert (
        usage_from_anthropic(
            {"cache_creation_input_tokens": 10, "cache_creation": {"ephemeral_1h_input_tokens": 50}}
        ).cache_write_1h_tokens
        == 10
    )
