-- Files shared in messages (decision 0020): what a file is, here; its bytes, in the
-- Blob port under blob_key. A file belongs to its uploader until it is posted; then
-- the members of each room it was posted in may read it too.
CREATE TABLE files (
    id             TEXT PRIMARY KEY,
    uploader_id    TEXT NOT NULL,
    name           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           INTEGER NOT NULL,
    blob_key       TEXT NOT NULL,
    created_at     REAL NOT NULL,
    width          INTEGER,               -- images only, else NULL
    height         INTEGER,
    thumbnail_key  TEXT,                  -- images with a thumbnail only, else NULL
    thumbnail_type TEXT
);
CREATE INDEX files_uploader ON files(uploader_id);

-- The rooms a file was posted in: who may read it besides its uploader.
CREATE TABLE file_rooms (
    file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    PRIMARY KEY (file_id, room_id)
) WITHOUT ROWID;
CREATE INDEX file_rooms_room ON file_rooms(room_id);
