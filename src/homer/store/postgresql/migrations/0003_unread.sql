-- Unread counts kept beside the read markers, so that reading them costs one row
-- per room whatever the history (decision 0014). All three count the stored
-- messages of kind msg.
ALTER TABLE rooms ADD COLUMN msgs bigint NOT NULL DEFAULT 0;              -- the room's
ALTER TABLE room_members
    ADD COLUMN read_msgs bigint NOT NULL DEFAULT 0,                       -- at or before read_seq
    ADD COLUMN own_after bigint NOT NULL DEFAULT 0;                       -- the member's, past it

-- A marker is never past its room's last seq (moving one never put it there).
UPDATE room_members m SET read_seq = r.last_seq
  FROM rooms r WHERE r.id = m.room_id AND m.read_seq > r.last_seq;

-- The counts of the history there is: one pass over it for each msg message's rank
-- in its room, then one lookup per member.
CREATE TEMPORARY TABLE unread_ranks ON COMMIT DROP AS
SELECT room_id, seq, row_number() OVER (PARTITION BY room_id ORDER BY seq) AS rank
  FROM messages WHERE kind = 'msg';
ALTER TABLE unread_ranks ADD PRIMARY KEY (room_id, seq);
ANALYZE unread_ranks;
UPDATE rooms r SET msgs = k.msgs
  FROM (SELECT room_id, max(rank) AS msgs FROM unread_ranks GROUP BY room_id) k
 WHERE k.room_id = r.id;
UPDATE room_members m SET
    read_msgs = COALESCE((SELECT k.rank FROM unread_ranks k WHERE k.room_id = m.room_id
                           AND k.seq <= m.read_seq ORDER BY k.seq DESC LIMIT 1), 0),
    own_after = (SELECT count(*) FROM messages g WHERE g.room_id = m.room_id
                  AND g.sender_id = m.user_id AND g.seq > m.read_seq AND g.kind = 'msg');
