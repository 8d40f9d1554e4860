-- Rooms, their members, bans, invitations and read markers, message history.
CREATE TABLE rooms (
    id         text COLLATE "C" PRIMARY KEY,
    kind       text COLLATE "C" NOT NULL,   -- public, private, announce, dm
    name       text NOT NULL,
    topic      text NOT NULL,
    meta       json NOT NULL,
    created_by text NOT NULL,
    created_at double precision NOT NULL,
    epoch      bigint NOT NULL,             -- moves on when history is purged
    last_seq   bigint NOT NULL,             -- the highest sequence number given out
    dm_key     text COLLATE "C" CONSTRAINT rooms_dm_key_unique UNIQUE  -- DMs only, else NULL
);
CREATE INDEX rooms_kind ON rooms(kind, id);

CREATE TABLE room_members (
    room_id   text COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id   text COLLATE "C" NOT NULL,
    role      text NOT NULL,                -- owner, member
    joined_at double precision NOT NULL,
    read_seq  bigint NOT NULL,              -- the read marker
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user ON room_members(user_id, room_id);

CREATE TABLE room_bans (
    room_id text COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE room_invites (
    room_id text COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- A page of one room's history is one range of the primary key.
CREATE TABLE messages (
    room_id   text COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq       bigint NOT NULL,
    id        text NOT NULL,
    sender_id text COLLATE "C" NOT NULL,
    client_id text COLLATE "C" NOT NULL,    -- the sender's id for it: a resend is a duplicate
    kind      text NOT NULL,                -- msg, join, leave, kick, ban, invite, topic
    ts        double precision NOT NULL,
    body      json NOT NULL,
    PRIMARY KEY (room_id, seq)
);
CREATE UNIQUE INDEX messages_client ON messages(room_id, sender_id, client_id);
CREATE INDEX messages_ts ON messages(room_id, ts, seq);
