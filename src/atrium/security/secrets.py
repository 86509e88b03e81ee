"""Server secrets: given in settings, or generated once per single-host install and kept 0600."""

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from atrium.config import Settings
from atrium.datadir import create_private, private_dir


class MissingSecret(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ServerSecrets:
    jwt_key: bytes
    fernet: MultiFernet

    def derive(self, purpose: str) -> bytes:
        """A separate key for a separate purpose (HMACs), so no key is used twice."""
        return hmac.new(self.jwt_key, purpose.encode(), hashlib.sha256).digest()


def _load_or_create(path: Path, make: bytes) -> bytes:
    """Create the file exclusively (so concurrent workers agree), then read what won."""
    private_dir(path.parent)
    try:
        fd = create_private(path)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as handle:
            handle.write(make)
    return path.read_bytes().strip()


def _persisted(settings: Settings, filename: str, setting: str, make: bytes) -> bytes:
    if not settings.single_host:
        raise MissingSecret(
            f"ATRIUM_{setting.upper()} must be set when using PostgreSQL or Redis, so that every "
            "process shares it"
        )
    return _load_or_create(settings.data_dir / filename, make)


def load_secrets(settings: Settings) -> ServerSecrets:
    if settings.jwt_secret:
        jwt_key = settings.jwt_secret.get_secret_value().encode()
    else:
        jwt_key = _persisted(
            settings, "jwt.key", "jwt_secret", base64.urlsafe_b64encode(os.urandom(48))
        )
    if settings.encryption_keys:
        raw_keys = settings.encryption_keys.get_secret_value().split(",")
        keys = [key.strip().encode() for key in raw_keys if key.strip()]
    else:
        keys = [_persisted(settings, "fernet.key", "encryption_keys", Fernet.generate_key())]
    return ServerSecrets(jwt_key=jwt_key, fernet=MultiFernet([Fernet(key) for key in keys]))
