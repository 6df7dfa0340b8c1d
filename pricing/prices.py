"""Model prices as exact integers, and the table that looks them up.

Prices are kept in **millicents per million tokens** (numerically the same as micro-millicents
per token), so every price a provider publishes (whole hundredths of a cent per million tokens
and finer) is an integer and a cost is integer arithmetic with one rounding at the end.

The default source is the price map bundled inside the installed ``litellm`` package. It is
read as a data file only: importing ``litellm`` takes seconds and tries to download a fresh map
over the network, which a pure module must never do. Its ``$ per token`` numbers are decoded
straight from the JSON text as :class:`~decimal.Decimal` (never through binary floats), scaled
by 10**11 and required to be integers; an entry that does not convert exactly is left out of
the table and recorded in :attr:`PriceTable.rejected` with the reason, never rounded.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec

__all__ = [
    "LONG_CONTEXT_THRESHOLD",
    "PRICE_FILE_NAME",
    "ModelPrice",
    "PriceError",
    "PriceTable",
    "bundled_price_file",
    "millicents_per_million",
    "price_from_litellm_entry",
]

#: Prompt size (uncached + cache writes + cache reads) above which long-context prices apply.
LONG_CONTEXT_THRESHOLD = 200_000

#: The price map shipped inside the ``litellm`` package.
PRICE_FILE_NAME = "model_prices_and_context_window_backup.json"

# $ per token -> millicents per million tokens: 100,000 millicents per dollar x 10**6 tokens.
_SCALE = 10**11

# Provider prefixes a client may put in front of a model name (``anthropic/claude-...``).
_PROVIDER_PREFIXES = ("anthropic", "openai")

# The documentation entry at the top of litellm's file, whose "prices" are placeholders.
_NOT_A_MODEL = frozenset({"sample_spec"})


class PriceError(ValueError):
    """A price that cannot be represented exactly (or at all) as integer millicents."""


class ModelPrice(msgspec.Struct, frozen=True, kw_only=True):
    """One model's prices, in integer millicents per million tokens.

    The ``*_above_200k`` prices are the long-context tier (None when the model has none); it
    starts above ``long_context_threshold`` prompt tokens (200,000 for Anthropic, 272,000 for the
    GPT-5.x family: whatever the price map says). The tier exists when ``input_above_200k`` is
    set; a tier price left None inside an existing tier
    falls back as documented in :meth:`rates`.

    Raises:
        PriceError: On construction, if a price is negative or not an ``int``.
    """

    input: int
    output: int
    cache_write: int
    cache_read: int
    input_above_200k: int | None = None
    output_above_200k: int | None = None
    cache_write_above_200k: int | None = None
    cache_read_above_200k: int | None = None
    # One-hour-TTL cache writes (Anthropic); None: twice the input price, Anthropic's published rule.
    cache_write_1h: int | None = None
    cache_write_1h_above_200k: int | None = None
    long_context_threshold: int = LONG_CONTEXT_THRESHOLD

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PriceError(f"price {name} must be a non-negative int, got {value!r}")

    @property
    def has_long_context_tier(self) -> bool:
        """Whether prompts above ``long_context_threshold`` tokens are priced differently."""
        return self.input_above_200k is not None

    def rates(self, total_input_tokens: int) -> tuple[int, int, int, int]:
        """The ``(input, output, cache_write, cache_read)`` prices for a prompt of this size.

        Anthropic's rule: when the whole prompt (uncached + cache writes + cache reads) exceeds
        200,000 tokens, every kind, output included, is billed at the long-context price. Inside
        the tier, a missing output price falls back to the base output price (the provider
        raised input prices only), and a missing cache price falls back to the tier's input
        price, the same rule the loader applies to base cache prices.
        """
        tier_input = self.input_above_200k
        if tier_input is None or total_input_tokens <= self.long_context_threshold:
            return self.input, self.output, self.cache_write, self.cache_read
        return (
            tier_input,
            self.output if self.output_above_200k is None else self.output_above_200k,
            tier_input if self.cache_write_above_200k is None else self.cache_write_above_200k,
            tier_input if self.cache_read_above_200k is None else self.cache_read_above_200k,
        )

    def rate_cache_write_1h(self, total_input_tokens: int) -> int:
        """The one-hour cache-write price for a prompt of this size (see :meth:`rates` for tiers)."""
        long = self.input_above_200k is not None and total_input_tokens > self.long_context_threshold
        if long:
            if self.cache_write_1h_above_200k is not None:
                return self.cache_write_1h_above_200k
            assert self.input_above_200k is not None
            return 2 * self.input_above_200k
        return 2 * self.input if self.cache_write_1h is None else self.cache_write_1h


def millicents_per_million(value: Decimal | float | int | str, *, model: str, field: str) -> int:
    """Convert a ``$ per token`` price to integer millicents per million tokens, exactly.

    Floats go through ``Decimal(repr(x))``, the shortest text that round-trips, so ``3e-06``
    becomes exactly ``300000`` rather than the binary float's 299999.99999999997.

    Args:
        value: The price in dollars per token.
        model: Model name, for the error message.
        field: Price field name, for the error message.

    Returns:
        The price in millicents per million tokens.

    Raises:
        PriceError: If the value is not a finite non-negative number, or is finer than one
            millicent per million tokens (it would need rounding, which would misstate costs).
    """
    if isinstance(value, bool):
        raise PriceError(f"{model}: {field} is a bool, not a price")
    if isinstance(value, float):
        value = repr(value)
    try:
        exact = Decimal(value) * _SCALE
    except ArithmeticError as exc:
        raise PriceError(f"{model}: {field} is not a number: {value!r}") from exc
    if not exact.is_finite() or exact < 0:
        raise PriceError(f"{model}: {field} is not a finite non-negative price: {value!r}")
    if exact != exact.to_integral_value():
        raise PriceError(
            f"{model}: {field} = {value} $/token is {exact} millicents per million tokens, "
            "not an integer; refusing to round a price"
        )
    return int(exact)


def price_from_litellm_entry(model: str, entry: Mapping[str, object]) -> ModelPrice:
    """Build a :class:`ModelPrice` from litellm-style ``$ per token`` fields.

    The same field names serve the gateway's configuration overrides, so an operator can paste
    an entry from litellm's map. ``input_cost_per_token`` and ``output_cost_per_token`` are
    required. A missing cache price is never taken as zero: ``cache_write`` and ``cache_read``
    fall back to the input price, because a provider that does not price a cache kind bills
    those tokens as ordinary input (OpenAI never reports cache writes at all), and for a cache
    read the full input price is the safe over-estimate rather than free tokens.

    Raises:
        PriceError: If a required price is missing or any price does not convert exactly.
    """

    def get(field: str) -> int | None:
        value = entry.get(field)
        if value is None:
            return None
        if not isinstance(value, Decimal | float | int | str):
            raise PriceError(f"{model}: {field} is not a number: {value!r}")
        return millicents_per_million(value, model=model, field=field)

    # The long-context tier's suffix, e.g. "_above_200k_tokens" (Anthropic) or "_above_272k_tokens"
    # (GPT-5.x); the lowest one when an entry lists several.
    tiers = sorted(int(m.group(1)) for k in entry if (m := _TIER_KEY.fullmatch(k)))
    sfx = f"_above_{tiers[0]}k_tokens" if tiers else "_above_200k_tokens"
    base_input = get("input_cost_per_token")
    output = get("output_cost_per_token")
    if base_input is None or output is None:
        raise PriceError(f"{model}: input_cost_per_token and output_cost_per_token are required")
    cache_write = get("cache_creation_input_token_cost")
    cache_read = get("cache_read_input_token_cost")
    return ModelPrice(
        input=base_input,
        output=output,
        cache_write=base_input if cache_write is None else cache_write,
        cache_read=base_input if cache_read is None else cache_read,
        input_above_200k=get("input_cost_per_token" + sfx),
        output_above_200k=get("output_cost_per_token" + sfx),
        cache_write_above_200k=get("cache_creation_input_token_cost" + sfx),
        cache_read_above_200k=get("cache_read_input_token_cost" + sfx),
        cache_write_1h=get("cache_creation_input_token_cost_above_1hr"),
        cache_write_1h_above_200k=get("cache_creation_input_token_cost_above_1hr" + sfx),
        long_context_threshold=tiers[0] * 1000 if tiers else LONG_CONTEXT_THRESHOLD,
    )


_TIER_KEY = re.compile(r"input_cost_per_token_above_(\d+)k_tokens")


def bundled_price_file() -> Path:
    """Path of the price map inside the installed ``litellm`` package, found without importing it.

    ``importlib.util.find_spec`` on a top-level name only locates the package; it does not run
    ``litellm/__init__.py`` (which is slow and reaches for the network).

    Raises:
        FileNotFoundError: If ``litellm`` is not installed or ships no price map.
    """
    spec = importlib.util.find_spec("litellm")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / PRICE_FILE_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{PRICE_FILE_NAME} not found: is the pinned litellm package installed?")


_FILE_DECODER = msgspec.json.Decoder(dict[str, msgspec.Raw])
# Numbers straight from the JSON text as Decimal (never through float); only priced fields are kept.
_ENTRY_DECODER = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)


def _parse_price_file(raw: bytes) -> tuple[dict[str, ModelPrice], dict[str, str]]:
    """Decode litellm's map into exact prices and the reasons for the entries left out.

    Entries are decoded one by one so a malformed entry costs only itself, not the table.
    Numbers become ``Decimal`` straight from the JSON text. Entries without both per-token
    prices (images, audio per second, search) are not token-priced models and are skipped
    without a reason; entries whose prices do not convert exactly are recorded in the reasons.
    """
    prices: dict[str, ModelPrice] = {}
    rejected: dict[str, str] = {}
    for model, blob in _FILE_DECODER.decode(raw).items():
        if model in _NOT_A_MODEL:
            continue
        try:
            entry = _ENTRY_DECODER.decode(blob)
        except msgspec.ValidationError as exc:
            rejected[model] = f"malformed price field: {exc}"
            continue
        fields = {k: v for k, v in entry.items() if "cost" in k}
        if fields.get("input_cost_per_token") is None or fields.get("output_cost_per_token") is None:
            continue
        try:
            prices[model] = price_from_litellm_entry(model, fields)
        except PriceError as exc:
            rejected[model] = str(exc)
    return prices, rejected


class PriceTable:
    """Prices by model name: the bundled litellm map with configured overrides on top.

    Built once at start-up and read-only afterwards, so it is safe to share between requests.
    """

    __slots__ = ("_file", "_overrides", "rejected", "source")

    def __init__(
        self,
        file_prices: Mapping[str, ModelPrice],
        overrides: Mapping[str, ModelPrice] | None = None,
        *,
        rejected: Mapping[str, str] | None = None,
        source: Path | None = None,
    ) -> None:
        """Wrap already-built prices (use :meth:`load` for the bundled file).

        Args:
            file_prices: Prices from the price file.
            overrides: Prices from configuration; they win over the file for any name.
            rejected: Entries of the file that could not be priced exactly, with the reason.
            source: The price file these came from, for diagnostics.
        """
        self._file: Mapping[str, ModelPrice] = MappingProxyType(dict(file_prices))
        self._overrides: Mapping[str, ModelPrice] = MappingProxyType(dict(overrides or {}))
        self.rejected: Mapping[str, str] = MappingProxyType(dict(rejected or {}))
        self.source = source

    @classmethod
    def load(cls, overrides: Mapping[str, ModelPrice] | None = None, *, path: Path | None = None) -> PriceTable:
        """Read the price file (default: litellm's bundled map) and apply ``overrides``.

        Raises:
            FileNotFoundError: If no path is given and litellm's map cannot be found.
        """
        source = path if path is not None else bundled_price_file()
        file_prices, rejected = _parse_price_file(source.read_bytes())
        return cls(file_prices, overrides, rejected=rejected, source=source)

    @staticmethod
    def _candidates(model: str) -> Iterable[str]:
        """Names to try for ``model``: itself, then with a provider prefix removed or added.

        litellm keys first-party Anthropic and OpenAI models by bare name (``claude-sonnet-4-5``,
        ``gpt-4o``), while clients often say ``anthropic/claude-sonnet-4-5``; the reverse is
        tried too so an override keyed ``openai/my-model`` still matches ``my-model``.
        """
        yield model
        prefix, sep, bare = model.partition("/")
        if sep and prefix in _PROVIDER_PREFIXES:
            yield bare
        elif not sep:
            for provider in _PROVIDER_PREFIXES:
                yield f"{provider}/{model}"

    def get(self, model: str) -> ModelPrice | None:
        """The price for ``model``, or None when neither overrides nor the file know it.

        Every candidate name is tried in the overrides before any in the file, so a configured
        price always beats the file, whichever spelling of the name each uses.
        """
        for source in (self._overrides, self._file):
            for name in self._candidates(model):
                price = source.get(name)
                if price is not None:
                    return price
        return None

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.get(model) is not None

    def __len__(self) -> int:
        return len(self._file.keys() | self._overrides.keys())

    def __repr__(self) -> str:
        return (
            f"PriceTable({len(self)} models, {len(self._overrides)} overrides, "
            f"{len(self.rejected)} rejected, source={self.source})"
        )
