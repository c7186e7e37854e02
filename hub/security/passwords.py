"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10


class WeakPassword(ValueError):
    """The password does not meet the policy; the message says why."""


class Passwords:
    """Hash and verify passwords with argon2id (parameters of argon2-cffi's profile)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash("not-a-real-password-0")

    def hash(self, password: str) -> str:
        check_policy(password)
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def burn(self, password: str) -> None:
        """Spend the time of one verification (for unknown users: no timing oracle)."""
        self.verify(self._dummy, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


def check_policy(password: str) -> None:
    """Raise ``WeakPassword`` unless ``password`` has at least 10 characters with letters
    and digits."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(
            f"密码至少 {MIN_LENGTH} 位 / password needs at least {MIN_LENGTH} characters"
        )
    if not any(c.isdigit() for c in password) or not any(c.isalpha() for c in password):
        raise WeakPassword("密码须同时包含字母和数字 / password needs both letters and digits")
