-- the friend list as a last-writer-wins set shared by the household's devices
-- (citizen/store/friend_sync.py): changed_at stamps a friend (ms), and a removed
-- friend leaves a tombstone that only a pairing stamped later replaces
ALTER TABLE friends ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
UPDATE friends SET changed_at = paired_at * 1000;
CREATE TABLE friend_removals (
    household TEXT PRIMARY KEY,
    removed_at INTEGER NOT NULL,
    removed_by TEXT NOT NULL
) STRICT
