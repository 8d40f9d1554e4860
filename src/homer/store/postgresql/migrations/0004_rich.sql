-- Rich messaging (decision 0019): mentions counted past read markers, and full-text
-- search over the text of msg messages, both kept in the append's transaction.

-- One row per user a msg message mentions, or '*' for @room and @all.
CREATE TABLE mentions (
    room_id   text COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id   text COLLATE "C" NOT NULL,  -- a user id, or '*' for everyone in the room
    seq       bigint NOT NULL,
    sender_id text COLLATE "C" NOT NULL,  -- a sender is never counted their own mention
    PRIMARY KEY (room_id, user_id, seq)
);

-- What search reads: a msg message's current text, written by the append, the edit
-- and the redaction that change it (NULL: not searchable). A column of its own, not
-- an index on body->>'text': that expression fails on a body whose data holds a
-- \u0000 escape, which JSON may.
ALTER TABLE messages ADD COLUMN search text;
UPDATE messages SET search = body->>'text'
 WHERE kind = 'msg' AND strpos(body::text, '\u0000') = 0;
CREATE INDEX messages_search ON messages
    USING GIN (to_tsvector('simple'::regconfig, search)) WHERE search IS NOT NULL;
