"""Token usage in one provider-neutral shape, and the normalizers to and from each dialect.

The two dialects count prompt tokens differently, and mixing them up is how gateways end up
double counting prompt-cache tokens (billing cached tokens once as cache reads and again as
ordinary input):

* Anthropic's ``input_tokens`` EXCLUDES cache tokens. Cache writes
  (``cache_creation_input_tokens``) and cache reads (``cache_read_input_tokens``) are reported
  beside it, so the prompt size is the sum of the three.
* OpenAI's ``prompt_tokens`` INCLUDES the cached tokens reported in
  ``prompt_tokens_details.cached_tokens``; the uncached part is the difference. OpenAI has no
  cache-write charge, so there are no cache writes in that dialect.

:class:`Usage` follows Anthropic's convention: ``input_tokens`` is uncached input only, and the
four kinds are disjoint, so a cost is simply the sum over kinds of tokens times price.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

__all__ = [
    "Usage",
    "merge_anthropic",
    "to_anthropic_usage",
    "to_openai_usage",
    "usage_from_anthropic",
    "usage_from_openai",
]


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens used by one request, split into four disjoint kinds.

    Attributes:
        input_tokens: Uncached input tokens only (never includes cache writes or reads).
        output_tokens: Generated tokens, reasoning/thinking tokens included (they bill as output).
        cache_write_tokens: Input tokens written to the prompt cache (Anthropic cache creation).
        cache_read_tokens: Input tokens served from the prompt cache.
        cache_write_1h_tokens: The part of ``cache_write_tokens`` written with Anthropic's one-hour
            TTL (``usage.cache_creation.ephemeral_1h_input_tokens``), billed at a higher price than
            the default five-minute writes. Never more than ``cache_write_tokens``.
        estimated: True when ``output_tokens`` was estimated by the gateway because the provider
            never reported usage (for example a stream the client cancelled), so reports can tell
            measured spend from estimated spend.

    Raises:
        ValueError: On construction, if any count is negative: a negative count would silently
            reduce a bill, so it is rejected at the boundary rather than clamped later.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_1h_tokens: int = 0
    estimated: bool = False

    def __post_init__(self) -> None:
        counts = (self.input_tokens, self.output_tokens, self.cache_write_tokens, self.cache_read_tokens)
        if min(*counts, self.cache_write_1h_tokens) < 0:
            raise ValueError(f"token counts must be non-negative: {self!r}")
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            raise ValueError(f"one-hour cache writes exceed all cache writes: {self!r}")

    @property
    def total_input_tokens(self) -> int:
        """All prompt tokens: uncached input plus cache writes plus cache reads."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def total_tokens(self) -> int:
        """All prompt tokens plus output tokens."""
        return self.total_input_tokens + self.output_tokens


def _count(obj: Mapping[str, object] | None, key: str) -> int | None:
    """One token count from a provider payload: ``None`` when absent or null.

    Providers omit fields or send ``null`` freely (Anthropic sends ``null`` cache counts when
    caching is not in play), so both mean "not reported". Integral floats are accepted because
    some OpenAI-compatible servers serialize counts as ``12.0``. Anything else is a broken
    contract and raises rather than guessing, and negatives are clamped to zero so a bad count
    can never reduce a bill below what the other fields justify.

    Raises:
        TypeError: If the value is present but not an integer count.
    """
    if obj is None:
        return None
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"usage field {key!r} is a bool, expected an integer: {value!r}")
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value.is_integer():
        return max(int(value), 0)
    raise TypeError(f"usage field {key!r} is not an integer token count: {value!r}")


def _sub(obj: Mapping[str, object], key: str) -> Mapping[str, object] | None:
    """A nested details object, or ``None`` when it is absent, null or not a mapping."""
    value = obj.get(key)
    return value if isinstance(value, Mapping) else None


def usage_from_anthropic(obj: Mapping[str, object]) -> Usage:
    """Normalize an Anthropic ``usage`` object (a Messages response or ``message_start``).

    Anthropic's ``input_tokens`` already excludes cache tokens, so every field maps one to one;
    nothing is subtracted. Missing or null fields count as zero.

    Args:
        obj: The ``usage`` mapping as decoded from JSON.

    Returns:
        The usage, with ``estimated`` false.
    """
    cache_write = _count(obj, "cache_creation_input_tokens") or 0
    return Usage(
        input_tokens=_count(obj, "input_tokens") or 0,
        output_tokens=_count(obj, "output_tokens") or 0,
        cache_write_tokens=cache_write,
        cache_read_tokens=_count(obj, "cache_read_input_tokens") or 0,
        cache_write_1h_tokens=min(cache_write, _one_hour_writes(obj)),
    )


