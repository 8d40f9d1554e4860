"""The types of the REST routes: what they answer, and the queries and bodies
they take. The same types parse requests (:mod:`homer.transports.routes`) and
describe them in the OpenAPI document (:mod:`homer.transports.openapi`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from homer.core.fields import (
    Cid,
    MessageSeq,
    Name,
    ParentName,
    Password,
    Reason,
    RoomId,
    described,
)
from homer.messaging.rooms import MAX_TOPIC
from homer.protocol.envelope import Envelope
from homer.store.search import SEARCHABLE

#: What a sequence number, a read marker or an audit id can be: a signed 64-bit integer.
Seq = Annotated[int, Meta(ge=0, le=2**63 - 1)]
#: A time: seconds since the Unix epoch.
Time = Annotated[float, Meta(ge=0)]


def about(description: str) -> Meta:
    """The description of a field, in the OpenAPI document."""
    return Meta(description=description)


#: Where a listing continues: the ``next`` of the page before.
PageAfter = Annotated[str, about("The `next` of the previous page.")]


# -- answers ----------------------------------------------------------------------


class RoomInfo(msgspec.Struct, forbid_unknown_fields=True):
    """A room. ``role`` and ``read`` describe the caller's membership and are there
    when the caller is in the room; ``unread`` too where the answer counts it."""

    id: str
    kind: Literal["public", "private", "announce", "dm"]
    name: str
    topic: str
    meta: dict[str, Any]
    epoch: Annotated[int, about("Changes when the history is purged.")]
    last_seq: Annotated[int, about("The last sequence number given out in the room (0: none yet).")]
    role: Literal["owner", "member"] | UnsetType = UNSET
    read: Annotated[int, about("The caller's read marker.")] | UnsetType = UNSET
    unread: int | UnsetType = UNSET
    mentions: (
        Annotated[int, about("Messages past the read marker that mention the caller.")] | UnsetType
    ) = UNSET


class RoomList(msgspec.Struct, forbid_unknown_fields=True):
    """The caller's rooms."""

    rooms: list[RoomInfo]


class DirectoryPage(msgspec.Struct, forbid_unknown_fields=True):
    """Public and announce rooms by id; ``next`` is the ``after`` of the next page."""

    rooms: list[RoomInfo]
    next: str | None


class Member(msgspec.Struct, forbid_unknown_fields=True):
    """A member of a room, with their presence."""

    uid: str
    name: Annotated[str | None, about("`null` for an account deleted since.")]
    role: Literal["owner", "member"]
    joined_at: float
    status: Literal["online", "away", "offline"]


class MemberPage(msgspec.Struct, forbid_unknown_fields=True):
    """Members by user id; ``next`` is the ``after`` of the next page."""

    room: str
    members: list[Member]
    next: str | None


class MembershipChange(msgspec.Struct, forbid_unknown_fields=True):
    """A membership change: who, in which room."""

    room: str
    user: str


class HistoryPage(msgspec.Struct, forbid_unknown_fields=True):
    """A page of history; ``more`` says whether the same query finds more past it."""

    room: str
    epoch: int
    last_seq: int
    messages: list[Envelope]
    more: bool


class Purged(msgspec.Struct, forbid_unknown_fields=True):
    """A room's history after a purge: a new epoch."""

    room: str
    epoch: int
    last_seq: int


class ReadMarker(msgspec.Struct, forbid_unknown_fields=True):
    """The caller's read marker in a room and what is left unread."""

    room: str
    read: int
    unread: int
    mentions: Annotated[int, about("Of those, the messages that mention the caller.")]


class Ack(msgspec.Struct, forbid_unknown_fields=True):
    """A stored message; a resend with the same ``cid`` gets the first ack again."""

    room: str
    seq: int
    id: str
    cid: str
    ts: float
    duplicate: bool


class UserRef(msgspec.Struct, forbid_unknown_fields=True):
    """A user, by id and name."""

    id: str
    name: str


class UserView(msgspec.Struct, forbid_unknown_fields=True):
    """A user account: never its password."""

    id: str
    name: str
    group: Annotated[str, about("The user's group.")]
    attributes: dict[str, Any]
    grants: Annotated[list[str], about("Permissions given to this user beyond their group's.")]
    denies: Annotated[
        list[str],
        about("Permissions taken from this user even if their group has them."),
    ]
    permissions: Annotated[
        list[str],
        Meta(
            description="What the user may do: their group's permissions (inherited ones"
            " included), plus `grants`, minus `denies`."
        ),
    ]
    created_at: float
    updated_at: float


class UserPage(msgspec.Struct, forbid_unknown_fields=True):
    """Users by name; ``next`` is the ``after`` of the next page."""

    users: list[UserView]
    next: str | None


