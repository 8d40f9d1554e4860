-- Unread counts kept beside the read markers, so that reading them costs one row
-- per room whatever the history (decision 0014). All three count the stored
-- messages of kind msg.
ALTER TABLE rooms ADD COLUMN msgs INTEGER NOT NULL DEFAULT 0;             -- the room's
ALTER TABLE room_members ADD COLUMN read_msgs INTEGER NOT NULL DEFAULT 0; -- at or before read_seq
ALTER TABLE room_members ADD COLUMN own_after INTEGER NOT NULL DEFAULT 0; -- the member's, past it

-- A marker is never past its room's last seq (moving one never put it there).
UPDATE room_members SET read_seq = (SELECT last_seq FROM rooms WHERE id = room_members.room_id)
 WHERE read_seq > (SELECT last_seq FROM rooms WHERE id = room_members.room_id);

-- The counts of the history there is: one pass over it for each msg message's rank
-- in its room, then one lookup per member.
CREATE TABLE unread_ranks (
    room_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    rank    INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
INSERT INTO unread_ranks(room_id, seq, rank)
SELECT room_id, seq, ROW_NUMBER() OVER (PARTITION BY room_id ORDER BY seq)
  FROM messages WHERE kind = 'msg';
UPDATE rooms SET msgs = COALESCE((SELECT MAX(rank) FROM unread_ranks WHERE room_id = rooms.id), 0);
UPDATE room_members SET
    read_msgs = COALESCE((SELECT rank FROM unread_ranks k WHERE k.room_id = room_members.room_id
                           AND k.seq <= room_members.read_seq ORDER BY k.seq DESC LIMIT 1), 0),
    own_after = (SELECT COUNT(*) FROM messages g INDEXED BY messages_client  -- their own only
                  WHERE g.room_id = room_members.room_id
                  AND g.sender_id = room_members.user_id AND g.seq > room_members.read_seq
                  AND g.kind = 'msg');
DROP TABLE unread_ranks;
