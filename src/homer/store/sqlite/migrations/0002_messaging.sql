-- Rooms, their members, bans, invitations and read markers, message history.
CREATE TABLE rooms (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,             -- public, private, announce, dm
    name       TEXT NOT NULL,
    topic      TEXT NOT NULL,
    meta       TEXT NOT NULL,             -- JSON object
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    epoch      INTEGER NOT NULL,          -- moves on when history is purged
    last_seq   INTEGER NOT NULL,          -- the highest sequence number given out
    dm_key     TEXT UNIQUE                -- DMs only: the two user ids, sorted (else NULL)
);
CREATE INDEX rooms_kind ON rooms(kind, id);

CREATE TABLE room_members (
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    role      TEXT NOT NULL,              -- owner, member
    joined_at REAL NOT NULL,
    read_seq  INTEGER NOT NULL,           -- the read marker
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX room_members_user ON room_members(user_id);   -- (user_id, room_id): PK appended

CREATE TABLE room_bans (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;

CREATE TABLE room_invites (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;

-- Clustered by (room_id, seq): a page of one room's history is one range of one b-tree.
CREATE TABLE messages (
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    id        TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    client_id TEXT NOT NULL,              -- the sender's id for it: a resend is a duplicate
    kind      TEXT NOT NULL,              -- msg, join, leave, kick, ban, invite, topic
    ts        REAL NOT NULL,
    body      TEXT NOT NULL,              -- JSON object
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_client ON messages(room_id, sender_id, client_id);
CREATE INDEX messages_ts ON messages(room_id, ts);              -- (room_id, ts, seq)
