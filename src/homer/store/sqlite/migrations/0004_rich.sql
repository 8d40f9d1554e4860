-- Rich messaging (decision 0019): threads, edits, mentions counted past read markers
-- and full-text search, each kept in the append's transaction.

-- The root of the thread a msg message belongs to (NULL: none), for history by thread.
ALTER TABLE messages ADD COLUMN thread INTEGER;
CREATE INDEX messages_thread ON messages(room_id, thread, seq) WHERE thread IS NOT NULL;

-- Every edit event, by the message it edited: what a redaction must empty, and, where
-- configured, the content the edit replaced (moderators read it with history_of).
CREATE TABLE message_edits (
    room_id  TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    target   INTEGER NOT NULL,            -- the message edited
    seq      INTEGER NOT NULL,            -- the edit event
    previous TEXT,                        -- JSON {text, data?} it replaced, or NULL
    PRIMARY KEY (room_id, target, seq)
) WITHOUT ROWID;

-- One row per user a msg message mentions, or '*' for @room and @all.
CREATE TABLE mentions (
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,              -- a user id, or '*' for everyone in the room
    seq       INTEGER NOT NULL,
    sender_id TEXT NOT NULL,              -- a sender is never counted their own mention
    PRIMARY KEY (room_id, user_id, seq)
) WITHOUT ROWID;

-- The searchable text of each msg message, with what a search filters on besides the
-- words, written by the append. FTS5 indexes it as external content (found by
-- rowid), in batches: FTS5 writes a segment at every commit, which cost 33 us a
-- one-message append, so rows are indexed a few hundred at a time and before
-- every search (search_state.indexed: the highest id indexed; AUTOINCREMENT, so
-- no id is given twice and a row above it is never in the index). A row leaving
-- (a redaction, an edit, a purge, a deleted room) takes its words along, by the
-- trigger, once indexed.
CREATE TABLE search_docs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    ts        REAL NOT NULL,
    text      TEXT NOT NULL,
    UNIQUE (room_id, seq)
);
CREATE VIRTUAL TABLE search_text USING fts5(
    text, content = 'search_docs', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE search_state (indexed INTEGER NOT NULL);
CREATE TRIGGER search_docs_gone AFTER DELETE ON search_docs
WHEN old.id <= (SELECT indexed FROM search_state) BEGIN
    INSERT INTO search_text(search_text, rowid, text) VALUES ('delete', old.id, old.text);
END;

INSERT INTO search_docs(room_id, seq, sender_id, ts, text)
SELECT room_id, seq, sender_id, ts, json_extract(body, '$.text') FROM messages
 WHERE kind = 'msg' AND COALESCE(json_extract(body, '$.text'), '') != '';
INSERT INTO search_text(rowid, text) SELECT id, text FROM search_docs;
INSERT INTO search_state(indexed) SELECT COALESCE(MAX(id), 0) FROM search_docs;
