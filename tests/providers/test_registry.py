"""The provider registry and the seed price table."""

import pytest

from atrium.providers.adapters import (
    PROVIDER_TYPES,
    available_providers,
    get_adapter,
    provider_info,
)
from atrium.providers.adapters.registry import ADAPTERS, PROVIDERS, UnknownProviderType
from atrium.security.ssrf import validate_base_url
from atrium.usage.prices import SEED_PRICES


def test_every_type_has_an_adapter_and_metadata() -> None:
    assert tuple(PROVIDERS) == PROVIDER_TYPES
    assert set(ADAPTERS) == set(PROVIDER_TYPES)


def test_available_providers_lists_the_nine_types() -> None:
    listed = available_providers()
    assert [p["id"] for p in listed] == list(PROVIDER_TYPES)
    for entry in listed:
        assert entry["name"] and entry["description"] and entry["documentation_url"]
        assert isinstance(entry["default_models"], list)
        if entry["default_api_base"] is not None:
            validate_base_url(entry["default_api_base"])
        fields = {f["name"]: f for f in entry["config_fields"]}
        assert fields["api_key"]["required"] is entry["requires_api_key"]
    custom = provider_info("custom")
    assert custom.default_api_base is None and not custom.requires_api_key


def test_keys_are_required_by_hosted_providers_only() -> None:
    required = {p["id"] for p in available_providers() if p["requires_api_key"]}
    assert required == {"openai", "anthropic", "google", "cohere", "together", "replicate"}


def test_openai_compatible_types_share_one_adapter() -> None:
    assert get_adapter("together") is get_adapter("vllm") is get_adapter("OpenAI")


def test_unknown_type_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(UnknownProviderType, match="expected one of openai, anthropic"):
        get_adapter("mistral")


def test_seed_prices_are_well_formed() -> None:
    keys = [(provider, model) for provider, model, _in, _out in SEED_PRICES]
    assert len(keys) == len(set(keys)), "a model is priced twice"
    for provider, model, input_price, output_price in SEED_PRICES:
        assert provider in PROVIDER_TYPES and model
        assert 0 <= input_price < 100 and 0 <= output_price < 200
    priced = {provider for provider, *_ in SEED_PRICES}
    assert priced == {"openai", "anthropic", "google", "cohere", "together", "replicate"}


def test_default_models_of_hosted_providers_have_prices() -> None:
    priced = {(provider, model) for provider, model, *_ in SEED_PRICES}
    for info in PROVIDERS.values():
        if info.requires_api_key:
            for model in info.default_models:
                assert (info.type, model) in priced, f"{info.type}/{model} has no seed price"