class IssuedToken(msgspec.Struct, forbid_unknown_fields=True):
    """A token; ``expires_at`` is ``null`` for one that never expires."""

    token: str
    expires_at: float | None


class GroupView(msgspec.Struct, forbid_unknown_fields=True):
    """A group: a named set of permissions, maybe inheriting a parent's."""

    id: str
    name: str
    parent: str | None
    default: Annotated[bool, about("Whether new users join this group.")]
    permissions: Annotated[list[str], about("The group's own permissions.")]
    effective: Annotated[list[str], about("Its own and its ancestors' permissions.")]
    members: Annotated[int, about("How many users are in it.")]


class GroupList(msgspec.Struct, forbid_unknown_fields=True):
    """Every group."""

    groups: list[GroupView]


class GroupDeleted(msgspec.Struct, forbid_unknown_fields=True):
    """A deleted group and how many members moved to its parent or the default group."""

    group: str
    moved: int


class PermissionList(msgspec.Struct, forbid_unknown_fields=True):
    """Every permission name that can be granted, with what it allows."""

    permissions: dict[str, str]


class AuditEntryView(msgspec.Struct, forbid_unknown_fields=True):
    """A change to a user, a group, a permission or a token."""

    id: int
    at: float
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditPage(msgspec.Struct, forbid_unknown_fields=True):
    """Audit entries, newest first; ``next`` is the ``before`` of the next page."""

    entries: list[AuditEntryView]
    next: str | None


#: The reply of each built-in operation that a REST route answers with as it is.
OP_REPLIES: dict[str, Any] = {
    "rooms": RoomList,
    "create": RoomInfo,
    "directory": DirectoryPage,
    "members": MemberPage,
    "topic": RoomInfo,
    "join": RoomInfo,
    "invite": MembershipChange,
    "kick": MembershipChange,
    "ban": MembershipChange,
    "unban": MembershipChange,
    "dm": RoomInfo,
    "send": Ack,
    "history": HistoryPage,
    "purge": Purged,
    "read": ReadMarker,
}


# -- queries ----------------------------------------------------------------------


class DirectoryQuery(msgspec.Struct, forbid_unknown_fields=True):
    after: PageAfter | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1, le=200)] = 50


class MembersQuery(msgspec.Struct, forbid_unknown_fields=True):
    after: PageAfter | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1, le=500)] = 100


class HistoryQuery(msgspec.Struct, forbid_unknown_fields=True):
    after: (
        Annotated[Seq, about("Messages after this sequence number, oldest first.")] | UnsetType
    ) = UNSET
    before: Annotated[Seq, about("Messages before this sequence number.")] | UnsetType = UNSET
    since: Annotated[Time, about("Messages at or after this time.")] | UnsetType = UNSET
    until: (
        Annotated[Time, about("Messages before this time; alone, the newest of them.")] | UnsetType
    ) = UNSET
    limit: Annotated[int, Meta(ge=1), about("At most this many (`limits.history_limit`).")] = 50


class UsersQuery(msgspec.Struct, forbid_unknown_fields=True):
    search: Annotated[str, about("Only names containing this text.")] | UnsetType = UNSET
    group: Annotated[str, about("Only members of this group.")] | UnsetType = UNSET
    after: PageAfter | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1, le=500)] = 50


class GroupMembersQuery(msgspec.Struct, forbid_unknown_fields=True):
    after: PageAfter | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1, le=500)] = 50


class AuditQuery(msgspec.Struct, forbid_unknown_fields=True):
    before: Annotated[Seq, about("Only entries older than this id: the `next` of a page.")] | (
        UnsetType
    ) = UNSET
    limit: Annotated[int, Meta(ge=1, le=1000)] = 50
    actor: Annotated[str, about("Only changes made by this user (or `system`).")] | UnsetType = (
        UNSET
    )
    target: Annotated[str, about("Only changes to this (`user:NAME`, `group:NAME`).")] | (
        UnsetType
    ) = UNSET


# -- bodies -----------------------------------------------------------------------


class PostedMessage(msgspec.Struct, forbid_unknown_fields=True):
    """A message to send: ``cid`` is the client's id for it, so a resend is recognised.
    It needs ``text``, ``data`` or ``files``."""

    cid: Cid
    text: str = ""
    data: Any = None
    reply_to: Annotated[MessageSeq, about("The message this one answers.")] | UnsetType = UNSET
    thread: (
        Annotated[MessageSeq, about("The root of the thread this one is a reply in.")] | UnsetType
    ) = UNSET
    files: Annotated[list[str], about("Ids of uploaded files to share with it.")] = []


class RoomChanges(msgspec.Struct, forbid_unknown_fields=True):
    """A new topic, new metadata, or both."""

    topic: Annotated[str, described(maxLength=MAX_TOPIC)] | UnsetType = UNSET
    meta: dict[str, Any] | UnsetType = UNSET


