from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homer.errors import ValidationFailed
from homer.identity.schema import (
    Attribute,
    UserSchema,
    all_of,
    between,
    choice,
    email,
    length,
    pattern,
    validate_name,
)


def test_builtin_validators_accept_and_normalise() -> None:
    assert email()("  Ada@Example.ORG ") == "Ada@example.org"
    assert length(2, 4)("abc") == "abc"
    assert pattern(r"[a-z]+")("abc") == "abc"
    assert choice("red", "blue")("blue") == "blue"
    assert between(0, 10)(3.5) == 3.5
    assert all_of(length(1, 10), pattern("[A-Z].*"))("Hello") == "Hello"


@pytest.mark.parametrize(
    ("validator", "value", "reason"),
    [
        (email(), "no-at-sign", "not an e-mail"),
        (email(), "a@b", "not an e-mail"),
        (email(), "a b@c.d", "not an e-mail"),
        (email(), 42, "must be a string"),
        (length(2, 4), "a", "length must be 2-4"),
        (length(2, 4), "abcde", "length must be 2-4"),
        (length(2), "a", "at least 2"),
        (pattern(r"[a-z]+"), "ABC", "must match"),
        (choice("red", "blue"), "green", "must be one of"),
        (between(0, 10), 11, "between"),
        (between(0, 10), True, "number"),
        (between(0, 10), "5", "number"),
    ],
)
def test_builtin_validators_reject_with_a_reason(validator: Any, value: Any, reason: str) -> None:
    with pytest.raises((ValueError, TypeError), match=reason):
        validator(value)


SCHEMA = UserSchema(
    {
        "email": Attribute(email(), required=True),
        "age": Attribute(int, default=None),
        "nick": Attribute(length(1, 8), default_factory=lambda name: name[:8]),
        "joined": Attribute(default_factory=itertools.count(100).__next__),
        "theme": Attribute(choice("light", "dark"), default="light"),
        "note": Attribute(),
    }
)


def test_create_fills_defaults_and_factories() -> None:
    values = SCHEMA.for_create("averyveryverylongname", {"email": "a@b.cd"})
    assert values == {
        "email": "a@b.cd",
        "age": None,
        "nick": "averyver",
        "joined": values["joined"],
        "theme": "light",
    }
    assert isinstance(values["joined"], int)
    again = SCHEMA.for_create("x", {"email": "a@b.cd"})
    assert again["joined"] == values["joined"] + 1, "a factory runs once per user"


def test_create_names_every_failing_field_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        SCHEMA.for_create("x", {"age": "old", "theme": "pink", "colour": "red"})
    assert caught.value.fields == {
        "age": "must be of type int",
        "colour": "unknown attribute",
        "email": "required",
        "theme": "must be one of 'light', 'dark'",
    }
    assert "age" in str(caught.value)
    assert "colour" in str(caught.value)


def test_type_validators_do_not_take_bools_for_ints() -> None:
    with pytest.raises(ValidationFailed, match="age"):
        SCHEMA.for_create("x", {"email": "a@b.cd", "age": True})


def test_update_validates_and_removes_optional_values() -> None:
    current = SCHEMA.for_create("x", {"email": "a@b.cd", "note": {"free": ["form"]}})
    updated = SCHEMA.for_update(current, {"note": None, "age": 7})
    assert "note" not in updated
    assert updated["age"] == 7
    with pytest.raises(ValidationFailed) as caught:
        SCHEMA.for_update(current, {"email": None, "bogus": 1})
    assert set(caught.value.fields) == {"email", "bogus"}


def test_an_attribute_cannot_be_required_and_defaulted() -> None:
    with pytest.raises(TypeError):
        Attribute(required=True, default=1)
    with pytest.raises(TypeError):
        Attribute(default=1, default_factory=list)


@given(st.text(min_size=1, max_size=80))
def test_names_are_accepted_or_rejected_with_a_named_field(name: str) -> None:
    try:
        accepted = validate_name(name)
    except ValidationFailed as exc:
        assert set(exc.fields) == {"name"}
    else:
        assert 1 <= len(accepted) <= 64
        assert re.fullmatch(r"[^\W_][\w.\-]*", accepted)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=10,
    )
)
def test_an_unchecked_attribute_keeps_any_json_value(value: Any) -> None:
    schema = UserSchema({"blob": Attribute()})
    assert schema.for_create("x", {"blob": value}) == {"blob": value}
