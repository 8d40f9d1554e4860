-- Rich messaging (decision 0019): mentions counted past read markers, and full-text
-- search over the text of msg messages, both kept in the append's transaction.

-- One row per user a msg message mentions, or '*' for @room and @all.
CREATE TABLE mentions (
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,              -- a user id, or '*' for everyone in the room
    seq       INTEGER NOT NULL,
    sender_id TEXT NOT NULL,              -- a sender is never counted their own mention
    PRIMARY KEY (room_id, user_id, seq)
) WITHOUT ROWID;

-- FTS5 rows are found by rowid: search_docs gives each indexed message one, and
-- holds what a search filters on besides the words.
CREATE TABLE search_docs (
    id        INTEGER PRIMARY KEY,
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    ts        REAL NOT NULL,
    UNIQUE (room_id, seq)
);
CREATE INDEX search_docs_sender ON search_docs(sender_id);
CREATE VIRTUAL TABLE search_text USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');
-- A doc leaving (a redaction, a purge, a deleted room) takes its words along.
CREATE TRIGGER search_docs_gone AFTER DELETE ON search_docs BEGIN
    DELETE FROM search_text WHERE rowid = old.id;
END;

INSERT INTO search_docs(room_id, seq, sender_id, ts)
SELECT room_id, seq, sender_id, ts FROM messages
 WHERE kind = 'msg' AND COALESCE(json_extract(body, '$.text'), '') != '';
INSERT INTO search_text(rowid, text)
SELECT d.id, json_extract(m.body, '$.text')
  FROM search_docs d JOIN messages m ON m.room_id = d.room_id AND m.seq = d.seq;
