"""OpenAI-compatible servers as presets: a kind name instead of a hand-written dialect and URL.

``[providers.groq] kind = "groq"`` (plus ``api_key``) is a whole provider entry; ``base_url``
overrides the preset's. Each preset also names the prefix litellm's price map files the
server's models under (``groq/llama-3.3-70b-versatile``), so their cost is known without a
``[prices]`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Preset:
    base_url: str
    price_prefix: str  # litellm price-map key prefix ("" when the server's models are not priced)
    responses_api: bool = False


PRESETS: dict[str, Preset] = {
    # Google Gemini through its OpenAI-compatible endpoint (Bearer API key).
    "gemini": Preset("https://generativelanguage.googleapis.com/v1beta/openai", "gemini/"),
    "vllm": Preset("http://127.0.0.1:8000/v1", "hosted_vllm/", responses_api=False),
    "ollama": Preset("http://127.0.0.1:11434/v1", "ollama/"),
    "groq": Preset("https://api.groq.com/openai/v1", "groq/"),
    "together": Preset("https://api.together.xyz/v1", "together_ai/"),
    "mistral": Preset("https://api.mistral.ai/v1", "mistral/"),
}
