"""What an API key looks like, per surface: the seam a surface uses to bring its own format.

A surface that mints keys of its own shape declares a `KeyFormat` (its prefix, how to render
a new secret, how to recognise a presented one) and registers it at app start on
`app.state.key_formats`; authentication asks the registry which format a credential is in, so
a key of any registered format works on every route, and a credential of none is refused
without a query. Neither this domain nor `identity` names any surface.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass


def _non_empty(rest: str) -> bool:
    return bool(rest)


@dataclass(frozen=True, slots=True)
class KeyFormat:
    surface: str  # stored on each key (`api_key.surface`)
    prefix: str
    random_part: Callable[[], str]
    valid_rest: Callable[[str], bool] = _non_empty  # the part after the prefix

    def render(self) -> str:
        """A new secret in this format."""
        return self.prefix + self.random_part()

    def parse(self, credential: str) -> str | None:
        """The secret to look up when `credential` is in this format, else None."""
        if credential.startswith(self.prefix) and self.valid_rest(credential[len(self.prefix) :]):
            return credential
        return None


ATRIUM_KEY = KeyFormat("atrium", "atr_", lambda: secrets.token_urlsafe(32))


class KeyFormats:
    """The formats registered in this app, longest prefix tried first."""

    def __init__(self, *formats: KeyFormat) -> None:
        self._by_surface: dict[str, KeyFormat] = {}
        self._ordered: tuple[KeyFormat, ...] = ()
        for key_format in formats:
            self.register(key_format)

    def register(self, key_format: KeyFormat) -> None:
        for known in self._by_surface.values():
            if known.surface == key_format.surface and known != key_format:
                raise ValueError(f"a key format for '{key_format.surface}' is registered")
            clash = known.prefix.startswith(key_format.prefix) or key_format.prefix.startswith(
                known.prefix
            )
            if clash and known.surface != key_format.surface:
                raise ValueError(f"prefix '{key_format.prefix}' overlaps '{known.prefix}'")
        self._by_surface[key_format.surface] = key_format
        self._ordered = tuple(sorted(self._by_surface.values(), key=lambda f: -len(f.prefix)))

    def __getitem__(self, surface: str) -> KeyFormat:
        return self._by_surface[surface]

    def secret_of(self, credential: str) -> str | None:
        for key_format in self._ordered:
            secret = key_format.parse(credential)
            if secret is not None:
                return secret
        return None
