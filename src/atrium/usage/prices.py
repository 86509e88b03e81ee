"""Seed price table: public list prices in USD per million tokens (input, output).

These rows seed the editable price table; admins change prices as data, never here. Prices
are the providers' standard (non-batch, non-cached, short-context) list prices as published
at PRICES_AS_OF. Self-hosted types (vllm, ollama, custom) have no list price, so they have no
rows; their calls cost what an admin enters, else nothing.
"""

PRICES_AS_OF = "2025-11"

# (provider_type, model, input_usd_per_mtok, output_usd_per_mtok)
SEED_PRICES: tuple[tuple[str, str, float, float], ...] = (
    # OpenAI
    ("openai", "gpt-5", 1.25, 10.00),
    ("openai", "gpt-5-mini", 0.25, 2.00),
    ("openai", "gpt-5-nano", 0.05, 0.40),
    ("openai", "gpt-4.1", 2.00, 8.00),
    ("openai", "gpt-4.1-mini", 0.40, 1.60),
    ("openai", "gpt-4.1-nano", 0.10, 0.40),
    ("openai", "gpt-4o", 2.50, 10.00),
    ("openai", "gpt-4o-mini", 0.15, 0.60),
    ("openai", "o3", 2.00, 8.00),
    ("openai", "o3-mini", 1.10, 4.40),
    ("openai", "o4-mini", 1.10, 4.40),
    ("openai", "o1", 15.00, 60.00),
    ("openai", "gpt-4-turbo", 10.00, 30.00),
    ("openai", "gpt-3.5-turbo", 0.50, 1.50),
    ("openai", "text-embedding-3-small", 0.02, 0.00),
    ("openai", "text-embedding-3-large", 0.13, 0.00),
    ("openai", "text-embedding-ada-002", 0.10, 0.00),
    # Anthropic
    ("anthropic", "claude-opus-4-1-20250805", 15.00, 75.00),
    ("anthropic", "claude-opus-4-20250514", 15.00, 75.00),
    ("anthropic", "claude-sonnet-4-5-20250929", 3.00, 15.00),
    ("anthropic", "claude-sonnet-4-20250514", 3.00, 15.00),
    ("anthropic", "claude-3-7-sonnet-20250219", 3.00, 15.00),
    ("anthropic", "claude-3-5-sonnet-20241022", 3.00, 15.00),
    ("anthropic", "claude-haiku-4-5-20251001", 1.00, 5.00),
    ("anthropic", "claude-3-5-haiku-20241022", 0.80, 4.00),
    ("anthropic", "claude-3-haiku-20240307", 0.25, 1.25),
    ("anthropic", "claude-3-opus-20240229", 15.00, 75.00),
    # Google Gemini (prompts up to 200k tokens)
    ("google", "gemini-2.5-pro", 1.25, 10.00),
    ("google", "gemini-2.5-flash", 0.30, 2.50),
    ("google", "gemini-2.5-flash-lite", 0.10, 0.40),
    ("google", "gemini-2.0-flash", 0.10, 0.40),
    ("google", "gemini-2.0-flash-lite", 0.075, 0.30),
    ("google", "gemini-1.5-pro", 1.25, 5.00),
    ("google", "gemini-1.5-flash", 0.075, 0.30),
    ("google", "gemini-embedding-001", 0.15, 0.00),
    # Cohere
    ("cohere", "command-a-03-2025", 2.50, 10.00),
    ("cohere", "command-r-plus-08-2024", 2.50, 10.00),
    ("cohere", "command-r-08-2024", 0.15, 0.60),
    ("cohere", "command-r7b-12-2024", 0.0375, 0.15),
    ("cohere", "embed-v4.0", 0.12, 0.00),
    ("cohere", "embed-english-v3.0", 0.10, 0.00),
    ("cohere", "embed-multilingual-v3.0", 0.10, 0.00),
    # Together AI
    ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", 0.88, 0.88),
    ("together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", 0.18, 0.18),
    ("together", "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", 0.88, 0.88),
    ("together", "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo", 3.50, 3.50),
    ("together", "Qwen/Qwen2.5-72B-Instruct-Turbo", 1.20, 1.20),
    ("together", "Qwen/Qwen2.5-7B-Instruct-Turbo", 0.30, 0.30),
    ("together", "deepseek-ai/DeepSeek-V3", 1.25, 1.25),
    ("together", "mistralai/Mixtral-8x7B-Instruct-v0.1", 0.60, 0.60),
    # Replicate (official language models, billed per token)
    ("replicate", "meta/meta-llama-3-70b-instruct", 0.65, 2.75),
    ("replicate", "meta/meta-llama-3-8b-instruct", 0.05, 0.25),
    ("replicate", "meta/meta-llama-3.1-405b-instruct", 9.50, 9.50),
)
