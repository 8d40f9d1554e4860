-- Look-alike names (decision 0024): the skeleton of each user's and group's name
-- (homer.confusables.skeleton), unique, so that two names that look alike cannot
-- both be taken, even by two writers at once. Rows from before this migration get
-- theirs when the store opens (it is computed in Python).
ALTER TABLE users ADD COLUMN name_skeleton text COLLATE "C";
CREATE UNIQUE INDEX users_name_skeleton ON users(name_skeleton);
ALTER TABLE groups ADD COLUMN name_skeleton text COLLATE "C";
CREATE UNIQUE INDEX groups_name_skeleton ON groups(name_skeleton);
