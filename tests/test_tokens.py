"""Offline token counting: the model's own encoding when it ships, an estimate otherwise."""

from __future__ import annotations

from gateway.tokens import TokenCounter, anthropic_prompt_texts, encoding_for


def test_encodings_by_model_family() -> None:
    assert encoding_for("gpt-4o-mini") == encoding_for("gpt-5.4") == encoding_for("o3-mini") == "o200k_base"
    assert encoding_for("gpt-4-turbo") == encoding_for("gpt-3.5-turbo") == "cl100k_base"
    assert encoding_for("claude-sonnet-4-5") is None
    assert encoding_for("meta-llama/Llama-3-8B") is None


def test_counts_with_the_bundled_encodings_offline() -> None:
    counter = TokenCounter()
    # "Hello" "," " world" "!" in both encodings; +3 per message, +3 reply priming.
    assert counter.count("gpt-4o", ["Hello, world!"], []) == (10, "tokenizer")
    assert counter.count("gpt-4", ["Hello, world!"], []) == (10, "tokenizer")
    longer, how = counter.count("gpt-4o", ["Hello, world!", "And again."], ["You are terse."])
    assert how == "tokenizer" and longer > 10


def test_unknown_tokenizer_is_an_estimate() -> None:
    count, how = TokenCounter().count("claude-sonnet-4-5", ["x" * 400], [])
    assert how == "estimated"
    assert count == 100 + 3 + 3


def test_anthropic_prompt_texts_reads_every_block_kind() -> None:
    raw = {
        "system": [{"type": "text", "text": "Sys"}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "Q"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "get_weather", "input": {"c": 1}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "R"}]}],
            },
        ],
    }
    messages, extra = anthropic_prompt_texts(raw)
    assert messages == ["Q", 'get_weather{"c":1}', "R"]
    assert extra[0] == "Sys" and "get_weather" in extra[1]
