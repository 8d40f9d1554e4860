"""The values operations and routes take, as annotated types: what the services
check (room ids, names, client ids, reaction keys, lengths), stated once so that
the JSON Schema of every parameter (the OpenAPI document) says it too.

The checks themselves stay where they are, in the services, with their own
messages: these annotations describe them (``extra_json_schema``), except
:data:`MessageSeq` and :data:`Position`, which msgspec checks.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta

from homer.identity.passwords import MAX_PASSWORD, MIN_PASSWORD
from homer.messaging.changes import MAX_KEY, MAX_REASON, key_pattern
from homer.messaging.rooms import ROOM_ID, ROOM_KINDS

__all__ = [
    "CID_LENGTH",
    "NAME_PATTERN",
    "Cid",
    "Int64",
    "MessageSeq",
    "Name",
    "ParentName",
    "Password",
    "Position",
    "ReactionKey",
    "Reason",
    "RoomId",
    "RoomKind",
    "described",
]


def described(**schema: Any) -> Meta:
    """What a value must be, for the document only (a service checks it)."""
    return Meta(extra_json_schema=schema)


#: An integer the stores can hold (a signed 64-bit one): larger ones are refused as
#: invalid rather than failing in the store.
Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
#: The sequence number of a message: events are numbered from 1.
MessageSeq = Annotated[int, Meta(ge=1, le=2**63 - 1)]
#: A position in a room: the seq of the last event seen (0: none yet).
Position = Annotated[int, Meta(ge=0, le=2**63 - 1)]
#: Room ids: 1-64 of ``a-z 0-9 _ . -``, starting with a letter or digit.
RoomId = Annotated[str, described(pattern=ROOM_ID.pattern)]
#: The kinds of room one can create.
RoomKind = Annotated[str, described(enum=list(ROOM_KINDS))]
#: How long a client's id of a message may be (:func:`homer.messaging.messages.check_cid`).
CID_LENGTH = 64
Cid = Annotated[str, described(minLength=1, maxLength=CID_LENGTH)]
#: User and group names (:func:`homer.identity.schema.validate_name`).
NAME_PATTERN = r"^[^\W_][\w.\-]{0,63}$"
Name = Annotated[str, described(pattern=NAME_PATTERN)]
#: A group's parent: a group name, or ``""`` for none.
ParentName = Annotated[str, described(pattern=r"^(?:[^\W_][\w.\-]{0,63})?$")]
#: A reaction: a ``:shortcode:`` or an emoji.
ReactionKey = Annotated[str, described(pattern=key_pattern(), maxLength=MAX_KEY)]
#: Why a message was redacted.
Reason = Annotated[str, described(maxLength=MAX_REASON)]
#: A password to set.
Password = Annotated[
    str,
    described(
        minLength=MIN_PASSWORD, maxLength=MAX_PASSWORD, pattern=r"^(?!\s*$)[^\x00-\x1f\x7f-\x9f]+$"
    ),
    Meta(
        description=f"{MIN_PASSWORD} to {MAX_PASSWORD} characters, not only whitespace, no"
        " control characters. A password that is common or easy to guess (its zxcvbn"
        " estimate below `identity.password_min_score`) is refused with 400 and"
        " `fields.password` saying why: strength is an estimate no schema states."
    ),
]
