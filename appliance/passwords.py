"""Password and PIN hashing (Argon2id via argon2-cffi).

Hashing is deliberately slow: call these in a thread (the database pool or a WSGI worker),
never on the reactor.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.text import N_

_hasher = PasswordHasher()

# A hash of a random password, verified against when the user does not exist, so a wrong
# user name takes as long as a wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_LENGTH = 8
MAX_LENGTH = 256


class WeakPassword(ValueError):
    """The password does not meet the policy."""


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(
            N_("a password needs at least {MIN_LENGTH} characters", MIN_LENGTH=MIN_LENGTH)
        )
    if len(password) > MAX_LENGTH:
        raise WeakPassword(
            N_("a password has at most {MAX_LENGTH} characters", MAX_LENGTH=MAX_LENGTH)
        )


def hash_password(password: str) -> str:
    check_policy(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing user (``None``) costs the same time."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


PIN_LENGTHS = (4, 8)


def hash_pin(pin: str) -> str:
    """An agent's desk-phone PIN: 4-8 ASCII digits (what a keypad can type)."""
    lo, hi = PIN_LENGTHS
    if not (pin.isascii() and pin.isdigit() and lo <= len(pin) <= hi):
        raise ValueError(N_("a PIN is {lo} to {hi} digits", lo=lo, hi=hi))
    return _hasher.hash(pin)


def generate_password() -> str:
    """A random password to print once (demo admin, reset)."""
    return secrets.token_urlsafe(12)
