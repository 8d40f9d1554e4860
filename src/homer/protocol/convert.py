"""Decoded data as a typed value: :func:`msgspec.convert`, strict, except that a
whole number written with a fraction (``5.0``, ``1e3``) is taken where an integer
is expected.

JSON and JSON Schema do not tell ``5`` from ``5.0``: both are the integer 5, and
a client in JavaScript cannot tell them apart either. msgspec does, so a value
that does not fit is looked at once more with such numbers made integers (only
where the type wants an integer, never in free data), and converted again.
Strings are never taken for numbers.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from msgspec import inspect

__all__ = ["convert"]

T = TypeVar("T")


def convert(data: Any, kind: type[T]) -> T:
    """``data`` as ``kind``; :class:`msgspec.ValidationError` when it does not fit."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError:
        fixed = _whole(data, inspect.type_info(kind))
        if fixed is data:
            raise
        return msgspec.convert(fixed, kind)


def _whole(data: Any, kind: inspect.Type) -> Any:
    """``data`` with each whole float made an int where ``kind`` wants an int; ``data``
    itself (the same object) when nothing changed."""
    while isinstance(kind, inspect.Metadata):
        kind = kind.type
    if isinstance(data, float):
        return int(data) if data.is_integer() and _wants_int(kind) else data
    if isinstance(kind, inspect.UnionType):
        fitting = [one for one in kind.types if _holds(one, data)]
        return _whole(data, fitting[0]) if len(fitting) == 1 else data
    if isinstance(data, dict) and isinstance(kind, inspect.StructType):
        types = {f.encode_name: f.type for f in kind.fields}
        return _rebuilt(
            data, {k: _whole(v, types[k]) if k in types else v for k, v in data.items()}
        )
    if isinstance(data, dict) and isinstance(kind, inspect.DictType):
        return _rebuilt(data, {k: _whole(v, kind.value_type) for k, v in data.items()})
    if isinstance(data, list) and isinstance(kind, (inspect.ListType, inspect.SetType)):
        items = [_whole(item, kind.item_type) for item in data]
        return items if any(a is not b for a, b in zip(items, data, strict=True)) else data
    return data


def _rebuilt(data: dict[Any, Any], new: dict[Any, Any]) -> Any:
    return new if any(new[key] is not data[key] for key in data) else data


def _wants_int(kind: inspect.Type) -> bool:
    while isinstance(kind, inspect.Metadata):
        kind = kind.type
    if isinstance(kind, inspect.UnionType):
        types = [_bare(one) for one in kind.types]
        return any(isinstance(one, inspect.IntType) for one in types) and not any(
            isinstance(one, inspect.FloatType) for one in types
        )
    return isinstance(kind, inspect.IntType)


def _bare(kind: inspect.Type) -> inspect.Type:
    while isinstance(kind, inspect.Metadata):
        kind = kind.type
    return kind


def _holds(kind: inspect.Type, data: Any) -> bool:
    """Whether a member of a union is the one ``data`` (a dict or a list) is meant for."""
    kind = _bare(kind)
    if isinstance(data, dict):
        return isinstance(kind, (inspect.StructType, inspect.DictType))
    if isinstance(data, list):
        return isinstance(kind, (inspect.ListType, inspect.SetType))
    return False
