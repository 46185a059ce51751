-- friends: households this one paired with; removing one cascades to its devices
CREATE TABLE friends (
    household TEXT PRIMARY KEY,
    household_key BLOB NOT NULL,
    name TEXT NOT NULL,
    secret BLOB NOT NULL,
    paired_at INTEGER NOT NULL,
    offer_bytes INTEGER,
    sas TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE TABLE friend_devices (
    device TEXT PRIMARY KEY,
    household TEXT NOT NULL REFERENCES friends(household) ON DELETE CASCADE,
    name TEXT NOT NULL,
    cert BLOB NOT NULL,
    addrs TEXT NOT NULL DEFAULT '[]',
    last_seen INTEGER
) STRICT;
CREATE TABLE invites (
    invite_id TEXT PRIMARY KEY,
    secret BLOB NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    used_at INTEGER,
    used_by TEXT
) STRICT
