-- Rich messaging (decision 0019): threads, edits, mentions counted past read markers
-- and full-text search, each kept in the append's transaction.

-- Columns of their own rather than indexes on body->>'...': extracting from a json
-- value fails on a body whose data holds a \u0000 escape, which JSON may.
-- The root of the thread a msg message belongs to (NULL: none), for history by thread.
ALTER TABLE messages ADD COLUMN thread bigint;
-- What search reads: a msg message's current text (NULL: not searchable).
ALTER TABLE messages ADD COLUMN search text;
UPDATE messages SET search = body->>'text'
 WHERE kind = 'msg' AND strpos(body::text, '\u0000') = 0 AND body->>'text' <> '';
CREATE INDEX messages_thread ON messages(room_id, thread, seq) WHERE thread IS NOT NULL;
CREATE INDEX messages_search ON messages
    USING GIN (to_tsvector('simple'::regconfig, search)) WHERE search IS NOT NULL;

-- Every edit event, by the message it edited: what a redaction must empty, and, where
-- configured, the content the edit replaced (moderators read it with history_of).
CREATE TABLE message_edits (
    room_id  text COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    target   bigint NOT NULL,             -- the message edited
    seq      bigint NOT NULL,             -- the edit event
    previous json,                        -- {text, data?} it replaced, or NULL
    PRIMARY KEY (room_id, target, seq)
);

-- One row per user a msg message mentions, or '*' for @room and @all.
CREATE TABLE mentions (
    room_id   text COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id   text COLLATE "C" NOT NULL,  -- a user id, or '*' for everyone in the room
    seq       bigint NOT NULL,
    sender_id text COLLATE "C" NOT NULL,  -- a sender is never counted their own mention
    PRIMARY KEY (room_id, user_id, seq)
);
