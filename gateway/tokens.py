"""Counting a prompt's tokens offline, for ``POST /v1/messages/count_tokens``.

OpenAI models are counted with their own BPE encoding (``o200k_base`` for the GPT-4o, 4.1,
5.x and o-series families, ``cl100k_base`` for GPT-4 and 3.5) through ``tiktoken``.
tiktoken downloads its BPE files on first use; the gateway never does: it points
tiktoken at the copies litellm ships inside its wheel (the same files, by the hash tiktoken
itself checks), and when they are missing the count falls back to an estimate. Claude
models counted without Anthropic (the simulator) and models whose tokenizer is unknown get
an estimate of about four characters per token. Which one was used is reported, so the
HTTP layer can say so in ``X-Gateway-Token-Count``.

Chat framing (the few tokens each message costs beyond its text) follows OpenAI's published
counting recipe: 3 per message plus 3 to prime the reply.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec

Method = Literal["tokenizer", "estimated"]

_enc = msgspec.json.Encoder()
# tiktoken's cache file names: sha1 of the URL it would download from.
_CACHE_FILES = {
    "cl100k_base": "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
    "o200k_base": "fb374d419588a4632f3f557e76b4b70aebbca790",
}
_PER_MESSAGE = 3
_REPLY_PRIMING = 3


def encoding_for(upstream_model: str) -> str | None:
    """The tiktoken encoding an OpenAI model uses, or None when it is not an OpenAI model."""
    m = upstream_model.lower()
    if m.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")):
        return "o200k_base"
    if m.startswith(("gpt-4", "gpt-3.5", "text-embedding")):
        return "cl100k_base"
    return None


def _bundled_dir() -> Path | None:
    try:
        root = Path(str(resources.files("litellm") / "litellm_core_utils" / "tokenizers"))
    except ModuleNotFoundError:
        return None
    return root if root.is_dir() else None


class TokenCounter:
    """Loads each encoding once, on first use; one instance per app (no module state).

    Args:
        cache_dir: Where tiktoken's BPE files are (``TIKTOKEN_CACHE_DIR``); None: litellm's copies.
    """

    def __init__(self, cache_dir: str | None = None) -> None:
        self._encodings: dict[str, Any] = {}
        self._cache_dir = cache_dir

    def _encoding(self, name: str) -> Any | None:
        if name in self._encodings:
            return self._encodings[name]
        found: Any | None = None
        where = Path(self._cache_dir) if self._cache_dir else _bundled_dir()
        if where is not None and (where / _CACHE_FILES[name]).is_file():
            # tiktoken finds its files only through this variable (else it downloads them): point
            # it at the directory just checked, so the load below can never go to the network.
            os.environ["TIKTOKEN_CACHE_DIR"] = str(where)
            import tiktoken

            found = tiktoken.get_encoding(name)
        self._encodings[name] = found
        return found

    def count(self, upstream_model: str, messages: list[str], extra: list[str]) -> tuple[int, Method]:
        """Tokens of ``messages`` (one text per message) and ``extra`` (system, tool definitions).

        Returns:
            The count and how it was made: ``tokenizer`` (the model's own encoding) or
            ``estimated`` (about four characters per token).
        """
        name = encoding_for(upstream_model)
        encoding = self._encoding(name) if name is not None else None
        texts = [*messages, *extra]
        if encoding is None:
            chars = sum(len(t) for t in texts)
            return (chars + 3) // 4 + _PER_MESSAGE * len(messages) + _REPLY_PRIMING, "estimated"
        tokens = sum(len(encoding.encode_ordinary(t)) for t in texts)
        return tokens + _PER_MESSAGE * len(messages) + _REPLY_PRIMING, "tokenizer"


def _block_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            texts.append(str(block.get("thinking") or ""))
        elif kind == "tool_use":
            texts.append(str(block.get("name") or "") + _enc.encode(block.get("input") or {}).decode())
        elif kind == "tool_result":
            texts.extend(_block_texts(block.get("content")))
    return texts


def anthropic_prompt_texts(raw: dict[str, Any]) -> tuple[list[str], list[str]]:
    """An Anthropic Messages body as (one text per message, [system and tool definition texts])."""
    messages = ["\n".join(_block_texts(m.get("content"))) for m in raw.get("messages") or () if isinstance(m, dict)]
    extra: list[str] = []
    system = raw.get("system")
    if system:
        extra.append("\n".join(_block_texts(system)))
    for tool in raw.get("tools") or ():
        if isinstance(tool, dict):
            extra.append(_enc.encode(tool).decode())
    return messages, extra
