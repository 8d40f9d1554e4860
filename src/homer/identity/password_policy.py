"""What a new password must be: long enough, no control characters, not only
spaces, not one of the most common passwords, and not too easy to guess by
zxcvbn's estimate (docs/decisions/0023-password-policy.md).

zxcvbn's time grows steeply with length (about 25 ms for 64 repeated
characters, more than a minute for 1024), so it sees only the first
:data:`ESTIMATE_CHARS` characters; the rules before it see them all. The
estimate is CPU work: :class:`~homer.identity.passwords.Passwords` runs it in
the hashing pool, never on the event loop.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from zxcvbn import zxcvbn
from zxcvbn.matching import RANKED_DICTIONARIES

from homer.errors import ValidationFailed

__all__ = ["ESTIMATE_CHARS", "MAX_PASSWORD", "MIN_PASSWORD", "PasswordPolicy"]

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 accepts more, but a megabyte "password" is an attack
#: The characters of a password zxcvbn's estimate sees.
ESTIMATE_CHARS = 64

#: zxcvbn keeps the caller's words in a module-level table while it runs.
_ESTIMATING = threading.Lock()
_COMMON = RANKED_DICTIONARIES["passwords"]


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """``min_score`` is zxcvbn's 0-4 (0: no estimate); ``refuse_common`` refuses
    the 30,000 most common passwords zxcvbn knows, whatever the case."""

    min_length: int = MIN_PASSWORD
    min_score: int = 2
    refuse_common: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= MAX_PASSWORD:
            raise ValueError(f"min_length must be 1 to {MAX_PASSWORD}")
        if not 0 <= self.min_score <= 4:
            raise ValueError("min_score must be 0 to 4")

    @classmethod
    def lenient(cls) -> PasswordPolicy:
        """Length and form only: for tests and demos that do not care."""
        return cls(min_score=0, refuse_common=False)

    def check_form(self, password: object) -> str:
        """The cheap rules, on every character: ``ValidationFailed`` naming the first
        one broken."""
        if not isinstance(password, str):
            raise ValidationFailed({"password": "must be a string"})
        if not self.min_length <= len(password) <= MAX_PASSWORD:
            raise ValidationFailed(
                {"password": f"must be {self.min_length} to {MAX_PASSWORD} characters"}
            )
        if any(unicodedata.category(c) in ("Cc", "Cs") for c in password):
            raise ValidationFailed({"password": "must not contain control characters"})
        if password.isspace():
            raise ValidationFailed({"password": "must not be only spaces"})
        return password

    def weakness(self, password: str, user_inputs: Sequence[str] = ()) -> str | None:
        """Why ``password`` (already through :meth:`check_form`) is too easy to
        guess, or ``None``. CPU-bound: run it off the event loop."""
        if self.refuse_common and password.lower() in _COMMON:
            return "is one of the most common passwords: choose another"
        if not self.min_score:
            return None
        words = [w[:ESTIMATE_CHARS] for w in user_inputs if isinstance(w, str) and w]
        with _ESTIMATING:
            result = zxcvbn(password[:ESTIMATE_CHARS], user_inputs=words, max_length=ESTIMATE_CHARS)
        score = int(result["score"])
        if score >= self.min_score:
            return None
        warning = str(result.get("feedback", {}).get("warning") or "").rstrip(".")
        hint = f" ({warning.lower()})" if warning else ""
        return (
            f"is too easy to guess{hint}: strength {score} of 4, at least {self.min_score}"
            " needed; add words or characters"
        )