def _one_hour_writes(obj: Mapping[str, object]) -> int:
    """``cache_creation.ephemeral_1h_input_tokens``: the one-hour-TTL part of the cache writes."""
    return _count(_sub(obj, "cache_creation"), "ephemeral_1h_input_tokens") or 0


def merge_anthropic(prev: Usage, delta_usage: Mapping[str, object]) -> Usage:
    """Fold a streaming ``message_delta`` usage into the usage accumulated so far.

    Anthropic documents the counts in ``message_delta.usage`` as cumulative, not increments:
    ``output_tokens`` is the running total, and the input/cache counts, when present, restate
    (and may update) the totals from ``message_start``. So each field present is a new total,
    never something to add. Taking ``max(prev, new)`` per field equals "latest" for a
    well-behaved stream (cumulative counts never decrease) and also ignores the zero or null
    placeholders some servers put in fields they do not track. Absent fields keep their value.

    Args:
        prev: Usage so far (from ``message_start`` and any earlier deltas).
        delta_usage: The ``usage`` mapping of a ``message_delta`` event.

    Returns:
        The merged usage. ``estimated`` is cleared once the provider reports ``output_tokens``.
    """
    output = _count(delta_usage, "output_tokens")
    cache_write = max(prev.cache_write_tokens, _count(delta_usage, "cache_creation_input_tokens") or 0)
    return Usage(
        input_tokens=max(prev.input_tokens, _count(delta_usage, "input_tokens") or 0),
        output_tokens=max(prev.output_tokens, output or 0),
        cache_write_tokens=cache_write,
        cache_read_tokens=max(prev.cache_read_tokens, _count(delta_usage, "cache_read_input_tokens") or 0),
        cache_write_1h_tokens=min(cache_write, max(prev.cache_write_1h_tokens, _one_hour_writes(delta_usage))),
        estimated=prev.estimated and output is None,
    )


def usage_from_openai(obj: Mapping[str, object]) -> Usage:
    """Normalize an OpenAI ``usage`` object (Chat Completions, or the Responses API shape).

    ``prompt_tokens`` includes ``prompt_tokens_details.cached_tokens``, so the uncached input is
    the difference; the cached part becomes ``cache_read_tokens`` and ``cache_write_tokens`` is
    zero (OpenAI does not bill cache writes). A cached count larger than the prompt (a broken
    upstream) is capped at the prompt so no count goes negative and nothing is billed twice.
    ``completion_tokens`` already includes reasoning tokens, which bill as output, so it is kept
    whole. The Responses API names (``input_tokens``, ``output_tokens``,
    ``input_tokens_details``) follow the same inclusive convention and are accepted when
    ``prompt_tokens`` is absent.

    Args:
        obj: The ``usage`` mapping as decoded from JSON.

    Returns:
        The usage, with ``estimated`` false.
    """
    if "prompt_tokens" in obj or "completion_tokens" in obj:
        prompt = _count(obj, "prompt_tokens") or 0
        output = _count(obj, "completion_tokens") or 0
        cached = _count(_sub(obj, "prompt_tokens_details"), "cached_tokens") or 0
    else:
        prompt = _count(obj, "input_tokens") or 0
        output = _count(obj, "output_tokens") or 0
        cached = _count(_sub(obj, "input_tokens_details"), "cached_tokens") or 0
    cached = min(cached, prompt)
    return Usage(input_tokens=prompt - cached, output_tokens=output, cache_read_tokens=cached)


def to_openai_usage(u: Usage) -> dict[str, object]:
    """The Chat Completions ``usage`` object for ``u`` (for answering in the OpenAI dialect).

    ``prompt_tokens`` is every prompt token (uncached, cache writes and cache reads), and only
    the cache reads are reported as ``cached_tokens``: a cache write is not a cache hit, so it
    stays in the uncached part, as OpenAI would have billed it.
    """
    prompt = u.total_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens},
    }


def to_anthropic_usage(u: Usage) -> dict[str, object]:
    """The Messages API ``usage`` object for ``u`` (for answering in the Anthropic dialect).

    ``input_tokens`` is the uncached input only, with the cache counts beside it, as Anthropic
    reports them.
    """
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
    }
