-- backups we keep for friends: the newest valid pointer and sealed blob per household
CREATE TABLE held_backups (
    owner TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    pointer BLOB NOT NULL,
    blob BLOB NOT NULL,
    stored_at INTEGER NOT NULL
) STRICT;
-- our own backups: what we last pushed to which friend
CREATE TABLE backup_pushes (
    friend TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    pushed_at INTEGER NOT NULL
) STRICT;
-- devices to ask for our backup while recovering (from the recovery sheet)
CREATE TABLE recovery_peers (
    device TEXT PRIMARY KEY,
    addrs TEXT NOT NULL
) STRICT
