"""Password hashing with argon2id, and the password policy."""

from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from atrium.errors import Unprocessable

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("atrium-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists: an unknown user meets a fixed hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


class WeakPassword(Unprocessable):
    code = "weak_password"


@cache
def common_passwords() -> frozenset[str]:
    """The list shipped with the package (security/common_passwords.txt)."""
    text = resources.files("atrium.security").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def check_policy(password: str, *, email: str, username: str, min_length: int = 8) -> None:
    if len(password) < min_length:
        raise WeakPassword(f"The password must have at least {min_length} characters")
    if len(password) > 1024:
        raise WeakPassword("The password must have at most 1024 characters")
    lowered = password.lower()
    if lowered in (email.lower(), username.lower(), email.split("@")[0].lower()):
        raise WeakPassword("The password must not be your username or email")
    if lowered in common_passwords():
        raise WeakPassword("This password is too common; choose another one")
