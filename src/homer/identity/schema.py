"""The application's user schema: which attributes a user has and what each accepts.

A validator is a callable that returns the accepted (possibly normalised)
value or raises ``ValueError``/``TypeError`` with a reason; a type stands for
an ``isinstance`` check; ``None`` accepts anything JSON can hold. Built-ins
cover the common cases: :func:`email`, :func:`length`, :func:`pattern`,
:func:`choice`, :func:`between`.
"""

from __future__ import annotations

import inspect
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homer.errors import ValidationFailed

__all__ = [
    "MISSING",
    "Attribute",
    "UserSchema",
    "Validator",
    "all_of",
    "between",
    "choice",
    "email",
    "length",
    "of_type",
    "pattern",
    "validate_name",
]

Validator = Callable[[Any], Any]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: Marks an attribute with no default.
MISSING: Any = _Missing()

_NAME = re.compile(r"^[^\W_][\w.\-]{0,63}$")


def validate_name(name: object, what: str = "name") -> str:
    """User and group names: 1-64 letters, digits, ``_ . -``, starting with a letter or digit.

    Names are NFKC-normalised so that look-alike spellings collide, and compared
    case-insensitively (see :func:`homer.store.records.name_key`).
    """
    if not isinstance(name, str):
        raise ValidationFailed({what: "must be a string"})
    normal = unicodedata.normalize("NFKC", name)
    if not _NAME.fullmatch(normal):
        raise ValidationFailed(
            {what: "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"}
        )
    return normal


@dataclass(frozen=True, slots=True)
class Attribute:
    """One user attribute.

    ``default_factory`` may take no argument or one: the new user's name (for
    a generated avatar or a display name derived from it).
    """

    validator: Validator | type | None = None
    default: Any = MISSING
    default_factory: Callable[..., Any] | None = None
    required: bool = False
    #: What the attribute is for, for people reading the schema.
    description: str = ""

    def __post_init__(self) -> None:
        if self.default is not MISSING and self.default_factory is not None:
            raise TypeError("give a default or a default_factory, not both")
        if self.required and (self.default is not MISSING or self.default_factory is not None):
            raise TypeError("a required attribute has no default")

    def check(self, value: Any) -> Any:
        """Return the accepted value or raise ``ValueError`` with the reason."""
        validator = self.validator
        if validator is None:
            return value
        if isinstance(validator, type):
            validator = of_type(validator)
        try:
            return validator(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(str(exc) or "rejected") from exc

    def make_default(self, user_name: str) -> Any:
        factory = self.default_factory
        if factory is None:
            return self.default
        try:
            takes_name = bool(inspect.signature(factory).parameters)
        except (TypeError, ValueError):  # builtins without a signature
            takes_name = False
        return factory(user_name) if takes_name else factory()


class UserSchema:
    """Attribute name -> :class:`Attribute`. Unknown attributes are rejected.

    A bare validator (a callable or a type) or ``None`` stands for an optional
    attribute checked by it: ``UserSchema({"email": email(), "bio": None})``.
    """

    __slots__ = ("attributes",)

    def __init__(
        self, attributes: Mapping[str, Attribute | Validator | type | None] | None = None
    ) -> None:
        #: Every attribute as an :class:`Attribute`, bare validators wrapped.
        self.attributes: Mapping[str, Attribute] = {
            name: _attribute(name, spec) for name, spec in (attributes or {}).items()
        }

    def __repr__(self) -> str:
        return f"UserSchema({dict(self.attributes)!r})"

    def for_create(self, user_name: str, given: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a new user's attributes and fill in defaults; every failure named at once."""
        errors = self._unknown(given)
        values: dict[str, Any] = {}
        for name, attribute in self.attributes.items():
            if name in given:
                self._accept(name, attribute, given[name], values, errors)
            elif attribute.required:
                errors[name] = "required"
            else:
                default = attribute.make_default(user_name)
                if default is not MISSING:
                    values[name] = default
        if errors:
            raise ValidationFailed(errors)
        return values

    def for_update(self, current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate changes to existing attributes; ``None`` removes an optional one."""
        errors = self._unknown(changes)
        values = dict(current)
        for name, value in changes.items():
            attribute = self.attributes.get(name)
            if attribute is None:
                continue
            if value is None and not attribute.required:
                values.pop(name, None)
                continue
            self._accept(name, attribute, value, values, errors)
        if errors:
            raise ValidationFailed(errors)
        return values

    def _unknown(self, given: Mapping[str, Any]) -> dict[str, str]:
        return {name: "unknown attribute" for name in given if name not in self.attributes}

    @staticmethod
    def _accept(
        name: str,
        attribute: Attribute,
        value: Any,
        values: dict[str, Any],
        errors: dict[str, str],
    ) -> None:
        try:
            values[name] = attribute.check(value)
        except ValueError as exc:
            errors[name] = str(exc)


def _attribute(name: object, spec: object) -> Attribute:
    if not isinstance(name, str) or not name:
        raise TypeError(f"attribute names are non-empty strings, not {name!r}")
    if isinstance(spec, Attribute):
        return spec
    if spec is None or callable(spec):
        return Attribute(validator=spec)
    raise TypeError(
        f"attribute {name!r}: expected an Attribute, a validator or None, not {type(spec).__name__}"
    )


# -- built-in validators ------------------------------------------------------

# Deliberately simple: one @, no spaces, a dot in the domain. Proving that an
# address exists takes a confirmation mail, which is the application's call.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    return value


def email() -> Validator:
    """An e-mail address; the domain is lower-cased."""

    def check(value: Any) -> str:
        text = _text(value).strip()
        if len(text) > 254 or not _EMAIL.fullmatch(text):
            raise ValueError("not an e-mail address")
        local, _, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}"

    return check


def length(min: int = 0, max: int | None = None) -> Validator:
    """A string whose length lies in ``[min, max]``."""

    def check(value: Any) -> str:
        text = _text(value)
        if len(text) < min or (max is not None and len(text) > max):
            bound = f"{min}-{max}" if max is not None else f"at least {min}"
            raise ValueError(f"length must be {bound}")
        return text

    return check


def pattern(regex: str | re.Pattern[str], *, message: str | None = None) -> Validator:
    """A string that matches ``regex`` as a whole."""
    compiled = re.compile(regex) if isinstance(regex, str) else regex

    def check(value: Any) -> str:
        text = _text(value)
        if not compiled.fullmatch(text):
            raise ValueError(message or f"must match {compiled.pattern}")
        return text

    return check


def choice(*options: Any) -> Validator:
    """One of ``options``."""
    allowed = tuple(options)

    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(repr, allowed))}")
        return value

    return check


def between(low: float | None = None, high: float | None = None) -> Validator:
    """A number (not a bool) in ``[low, high]``."""

    def check(value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("must be a number")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def of_type(kind: type) -> Validator:
    """An instance of ``kind`` (``bool`` does not pass for ``int``)."""

    def check(value: Any) -> Any:
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise TypeError(f"must be of type {kind.__name__}")
        return value

    return check


def all_of(*validators: Validator) -> Validator:
    """Each validator in turn, each given the previous one's result."""

    def check(value: Any) -> Any:
        for validator in validators:
            value = validator(value)
        return value

    return check