class ReadPosition(msgspec.Struct, forbid_unknown_fields=True):
    """Everything up to ``seq`` is read (a marker never moves back)."""

    seq: Seq


class AttributeChanges(msgspec.Struct, forbid_unknown_fields=True):
    """Attributes to set; ``null`` removes an optional one."""

    attributes: dict[str, Any]


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    """The current password, to prove it, and the new one."""

    old: str
    new: Password


class NewUser(msgspec.Struct, forbid_unknown_fields=True):
    """An account to create, in the default group unless ``group`` names another."""

    name: Name
    password: Password
    attributes: dict[str, Any] = {}
    group: Name | UnsetType = UNSET


class UserChanges(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to an account, applied in this order: attributes (``null`` removes
    an optional one), group, then name."""

    attributes: dict[str, Any] | UnsetType = UNSET
    group: Name | UnsetType = UNSET
    name: Name | UnsetType = UNSET


class NewPassword(msgspec.Struct, forbid_unknown_fields=True):
    """A password to set."""

    password: Password


class TokenOptions(msgspec.Struct, forbid_unknown_fields=True):
    """The token's lifetime in seconds (0: it never expires); ``tokens.ttl`` without it."""

    ttl: Time | UnsetType = UNSET


class NewGroup(msgspec.Struct, forbid_unknown_fields=True):
    """A group to create."""

    name: Name
    permissions: list[str] = []
    parent: (
        Annotated[ParentName, about("A group whose permissions this one inherits.")] | UnsetType
    ) = UNSET


class GroupChanges(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a group, applied in this order: parent (``null``: none),
    permissions (the whole new set), then name."""

    parent: ParentName | UnsetType | None = UNSET
    permissions: list[str] | UnsetType = UNSET
    name: Name | UnsetType = UNSET


# -- rich messaging ---------------------------------------------------------------


class ChangeAck(msgspec.Struct, forbid_unknown_fields=True):
    """A stored change (an ``edit``, ``redact``, ``react`` or ``unreact`` event):
    its own ``seq`` in the room, and the message it changed (``target``)."""

    room: str
    seq: int
    id: str
    cid: str
    ts: float
    target: int
    duplicate: bool
    edits: Annotated[int, about("An edit: the message's edit count now.")] | UnsetType = UNSET
    key: Annotated[str, about("A reaction: its key.")] | UnsetType = UNSET
    count: Annotated[int, about("A reaction: the key's count now.")] | UnsetType = UNSET


class EditedMessage(msgspec.Struct, forbid_unknown_fields=True):
    """The new content; ``cid``, when given, makes a resend harmless."""

    text: str = ""
    data: Any = None
    cid: Cid | UnsetType = UNSET


class RedactQuery(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[Reason, about("Why, shown to the room.")] | UnsetType = UNSET
    cid: Annotated[Cid, about("Makes a resend harmless.")] | UnsetType = UNSET


class ThreadQuery(msgspec.Struct, forbid_unknown_fields=True):
    after: Annotated[Seq, about("Replies after this sequence number.")] | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1), about("At most this many (`limits.history_limit`).")] = 50


class ThreadPage(msgspec.Struct, forbid_unknown_fields=True):
    """A thread: its root as it is now and a page of replies, oldest first."""

    room: str
    epoch: int
    thread: int
    root: Envelope
    messages: list[Envelope]
    more: bool


class Version(msgspec.Struct, forbid_unknown_fields=True):
    """The content one edit replaced."""

    edit: Annotated[int, about("The edit event's sequence number.")]
    text: str
    ts: Annotated[float, about("When that content was written.")]
    data: Any = None


class Versions(msgspec.Struct, forbid_unknown_fields=True):
    """A message as it is now and what each edit replaced (when ``kept``)."""

    room: str
    seq: int
    message: Envelope
    versions: list[Version]
    kept: bool


class SearchQuery(msgspec.Struct, forbid_unknown_fields=True):
    q: Annotated[
        str,
        about("Words that must all appear; `word*` matches a prefix."),
        described(pattern=SEARCHABLE),
    ]
    room: Annotated[RoomId, about("Only this room.")] | UnsetType = UNSET
    sender: Annotated[Name, about("Only messages from this user (a name).")] | UnsetType = UNSET
    since: Annotated[Time, about("Only messages at or after this time.")] | UnsetType = UNSET
    until: Annotated[Time, about("Only messages before this time.")] | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1), about("At most this many (`messages.search_limit`).")] = 20


class SearchResult(msgspec.Struct, forbid_unknown_fields=True):
    message: Envelope
    highlights: Annotated[
        list[list[int]], about("`[start, end)` character offsets of the matches in its text.")
    ]


class SearchResults(msgspec.Struct, forbid_unknown_fields=True):
    """Matches in the caller's rooms, best first."""

    query: str
    results: list[SearchResult]
