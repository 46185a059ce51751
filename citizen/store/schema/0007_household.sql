-- this household's other devices (laptop, second Pi), trusted like friends' devices
CREATE TABLE household_devices (
    device TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cert BLOB NOT NULL,
    addrs TEXT NOT NULL DEFAULT '[]',
    last_seen INTEGER,
    holds_key INTEGER NOT NULL DEFAULT 0 CHECK (holds_key IN (0, 1))
) STRICT;
-- signed device revocations, ours and our friends': never accepted again
CREATE TABLE revocations (
    device TEXT PRIMARY KEY,
    household TEXT NOT NULL,
    signed BLOB NOT NULL
) STRICT;
ALTER TABLE invites ADD COLUMN kind TEXT NOT NULL DEFAULT 'pair'
