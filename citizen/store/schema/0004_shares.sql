-- shares held for friends: one file per distinct share (shares/ab/cdef…, named by
-- its BLAKE2b-256), one row per owning household; a share counts as stored, and
-- against that owner's quota, only once its row is committed
CREATE TABLE held_shares (
    owner TEXT NOT NULL,
    share_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (owner, share_id)
) STRICT;
CREATE INDEX held_shares_by_share ON held_shares (share_id)
