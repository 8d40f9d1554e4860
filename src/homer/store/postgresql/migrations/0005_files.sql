-- Files shared in messages (decision 0020): what a file is, here; its bytes, in the
-- Blob port under blob_key. A file belongs to its uploader until it is posted; then
-- the members of each room it was posted in may read it too.
CREATE TABLE files (
    id             text COLLATE "C" PRIMARY KEY,
    uploader_id    text COLLATE "C" NOT NULL,
    name           text NOT NULL,
    content_type   text NOT NULL,
    size           bigint NOT NULL,
    blob_key       text NOT NULL,
    created_at     double precision NOT NULL,
    width          integer,               -- images only, else NULL
    height         integer,
    thumbnail_key  text,                  -- images with a thumbnail only, else NULL
    thumbnail_type text
);
CREATE INDEX files_uploader ON files(uploader_id);

-- The rooms a file was posted in: who may read it besides its uploader.
CREATE TABLE file_rooms (
    file_id text COLLATE "C" NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    room_id text COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    PRIMARY KEY (file_id, room_id)
);
CREATE INDEX file_rooms_room ON file_rooms(room_id);
