"""ISO 4217 currencies from the `iso4217` package (the maintenance agency's published table,
shipped as data). Money is kept in minor units ("cents"); the exponent says how many."""

from functools import cache

from iso4217 import Currency


@cache
def _exponents() -> dict[str, int]:
    # funds and metals (XAU, XDR, ...) have no minor unit; they are not billing currencies
    return {
        currency.code: currency.exponent
        for currency in Currency
        if isinstance(currency.exponent, int)
    }


def is_currency(code: str) -> bool:
    return code.upper() in _exponents()


def checked_currency(code: str) -> str:
    """The upper-cased code, or ValueError naming the problem (a 422 at the boundary)."""
    upper = code.strip().upper()
    if upper not in _exponents():
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return upper


def exponent(code: str) -> int:
    return _exponents().get(code.upper(), 2)


def to_units(cents: int | float, code: str) -> float:
    """Minor units to currency units (USD 1234 -> 12.34; JPY 1234 -> 1234.0)."""
    return round(cents / 10 ** exponent(code), exponent(code))
